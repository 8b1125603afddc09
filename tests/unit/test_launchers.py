"""Who launches: the launcher an instance's tags and lifecycle show, what a CloudTrail launch
record shows, and the service-linked role each service launches with. Pure tables."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.launchers import (
    Launcher,
    fleet_launcher,
    group_launchers,
    instance_launcher,
    record_launcher,
    service_principal,
)
from remediator.model import AutoScalingGroup, Instance

ACCOUNT = "111122223333"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role"


def instance(tags: dict[str, str], lifecycle: str = "") -> Instance:
    return Instance(
        "i-0123456789abcdef0", "Client.InternalError", (), None, tags, lifecycle=lifecycle
    )


def group(percentage: int = 100, base: int = 0, slr: str | None = None) -> AutoScalingGroup:
    return AutoScalingGroup(
        "web-asg", slr, None, None, on_demand_base=base, on_demand_percentage=percentage
    )


ASG = {"aws:autoscaling:groupName": "web-asg"}
FLEET = {"aws:ec2:fleet-id": "fleet-1"}
SPOT_FLEET = {"aws:ec2spot:fleet-request-id": "sfr-1"}


@pytest.mark.parametrize(
    ("tags", "lifecycle", "expected"),
    [
        (ASG, "", Launcher.AUTO_SCALING),
        (ASG, "spot", Launcher.AUTO_SCALING_SPOT),
        ({**ASG, **FLEET}, "", Launcher.AUTO_SCALING),  # groups launch through a fleet too
        ({**ASG, **FLEET}, "spot", Launcher.AUTO_SCALING_SPOT),
        (SPOT_FLEET, "spot", Launcher.SPOT_FLEET),
        (FLEET, "", Launcher.EC2_FLEET),
        (FLEET, "spot", Launcher.EC2_FLEET),
        ({}, "spot", Launcher.SPOT_INSTANCES),
        ({}, "", Launcher.CALLER),
        ({"Name": "web"}, "capacity-block", Launcher.CALLER),
    ],
)
def test_launchers_instance_launcher_from_tags_and_lifecycle(
    tags: dict[str, str], lifecycle: str, expected: Launcher
) -> None:
    assert instance_launcher(instance(tags, lifecycle)) is expected


@pytest.mark.parametrize(
    ("fleet_type", "expected"),
    [
        ("instant", Launcher.EC2_FLEET_INSTANT),
        ("maintain", Launcher.EC2_FLEET),
        ("request", Launcher.EC2_FLEET),
    ],
)
def test_launchers_fleet_type_decides_caller_or_service(
    fleet_type: str, expected: Launcher
) -> None:
    assert fleet_launcher(fleet_type) is expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"eventName": "RunInstances"}, Launcher.CALLER),
        ({"eventName": "StartInstances"}, Launcher.CALLER),
        ({"eventName": "RequestSpotFleet"}, Launcher.SPOT_FLEET),
        ({"eventName": "RequestSpotInstances"}, Launcher.SPOT_INSTANCES),
        (
            {
                "eventName": "CreateFleet",
                "requestParameters": {"CreateFleetRequest": {"Type": "instant"}},
            },
            Launcher.EC2_FLEET_INSTANT,
        ),
        (
            {
                "eventName": "CreateFleet",
                "requestParameters": {"CreateFleetRequest": {"Type": "request"}},
            },
            Launcher.EC2_FLEET,
        ),
        (
            {"eventName": "CreateFleet", "requestParameters": {"CreateFleetRequest": {}}},
            Launcher.EC2_FLEET,
        ),
        ({"eventName": "CreateFleet", "requestParameters": None}, Launcher.EC2_FLEET),
        ({"eventName": "TerminateInstances"}, None),
        ({"eventName": 7}, None),
        ({}, None),
    ],
)
def test_launchers_record_launcher(record: dict[str, Any], expected: Launcher | None) -> None:
    assert record_launcher(record) == expected


@pytest.mark.parametrize(
    ("launcher", "the_group", "expected"),
    [
        (
            Launcher.AUTO_SCALING,
            None,
            f"{SLR}/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        ),
        (
            Launcher.AUTO_SCALING,
            group(slr=f"{SLR}/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web"),
            f"{SLR}/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web",
        ),
        (
            Launcher.AUTO_SCALING_SPOT,
            group(slr=f"{SLR}/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web"),
            f"{SLR}/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
        ),
        (Launcher.SPOT_INSTANCES, None, f"{SLR}/spot.amazonaws.com/AWSServiceRoleForEC2Spot"),
        (Launcher.SPOT_FLEET, None, f"{SLR}/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet"),
        (Launcher.EC2_FLEET, None, f"{SLR}/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet"),
        (Launcher.EC2_FLEET_INSTANT, None, None),
        (Launcher.CALLER, None, None),
    ],
)
def test_launchers_service_principal(
    launcher: Launcher, the_group: AutoScalingGroup | None, expected: str | None
) -> None:
    assert service_principal(launcher, ACCOUNT, the_group) == expected


@pytest.mark.parametrize(
    ("the_group", "template_spot", "expected"),
    [
        (group(), False, (Launcher.AUTO_SCALING,)),
        (group(100, base=2), False, (Launcher.AUTO_SCALING,)),
        (group(0), False, (Launcher.AUTO_SCALING_SPOT,)),
        (group(0, base=1), False, (Launcher.AUTO_SCALING, Launcher.AUTO_SCALING_SPOT)),
        (group(30), False, (Launcher.AUTO_SCALING, Launcher.AUTO_SCALING_SPOT)),
        (group(), True, (Launcher.AUTO_SCALING_SPOT,)),
    ],
    ids=["on-demand", "on-demand-base", "all-spot", "spot-above-base", "mixed", "spot-template"],
)
def test_launchers_group_launchers_follow_its_spot_capacity(
    the_group: AutoScalingGroup, template_spot: bool, expected: tuple[Launcher, ...]
) -> None:
    assert group_launchers(the_group, template_spot) == expected


def test_launchers_group_templates_lists_main_then_overrides_once() -> None:
    main = {"LaunchTemplateId": "lt-1", "Version": "$Default"}
    other = {"LaunchTemplateId": "lt-2", "Version": "3"}
    the_group = AutoScalingGroup("g", None, main, None, override_templates=(other, main, other))
    assert the_group.templates == (main, other)
