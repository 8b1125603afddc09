"""The IAM actions the remediator's AWS adapter calls, declared once.

The stack grants exactly these (asserted by ``tests/infra/test_permissions.py``), and
``tests/integration/test_permissions_used.py`` records the calls the engine makes on every path:
an undeclared call, or a declared action no path uses, fails the tests, not production.
"""

# Writes. Granted only on the allowlisted key ARN patterns, never on "*".
KEY_WRITE_ACTIONS: tuple[str, ...] = ("kms:PutKeyPolicy", "kms:CreateGrant")

# Reads of a key. Granted on the allowlisted key ARN patterns plus, for DescribeKey (used to
# resolve aliases and tell AWS-managed keys apart before the allowlist can be checked), "*".
KEY_READ_ACTIONS: tuple[str, ...] = ("kms:GetKeyPolicy", "kms:ListGrants")
KEY_DESCRIBE_ACTIONS: tuple[str, ...] = ("kms:DescribeKey",)

# Reads that IAM does not scope to a resource ARN (they support only "*").
UNSCOPED_READ_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeImages",
    "ec2:DescribeSnapshots",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "cloudtrail:LookupEvents",
    "access-analyzer:ValidatePolicy",
    "access-analyzer:CheckAccessNotGranted",
)

# Reads of IAM principals, to refuse principals that do not exist. Scoped to this account.
PRINCIPAL_READ_ACTIONS: tuple[str, ...] = ("iam:GetRole", "iam:GetUser")
