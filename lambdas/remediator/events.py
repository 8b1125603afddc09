"""Typed triggers parsed from the three EventBridge event kinds. The event is a trigger, not
the truth: everything it claims is re-read from AWS before anything changes.

``parse_event`` never raises: an event of an unknown kind or shape becomes ``Ignored``; an event
of a known kind whose identity or key cannot be trusted becomes a trigger carrying a ``problem``,
which the engine reports as a refusal without calling AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator.arns import (
    MAX_ARN_LENGTH,
    Principal,
    PrincipalError,
    is_account_id,
    is_key_reference,
    key_arn_parts,
    principal_from_arn,
)

MAX_FIELD_LENGTH = 4096
CLIENT_INTERNAL_ERROR = "Client.InternalError"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]\Z")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}\Z")
_ASG_NAME = re.compile(r"^[\x20-\x7e]{1,255}\Z")
_MESSAGE_KEY_ARN = re.compile(r"on resource: (arn:[^\s]+:key/[^\s]+?)\.?(?:\s|$)")
_EC2_GRANTEE_INSTANCE = re.compile(r":aws:ec2-infrastructure:(i-[0-9a-f]{8,17})\Z")


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
class CreateGrantDenied:
    """A failed ``kms:CreateGrant`` in CloudTrail: EBS asked on the launching principal's behalf."""

    meta: EventMeta
    principal: Principal | None
    key_reference: str | None  # requestParameters.keyId: ARN, key id, alias name or alias ARN
    resource_key_arns: tuple[str, ...]  # key ARNs in resources[]
    message_key_arn: str | None  # the key ARN named in errorMessage, if any
    instance_id: str | None
    problem: str | None = None  # why this event cannot be acted on


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


Trigger = CreateGrantDenied | InstanceLaunchFailed | AsgLaunchFailed


def parse_event(event: object) -> Trigger | Ignored:
    if not isinstance(event, Mapping):
        return Ignored(f"event is a {type(event).__name__}, not an object")
    detail = event.get("detail")
    source, detail_type = event.get("source"), event.get("detail-type")
    if not isinstance(detail, Mapping):
        return Ignored("event has no detail object")
    meta = _meta(event, detail)
    if meta is None:
        return Ignored("event lacks a valid id, account or region")
    if source == "aws.kms" and detail_type == "AWS API Call via CloudTrail":
        return _create_grant(meta, detail)
    if source == "aws.ec2" and detail_type == "EC2 Instance State-change Notification":
        return _state_change(meta, detail)
    if source == "aws.autoscaling" and detail_type == "EC2 Instance Launch Unsuccessful":
        return _asg_failure(meta, detail)
    return Ignored(f"not a launch failure event (source={_short(source)})", meta)


def _meta(event: Mapping[str, Any], detail: Mapping[str, Any]) -> EventMeta | None:
    event_id, account, region = event.get("id"), event.get("account"), event.get("region")
    if not (isinstance(event_id, str) and isinstance(account, str) and isinstance(region, str)):
        return None
    if not (_is_text(event_id, 128) and is_account_id(account) and _REGION.match(region)):
        return None
    fields = {
        "detail.sharedEventID": detail.get("sharedEventID"),
        "detail.eventID": detail.get("eventID"),
        "id": event_id,
    }
    candidates = tuple(fields[name] for name in DEDUP_FIELDS)
    dedup = next(v for v in candidates if isinstance(v, str) and _is_text(v, 128))
    return EventMeta(event_id=event_id, dedup_key=dedup, account=account, region=region)


def _create_grant(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    if detail.get("eventName") != "CreateGrant":
        return Ignored(
            f"CloudTrail event {_short(detail.get('eventName'))} is not CreateGrant", meta
        )
    error_code = detail.get("errorCode")
    if not (isinstance(error_code, str) and error_code.startswith("AccessDenied")):
        return Ignored("CreateGrant did not fail with AccessDenied", meta)
    if detail.get("awsRegion") not in (None, meta.region):
        return _grant_problem(meta, "detail.awsRegion differs from the event's region")

    params = detail.get("requestParameters")
    params = params if isinstance(params, Mapping) else {}
    key_reference = params.get("keyId")
    if key_reference is not None and not is_key_reference(key_reference):
        return _grant_problem(meta, "requestParameters.keyId is not a KMS key id, ARN or alias")

    resource_arns = []
    resources = detail.get("resources")
    for item in resources if isinstance(resources, list) else []:
        arn = item.get("ARN") if isinstance(item, Mapping) else None
        if isinstance(arn, str) and arn.startswith("arn:") and ":kms:" in arn:
            if key_arn_parts(arn) is None:
                return _grant_problem(meta, "resources[] names a malformed key ARN")
            resource_arns.append(arn)

    message = detail.get("errorMessage")
    message_key_arn = None
    if isinstance(message, str):
        if len(message) > MAX_FIELD_LENGTH:
            return _grant_problem(meta, "errorMessage is longer than any KMS error message")
        match = _MESSAGE_KEY_ARN.search(message)
        if match:
            message_key_arn = match.group(1)
            if key_arn_parts(message_key_arn) is None:
                return _grant_problem(meta, "errorMessage names a malformed key ARN")

    if key_reference is None and not resource_arns and message_key_arn is None:
        return _grant_problem(meta, "the event names no key")

    grantee = params.get("granteePrincipal")
    instance_match = _EC2_GRANTEE_INSTANCE.search(grantee) if isinstance(grantee, str) else None
    principal, problem = principal_from_identity(detail.get("userIdentity"))
    return CreateGrantDenied(
        meta=meta,
        principal=principal,
        key_reference=key_reference,
        resource_key_arns=tuple(dict.fromkeys(resource_arns)),
        message_key_arn=message_key_arn,
        instance_id=instance_match.group(1) if instance_match else None,
        problem=problem,
    )


def principal_from_identity(identity: object) -> tuple[Principal | None, str | None]:
    """The principal to fix: the caller. For an assumed role, the role (sessionIssuer) ARN."""
    if not isinstance(identity, Mapping):
        return None, "the event has no userIdentity"
    kind = identity.get("type")
    if kind == "AssumedRole":
        context = identity.get("sessionContext")
        issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
        arn = issuer.get("arn") if isinstance(issuer, Mapping) else None
        if arn is None:
            return None, "assumed-role identity without sessionContext.sessionIssuer.arn"
    elif kind in ("IAMUser", "Root", "FederatedUser"):
        arn = identity.get("arn")
    elif kind == "AWSAccount":
        account = identity.get("accountId")
        return None, (
            f"the event names only account {_short(account)}: this is the key owner's copy of a "
            "cross-account call, and the caller's account must identify the principal"
        )
    else:
        return None, f"identity type {_short(kind)} cannot be named in a key policy"
    try:
        return principal_from_arn(arn), None
    except PrincipalError as err:
        return None, str(err)


def _grant_problem(meta: EventMeta, problem: str) -> CreateGrantDenied:
    return CreateGrantDenied(meta, None, None, (), None, None, problem)


def _state_change(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    instance_id, state = detail.get("instance-id"), detail.get("state")
    if state not in ("stopped", "terminated"):
        return Ignored(f"instance state {_short(state)} is not a failed launch", meta)
    if not (isinstance(instance_id, str) and _INSTANCE_ID.match(instance_id)):
        return Ignored("instance-id is not an EC2 instance id", meta)
    return InstanceLaunchFailed(meta, instance_id, state)


def _asg_failure(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    message, group = detail.get("StatusMessage"), detail.get("AutoScalingGroupName")
    if not (isinstance(message, str) and CLIENT_INTERNAL_ERROR in message[:MAX_FIELD_LENGTH]):
        return Ignored(
            "Auto Scaling launch failed for another reason than Client.InternalError", meta
        )
    if not (isinstance(group, str) and _ASG_NAME.match(group)):
        return Ignored("AutoScalingGroupName is missing or malformed", meta)
    instance_id = detail.get("EC2InstanceId")
    valid_instance = isinstance(instance_id, str) and bool(_INSTANCE_ID.match(instance_id))
    return AsgLaunchFailed(
        meta, group, instance_id if valid_instance else None, message[:MAX_FIELD_LENGTH]
    )


def _is_text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


__all__ = [
    "MAX_ARN_LENGTH",
    "AsgLaunchFailed",
    "CreateGrantDenied",
    "EventMeta",
    "Ignored",
    "InstanceLaunchFailed",
    "Trigger",
    "is_group_name",
    "is_instance_id",
    "parse_event",
]


def is_instance_id(value: object) -> bool:
    return isinstance(value, str) and bool(_INSTANCE_ID.match(value))


def is_group_name(value: object) -> bool:
    return isinstance(value, str) and bool(_ASG_NAME.match(value))
