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
    lifecycle: str = ""  # DescribeInstances InstanceLifecycle: "spot", "capacity-block", or ""
    spot_request_id: str | None = None  # SpotInstanceRequestId of a Spot Instance


@dataclass(frozen=True)
class Devices:
    """What volumes or block device mappings say about their keys.

    ``default_key``: a volume is encrypted without naming a key, so EBS uses the account's
    default EBS key. ``unkeyed``: a volume would be created unencrypted (an unencrypted snapshot
    or a mapping that does not ask for encryption), which EBS encrypts with the default key when
    encryption by default is on.
    """

    keys: tuple[str, ...] = ()
    default_key: bool = False
    unkeyed: bool = False

    def __add__(self, other: Devices) -> Devices:
        return Devices(
            tuple(dict.fromkeys(self.keys + other.keys)),
            self.default_key or other.default_key,
            self.unkeyed or other.unkeyed,
        )


@dataclass(frozen=True)
class LaunchSpec:
    """A launch template version, a launch configuration, or a fleet's launch specification:
    its block devices, its image (an AMI id, or ``resolve:ssm:...``), and whether it asks for
    Spot capacity (``InstanceMarketOptions.MarketType``)."""

    devices: Devices = field(default_factory=Devices)
    image_id: str | None = None
    spot: bool = False


@dataclass(frozen=True)
class AutoScalingGroup:
    name: str
    service_linked_role_arn: str | None
    launch_template: dict[str, str] | None  # LaunchTemplateId/Name and Version
    launch_configuration: str | None
    # Mixed-instances overrides that name a launch template of their own.
    override_templates: tuple[dict[str, str], ...] = ()
    # Mixed-instances InstancesDistribution: the part of the capacity that is On-Demand.
    on_demand_base: int = 0
    on_demand_percentage: int = 100

    @property
    def templates(self) -> tuple[dict[str, str], ...]:
        """The group's launch template and each override's own, every one once."""
        found: list[dict[str, str]] = []
        main = (self.launch_template,) if self.launch_template else ()
        for template in main + self.override_templates:
            if template not in found:
                found.append(template)
        return tuple(found)

    @property
    def spot_capacity(self) -> str:
        """``none``, ``some`` or ``all``: how much of the group's capacity is Spot."""
        if self.on_demand_percentage >= 100:
            return "none"
        return "all" if self.on_demand_percentage <= 0 and self.on_demand_base <= 0 else "some"


@dataclass(frozen=True)
class Fleet:
    """An EC2 Fleet (DescribeFleets): its type and the launch templates it launches from."""

    fleet_id: str
    fleet_type: str  # instant, maintain or request
    templates: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class SpotRequest:
    """A Spot Fleet request or a Spot Instance request: what it launches from."""

    request_id: str
    specs: tuple[LaunchSpec, ...] = ()
    templates: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class PlannedChange:
    """A change about to be made, as the write-ahead audit records it."""

    key_arn: str
    event_id: str
    principal_arn: str
    remedy: str  # "key-policy" or "grant"
    before: Any  # the key policy before, or None for a grant
    planned: Any  # the policy to write, or the grant (name, grantee, operations)
    account: str = ""  # the account the write is made in (organization mode), if recorded


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
