"""Detect: typed triggers parsed from the three EventBridge event kinds. The event is a
trigger, not the truth: everything it claims is re-read from AWS before anything changes.

``parse_event`` never raises: an event of an unknown kind or shape becomes ``Ignored``; an event
of a known kind whose identity or key cannot be trusted becomes a trigger carrying a ``problem``,
which the pipeline reports as a refusal without calling AWS. Denied KMS calls are parsed in
``denied_calls.py``; the trigger types live in ``triggers.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.arns import is_account_id, is_region
from remediator.denied_calls import (
    ACCESS_DENIED_PREFIX,
    AWS_LAUNCH_CALLERS,
    LAUNCH_KMS_CALLS,
    kms_call,
    principal_from_identity,
)
from remediator.triggers import (
    CLIENT_INTERNAL_ERROR,
    DEDUP_FIELDS,
    MAX_FIELD_LENGTH,
    AsgLaunchFailed,
    EventMeta,
    Ignored,
    InstanceLaunchFailed,
    KmsCallDenied,
    Trigger,
    is_group_name,
    is_instance_id,
    is_text,
    short,
)


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
        return kms_call(meta, detail)
    if source == "aws.ec2" and detail_type == "EC2 Instance State-change Notification":
        return _state_change(meta, detail)
    if source == "aws.autoscaling" and detail_type == "EC2 Instance Launch Unsuccessful":
        return _asg_failure(meta, detail)
    return Ignored(f"not a launch failure event (source={short(source)})", meta)


def _meta(event: Mapping[str, Any], detail: Mapping[str, Any]) -> EventMeta | None:
    event_id, account, region = event.get("id"), event.get("account"), event.get("region")
    if not (isinstance(event_id, str) and isinstance(account, str) and isinstance(region, str)):
        return None
    if not (is_text(event_id, 128) and is_account_id(account) and is_region(region)):
        return None
    fields = {
        "detail.sharedEventID": detail.get("sharedEventID"),
        "detail.eventID": detail.get("eventID"),
        "id": event_id,
    }
    candidates = tuple(fields[name] for name in DEDUP_FIELDS)
    dedup = next(v for v in candidates if isinstance(v, str) and is_text(v, 128))
    return EventMeta(event_id=event_id, dedup_key=dedup, account=account, region=region)


def launch_account(trigger: Trigger) -> str:
    """The account the launch happened in, which organization mode acts in.

    For a denied KMS call, the launching principal's account: CloudTrail delivers a
    cross-account call to the caller's account and to the key owner's with one
    ``sharedEventID`` (the copies differ in ``account`` and ``recipientAccountId``), and both
    name the same caller, so both copies lead to the same account and the same remedy. An EC2
    or Auto Scaling event has one copy, in the account where it occurred, which EventBridge keeps
    as ``account`` when a rule forwards it (EventBridge user guide, "Sending and receiving events
    between AWS accounts"); so does a denied call whose principal could not be read, which is
    refused without any call."""
    if isinstance(trigger, KmsCallDenied) and trigger.principal is not None:
        return trigger.principal.account
    return trigger.meta.account


# --- EC2 state changes and Auto Scaling failures ------------------------------------------


def _state_change(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    instance_id, state = detail.get("instance-id"), detail.get("state")
    if state not in ("stopped", "terminated"):
        return Ignored(f"instance state {short(state)} is not a failed launch", meta)
    if not (isinstance(instance_id, str) and is_instance_id(instance_id)):
        return Ignored("instance-id is not an EC2 instance id", meta)
    return InstanceLaunchFailed(meta, instance_id, state)


def _asg_failure(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    message, group = detail.get("StatusMessage"), detail.get("AutoScalingGroupName")
    if not (isinstance(message, str) and CLIENT_INTERNAL_ERROR in message[:MAX_FIELD_LENGTH]):
        return Ignored(
            "Auto Scaling launch failed for another reason than Client.InternalError", meta
        )
    if not (isinstance(group, str) and is_group_name(group)):
        return Ignored("AutoScalingGroupName is missing or malformed", meta)
    instance_id = detail.get("EC2InstanceId")
    valid_instance = is_instance_id(instance_id)
    return AsgLaunchFailed(
        meta, group, instance_id if valid_instance else None, message[:MAX_FIELD_LENGTH]
    )


__all__ = [
    "ACCESS_DENIED_PREFIX",
    "AWS_LAUNCH_CALLERS",
    "CLIENT_INTERNAL_ERROR",
    "DEDUP_FIELDS",
    "LAUNCH_KMS_CALLS",
    "AsgLaunchFailed",
    "EventMeta",
    "Ignored",
    "InstanceLaunchFailed",
    "KmsCallDenied",
    "Trigger",
    "is_group_name",
    "is_instance_id",
    "launch_account",
    "parse_event",
    "principal_from_identity",
]
