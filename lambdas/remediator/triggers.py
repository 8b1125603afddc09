"""The triggers parsed from events, as typed data, and the field checks parsing shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator.arns import Principal

MAX_FIELD_LENGTH = 4096
CLIENT_INTERNAL_ERROR = "Client.InternalError"
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}\Z")
_VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}\Z")
_ASG_NAME = re.compile(r"^[\x20-\x7e]{1,255}\Z")

# Every copy of one failure shares the first of these that the event has (cross-account
# copies of one call share detail.sharedEventID): the idempotency key, as JMESPath fields.
DEDUP_FIELDS = ("detail.sharedEventID", "detail.eventID", "id")


@dataclass(frozen=True)
class EventMeta:
    """Where an event came from. ``dedup_key`` is the same for every copy of one failure."""

    event_id: str
    dedup_key: str
    account: str
    region: str


@dataclass(frozen=True)
class Ignored:
    reason: str
    meta: EventMeta | None = None


@dataclass(frozen=True)
class KmsCallDenied:
    """A denied KMS call in CloudTrail that EC2, EBS, Auto Scaling or a fleet made on the
    launching principal's behalf (``event_name`` is one of ``LAUNCH_KMS_CALLS``)."""

    meta: EventMeta
    event_name: str
    principal: Principal | None
    key_reference: str | None  # the request's key: ARN, key id, alias name or alias ARN
    resource_key_arns: tuple[str, ...]  # key ARNs in resources[] (for ReEncrypt: the denied one)
    message_key_arn: str | None  # the key ARN named in errorMessage, if any
    instance_id: str | None  # from a CreateGrant's ec2-infrastructure grantee
    problem: str | None = None  # why this event cannot be acted on
    volume_id: str | None = None  # the EBS volume in the request's encryption context


@dataclass(frozen=True)
class InstanceLaunchFailed:
    """An instance went stopped or terminated; DescribeInstances tells whether KMS was why."""

    meta: EventMeta
    instance_id: str
    state: str


@dataclass(frozen=True)
class AsgLaunchFailed:
    """Auto Scaling could not launch an instance with ``Client.InternalError``."""

    meta: EventMeta
    group_name: str
    instance_id: str | None
    status_message: str


Trigger = KmsCallDenied | InstanceLaunchFailed | AsgLaunchFailed


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def is_text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def field(value: object) -> str:
    return "(absent)" if value is None else short(value)


def short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def is_instance_id(value: object) -> bool:
    return isinstance(value, str) and bool(_INSTANCE_ID.match(value))


def is_volume_id(value: object) -> bool:
    return isinstance(value, str) and bool(_VOLUME_ID.match(value))


def is_group_name(value: object) -> bool:
    return isinstance(value, str) and bool(_ASG_NAME.match(value))
