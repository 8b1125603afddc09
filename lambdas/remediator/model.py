"""Plain data read from AWS: what the adapter returns and the decision reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KeyInfo:
    arn: str
    account: str
    region: str
    manager: str  # "CUSTOMER" or "AWS"
    state: str  # Enabled, Disabled, PendingDeletion, PendingImport, ...


@dataclass(frozen=True)
class Grant:
    grant_id: str
    grantee: str
    operations: tuple[str, ...]
    name: str = ""
    constrained: bool = False  # has encryption-context constraints: allows only some requests


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state_reason_code: str
    volume_ids: tuple[str, ...]
    image_id: str | None
    tags: dict[str, str]
    state: str = ""  # pending, running, stopped, terminated, ...
    state_reason_message: str = ""


@dataclass(frozen=True)
class AutoScalingGroup:
    name: str
    service_linked_role_arn: str | None
    launch_template: dict[str, str] | None  # LaunchTemplateId/Name and Version
    launch_configuration: str | None


@dataclass(frozen=True)
class PlannedChange:
    """A change about to be made, as the write-ahead audit records it."""

    key_arn: str
    event_id: str
    principal_arn: str
    remedy: str  # "key-policy" or "grant"
    before: Any  # the key policy before, or None for a grant
    planned: Any  # the policy to write, or the grant (name, grantee, operations)


@dataclass(frozen=True)
class NamedPolicy:
    """A policy document, and where it comes from in words (for the notification)."""

    name: str
    document: dict[str, Any]


@dataclass(frozen=True)
class IdentityPolicies:
    """A user's or role's identity policies as IAM returns them: inline and attached managed
    policies (a user's groups' too), the permissions boundary, and the principal's tags."""

    principal_arn: str
    policies: tuple[NamedPolicy, ...] = ()
    boundary: NamedPolicy | None = None
    tags: dict[str, str] = field(default_factory=dict)
