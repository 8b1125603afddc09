"""Finds EC2 launches that fail on a customer-managed KMS key; fixes them under an allowlist."""

PRODUCT = "kms-launch-remediator"
