"""Every AWS call the engine makes is declared in permissions.py (which the stack grants and the
infra tests check), and everything declared is called: least privilege in both directions."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.stub import Stubber

from remediator import permissions
from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.integration.conftest import allow
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.cloudtrail import EmulatedCloudTrail
from tests.support.world import (
    ACCOUNT,
    EC2_FLEET_SLR,
    OTHER_ACCOUNT,
    SAMPLE_INSTANCE_ID,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    SPOT_FLEET_SLR,
    SPOT_SLR,
    World,
    load_event,
)

DECLARED = {
    *permissions.KEY_WRITE_ACTIONS,
    *permissions.KEY_READ_ACTIONS,
    *permissions.KEY_DESCRIBE_ACTIONS,
    *permissions.UNSCOPED_READ_ACTIONS,
    *permissions.PRINCIPAL_READ_ACTIONS,
    *permissions.GROUP_READ_ACTIONS,
    *permissions.MANAGED_POLICY_READ_ACTIONS,
    *permissions.PARAMETER_READ_ACTIONS,
    *permissions.RECHECK_SEND_ACTIONS,
}
KEY_POLICY_CHANGES = 10  # the paths below that end in a key-policy change
GRANTED_BY_THE_STACK_ELSEWHERE = {"sns:Publish"}  # topic.grant_publish
NOT_GRANTED = set(permissions.NO_PERMISSION_NEEDED)  # IAM does not control these calls


def recording_session(calls: set[str]) -> boto3.Session:
    session = boto3.Session(region_name="eu-west-1")

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}")

    session.events.register("before-call.*.*", record)
    return session


HARMLESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}],
}


def give_identity_policies(world: World, *, user_name: str, role_name: str) -> None:
    """Policies of every kind the engine reads, none of which changes a launch's verdict."""
    iam = world.client("iam")
    document = json.dumps(HARMLESS)
    managed = iam.create_policy(PolicyName="harmless", PolicyDocument=document)["Policy"]["Arn"]
    boundary_document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    )
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=boundary_document)
    iam.put_user_policy(UserName=user_name, PolicyName="inline", PolicyDocument=document)
    iam.attach_user_policy(UserName=user_name, PolicyArn=managed)
    iam.create_group(GroupName="ops")
    iam.add_user_to_group(GroupName="ops", UserName=user_name)
    iam.put_group_policy(GroupName="ops", PolicyName="inline", PolicyDocument=document)
    iam.attach_group_policy(GroupName="ops", PolicyArn=managed)
    iam.put_role_policy(RoleName=role_name, PolicyName="inline", PolicyDocument=document)
    iam.attach_role_policy(RoleName=role_name, PolicyArn=managed)
    iam.put_role_permissions_boundary(
        RoleName=role_name, PermissionsBoundary=boundary["Policy"]["Arn"]
    )


def test_engine_calls_only_declared_actions_and_all_of_them(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given every path of the engine: key policy, grant, EC2 state change (group and CloudTrail),
    # Auto Scaling with a launch template, and one with a launch configuration; a user with an
    # inline, an attached and a group's policies, and a role with an inline policy, an attached
    # one and a permissions boundary (whose identity policies the engine reads); instances of
    # fleets and Spot requests, the default EBS key, a resolve:ssm: AMI, and a re-check
    calls: set[str] = set()
    session = recording_session(calls)
    config = parse_config(allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT)))
    key, other_key = world.key(), world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    user = world.user()
    role = world.role("SaaSSchedulerRole")
    give_identity_policies(world, user_name="ops-alice", role_name="SaaSSchedulerRole")
    cloudtrail = session.client("cloudtrail")
    stub = Stubber(cloudtrail)
    # moto has no Access Analyzer: stub it for the key-policy changes below
    analyzer = session.client("accessanalyzer")
    analyzer_stub = Stubber(analyzer)
    for _ in range(KEY_POLICY_CHANGES):
        analyzer_stub.add_response("validate_policy", {"findings": []})
        analyzer_stub.add_response("check_access_not_granted", {"result": "PASS"})
    analyzer_stub.activate()
    aws = AwsAdapter(
        session=session,
        region="eu-west-1",
        clients={"cloudtrail": cloudtrail, "accessanalyzer": analyzer},
    )
    engine = Remediator(aws, config, topic_arn=inbox[0])

    engine.handle(
        load_event("case1_asg_slr_create_grant_access_denied.json", {SAMPLE_KEY_ARN: key})
    )
    engine.handle(
        load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: other_key})
    )
    [saas] = engine.handle(
        load_event("case6_saas_scheduler_role_create_grant.json", {SAMPLE_KEY_ARN: world.key()})
    )
    assert (saas.outcome, saas.principal_arn) == ("remediated", role)
    grouped = world.failed_instance(world.key(), group="web-asg")
    engine.handle(load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: grouped}))
    alone_key = world.key()
    alone = world.failed_instance(alone_key, stopped=False)
    mapping = {"deviceName": "/dev/xvda", "ebs": {"encrypted": True, "kmsKeyId": alone_key}}
    record = {
        "userIdentity": {"type": "IAMUser", "arn": user, "accountId": ACCOUNT},
        "requestParameters": {"blockDeviceMapping": {"items": [mapping]}},
    }
    stub.add_response(
        "lookup_events",
        {"Events": [{"EventName": "RunInstances", "CloudTrailEvent": json.dumps(record)}]},
    )
    with stub:
        engine.handle(load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: alone}))
    # Stubbed calls never reach before-call hooks: count them from the stubs instead
    calls.add("cloudtrail:LookupEvents")
    world.autoscaling_group(world.launch_template(world.key()))
    engine.handle(load_event("asg_launch_unsuccessful_client_internal_error.json"))
    world.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="web-lc",
        ImageId=world.encrypted_image(world.key()),
        InstanceType="t3.micro",
    )
    world.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="lc-asg",
        LaunchConfigurationName="web-lc",
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["eu-west-1a"],
    )
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")
    event["detail"]["AutoScalingGroupName"] = "lc-asg"
    engine.handle(event)

    # Fleets, Spot requests, the default EBS key, an AMI named by an SSM parameter
    for role in (EC2_FLEET_SLR, SPOT_FLEET_SLR, SPOT_SLR):
        world.service_linked_role(role)
    fleet_template = world.launch_template(world.key(), "fleet-lt")
    tags = {"aws:ec2:fleet-id": world.fleet(fleet_template, "maintain")}
    for instance in (
        world.launched_instance(template_id=fleet_template, tags=tags),
        world.launched_instance(
            key_arn=(spot_key := world.key()),
            tags={"aws:ec2spot:fleet-request-id": world.spot_fleet_request(spot_key)},
            spot_request_id="",
            stopped=True,
        ),
        world.launched_instance(
            key_arn=(request_key := world.key()),
            spot_request_id=world.spot_instance_request(request_key),
            stopped=True,
        ),
    ):
        engine.handle(
            load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})
        )
    world.ebs_default_key(world.key())
    world.ssm_parameter("/golden/ami", world.encrypted_image(world.key()))
    for group, data in (
        ("default-key-asg", world.template_data(None)),
        ("ssm-asg", {"ImageId": "resolve:ssm:/golden/ami", "InstanceType": "t3.micro"}),
    ):
        template = world.template_from(group, data)
        world.group(group, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"})
        event = load_event("asg_launch_unsuccessful_client_internal_error.json")
        event["detail"]["AutoScalingGroupName"] = group
        engine.handle(event)
    # A launch CloudTrail has not recorded yet: looked at again through the re-check queue
    lagging = AwsAdapter(
        session=session,
        region="eu-west-1",
        clients={"cloudtrail": EmulatedCloudTrail().client(session)},
    )
    Remediator(lagging, config, topic_arn=inbox[0], recheck_queue_url=world.queue()).handle(
        load_event(
            "ec2_state_change_terminated.json",
            {SAMPLE_INSTANCE_ID: world.launched_instance(key_arn=world.key())},
        )
    )

    analyzer_stub.assert_no_pending_responses()
    analyzer_stub.deactivate()
    calls.update({"access-analyzer:ValidatePolicy", "access-analyzer:CheckAccessNotGranted"})

    # Then every call made is declared, and every declared action was needed by some path
    assert calls - DECLARED - GRANTED_BY_THE_STACK_ELSEWHERE - NOT_GRANTED == set()
    assert (DECLARED | NOT_GRANTED) - calls == set()
