"""The six cases of domain.md, end to end under moto: a real-shaped CloudTrail event in, the
exact key policy or grant and the operator notification out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Run, allow, default_policy
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

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


@pytest.mark.parametrize(
    ("fixture", "make_principal"),
    [
        ("case3_cross_account_asg_create_grant.json", lambda w: w.autoscaling_slr()),
        ("case4_copied_ami_user_create_grant.json", lambda w: w.user()),
    ],
    ids=["case3-asg-slr-cross-account-key", "case4-user-copied-ami-cross-account-key"],
)
def test_engine_grants_from_this_account_on_other_accounts_key(
    world: World, inbox: tuple[str, str], run: Run, fixture: str, make_principal: Any
) -> None:
    # Given a key in another account, and a principal here
    key = world.key(OTHER_ACCOUNT)
    principal = make_principal(world)
    policy_before = world.policy(key)
    event = load_event(fixture, {SAMPLE_OTHER_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"])

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


def test_engine_on_key_owner_side_names_external_principal_via_ec2_only(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given the key owner's deployment receives its copy of a cross-account failure (case 4)
    with world.account(OTHER_ACCOUNT):
        key = world.key(OTHER_ACCOUNT)
    event = load_event("case4_copied_ami_user_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    event["account"] = OTHER_ACCOUNT
    event["detail"]["recipientAccountId"] = OTHER_ACCOUNT
    user = f"arn:aws:iam::{ACCOUNT}:user/ops-alice"
    config = allow(
        [f"arn:aws:iam::{ACCOUNT}:user/*"], [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]
    )

    # When it runs in the key's account
    with world.account(OTHER_ACCOUNT):
        [report] = run(event, config)

    # Then the external user may use the key only through EC2, and create grants for AWS resources
    assert report.outcome == "remediated", report.reason
    expected = default_policy(OTHER_ACCOUNT)
    expected["Statement"] += [use_via_ec2_statement(user), attach_statement(user)]
    assert world.policy(key) == expected


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
    world.autoscaling_slr()
    world.user()
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


def test_engine_replay_of_grant_is_a_noop(world: World, inbox: tuple[str, str], run: Run) -> None:
    # Given a cross-account grant already made for case 3
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), [f"arn:aws:kms:*:{OTHER_ACCOUNT}:key/*"])
    run(event, config)

    # When it is replayed
    [again] = run(event, config)

    # Then no second grant is made
    assert again.outcome == "already_allowed"
    assert len(world.grants(key)) == 1


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
    world.autoscaling_slr()
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
