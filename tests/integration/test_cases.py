"""The six cases of domain.md, end to end under moto: a real-shaped CloudTrail event in, the
exact key policy or grant and the operator notification out; and at the end of each, the
oracle's verdict (tests/support/oracle.py) on every KMS call of the launch: allowed after
"remediated", still denied after anything else. Across accounts moto's KMS refuses what AWS
would (tests/support/kms_authorization.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.integration.conftest import Run, allow, default_policy
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.kms_authorization import (
    allowed,
    denied,
    enforced,
    key_owner_policy,
    remediator_role,
    verdicts,
)
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_INSTANCE_ID,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

ASG, START, RUN = "asg", "start", "run"
OTHER_KEYS = [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]

USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
VIA_EC2 = {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}}
FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
GRANT_OPERATIONS = [
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
]


def use_statement(principal: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUse",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": USE,
        "Resource": "*",
    }


def use_via_ec2_statement(principal: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUseViaEc2",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": USE,
        "Resource": "*",
        "Condition": VIA_EC2,
    }


def attach_statement(principal: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorAttach",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": ["kms:CreateGrant"],
        "Resource": "*",
        "Condition": FOR_AWS_RESOURCE,
    }


def let_this_account_grant_to(grantee: str) -> list[dict[str, Any]]:
    """K's statements that let this account describe its key and create the launcher's grant."""
    root = f"arn:aws:iam::{ACCOUNT}:root"
    return [
        {
            "Sid": "LetAccountGrantItsLauncher",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": grantee},
                "ForAllValues:StringEquals": {"kms:GrantOperations": GRANT_OPERATIONS},
            },
        },
        {
            "Sid": "LetAccountDescribeKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


@pytest.fixture
def issuer(world: World) -> Iterator[str]:
    """The remediator's role here, and moto's KMS refusing what AWS refuses it across accounts."""
    arn = remediator_role(world, OTHER_KEYS)
    with enforced(world, arn):
        yield arn


def only_notification(world: World, inbox: tuple[str, str]) -> dict[str, Any]:
    received = world.received(inbox[1])
    assert len(received) == 1, received
    return received[0]


@pytest.mark.parametrize(
    ("fixture", "suffix"),
    [
        ("case1_asg_slr_create_grant_access_denied.json", None),
        ("case2_asg_custom_slr_create_grant_access_denied_exception.json", "web"),
    ],
    ids=["case1-default-slr-AccessDenied", "case2-custom-slr-AccessDeniedException"],
)
def test_engine_adds_slr_statements_to_same_account_key(
    world: World, inbox: tuple[str, str], run: Run, fixture: str, suffix: str | None
) -> None:
    # Given a customer-managed key with the default policy and the Auto Scaling SLR
    key = world.key()
    slr = world.autoscaling_slr(suffix)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    config = allow(
        [
            "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
        ],
        ["arn:aws:kms:*:111122223333:key/*"],
    )

    # When the failed CreateGrant arrives
    [report] = run(event, config)

    # Then the key policy gains exactly the seeds' two statements for the SLR
    assert report.outcome == "remediated", report.reason
    expected = default_policy(ACCOUNT)
    expected["Statement"] += [use_statement(slr), attach_statement(slr)]
    assert world.policy(key) == expected
    assert world.grants(key) == []
    note = only_notification(world, inbox)
    assert note["attributes"] == {"outcome": "remediated"}
    message = note["message"]
    assert message["outcome"] == "remediated"
    assert message["key_arn"] == key
    assert message["principal_arn"] == slr
    assert message["remedy"] == "key-policy"
    assert message["event_id"] == event["id"]
    assert message["changes"] == {"statements": [use_statement(slr), attach_statement(slr)]}
    assert message["undo"]["previous_policy"] == default_policy(ACCOUNT)
    assert "put-key-policy" in message["undo"]["cli"]
    assert note["subject"].startswith("[kms-launch-remediator] KMS key")
    assert verdicts(world, slr, key, ASG) == allowed(ASG)


@pytest.mark.parametrize(
    ("fixture", "make_principal", "kind", "remedy"),
    [
        ("case3_cross_account_asg_create_grant.json", lambda w: w.autoscaling_slr(), ASG, "auto"),
        ("case4_copied_ami_user_create_grant.json", lambda w: w.user(), RUN, "grant"),
    ],
    ids=["case3-asg-slr-cross-account-key", "case4-user-copied-ami-remedy-grant"],
)
def test_engine_grants_from_this_account_on_other_accounts_key(
    world: World,
    inbox: tuple[str, str],
    run: Run,
    issuer: str,
    fixture: str,
    make_principal: Any,
    kind: str,
    remedy: str,
) -> None:
    # Given a key in another account whose policy lets this account grant the launcher
    principal = make_principal(world)
    key = world.key(
        OTHER_ACCOUNT, key_owner_policy(OTHER_ACCOUNT, *let_this_account_grant_to(principal))
    )
    policy_before = world.policy(key)
    event = load_event(fixture, {SAMPLE_OTHER_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), OTHER_KEYS, remedy=remedy)

    # When the failed CreateGrant arrives in this account
    [report] = run(event, config)

    # Then a grant on the key ARN names the principal, with the seeds' operations
    assert report.outcome == "remediated", report.reason
    [grant] = world.grants(key)
    assert grant["GranteePrincipal"] == principal
    assert grant["Operations"] == GRANT_OPERATIONS
    assert grant["Name"].startswith("kms-launch-remediator-")
    assert world.policy(key) == policy_before  # the other account's policy is never written
    message = only_notification(world, inbox)["message"]
    assert message["remedy"] == "grant"
    assert message["changes"]["grant_id"] == grant["GrantId"]
    assert (
        message["undo"]["cli"]
        == f"aws kms revoke-grant --key-id {key} --grant-id {grant['GrantId']} --region eu-west-1"
    )
    # And a grant to a user says what it allows beyond EC2 (an SLR's is used by Auto Scaling)
    assert ("cannot be limited to EC2" in message["reason"]) is (kind == RUN)
    assert verdicts(world, principal, key, kind, issuer) == allowed(kind)


def test_engine_refuses_user_on_other_accounts_key_with_both_sides_of_the_fix(
    world: World, inbox: tuple[str, str], run: Run, issuer: str
) -> None:
    # Given a user here, a copied AMI's key in another account, and remedy auto
    user = world.user()
    key = world.key(OTHER_ACCOUNT)
    event = load_event("case4_copied_ami_user_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})

    # When the failure arrives
    [report] = run(event, allow(every_principal_of(ACCOUNT), OTHER_KEYS))

    # Then no grant is made (one could not be limited to EC2): the fix is K's statements, limited
    # to EC2, and this account's IAM statements for the user, both exact
    assert report.outcome == "refused", report.reason
    assert world.grants(key) == []
    fix = only_notification(world, inbox)["message"]["suggested_fix"]
    assert fix["key_policy_statements"] == [use_via_ec2_statement(user), attach_statement(user)]
    assert fix["iam_policy_statements"] == [
        {
            "Sid": "KmsLaunchUseViaEc2",
            "Effect": "Allow",
            "Action": USE,
            "Resource": key,
            "Condition": VIA_EC2,
        },
        {
            "Sid": "KmsLaunchAttach",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant"],
            "Resource": key,
            "Condition": FOR_AWS_RESOURCE,
        },
    ]
    assert verdicts(world, user, key, RUN) == denied(RUN)


def test_engine_on_key_owner_side_names_external_principal_via_ec2_only(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given the key owner's deployment receives its copy of a cross-account failure (case 4)
    with world.account(OTHER_ACCOUNT):
        key = world.key(OTHER_ACCOUNT)
    event = load_event("case4_copied_ami_user_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    event["account"] = OTHER_ACCOUNT
    event["detail"]["recipientAccountId"] = OTHER_ACCOUNT
    user = world.user()
    config = allow([f"arn:aws:iam::{ACCOUNT}:user/*"], OTHER_KEYS)

    # When it runs in the key's account
    with world.account(OTHER_ACCOUNT):
        [report] = run(event, config)

    # Then the external user may use the key only through EC2, and create grants for AWS
    # resources; the launch also needs the user's own identity policy, which K cannot see or
    # write: not "remediated", but blocked elsewhere, with the IAM statements to apply there
    assert report.outcome == "blocked_elsewhere", report.reason
    expected = default_policy(OTHER_ACCOUNT)
    expected["Statement"] += [use_via_ec2_statement(user), attach_statement(user)]
    assert world.policy(key) == expected
    assert [s["Sid"] for s in report.suggested_fix["iam_policy_statements"]] == [
        "KmsLaunchUseViaEc2",
        "KmsLaunchAttach",
    ]
    assert report.undo is not None and report.change_id is None
    assert verdicts(world, user, key, RUN) == denied(RUN)


@pytest.mark.parametrize(
    ("fixture", "make_principal"),
    [
        ("case5_user_start_instances_create_grant.json", lambda w: w.user()),
        ("case6_saas_scheduler_role_create_grant.json", lambda w: w.role("SaaSSchedulerRole")),
    ],
    ids=["case5-user-start-instances", "case6-third-party-scheduler-role"],
)
def test_engine_adds_via_ec2_statements_for_users_and_roles(
    world: World, inbox: tuple[str, str], run: Run, fixture: str, make_principal: Any
) -> None:
    # Given a same-account key and a user or role that is not a service-linked role
    key = world.key()
    principal = make_principal(world)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    config = allow([principal], [key])

    # When EC2's CreateGrant on its behalf fails
    [report] = run(event, config)

    # Then the principal may use the key only via EC2, plus CreateGrant for AWS resources
    assert report.outcome == "remediated", report.reason
    expected = default_policy(ACCOUNT)
    expected["Statement"] += [use_via_ec2_statement(principal), attach_statement(principal)]
    assert world.policy(key) == expected
    assert only_notification(world, inbox)["message"]["principal_arn"] == principal
    assert verdicts(world, principal, key, START) == allowed(START)
    assert verdicts(world, principal, key, RUN) == allowed(RUN)


def test_engine_extends_its_own_statements_instead_of_duplicating(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a key already fixed for the user (case 5)
    key = world.key()
    user, role = world.user(), world.role("SaaSSchedulerRole")
    config = allow([user, role], [key])
    run(load_event("case5_user_start_instances_create_grant.json", {SAMPLE_KEY_ARN: key}), config)

    # When a second principal fails on the same key (case 6)
    run(load_event("case6_saas_scheduler_role_create_grant.json", {SAMPLE_KEY_ARN: key}), config)

    # Then the same two statements name both principals, sorted
    both = sorted([user, role])
    statements = world.policy(key)["Statement"]
    assert [s["Sid"] for s in statements] == [
        "Enable IAM User Permissions",
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert statements[1]["Principal"] == {"AWS": both}
    assert statements[2]["Principal"] == {"AWS": both}
    assert verdicts(world, user, key, START) == allowed(START)
    assert verdicts(world, role, key, START) == allowed(START)


@pytest.mark.parametrize(
    "fixture",
    [
        "case1_asg_slr_create_grant_access_denied.json",
        "case5_user_start_instances_create_grant.json",
    ],
)
def test_engine_replay_is_a_noop_reporting_already_allowed(
    world: World, inbox: tuple[str, str], run: Run, fixture: str
) -> None:
    # Given a key the engine has already fixed for this event
    key = world.key()
    slr, user = world.autoscaling_slr(), world.user()
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), [key])
    [first] = run(event, config)
    fixed = world.policy(key)

    # When the same event is replayed
    [again] = run(event, config)

    # Then nothing is written and the outcome says so
    assert first.outcome == "remediated"
    assert again.outcome == "already_allowed"
    assert world.policy(key) == fixed
    assert [n["message"]["outcome"] for n in world.received(inbox[1])] == [
        "remediated",
        "already_allowed",
    ]
    principal, kind = (slr, ASG) if fixture.startswith("case1") else (user, START)
    assert verdicts(world, principal, key, kind) == allowed(kind)


def test_engine_replay_of_grant_is_a_noop(
    world: World, inbox: tuple[str, str], run: Run, issuer: str
) -> None:
    # Given a cross-account grant already made for case 3, on a key whose owner also lets this
    # account list its grants (without that, a replay cannot see the grant, and KMS returns the
    # same grant for the same name)
    slr = world.autoscaling_slr()
    list_grants = {
        "Sid": "LetAccountListGrants",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:ListGrants",
        "Resource": "*",
    }
    statements = [*let_this_account_grant_to(slr), list_grants]
    key = world.key(OTHER_ACCOUNT, key_owner_policy(OTHER_ACCOUNT, *statements))
    event = load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), OTHER_KEYS)
    run(event, config)

    # When it is replayed
    [again] = run(event, config)

    # Then no second grant is made
    assert again.outcome == "already_allowed"
    assert again.reason == "an equivalent grant already exists"
    assert len(world.grants(key)) == 1
    assert verdicts(world, slr, key, ASG, issuer) == allowed(ASG)


@pytest.mark.parametrize(
    ("fixture", "cross_account"),
    [
        ("case1_asg_slr_create_grant_access_denied.json", False),
        ("case3_cross_account_asg_create_grant.json", True),
    ],
)
def test_engine_dry_run_writes_nothing(
    world: World, inbox: tuple[str, str], run: Run, fixture: str, cross_account: bool
) -> None:
    # Given an allowlisted key and principal, in dry-run mode
    key = world.key(OTHER_ACCOUNT if cross_account else ACCOUNT)
    slr = world.autoscaling_slr()
    before = world.policy(key)
    sample = SAMPLE_OTHER_KEY_ARN if cross_account else SAMPLE_KEY_ARN
    event = load_event(fixture, {sample: key})
    config = allow(
        every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT), mode="dry-run"
    )

    # When the event arrives
    [report] = run(event, config)

    # Then the plan is reported and neither the policy nor the grants change
    assert report.outcome == "dry_run"
    assert report.changes
    assert world.policy(key) == before
    assert world.grants(key) == []
    assert only_notification(world, inbox)["message"]["outcome"] == "dry_run"
    assert verdicts(world, slr, key, ASG) == denied(ASG)


def test_engine_start_instances_gets_only_create_grant_for_aws_resources(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a stopped instance whose StartInstances by a user failed, as CloudTrail recorded it
    key = world.key()
    user = world.user()
    instance = world.failed_instance(key, stopped=True)
    cloudtrail = boto3.client("cloudtrail", region_name="eu-west-1")
    stub = Stubber(cloudtrail)
    record = {
        "eventName": "StartInstances",
        "userIdentity": {"type": "IAMUser", "arn": user, "accountId": ACCOUNT},
        "requestParameters": {"instancesSet": {"items": [{"instanceId": instance}]}},
    }
    stub.add_response(
        "lookup_events",
        {"Events": [{"EventName": "StartInstances", "CloudTrailEvent": json.dumps(record)}]},
    )
    engine = Remediator(
        AwsAdapter(region="eu-west-1", clients={"cloudtrail": cloudtrail}),
        parse_config(allow([user], [key])),
        topic_arn=inbox[0],
    )

    # When EC2 reports it stopped
    with stub:
        [report] = engine.handle(
            load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: instance})
        )

    # Then the key gains only what StartInstances needs: CreateGrant for AWS resources, no use
    assert report.outcome == "remediated", report.reason
    expected = default_policy(ACCOUNT)
    expected["Statement"] += [attach_statement(user)]
    assert world.policy(key) == expected
    # And the oracle agrees: the start works; a RunInstances would need more, and was not asked
    assert verdicts(world, user, key, START) == allowed(START)
    assert verdicts(world, user, key, RUN) != allowed(RUN)


def test_engine_a_statement_for_another_key_does_not_count_for_this_one(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a key policy whose statement for the user names another key as its Resource
    other = "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    user = world.user()
    for_another_key = {
        "Sid": "ForAnotherKey",
        "Effect": "Allow",
        "Principal": {"AWS": user},
        "Action": "kms:*",
        "Resource": other,
    }
    policy = default_policy(ACCOUNT)
    policy["Statement"].append(for_another_key)
    key = world.key(policy=policy)
    event = load_event("case5_user_start_instances_create_grant.json", {SAMPLE_KEY_ARN: key})

    # When its launch fails
    [report] = run(event, allow([user], [key]))

    # Then the statement does not allow this key's calls (Resource is honoured): the tool's
    # statements are added, and the launch works
    assert report.outcome == "remediated", report.reason
    assert [s["Sid"] for s in world.policy(key)["Statement"]] == [
        "Enable IAM User Permissions",
        "ForAnotherKey",
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert verdicts(world, user, key, START) == allowed(START)
