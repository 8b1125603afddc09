"""Identify: from a trigger to the (key, principal) pairs to check, reading AWS only where the
event does not say: an instance's volumes and tags, its group or fleet, its launch templates,
its AMI, the account's default EBS key, the CloudTrail record of its launch.

Who launched comes from ``launchers.py`` (which launcher, which service-linked role), where
the keys come from is ``key_sources.py``. What was read is kept in the ``Launch`` it returns,
so that ``diagnose`` can show it without reading it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediator.arns import AUTOSCALING_SLR_NAME, Principal
from remediator.events import (
    CLIENT_INTERNAL_ERROR,
    AsgLaunchFailed,
    EventMeta,
    InstanceLaunchFailed,
    KmsCallDenied,
    Trigger,
    principal_from_identity,
)
from remediator.key_sources import Collector, KeySources
from remediator.launchers import (
    ASG_TAG,
    CALLER_LAUNCHERS,
    FLEET_ID_TAG,
    FLEET_LAUNCH_CALLS,
    INSTANCE_LAUNCH_CALLS,
    SPOT_FLEET_TAG,
    Launcher,
    fleet_launcher,
    group_launchers,
    instance_launcher,
    record_launcher,
    service_principal,
)
from remediator.model import AutoScalingGroup, Instance, SpotRequest
from remediator.outcomes import Outcome
from remediator.ports import AccessDenied, AwsPort

LAUNCH_TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"
NO_KEY_FOUND = "no KMS key found on the instance's volumes, launch template or AMI snapshots"

__all__ = ["ASG_TAG", "NO_KEY_FOUND", "Dismissal", "Launch", "Target", "identify"]


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
    """What identification found: the targets (or why there are none), and what it read.

    ``awaiting`` says what identification still waits for: the launching call, which CloudTrail
    may not have recorded yet. The pipeline may look again later instead of refusing now."""

    targets: tuple[Target, ...] = ()
    dismissal: Dismissal | None = None
    instance: Instance | None = None
    group: AutoScalingGroup | None = None
    launch_record: dict[str, Any] | None = None
    principal_source: str = ""  # where the principal came from, in words
    launcher: Launcher | None = None
    awaiting: str | None = None


@dataclass(frozen=True)
class _Who:
    """Who launched: the principals, or the problem that leaves them unknown."""

    principals: tuple[Principal, ...] = ()
    problem: str | None = None
    source: str = ""
    launcher: Launcher | None = None
    record: dict[str, Any] | None = None
    awaiting: str | None = None


def identify(trigger: Trigger, aws: AwsPort) -> Launch:
    if isinstance(trigger, KmsCallDenied):
        return _denied_call(trigger, aws)
    if isinstance(trigger, InstanceLaunchFailed):
        return _instance(trigger, aws)
    return _group(trigger, aws)


def _denied_call(trigger: KmsCallDenied, aws: AwsPort) -> Launch:
    named = [*trigger.resource_key_arns, *filter(None, [trigger.message_key_arn])]
    expected = tuple(dict.fromkeys(named))
    reference = trigger.key_reference or (expected[0] if expected else None)
    instance_id = trigger.instance_id
    if instance_id is None and trigger.volume_id and trigger.problem is None:
        # Only CreateGrant names the instance; the other calls name the volume EBS made.
        try:
            instance_id = aws.volume_instance(trigger.volume_id)
        except AccessDenied:
            instance_id = None
    target = Target(reference, trigger.principal, instance_id, trigger.problem, expected)
    return Launch(targets=(target,), principal_source="the CloudTrail record of the denied call")


# --- an instance that failed to launch ------------------------------------------------------


def _instance(trigger: InstanceLaunchFailed, aws: AwsPort) -> Launch:
    instance_id = trigger.instance_id
    instance = aws.describe_instance(instance_id)
    if instance is None:
        return Launch(dismissal=_ignored("the instance no longer exists", instance_id))
    if instance.state_reason_code != CLIENT_INTERNAL_ERROR:
        code = instance.state_reason_code or "none"
        reason = f"state reason {code!r} is no KMS launch failure"
        return Launch(dismissal=_ignored(reason, instance_id), instance=instance)

    keys = Collector(aws)
    keys.volumes(instance.volume_ids)
    if instance.image_id:  # the AMI it was launched from, already resolved by EC2
        keys.image(instance.image_id)
    template_id = instance.tags.get(LAUNCH_TEMPLATE_ID_TAG)
    if template_id:
        version = instance.tags.get(LAUNCH_TEMPLATE_VERSION_TAG, "$Default")
        template = {"LaunchTemplateId": template_id, "Version": version}
        keys.template(template, image=not instance.image_id)

    group_name = instance.tags.get(ASG_TAG)
    group = aws.autoscaling_group(group_name) if group_name else None
    who = _who(trigger.meta, instance, group, keys, aws)
    if who.record is not None:
        keys.record(who.record.get("requestParameters"))
    record = who.record or {}
    call = record.get("eventName")
    return _launch(
        keys.result(),
        who,
        instance_id,
        launch_call=call if isinstance(call, str) else None,
        instance=instance,
        group=group,
        launch_record=who.record,
    )


def _who(
    meta: EventMeta,
    instance: Instance,
    group: AutoScalingGroup | None,
    keys: Collector,
    aws: AwsPort,
) -> _Who:
    launcher: Launcher | None = instance_launcher(instance)
    if launcher in (Launcher.AUTO_SCALING, Launcher.AUTO_SCALING_SPOT):
        assert launcher is not None
        source = _group_source(instance.tags[ASG_TAG], group, launcher)
        return _service(meta, launcher, group, source)
    if launcher is Launcher.EC2_FLEET:
        fleet = aws.fleet(instance.tags[FLEET_ID_TAG])
        launcher = fleet_launcher(fleet.fleet_type) if fleet else None  # None: ask CloudTrail
        if fleet and LAUNCH_TEMPLATE_ID_TAG not in instance.tags:
            for template in fleet.templates:
                keys.template(template)
    if launcher is Launcher.SPOT_FLEET:
        _spot_specs(keys, aws.spot_fleet_request(instance.tags[SPOT_FLEET_TAG]), instance)
    if launcher is Launcher.SPOT_INSTANCES and instance.spot_request_id:
        _spot_specs(keys, aws.spot_instance_request(instance.spot_request_id), instance)
    if launcher is not None and launcher not in CALLER_LAUNCHERS:
        source = f"{launcher.words}: its service-linked role (the instance's tags and lifecycle)"
        return _service(meta, launcher, None, source)
    return _caller(meta, instance, launcher, aws)


def _spot_specs(keys: Collector, request: SpotRequest | None, instance: Instance) -> None:
    if request is None:
        return
    for spec in request.specs:
        keys.spec(spec)
    if LAUNCH_TEMPLATE_ID_TAG not in instance.tags:
        for template in request.templates:
            keys.template(template)


def _service(
    meta: EventMeta, launcher: Launcher, group: AutoScalingGroup | None, source: str
) -> _Who:
    arn = service_principal(launcher, meta.account, group)
    principal, problem = _role(arn)
    principals = (principal,) if principal else ()
    return _Who(principals, problem, source, launcher)


def _caller(meta: EventMeta, instance: Instance, launcher: Launcher | None, aws: AwsPort) -> _Who:
    """The caller of the launch, from CloudTrail: the instance's own launch call, else (for an
    EC2 Fleet) the CreateFleet call that names the fleet."""
    instance_id, fleet_id = instance.instance_id, instance.tags.get(FLEET_ID_TAG)
    calls = "/".join(INSTANCE_LAUNCH_CALLS)
    try:
        record = aws.launch_record(instance_id, INSTANCE_LAUNCH_CALLS)
        if record is None and fleet_id:
            record = aws.launch_record(fleet_id, FLEET_LAUNCH_CALLS)
    except AccessDenied as err:
        problem = (
            f"no launching principal found: CloudTrail LookupEvents is denied ({err.code}), and "
            "the instance is in no Auto Scaling group, fleet or Spot request"
        )
        return _Who(problem=problem, source="not found: CloudTrail LookupEvents is denied")
    if record is None:
        problem = (
            "no launching principal found: the instance is in no Auto Scaling group or "
            f"service-launched fleet, and CloudTrail LookupEvents returned no {calls} call "
            "naming it"
        )
        source = f"not found: CloudTrail LookupEvents has no {calls} call yet"
        return _Who(problem=problem, source=source, launcher=launcher, awaiting=calls)
    found = record_launcher(record) or launcher
    name, when = record.get("eventName", "the launch call"), record.get("eventTime", "?")
    if found is not None and found not in CALLER_LAUNCHERS:
        source = f"CloudTrail: {name} at {when}, by {found.words}: its service-linked role"
        who = _service(meta, found, None, source)
        return _Who(who.principals, who.problem, source, found, record)
    principal, unnamed = principal_from_identity(record.get("userIdentity"))
    principals = (principal,) if principal else ()
    return _Who(principals, unnamed, f"CloudTrail: {name} at {when}", found, record)


# --- an Auto Scaling group that failed to launch --------------------------------------------


def _group(trigger: AsgLaunchFailed, aws: AwsPort) -> Launch:
    group = aws.autoscaling_group(trigger.group_name)
    if group is None:
        reason = f"Auto Scaling group {trigger.group_name!r} no longer exists"
        return Launch(dismissal=_ignored(reason, None))
    keys = Collector(aws)
    for template in group.templates:
        keys.template(template)
    if not group.templates and group.launch_configuration:
        keys.configuration(group.launch_configuration)
    instance = aws.describe_instance(trigger.instance_id) if trigger.instance_id else None
    if instance:
        keys.volumes(instance.volume_ids)
    sources = keys.result()
    launchers: tuple[Launcher, ...]
    if instance and instance.tags.get(ASG_TAG) == group.name:
        launchers = (instance_launcher(instance),)
    else:
        launchers = group_launchers(group, sources.spot)
    whos = [
        _service(trigger.meta, launcher, group, _group_source(group.name, group, launcher))
        for launcher in launchers
    ]
    who = _Who(
        principals=tuple(p for w in whos for p in w.principals),
        problem=next((w.problem for w in whos if w.problem), None),
        source="; ".join(w.source for w in whos),
        launcher=launchers[0],
    )
    return _launch(sources, who, trigger.instance_id, instance=instance, group=group)


def _group_source(name: str, group: AutoScalingGroup | None, launcher: Launcher) -> str:
    if launcher is Launcher.AUTO_SCALING_SPOT:
        return (
            f"the Spot capacity of Auto Scaling group {name}: the Spot service-linked role "
            "AWSServiceRoleForEC2Spot, which launches Spot Instances"
        )
    custom = group.service_linked_role_arn if group else None
    if custom is None:
        return (
            f"Auto Scaling group {name}, which names no role: the account's default Auto "
            "Scaling service-linked role"
        )
    if custom.endswith(f"/{AUTOSCALING_SLR_NAME}"):
        return f"the service-linked role of Auto Scaling group {name} (the default one)"
    return f"the custom-suffix service-linked role of Auto Scaling group {name}"


# --- assembling the launch ------------------------------------------------------------------


def _role(arn: str | None) -> tuple[Principal | None, str | None]:
    if arn is None:
        return None, "no launching principal found"
    identity = {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": arn}}}
    return principal_from_identity(identity)


def _launch(
    sources: KeySources,
    who: _Who,
    instance_id: str | None,
    launch_call: str | None = None,
    **read: Any,
) -> Launch:
    """One target per key and principal, plus one refusal per unreadable key source."""
    principals: tuple[Principal | None, ...] = who.principals or (None,)
    problem = who.problem if not who.principals else None
    targets = [
        Target(key, principal, instance_id, problem, launch_call=launch_call)
        for key in sources.keys
        for principal in principals
    ]
    targets += [Target(None, principals[0], instance_id, p) for p in sources.problems]
    common = {
        "principal_source": who.source,
        "launcher": who.launcher,
        "awaiting": who.awaiting,
        **read,
    }
    if not targets:
        dismissal = Dismissal(
            Outcome.REFUSED,
            f"{problem}; and {NO_KEY_FOUND}" if problem else NO_KEY_FOUND,
            principal_arn=principals[0].arn if principals[0] else None,
            instance_id=instance_id,
        )
        return Launch(dismissal=dismissal, **common)
    return Launch(targets=tuple(targets), **common)


def _ignored(reason: str, instance_id: str | None) -> Dismissal:
    return Dismissal(Outcome.IGNORED, reason, instance_id=instance_id)
