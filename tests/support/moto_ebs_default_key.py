"""Teach moto's EC2 to answer ``GetEbsDefaultKmsKeyId``, which the product reads and moto lacks.

In AWS, ``GetEbsDefaultKmsKeyId`` answers the KMS key EBS uses for a volume encrypted without a
key id (and for every new volume when encryption by default is on): ``alias/aws/ebs`` until the
account sets its own with ``ModifyEbsDefaultKmsKeyId``. moto 5.2.5 implements
``ModifyEbsDefaultKmsKeyId`` (it keeps the key ARN on its EC2 backend, as
``default_kms_key_id``, and gives it to volumes created encrypted without a key id) and
encryption by default, but not the read. This adds exactly the read, over moto's own setting.

Set the default key with ``ModifyEbsDefaultKmsKeyId`` before creating a volume encrypted
without a key id: otherwise moto makes an ``alias/aws/ebs`` key of its own, customer-managed.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.settings import Settings

AWS_MANAGED_DEFAULT = "alias/aws/ebs"  # what AWS answers before the account sets a key
_installed = False


def get_ebs_default_kms_key_id(self: Any) -> ActionResult:
    self.error_on_dryrun()
    key = getattr(self.ec2_backend, "default_kms_key_id", "") or AWS_MANAGED_DEFAULT
    return ActionResult({"KmsKeyId": key})


def install() -> None:
    """Idempotent; affects moto in this process (decorator mode and in-process server)."""
    global _installed
    if not _installed:
        Settings.get_ebs_default_kms_key_id = get_ebs_default_kms_key_id  # type: ignore[attr-defined]
        _installed = True
