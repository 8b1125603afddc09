"""Every launcher kind on the emulator: who the engine names as the launching principal, and the
exact key policy it writes for them. EC2 state changes name neither key nor principal; the
engine reads them from the instance, its group or fleet, and CloudTrail (emulated here, since
moto has no LookupEvents)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.diagnose import diagnose
from remediator.pipeline import Remediator
from remediator.report import Report
from tests.integration.conftest import allow, default_policy
from tests.integration.test_cases import attach_statement, use_statement, use_via_ec2_statement
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.cloudtrail import EmulatedCloudTrail, load_record
from tests.support.world import (
    ACCOUNT,
    EC2_FLEET_SLR,
    EC2_FLEET_SLR_ARN,
    KARPENTER_ROLE_ARN,
    SAAS_ROLE_ARN,
    SAMPLE_INSTANCE_ID,
    SAMPLE_KEY_ARN,
    SAMPLE_VOLUME_ID,
    SLR_ARN,
    SPOT_FLEET_SLR,
    SPOT_FLEET_SLR_ARN,
    SPOT_SLR,
    SPOT_SLR_ARN,
    USER_ARN,
    World,
    load_event,
)

SAMPLE_FLEET_ID = "fleet-5e8b3a7c-2d14-4f6e-9a0b-7c3d2e1f4a58"
CONFIG = allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT))


def engine(world: World, cloudtrail: EmulatedCloudTrail, inbox: tuple[str, str]) -> Remediator:
    aws = AwsAdapter(region=world.region, clients={"cloudtrail": cloudtrail.client()})
    return Remediator(aws, parse_config(CONFIG), topic_arn=inbox[0])


def slr_policy(*principals: str) -> dict[str, Any]:
    """The default policy plus the seeds' statements for same-account service-linked roles."""
    policy = default_policy(ACCOUNT)
    names = sorted(principals)
    use, attach = use_statement(names[0]), attach_statement(names[0])
    use["Principal"]["AWS"] = attach["Principal"]["AWS"] = names
    policy["Statement"] += [use, attach]
    return policy


def caller_policy(principal: str) -> dict[str, Any]:
    policy = default_policy(ACCOUNT)
    policy["Statement"] += [use_via_ec2_statement(principal), attach_statement(principal)]
    return policy


def state_change(instance_id: str, stopped: bool = False) -> dict[str, Any]:
    name = "ec2_state_change_stopped.json" if stopped else "ec2_state_change_terminated.json"
    return load_event(name, {SAMPLE_INSTANCE_ID: instance_id})


@pytest.fixture
def cloudtrail() -> EmulatedCloudTrail:
    return EmulatedCloudTrail()


# --- launchers known from the instance and its group or fleet: no CloudTrail needed ---------


def _ec2_fleet(world: World, key: str, fleet_type: str) -> str:
    template = world.launch_template(key, f"{fleet_type}-lt")
    fleet = world.fleet(template, fleet_type)
    return world.launched_instance(template_id=template, tags={"aws:ec2:fleet-id": fleet})


def _spot_fleet(world: World, key: str) -> str:
    # stopped: its volumes are there (moto keeps no block device mappings in Spot requests)
    tags = {"aws:ec2spot:fleet-request-id": world.spot_fleet_request(key)}
    return world.launched_instance(key_arn=key, tags=tags, spot_request_id="", stopped=True)


def _spot_request(world: World, key: str) -> str:
    request = world.spot_instance_request(key)
    return world.launched_instance(key_arn=key, spot_request_id=request, stopped=True)


def _asg_spot(world: World, key: str) -> str:
    template = world.launch_template(key)
    world.autoscaling_group(template)
    tags = {"aws:autoscaling:groupName": "web-asg", "aws:ec2:fleet-id": "fleet-of-the-group"}
    return world.launched_instance(template_id=template, tags=tags, spot_request_id="")


def _asg_on_demand(world: World, key: str) -> str:
    template = world.launch_template(key)
    world.autoscaling_group(template)
    tags = {"aws:autoscaling:groupName": "web-asg"}
    return world.launched_instance(template_id=template, tags=tags)


@pytest.mark.parametrize(
    ("build", "role", "principal"),
    [
        (lambda w, k: _ec2_fleet(w, k, "maintain"), EC2_FLEET_SLR, EC2_FLEET_SLR_ARN),
        (lambda w, k: _ec2_fleet(w, k, "request"), EC2_FLEET_SLR, EC2_FLEET_SLR_ARN),
        (_spot_fleet, SPOT_FLEET_SLR, SPOT_FLEET_SLR_ARN),
        (_spot_request, SPOT_SLR, SPOT_SLR_ARN),
        (_asg_spot, SPOT_SLR, SPOT_SLR_ARN),
        (_asg_on_demand, None, SLR_ARN),
    ],
    ids=[
        "ec2-fleet-maintain",
        "ec2-fleet-request",
        "spot-fleet",
        "spot-instance-request",
        "auto-scaling-spot-capacity",
        "auto-scaling-on-demand",
    ],
)
def test_launchers_service_launched_instance_gets_its_service_linked_role_fixed(
    world: World,
    inbox: tuple[str, str],
    cloudtrail: EmulatedCloudTrail,
    build: Callable[[World, str], str],
    role: tuple[str, str] | None,
    principal: str,
) -> None:
    # Given an instance a service launched, whose key lacks that service's role
    key = world.key()
    if role:
        world.service_linked_role(role)
    else:
        world.autoscaling_slr()
    instance = build(world, key)

    # When EC2 reports that the launch failed
    [report] = engine(world, cloudtrail, inbox).handle(state_change(instance))

    # Then exactly that role gets the seeds' statements, and CloudTrail was not needed
    assert report.outcome == "remediated", report.reason
    assert (report.principal_arn, report.key_arn, report.instance_id) == (principal, key, instance)
    assert world.policy(key) == slr_policy(principal)
    assert sum(cloudtrail.lookups.values()) == 0


# --- launchers known only from CloudTrail: the caller of the launch --------------------------


def test_launchers_run_instances_caller_from_cloudtrail(
    world: World, inbox: tuple[str, str], cloudtrail: EmulatedCloudTrail
) -> None:
    # Given a user's instance, and CloudTrail's RunInstances record of it
    key = world.key()
    world.user()
    instance = world.launched_instance(key_arn=key)
    replacements = {SAMPLE_INSTANCE_ID: instance, SAMPLE_KEY_ARN: key}
    record = load_record("run_instances_user.json", replacements)
    cloudtrail.add(record, [instance])

    # When EC2 reports the instance terminated
    [report] = engine(world, cloudtrail, inbox).handle(state_change(instance))

    # Then the user gets the via-EC2 statements
    assert report.outcome == "remediated", report.reason
    assert report.principal_arn == USER_ARN
    assert world.policy(key) == caller_policy(USER_ARN)


def test_launchers_start_instances_caller_from_cloudtrail(
    world: World, inbox: tuple[str, str], cloudtrail: EmulatedCloudTrail
) -> None:
    # Given a stopped instance a scheduler's role tried to start
    key = world.key()
    world.role("SaaSSchedulerRole")
    instance = world.launched_instance(key_arn=key, stopped=True)
    record = load_record("start_instances_role.json", {SAMPLE_INSTANCE_ID: instance})
    cloudtrail.add(record, [instance])

    # When EC2 reports it stopped again
    [report] = engine(world, cloudtrail, inbox).handle(state_change(instance, stopped=True))

    # Then the role (not its session) gets what StartInstances needs: CreateGrant for AWS
    # resources only (the volumes exist; EBS needs no data key to start them)
    assert report.outcome == "remediated", report.reason
    assert report.principal_arn == SAAS_ROLE_ARN
    expected = default_policy(ACCOUNT)
    expected["Statement"].append(attach_statement(SAAS_ROLE_ARN))
    assert world.policy(key) == expected


def test_launchers_instant_fleet_caller_from_the_create_fleet_record(
    world: World, inbox: tuple[str, str], cloudtrail: EmulatedCloudTrail
) -> None:
    # Given an instance of an instant EC2 Fleet (Karpenter), and CloudTrail's CreateFleet record
    # naming the fleet
    key = world.key()
    world.role("KarpenterControllerRole-prod")
    template = world.launch_template(key, "karpenter-lt")
    fleet = world.fleet(template, "instant")
    instance = world.launched_instance(template_id=template, tags={"aws:ec2:fleet-id": fleet})
    record = load_record(
        "create_fleet_instant_karpenter.json",
        {SAMPLE_INSTANCE_ID: instance, SAMPLE_FLEET_ID: fleet},
    )
    cloudtrail.add(record, [fleet])

    # When EC2 reports the instance terminated
    [report] = engine(world, cloudtrail, inbox).handle(state_change(instance))

    # Then the controller role that called CreateFleet gets the via-EC2 statements
    assert report.outcome == "remediated", report.reason
    assert report.principal_arn == KARPENTER_ROLE_ARN
    assert world.policy(key) == caller_policy(KARPENTER_ROLE_ARN)
    assert cloudtrail.lookups == {instance: 1, fleet: 1}


@pytest.mark.parametrize(
    ("record_name", "role", "principal"),
    [
        ("create_fleet_maintain.json", EC2_FLEET_SLR, EC2_FLEET_SLR_ARN),
        ("request_spot_fleet.json", SPOT_FLEET_SLR, SPOT_FLEET_SLR_ARN),
        ("request_spot_instances.json", SPOT_SLR, SPOT_SLR_ARN),
    ],
    ids=["create-fleet-maintain", "request-spot-fleet", "request-spot-instances"],
)
def test_launchers_record_of_a_service_launch_names_the_service_not_the_requester(
    world: World,
    inbox: tuple[str, str],
    cloudtrail: EmulatedCloudTrail,
    record_name: str,
    role: tuple[str, str],
    principal: str,
) -> None:
    # Given an instance without the tags its launcher writes, and CloudTrail's record of the
    # request that led to it, made by a user
    key = world.key()
    world.user()
    world.service_linked_role(role)
    instance = world.launched_instance(key_arn=key, stopped=True)
    cloudtrail.add(load_record(record_name, {SAMPLE_KEY_ARN: key}), [instance])

    # When EC2 reports the launch failed
    [report] = engine(world, cloudtrail, inbox).handle(state_change(instance, stopped=True))

    # Then the service that launched (its role), not the user who asked, gets the statements
    assert report.outcome == "remediated", report.reason
    assert report.principal_arn == principal
    assert world.policy(key) == slr_policy(principal)


# --- Auto Scaling failures: On-Demand and Spot capacity --------------------------------------


def _mixed(world: World, key: str, on_demand_percentage: int) -> None:
    template = world.launch_template(key)
    world.group(
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Default"}
            },
            "InstancesDistribution": {
                "OnDemandBaseCapacity": 0,
                "OnDemandPercentageAboveBaseCapacity": on_demand_percentage,
            },
        }
    )


def _spot_template(world: World, key: str) -> None:
    template = world.template_from("spot-lt", world.template_data(key, spot=True))
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})


@pytest.mark.parametrize(
    ("build", "principals"),
    [
        (lambda w, k: _mixed(w, k, 0), [SPOT_SLR_ARN]),
        (lambda w, k: _mixed(w, k, 50), [SLR_ARN, SPOT_SLR_ARN]),
        (lambda w, k: _mixed(w, k, 100), [SLR_ARN]),
        (_spot_template, [SPOT_SLR_ARN]),
    ],
    ids=["all-spot", "half-spot", "all-on-demand", "spot-market-template"],
)
def test_launchers_group_failure_fixes_the_roles_of_its_capacity(
    world: World,
    inbox: tuple[str, str],
    cloudtrail: EmulatedCloudTrail,
    build: Callable[[World, str], None],
    principals: list[str],
) -> None:
    # Given a group whose Spot capacity (if any) is launched by the Spot service-linked role
    key = world.key()
    world.autoscaling_slr()
    world.service_linked_role(SPOT_SLR)
    build(world, key)
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")
    event["detail"]["EC2InstanceId"] = ""

    # When Auto Scaling reports the failed launch
    reports: list[Report] = engine(world, cloudtrail, inbox).handle(event)

    # Then each role that may have launched is added, and no other
    assert [r.outcome for r in reports] == ["remediated"] * len(principals)
    assert sorted(r.principal_arn or "" for r in reports) == principals
    assert world.policy(key) == slr_policy(*principals)


# --- denied KMS calls made for each launcher ---------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "role", "principal"),
    [
        ("ec2_fleet_slr_create_grant.json", EC2_FLEET_SLR, EC2_FLEET_SLR_ARN),
        ("spot_fleet_slr_create_grant.json", SPOT_FLEET_SLR, SPOT_FLEET_SLR_ARN),
        ("spot_slr_create_grant.json", SPOT_SLR, SPOT_SLR_ARN),
    ],
    ids=["ec2-fleet-slr", "spot-fleet-slr", "spot-slr"],
)
def test_launchers_denied_grant_by_a_launching_service_role(
    world: World,
    inbox: tuple[str, str],
    cloudtrail: EmulatedCloudTrail,
    fixture: str,
    role: tuple[str, str],
    principal: str,
) -> None:
    # Given a key lacking a launching service's role, and that role's denied CreateGrant
    key = world.key()
    world.service_linked_role(role)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})

    # When the event arrives
    [report] = engine(world, cloudtrail, inbox).handle(event)

    # Then that role gets the seeds' statements
    assert report.outcome == "remediated", report.reason
    assert report.principal_arn == principal
    assert world.policy(key) == slr_policy(principal)


def test_launchers_karpenter_denied_data_key_names_the_instance_of_its_volume(
    world: World, inbox: tuple[str, str], cloudtrail: EmulatedCloudTrail
) -> None:
    # Given the controller role's denied GenerateDataKeyWithoutPlaintext for a volume of a
    # fleet instance (the call names the volume, not the instance)
    key = world.key()
    world.role("KarpenterControllerRole-prod")
    template = world.launch_template(key, "karpenter-lt")
    instance = world.launched_instance(template_id=template, stopped=True)
    volume = world.volume_of(instance)
    event = load_event(
        "karpenter_controller_role_generate_data_key_without_plaintext.json",
        {SAMPLE_KEY_ARN: key, SAMPLE_VOLUME_ID: volume},
    )

    # When the event arrives
    [report] = engine(world, cloudtrail, inbox).handle(event)

    # Then the controller role gets the via-EC2 statements, and the report names the instance
    assert report.outcome == "remediated", report.reason
    assert (report.principal_arn, report.instance_id) == (KARPENTER_ROLE_ARN, instance)
    assert world.policy(key) == caller_policy(KARPENTER_ROLE_ARN)
    assert world.received(inbox[1])[0]["message"]["instance_id"] == instance


# --- diagnose explains with the same identification ----------------------------------------


def test_launchers_diagnose_names_the_spot_role_of_a_groups_spot_instance(
    world: World, cloudtrail: EmulatedCloudTrail
) -> None:
    # Given a group's Spot Instance that failed on a key lacking the Spot service-linked role
    key = world.key()
    world.autoscaling_slr()
    world.service_linked_role(SPOT_SLR)
    instance = _asg_spot(world, key)
    aws = AwsAdapter(region=world.region, clients={"cloudtrail": cloudtrail.client()})

    # When an operator diagnoses the instance
    result = diagnose(aws, parse_config(CONFIG), region=world.region, instance_id=instance)

    # Then it names the Spot role, says why, and plans the same change the remediator makes
    assert result.principal is not None
    assert result.principal["arn"] == SPOT_SLR_ARN
    assert result.principal["source"].startswith("the Spot capacity of Auto Scaling group web-asg")
    [finding] = result.findings
    assert (finding.key_arn, finding.outcome) == (key, "dry_run")
    assert world.policy(key) == default_policy(ACCOUNT)
