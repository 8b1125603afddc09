"""Facts the tool knows itself, not from the event: this account (STS GetCallerIdentity),
whether a principal exists (its exact ARN, path and case), and which roles are the
service-linked roles of the services that launch."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.outcomes import Outcome
from remediator.pipeline import Remediator
from tests.integration.conftest import Run, allow, default_policy
from tests.support.world import ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE5 = "case5_user_start_instances_create_grant.json"
SLR_PATH = "aws-service-role/autoscaling.amazonaws.com/"
FOREIGN_ACCOUNT = "999999999999"


def user_event(key: str, user: str = "ops-alice") -> dict[str, Any]:
    return load_event(CASE5, {SAMPLE_KEY_ARN: key, "user/ops-alice": f"user/{user}"})


# --- "this account" is STS's, not the event's ----------------------------------------------


def test_event_of_another_account_makes_no_grant_for_an_unchecked_principal(
    world: World, run: Run
) -> None:
    # Given a denied launch of a user who does not exist, in an event whose account field
    # names another account (as a forwarded or crafted event would)
    key = world.key()
    ghost = f"arn:aws:iam::{ACCOUNT}:user/ghost"
    event = user_event(key, "ghost")
    event["account"] = FOREIGN_ACCOUNT

    # When the remediator handles it, with the user and key allowlisted
    [report] = run(event, allow([ghost], [key]))

    # Then nothing is granted or written: the event's account is not this account
    assert report.outcome is Outcome.REFUSED
    assert f"the event is from account {FOREIGN_ACCOUNT}" in report.reason
    assert f"acts in account {ACCOUNT}" in report.reason
    assert world.grants(key) == []
    assert world.policy(key) == default_policy(ACCOUNT)


def test_this_account_is_asked_of_sts_once_per_adapter(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given an engine whose adapter records every STS call
    calls: list[str] = []
    session = boto3.Session(region_name=world.region)
    session.events.register(
        "before-call.sts.GetCallerIdentity", lambda **_: calls.append("GetCallerIdentity")
    )
    key, user = world.key(), world.user()
    engine = Remediator(
        AwsAdapter(session=session, region=world.region),
        parse_config(allow([user], [key])),
        topic_arn=inbox[0],
    )

    # When it handles three events
    for _ in range(3):
        engine.handle(user_event(key))

    # Then STS was asked once, and the first event remediated on that answer
    assert calls == ["GetCallerIdentity"]
    assert len(world.policy(key)["Statement"]) == 3


# --- a principal exists only as IAM names it -----------------------------------------------


def test_role_at_another_path_is_not_the_service_linked_role(world: World, run: Run) -> None:
    # Given a role AdminRole at "/", and an event naming
    # role/aws-service-role/autoscaling.amazonaws.com/AdminRole, which does not exist
    world.role("AdminRole")
    key = world.key()
    event = load_event(CASE1, {SAMPLE_KEY_ARN: key, "AWSServiceRoleForAutoScaling": "AdminRole"})
    claimed = f"arn:aws:iam::{ACCOUNT}:role/{SLR_PATH}AdminRole"
    assert event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == claimed

    # When the remediator handles it, with every role at the service path allowlisted
    [report] = run(event, allow([f"arn:aws:iam::{ACCOUNT}:role/{SLR_PATH}*"], [key]))

    # Then it is refused as a principal that does not exist, and the key is untouched
    assert report.outcome is Outcome.REFUSED
    assert report.reason == "the principal does not exist in IAM"
    assert world.policy(key) == default_policy(ACCOUNT)


def stubbed_iam(operation: str, arn: str) -> AwsAdapter:
    iam = boto3.Session(region_name="eu-west-1").client("iam")
    stub = Stubber(iam)
    entity = {"Path": "/", "Arn": arn, "CreateDate": "2024-01-01T00:00:00Z"}
    if operation == "get_role":
        name = arn.rsplit("/", 1)[-1]
        found = {"Role": {**entity, "RoleName": name, "RoleId": "AROAEXAMPLE000000001"}}
    else:
        name = arn.rsplit("/", 1)[-1]
        found = {"User": {**entity, "UserName": name, "UserId": "AIDAEXAMPLE000000001"}}
    stub.add_response(operation, found)
    stub.activate()
    return AwsAdapter(clients={"iam": iam}, region="eu-west-1")


@pytest.mark.parametrize(
    ("operation", "asked", "returned", "exists"),
    [
        (
            "get_role",
            f"arn:aws:iam::{ACCOUNT}:role/AdminRole",
            f"arn:aws:iam::{ACCOUNT}:role/AdminRole",
            True,
        ),
        (
            "get_role",
            f"arn:aws:iam::{ACCOUNT}:role/{SLR_PATH}AdminRole",
            f"arn:aws:iam::{ACCOUNT}:role/AdminRole",
            False,
        ),
        (
            "get_role",
            f"arn:aws:iam::{ACCOUNT}:role/ops/AdminRole",
            f"arn:aws:iam::{ACCOUNT}:role/dev/AdminRole",
            False,
        ),
        (
            "get_role",
            f"arn:aws:iam::{ACCOUNT}:role/adminrole",
            f"arn:aws:iam::{ACCOUNT}:role/AdminRole",
            False,
        ),
        (
            "get_user",
            f"arn:aws:iam::{ACCOUNT}:user/ops-alice",
            f"arn:aws:iam::{ACCOUNT}:user/Ops-Alice",
            False,
        ),
        (
            "get_user",
            f"arn:aws:iam::{ACCOUNT}:user/team/ops-alice",
            f"arn:aws:iam::{ACCOUNT}:user/team/ops-alice",
            True,
        ),
    ],
    ids=["same-arn", "path-added", "other-path", "role-case", "user-case", "user-with-path"],
)
def test_principal_exists_only_with_the_exact_arn(
    operation: str, asked: str, returned: str, exists: bool
) -> None:
    # Given IAM answering the name lookup with the principal's real ARN (names are
    # case-insensitive, and GetRole/GetUser ignore the path)
    aws = stubbed_iam(operation, returned)

    # When the adapter checks the ARN the event named, Then only the exact ARN exists
    assert aws.principal_exists(asked) is exists


# --- service-linked roles of services that do not launch -----------------------------------


def test_service_linked_role_of_a_non_launcher_gets_use_only_through_ec2(
    world: World, run: Run
) -> None:
    # Given Elastic Beanstalk's service-linked role, denied a launch's CreateGrant
    slr = world.client("iam").create_service_linked_role(
        AWSServiceName="elasticbeanstalk.amazonaws.com"
    )["Role"]["Arn"]
    key = world.key()
    event = load_event(
        CASE1,
        {
            SAMPLE_KEY_ARN: key,
            "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling": (
                "elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk"
            ),
        },
    )

    # When the remediator handles it
    [report] = run(event, allow([slr], [key]))

    # Then the use actions are allowed only through EC2: the unconditioned statement is for
    # the roles of the services that launch
    assert report.outcome is Outcome.REMEDIATED
    sids = [s.get("Sid") for s in world.policy(key)["Statement"]]
    assert sids == [
        "Enable IAM User Permissions",
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
