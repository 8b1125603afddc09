"""The two other detection paths: EC2 state changes and Auto Scaling launch failures. Neither
event names the key or the principal: the engine finds them from the instance and the group."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.integration.conftest import Run, allow
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_GROUP,
    SAMPLE_INSTANCE_ID,
    SLR_ARN,
    StateReason,
    World,
    load_event,
)

ANY_PRINCIPALS = every_principal_of(ACCOUNT)
ANY_KEYS = every_key_of(ACCOUNT, OTHER_ACCOUNT)


def tool_principals(world: World, key: str) -> dict[str, list[str]]:
    return {
        s["Sid"]: s["Principal"]["AWS"]
        for s in world.policy(key)["Statement"]
        if s["Sid"].startswith("KmsLaunchRemediator")
    }


def test_state_change_of_asg_instance_fixes_key_for_group_slr(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given an Auto Scaling instance whose encrypted volume's key lacks the SLR
    key = world.key()
    world.autoscaling_slr()
    instance = world.failed_instance(key, group="web-asg")
    event = load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports it stopped
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then the group's service-linked role is added to the volume's key
    assert report.outcome == "remediated", report.reason
    assert report.instance_id == instance
    assert tool_principals(world, key) == {
        "KmsLaunchRemediatorUse": [SLR_ARN],
        "KmsLaunchRemediatorAttach": [SLR_ARN],
    }
    assert world.received(inbox[1])[0]["message"]["instance_id"] == instance


def test_state_change_without_group_takes_principal_from_cloudtrail(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a terminated instance launched by a user, and CloudTrail's record of that launch
    key = world.key()
    user = world.user()
    instance = world.failed_instance(key, stopped=False)
    cloudtrail = boto3.client("cloudtrail", region_name="eu-west-1")
    stub = Stubber(cloudtrail)
    identity = {"type": "IAMUser", "arn": user, "accountId": ACCOUNT, "userName": "ops-alice"}
    # The record's shape is CloudTrail's for RunInstances; the volumes are gone once terminated.
    mapping = {
        "deviceName": "/dev/xvda",
        "ebs": {"volumeSize": 8, "encrypted": True, "kmsKeyId": key},
    }
    record = {
        "eventName": "RunInstances",
        "userIdentity": identity,
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890"}]},
            "blockDeviceMapping": {"items": [mapping]},
        },
    }
    stub.add_response(
        "lookup_events",
        {"Events": [{"EventName": "RunInstances", "CloudTrailEvent": json.dumps(record)}]},
        {"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": instance}]},
    )
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})
    engine = Remediator(
        AwsAdapter(region="eu-west-1", clients={"cloudtrail": cloudtrail}),
        parse_config(allow([user], [key])),
        topic_arn=inbox[0],
    )

    # When EC2 reports it terminated
    with stub:
        [report] = engine.handle(event)

    # Then the launching user gets the via-EC2 statements
    stub.assert_no_pending_responses()
    assert report.outcome == "remediated", report.reason
    assert tool_principals(world, key) == {
        "KmsLaunchRemediatorUseViaEc2": [user],
        "KmsLaunchRemediatorAttach": [user],
    }


def test_state_change_for_other_reason_is_ignored(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given an instance stopped by a user, not by a failed launch
    key = world.key()
    instance = world.failed_instance(key, group="web-asg")
    world.set_state_reason(
        instance, StateReason("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown")
    )
    before = world.policy(key)
    event = load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: instance})

    # When the state change arrives
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is ignored: no write and no notification
    assert report.outcome == "ignored"
    assert world.policy(key) == before
    assert world.received(inbox[1]) == []


def test_running_state_is_ignored_without_aws_calls(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a state change to running (the rule would not even deliver it)
    event = load_event("ec2_state_change_running.json")

    # When it arrives anyway
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is ignored
    assert report.outcome == "ignored"
    assert world.received(inbox[1]) == []


def test_asg_launch_failure_fixes_launch_template_key(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a group whose launch template encrypts volumes with a key lacking the SLR
    key = world.key()
    world.autoscaling_slr()
    world.autoscaling_group(world.launch_template(key))
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")
    event["detail"]["EC2InstanceId"] = ""  # Auto Scaling often reports no instance

    # When Auto Scaling reports the failed launch
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then the launch template's key allows the group's service-linked role
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == key
    assert tool_principals(world, key) == {
        "KmsLaunchRemediatorUse": [SLR_ARN],
        "KmsLaunchRemediatorAttach": [SLR_ARN],
    }


def test_asg_launch_failure_finds_key_of_copied_ami_snapshot(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a launch template without a key, whose AMI's snapshot is encrypted (a copied AMI)
    key = world.key()
    world.autoscaling_slr()
    image = world.encrypted_image(key)
    template = world.client("ec2").create_launch_template(
        LaunchTemplateName="copied-ami",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    world.autoscaling_group(template)
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")

    # When Auto Scaling reports the failure
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then the snapshot's key is the one fixed
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == key


def test_asg_other_failure_is_ignored(world: World, inbox: tuple[str, str], run: Run) -> None:
    event = load_event("asg_launch_unsuccessful_other_error.json")
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))
    assert report.outcome == "ignored"
    assert world.received(inbox[1]) == []


def test_adapter_reads_custom_service_linked_role_of_group() -> None:
    # Given a group that uses a custom-suffix SLR (moto does not return ServiceLinkedRoleARN)
    autoscaling = boto3.client("autoscaling", region_name="eu-west-1")
    custom = f"{SLR_ARN}_web"
    group = {
        "AutoScalingGroupName": SAMPLE_GROUP,
        "MinSize": 0,
        "MaxSize": 1,
        "DesiredCapacity": 0,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["eu-west-1a"],
        "HealthCheckType": "EC2",
        "CreatedTime": "2024-05-14T09:00:00Z",
        "ServiceLinkedRoleARN": custom,
        "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "$Latest"},
    }
    stub = Stubber(autoscaling)
    stub.add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [group]},
        {"AutoScalingGroupNames": [SAMPLE_GROUP]},
    )

    # When the adapter reads the group
    with stub:
        found = AwsAdapter(clients={"autoscaling": autoscaling}).autoscaling_group(SAMPLE_GROUP)

    # Then the custom role and the template are what the engine will use
    assert found is not None
    assert found.service_linked_role_arn == custom
    assert found.launch_template == {
        "LaunchTemplateId": "lt-0123456789abcdef0",
        "Version": "$Latest",
    }
