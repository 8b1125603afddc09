"""Identify: from a trigger to the (key, principal) pairs to check, reading AWS only where the
event does not say (an instance's volumes and tags, its group, its launch template, its AMI,
the CloudTrail record of its launch).

What was read is kept in the ``Launch`` it returns, so that ``diagnose`` can show it without
reading it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator.arns import AUTOSCALING_SLR_NAME, Principal, autoscaling_slr_arn
from remediator.events import (
    CLIENT_INTERNAL_ERROR,
    AsgLaunchFailed,
    EventMeta,
    InstanceLaunchFailed,
    KmsCallDenied,
    Trigger,
    principal_from_identity,
)
from remediator.model import AutoScalingGroup, Instance
from remediator.outcomes import Outcome
from remediator.ports import AwsPort

ASG_TAG = "aws:autoscaling:groupName"
LAUNCH_TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"
NO_KEY_FOUND = "no KMS key found on the instance's volumes, launch template or AMI snapshots"


@dataclass(frozen=True)
class Target:
    """One (key, principal) pair to check, as identified from the event."""

    key_reference: str | None
    principal: Principal | None
    instance_id: str | None
    problem: str | None = None
    expected_key_arns: tuple[str, ...] = ()  # every key ARN the event names must agree
    launch_call: str | None = None  # RunInstances or StartInstances, where CloudTrail says


@dataclass(frozen=True)
class Dismissal:
    """Why there is nothing to check: the event is no launch failure (``IGNORED``), or what
    failed cannot be identified (``REFUSED``)."""

    outcome: Outcome
    reason: str
    principal_arn: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class Launch:
    """What identification found: the targets (or why there are none), and what it read."""

    targets: tuple[Target, ...] = ()
    dismissal: Dismissal | None = None
    instance: Instance | None = None
    group: AutoScalingGroup | None = None
    launch_record: dict[str, Any] | None = None
    principal_source: str = ""  # where the principal came from, in words


def identify(trigger: Trigger, aws: AwsPort) -> Launch:
    if isinstance(trigger, KmsCallDenied):
        return _denied_call(trigger)
    if isinstance(trigger, InstanceLaunchFailed):
        return _instance(trigger, aws)
    return _group(trigger, aws)


def kms_key_ids(value: object, depth: int = 0) -> list[str]:
    """Every ``kmsKeyId`` string in a CloudTrail request (RunInstances block device mappings)."""
    if depth > 8:
        return []
    if isinstance(value, Mapping):
        found = [v for k, v in value.items() if k == "kmsKeyId" and isinstance(v, str)]
        return found + [i for v in value.values() for i in kms_key_ids(v, depth + 1)]
    if isinstance(value, list):
        return [i for v in value for i in kms_key_ids(v, depth + 1)]
    return []


def _denied_call(trigger: KmsCallDenied) -> Launch:
    named = [*trigger.resource_key_arns, *filter(None, [trigger.message_key_arn])]
    expected = tuple(dict.fromkeys(named))
    reference = trigger.key_reference or (expected[0] if expected else None)
    target = Target(reference, trigger.principal, trigger.instance_id, trigger.problem, expected)
    return Launch(targets=(target,), principal_source="the CloudTrail record of the denied call")


def _instance(trigger: InstanceLaunchFailed, aws: AwsPort) -> Launch:
    instance_id = trigger.instance_id
    instance = aws.describe_instance(instance_id)
    if instance is None:
        return Launch(dismissal=_ignored("the instance no longer exists", instance_id))
    if instance.state_reason_code != CLIENT_INTERNAL_ERROR:
        code = instance.state_reason_code or "none"
        reason = f"state reason {code!r} is no KMS launch failure"
        return Launch(dismissal=_ignored(reason, instance_id), instance=instance)
    keys = aws.volume_keys(instance.volume_ids)
    image_id = instance.image_id
    template_id = instance.tags.get(LAUNCH_TEMPLATE_ID_TAG)
    if template_id:
        version = instance.tags.get(LAUNCH_TEMPLATE_VERSION_TAG, "$Default")
        template_keys, template_image = aws.launch_template_keys(
            {"LaunchTemplateId": template_id, "Version": version}
        )
        keys += template_keys
        image_id = image_id or template_image
    if image_id:
        keys += aws.image_keys(image_id)

    group_name = instance.tags.get(ASG_TAG)
    if group_name:
        group = aws.autoscaling_group(group_name)
        principal, problem = _group_principal(trigger.meta, group)
        return _launch(
            keys,
            principal,
            problem,
            instance_id,
            instance=instance,
            group=group,
            principal_source=_group_source(group_name, group),
        )
    record = aws.launch_record(instance_id)
    if record is None:
        problem = (
            "no launching principal found: the instance is not in an Auto Scaling group "
            "and CloudTrail LookupEvents returned no RunInstances/StartInstances call"
        )
        source = "not found: CloudTrail LookupEvents has no RunInstances/StartInstances call"
        return _launch(keys, None, problem, instance_id, instance=instance, principal_source=source)
    principal, problem = principal_from_identity(record.get("userIdentity"))
    keys += kms_key_ids(record.get("requestParameters"))
    source = (
        f"CloudTrail: {record.get('eventName', 'the launch call')} at "
        f"{record.get('eventTime', '?')}"
    )
    call = record.get("eventName")
    return _launch(
        keys,
        principal,
        problem,
        instance_id,
        launch_call=call if isinstance(call, str) else None,
        instance=instance,
        launch_record=record,
        principal_source=source,
    )


def _group(trigger: AsgLaunchFailed, aws: AwsPort) -> Launch:
    group = aws.autoscaling_group(trigger.group_name)
    if group is None:
        reason = f"Auto Scaling group {trigger.group_name!r} no longer exists"
        return Launch(dismissal=_ignored(reason, None))
    keys: list[str] = []
    image_id = None
    if group.launch_template:
        keys, image_id = aws.launch_template_keys(group.launch_template)
    elif group.launch_configuration:
        keys, image_id = aws.launch_configuration(group.launch_configuration)
    if image_id:
        keys += aws.image_keys(image_id)
    instance = aws.describe_instance(trigger.instance_id) if trigger.instance_id else None
    if instance:
        keys += aws.volume_keys(instance.volume_ids)
    principal, problem = _group_principal(trigger.meta, group)
    return _launch(
        keys,
        principal,
        problem,
        trigger.instance_id,
        instance=instance,
        group=group,
        principal_source=_group_source(group.name, group),
    )


def _group_principal(
    meta: EventMeta, group: AutoScalingGroup | None
) -> tuple[Principal | None, str | None]:
    slr_arn = group.service_linked_role_arn if group else None
    identity = {
        "type": "AssumedRole",
        "sessionContext": {"sessionIssuer": {"arn": slr_arn or autoscaling_slr_arn(meta.account)}},
    }
    return principal_from_identity(identity)


def _group_source(name: str, group: AutoScalingGroup | None) -> str:
    custom = group.service_linked_role_arn if group else None
    if custom is None:
        return (
            f"Auto Scaling group {name}, which names no role: the account's default Auto "
            "Scaling service-linked role"
        )
    if custom.endswith(f"/{AUTOSCALING_SLR_NAME}"):
        return f"the service-linked role of Auto Scaling group {name} (the default one)"
    return f"the custom-suffix service-linked role of Auto Scaling group {name}"


def _launch(
    keys: list[str],
    principal: Principal | None,
    problem: str | None,
    instance_id: str | None,
    launch_call: str | None = None,
    **read: Any,
) -> Launch:
    unique = list(dict.fromkeys(keys))
    if not unique:
        dismissal = Dismissal(
            Outcome.REFUSED,
            NO_KEY_FOUND,
            principal_arn=principal.arn if principal else None,
            instance_id=instance_id,
        )
        return Launch(dismissal=dismissal, **read)
    targets = tuple(
        Target(key, principal, instance_id, problem, launch_call=launch_call) for key in unique
    )
    return Launch(targets=targets, **read)


def _ignored(reason: str, instance_id: str | None) -> Dismissal:
    return Dismissal(Outcome.IGNORED, reason, instance_id=instance_id)
