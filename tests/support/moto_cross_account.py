"""Teach moto's KMS the one cross-account behaviour the product relies on.

In AWS, a principal of account A may call DescribeKey, CreateGrant, ListGrants, RevokeGrant
and RetireGrant on a key of account K by giving the key ARN (when K's key policy allows it).
moto keeps one KMS backend per account and looks a key ARN up only in the caller's account,
so these calls fail. This routes exactly those operations, when given another account's key
ARN, to the owning account's backend. Every other operation (GetKeyPolicy, PutKeyPolicy, ...)
stays same-account, as in AWS. moto enforces no key policy, so neither does this.
"""

from __future__ import annotations

from typing import Any

from moto.kms.models import kms_backends
from moto.kms.responses import KmsResponse

CROSS_ACCOUNT_OPERATIONS = frozenset(
    {"DescribeKey", "CreateGrant", "ListGrants", "RevokeGrant", "RetireGrant"}
)
_original = KmsResponse.kms_backend
_installed = False


def _kms_backend(self: KmsResponse) -> Any:
    target = (self.headers or {}).get("X-Amz-Target", "")
    operation = target.rsplit(".", 1)[-1]
    key_id = self._get_param("KeyId") if operation in CROSS_ACCOUNT_OPERATIONS else None
    if isinstance(key_id, str) and key_id.startswith("arn:") and ":key/" in key_id:
        _, _, _, region, account, _ = key_id.split(":", 5)
        if account != self.current_account:
            return kms_backends[account][region]
    return _original.fget(self)  # type: ignore[attr-defined]


def install() -> None:
    """Idempotent; affects moto in this process (decorator mode and in-process server)."""
    global _installed
    if not _installed:
        KmsResponse.kms_backend = property(_kms_backend)  # type: ignore[method-assign,assignment]
        _installed = True
