"""Every key source on the emulator: the engine finds the key a failed launch used, from the
instance's volumes, its launch template (a version by $Default, $Latest or number; a
mixed-instances override's own template), a launch configuration, the AMI's snapshots (an AMI
given as resolve:ssm:), a fleet's launch specification, or the account's default EBS key, and
writes the exact policy on that key. A source it cannot read ends in a refusal with the reason,
never in the dead-letter queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.model import Devices, LaunchSpec
from remediator.pipeline import Remediator
from remediator.report import Report
from tests.integration.conftest import allow, default_policy
from tests.integration.test_cases import attach_statement, use_statement
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.cloudtrail import EmulatedCloudTrail, load_record
from tests.support.world import (
    ACCOUNT,
    SAMPLE_INSTANCE_ID,
    SLR_ARN,
    USER_ARN,
    World,
    load_event,
)

CONFIG = allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT))


def slr_policy() -> dict[str, Any]:
    policy = default_policy(ACCOUNT)
    policy["Statement"] += [use_statement(SLR_ARN), attach_statement(SLR_ARN)]
    return policy


def asg_failure() -> dict[str, Any]:
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")
    event["detail"]["EC2InstanceId"] = ""  # Auto Scaling often names no instance
    return event


def handle(
    world: World,
    inbox: tuple[str, str],
    event: dict[str, Any],
    clients: dict[str, Any] | None = None,
) -> list[Report]:
    aws = AwsAdapter(region=world.region, clients=dict(clients or {}))
    return Remediator(aws, parse_config(CONFIG), topic_arn=inbox[0]).handle(event)


class DenyingClient:
    """A boto3 client whose one operation is denied, as IAM would deny it; every other call
    reaches the emulator."""

    def __init__(self, client: Any, operation: str, code: str) -> None:
        self._client, self._operation, self._code = client, operation, code

    def __getattr__(self, name: str) -> Any:
        if name != self._operation:
            return getattr(self._client, name)

        def denied(**_: Any) -> Any:
            error = {"Error": {"Code": self._code, "Message": "You are not authorized"}}
            raise ClientError(error, name)  # type: ignore[arg-type]

        return denied


# --- launch templates and their versions ----------------------------------------------------


@pytest.mark.parametrize(
    ("version", "fixed"),
    [
        ("$Default", "first"),
        ("$Latest", "second"),
        ("2", "second"),
        ("1", "first"),
        (None, "first"),
    ],
    ids=["default", "latest", "numbered-2", "numbered-1", "unversioned-means-default"],
)
def test_key_sources_group_template_version_decides_the_key(
    world: World, inbox: tuple[str, str], version: str | None, fixed: str
) -> None:
    # Given a template whose version 1 (the default) and version 2 (the latest) use two keys
    world.autoscaling_slr()
    keys = {"first": world.key(), "second": world.key()}
    template = world.template_from("versioned", world.template_data(keys["first"]))
    assert world.template_version(template, world.template_data(keys["second"])) == "2"
    spec = {"LaunchTemplateId": template}
    if version:
        spec["Version"] = version
    world.group(LaunchTemplate=spec)
    untouched = "second" if fixed == "first" else "first"

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure())

    # Then the key of the version the group launches is fixed, and only that one
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == keys[fixed]
    assert world.policy(keys[fixed]) == slr_policy()
    assert world.policy(keys[untouched]) == default_policy(ACCOUNT)


def test_key_sources_mixed_instances_override_templates_are_read(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a mixed-instances group whose override names a template of its own
    world.autoscaling_slr()
    main_key, override_key = world.key(), world.key()
    main = world.template_from("main", world.template_data(main_key))
    other = world.template_from("override", world.template_data(override_key))
    world.group(
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": main, "Version": "$Default"},
                "Overrides": [
                    {"InstanceType": "t3.micro"},
                    {
                        "InstanceType": "m5.large",
                        "LaunchTemplateSpecification": {"LaunchTemplateId": other, "Version": "1"},
                    },
                ],
            }
        }
    )

    # When the group fails to launch
    reports = handle(world, inbox, asg_failure())

    # Then both templates' keys are fixed for the group's role
    assert sorted((r.outcome.value, r.key_arn) for r in reports) == sorted(
        [("remediated", main_key), ("remediated", override_key)]
    )
    assert world.policy(main_key) == world.policy(override_key) == slr_policy()


def test_key_sources_launch_configuration_ami_snapshot_key(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a launch configuration (which cannot name a key) on an AMI with encrypted snapshots
    world.autoscaling_slr()
    key = world.key()
    world.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="web-lc",
        ImageId=world.encrypted_image(key),
        InstanceType="t3.micro",
    )
    world.group(LaunchConfigurationName="web-lc")

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure())

    # Then the snapshot's key is fixed
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == key
    assert world.policy(key) == slr_policy()


def test_key_sources_instance_volume_and_template_ami_snapshot(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a stopped group instance with a volume on one key, from an AMI on another
    world.autoscaling_slr()
    volume_key, snapshot_key = world.key(), world.key()
    template = world.template_from(
        "ami", world.template_data(volume_key, image_id=world.encrypted_image(snapshot_key))
    )
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})
    instance = world.launched_instance(
        template_id=template, tags={"aws:autoscaling:groupName": "web-asg"}, stopped=True
    )
    event = load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports it stopped
    reports = handle(world, inbox, event)

    # Then both keys are fixed
    assert sorted(r.key_arn or "" for r in reports) == sorted([volume_key, snapshot_key])
    assert {r.outcome.value for r in reports} == {"remediated"}
    assert world.policy(volume_key) == world.policy(snapshot_key) == slr_policy()


# --- AMIs given as SSM parameters ------------------------------------------------------------


@pytest.mark.parametrize("selector", ["", ":1"], ids=["latest", "version-1"])
def test_key_sources_resolve_ssm_ami_snapshot_key(
    world: World, inbox: tuple[str, str], selector: str
) -> None:
    # Given a template whose AMI is a Systems Manager parameter naming an encrypted AMI
    world.autoscaling_slr()
    key = world.key()
    world.ssm_parameter("/golden/web-ami", world.encrypted_image(key))
    data = world.template_data(world.key(), image_id=f"resolve:ssm:/golden/web-ami{selector}")
    template = world.template_from("ssm-ami", data)
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})

    # When the group fails to launch
    reports = handle(world, inbox, asg_failure())

    # Then the AMI's snapshot key is among the keys fixed
    by_key = {r.key_arn: r for r in reports}
    assert by_key[key].outcome == "remediated", by_key[key].reason
    assert world.policy(key) == slr_policy()


@pytest.mark.parametrize(
    ("deny", "code"),
    [(False, "ParameterNotFound"), (True, "AccessDeniedException")],
    ids=["missing-parameter", "denied-parameter"],
)
def test_key_sources_unreadable_ssm_parameter_is_refused_with_its_reason(
    world: World, inbox: tuple[str, str], deny: bool, code: str
) -> None:
    # Given a template whose AMI parameter is missing, or may not be read
    world.autoscaling_slr()
    if deny:
        world.ssm_parameter("/golden/web-ami", world.image())
    template = world.template_from(
        "ssm-ami", {"ImageId": "resolve:ssm:/golden/web-ami", "InstanceType": "t3.micro"}
    )
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})
    ssm = boto3.client("ssm", region_name=world.region)
    clients = {"ssm": DenyingClient(ssm, "get_parameter", code)} if deny else {}

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure(), clients)

    # Then it is refused, naming the parameter and why, and the operator is told
    assert report.outcome == "refused"
    assert "SSM parameter '/golden/web-ami' cannot be read" in report.reason
    assert code in report.reason
    [note] = world.received(inbox[1])
    assert note["message"]["outcome"] == "refused"
    assert "manual_review" in note["message"]["suggested_fix"]


@pytest.mark.parametrize(
    ("deny", "code"),
    [(False, "InvalidLaunchTemplateId.NotFound"), (True, "UnauthorizedOperation")],
    ids=["deleted-template", "denied-template"],
)
def test_key_sources_unreadable_launch_template_is_refused_with_its_reason(
    world: World, inbox: tuple[str, str], deny: bool, code: str
) -> None:
    # Given a group whose template was deleted, or may not be read
    world.autoscaling_slr()
    template = world.launch_template(world.key())
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"})
    ec2 = boto3.client("ec2", region_name=world.region)
    if deny:
        clients = {"ec2": DenyingClient(ec2, "describe_launch_template_versions", code)}
    else:
        ec2.delete_launch_template(LaunchTemplateId=template)
        clients = {}

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure(), clients)

    # Then it is refused with the template, its version and the error, not raised
    assert report.outcome == "refused"
    assert report.reason.startswith(f"launch template {template} version $Latest cannot be read")
    assert code in report.reason
    assert report.principal_arn == SLR_ARN
    assert len(world.received(inbox[1])) == 1


# --- the account's default EBS key -----------------------------------------------------------


def _encrypted_without_key(world: World, key: str) -> None:
    world.ebs_default_key(key)
    world.group(
        LaunchTemplate={
            "LaunchTemplateId": world.template_from("nokey", world.template_data(None)),
            "Version": "$Default",
        }
    )


def _encryption_by_default(world: World, key: str) -> None:
    world.ebs_default_key(key, by_default=True)
    data = {"ImageId": world.image(), "InstanceType": "t3.micro"}  # unencrypted AMI snapshots
    world.group(
        LaunchTemplate={"LaunchTemplateId": world.template_from("plain", data), "Version": "1"}
    )


def _launch_configuration_encrypted(world: World, key: str) -> None:
    world.ebs_default_key(key)
    world.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="enc-lc",
        ImageId=world.image(),
        InstanceType="t3.micro",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True}}],
    )
    world.group(LaunchConfigurationName="enc-lc")


@pytest.mark.parametrize(
    "build",
    [_encrypted_without_key, _encryption_by_default, _launch_configuration_encrypted],
    ids=["template-encrypted-without-key", "encryption-by-default", "launch-configuration"],
)
def test_key_sources_default_ebs_key(
    world: World, inbox: tuple[str, str], build: Callable[[World, str], None]
) -> None:
    # Given a group whose volumes are encrypted with the account's default EBS key
    world.autoscaling_slr()
    key = world.key()
    build(world, key)

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure())

    # Then the default key is the one fixed
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == key
    assert world.policy(key) == slr_policy()


def test_key_sources_default_ebs_key_not_used_without_encryption_by_default(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given an account default key, encryption by default off, and nothing encrypted
    world.autoscaling_slr()
    key = world.key()
    world.ebs_default_key(key)
    data = {"ImageId": world.image(), "InstanceType": "t3.micro"}
    world.group(LaunchTemplate={"LaunchTemplateId": world.template_from("p", data), "Version": "1"})

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure())

    # Then no key is found, and the default key is left alone
    assert report.outcome == "refused"
    assert report.reason.startswith("no KMS key found")
    assert world.policy(key) == default_policy(ACCOUNT)


def test_key_sources_aws_managed_default_key_is_no_target(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a volume encrypted without a key id while the default key is still aws/ebs
    world.autoscaling_slr()
    template = world.template_from("nokey", world.template_data(None))
    world.group(LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})

    # When the group fails to launch
    [report] = handle(world, inbox, asg_failure())

    # Then nothing is fixed: an AWS-managed key cannot be why
    assert report.outcome == "refused"
    assert report.reason.startswith("no KMS key found")


def test_key_sources_cloudtrail_mapping_encrypted_without_key_is_the_default_key(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a terminated instance (its volumes are gone) and CloudTrail's RunInstances record,
    # whose block device mapping is encrypted without a key id
    key = world.key()
    world.user()
    world.ebs_default_key(key)
    instance = world.launched_instance()
    cloudtrail = EmulatedCloudTrail()
    record = load_record("run_instances_encrypted_without_key.json", {SAMPLE_INSTANCE_ID: instance})
    cloudtrail.add(record, [instance])
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports it terminated
    [report] = handle(world, inbox, event, {"cloudtrail": cloudtrail.client()})

    # Then the user gets the via-EC2 statements on the default key
    assert report.outcome == "remediated", report.reason
    assert (report.key_arn, report.principal_arn) == (key, USER_ARN)


# --- the adapter's reading of what moto does not keep ----------------------------------------


def test_key_sources_adapter_reads_spot_launch_specifications_and_template_by_id() -> None:
    # Given a Spot Fleet request and a Spot Instance request with encrypted mappings (moto drops
    # them), and a group template named by both id and name (as Auto Scaling returns it)
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stub = Stubber(ec2)
    mapping = {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": "key-a"}}
    plain = {"DeviceName": "/dev/xvdb", "Ebs": {"Encrypted": True}}
    spec = {"ImageId": "ami-0abcdef1234567890", "BlockDeviceMappings": [mapping, plain]}
    stub.add_response(
        "describe_spot_fleet_requests",
        {
            "SpotFleetRequestConfigs": [
                {
                    "SpotFleetRequestId": "sfr-1",
                    "SpotFleetRequestConfig": {
                        "IamFleetRole": "arn:aws:iam::111122223333:role/tagging",
                        "TargetCapacity": 1,
                        "LaunchSpecifications": [spec],
                    },
                }
            ]
        },
        {"SpotFleetRequestIds": ["sfr-1"]},
    )
    stub.add_response(
        "describe_spot_instance_requests",
        {"SpotInstanceRequests": [{"SpotInstanceRequestId": "sir-1", "LaunchSpecification": spec}]},
        {"SpotInstanceRequestIds": ["sir-1"]},
    )
    stub.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [{"LaunchTemplateData": {"ImageId": "resolve:ssm:/ami"}}]},
        {"LaunchTemplateId": "lt-0123456789abcdef0", "Versions": ["$Latest"]},
    )
    adapter = AwsAdapter(clients={"ec2": ec2})
    template = {
        "LaunchTemplateId": "lt-0123456789abcdef0",
        "LaunchTemplateName": "web",
        "Version": "$Latest",
    }

    # When the adapter reads them
    with stub:
        fleet = adapter.spot_fleet_request("sfr-1")
        request = adapter.spot_instance_request("sir-1")
        found = adapter.launch_template(template)

    # Then each specification says its key, its keyless encrypted volume and its image
    expected = LaunchSpec(Devices(("key-a",), default_key=True), "ami-0abcdef1234567890")
    assert fleet is not None and fleet.specs == (expected,)
    assert request is not None and request.specs == (expected,)
    assert found == LaunchSpec(Devices(), "resolve:ssm:/ami")
    stub.assert_no_pending_responses()
