"""The six cases of domain.md, judged by the oracle (tests/support/oracle.py) before and after
the remediator runs: does AWS then authorize every KMS call the launch makes?

The worlds are built as tests/integration/test_cases.py builds them. Where the oracle says the
launch still fails after a "remediated", the test asserts that verdict and is named for it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import oracle
from tests.support.allowlists import every_principal_of
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

Run = Callable[..., list[Any]]

ASG = "asg"
START = "start"
RUN = "run"
LAUNCH_OPERATIONS = [
    "CreateGrant",
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
]
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": True}}
REMEDIATOR_ROLE = "KmsLaunchRemediatorFunctionRole"


def denied(kind: str) -> dict[str, bool]:
    return dict.fromkeys(oracle.LAUNCH_CALLS[kind], False)


def allowed(kind: str) -> dict[str, bool]:
    return dict.fromkeys(oracle.LAUNCH_CALLS[kind], True)


def enforce(principals: list[str], keys: list[str]) -> dict[str, Any]:
    return {"mode": "enforce", "allow": {"principals": principals, "keys": keys}}


def emulator(world: World) -> oracle.ClientsFor:
    """``account -> (service -> client)``, the calls made as that account."""

    @contextlib.contextmanager
    def clients_for(account: str) -> Iterator[Callable[[str], Any]]:
        with world.account(account):
            yield world.client

    return clients_for


def remediator_role(world: World, key_patterns: list[str]) -> str:
    """The remediator's own role in this account, with the KMS permissions the stack gives it on
    the allowlisted keys (README, "Security model"). It is who creates the cross-account grants."""
    iam = world.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn: str = iam.create_role(
        RoleName=REMEDIATOR_ROLE, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:GetKeyPolicy"],
                "Resource": key_patterns,
            },
            {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
        ],
    }
    iam.put_role_policy(
        RoleName=REMEDIATOR_ROLE, PolicyName="kms", PolicyDocument=json.dumps(permissions)
    )
    return arn


def key_owner_policy(*extra: dict[str, Any]) -> dict[str, Any]:
    """K's default policy plus ``extra`` statements."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *extra,
        ],
    }


def let_this_account_grant_to(grantee: str) -> list[dict[str, Any]]:
    """What K must say before this account can grant ``grantee`` the launch's operations: a
    CreateGrant without kms:GrantIsForAWSResource (the grant is for a role or user, not made by
    an AWS service), narrowed to that grantee and those operations, plus DescribeKey."""
    this_account = f"arn:aws:iam::{ACCOUNT}:root"
    return [
        {
            "Sid": "LetAccountGrantItsLauncher",
            "Effect": "Allow",
            "Principal": {"AWS": this_account},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": grantee},
                "ForAllValues:StringEquals": {"kms:GrantOperations": LAUNCH_OPERATIONS},
            },
        },
        {
            "Sid": "LetAccountDescribeKey",
            "Effect": "Allow",
            "Principal": {"AWS": this_account},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


# --- same account: the key-policy fixes make the launch work --------------------------------


@pytest.mark.parametrize(
    ("fixture", "suffix"),
    [
        ("case1_asg_slr_create_grant_access_denied.json", None),
        ("case2_asg_custom_slr_create_grant_access_denied_exception.json", "web"),
    ],
    ids=["case1-default-slr", "case2-custom-slr"],
)
def test_oracle_case1_case2_slr_launch_allowed_after_key_policy_fix(
    world: World, run: Run, fixture: str, suffix: str | None
) -> None:
    # Given a same-account key with the default policy and an Auto Scaling SLR
    key = world.key()
    slr = world.autoscaling_slr(suffix)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    config = enforce(
        [f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/*"], [key]
    )
    assert oracle.check_launch(emulator(world), slr, key, ASG) == denied(ASG)

    # When the remediator handles the failed CreateGrant
    [report] = run(event, config)

    # Then every KMS call of the Auto Scaling launch is authorized
    assert report.outcome == "remediated", report.reason
    assert oracle.check_launch(emulator(world), slr, key, ASG) == allowed(ASG)


@pytest.mark.parametrize(
    ("fixture", "make_principal"),
    [
        ("case5_user_start_instances_create_grant.json", lambda w: w.user()),
        ("case6_saas_scheduler_role_create_grant.json", lambda w: w.role("SaaSSchedulerRole")),
    ],
    ids=["case5-user-start-instances", "case6-third-party-scheduler-role"],
)
def test_oracle_case5_case6_start_allowed_after_key_policy_fix(
    world: World, run: Run, fixture: str, make_principal: Any
) -> None:
    # Given a same-account key with the default policy and a user or role without KMS rights
    key = world.key()
    principal = make_principal(world)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    assert oracle.check_launch(emulator(world), principal, key, START) == denied(START)

    # When the remediator handles the CreateGrant EC2 made for StartInstances
    [report] = run(event, enforce([principal], [key]))

    # Then StartInstances' grant is authorized, and so is a RunInstances with that key
    assert report.outcome == "remediated", report.reason
    assert oracle.check_launch(emulator(world), principal, key, START) == allowed(START)
    assert oracle.check_launch(emulator(world), principal, key, RUN) == allowed(RUN)


def test_oracle_case5_identity_deny_blocks_launch_although_engine_reports_remediated(
    world: World, run: Run
) -> None:
    # Given a user whose own IAM policy explicitly denies kms:CreateGrant (root-delegating key)
    key = world.key()
    user = world.user()
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"}],
    }
    world.client("iam").put_user_policy(
        UserName="ops-alice", PolicyName="NoGrants", PolicyDocument=json.dumps(deny)
    )
    event = load_event("case5_user_start_instances_create_grant.json", {SAMPLE_KEY_ARN: key})

    # When the remediator handles the failed CreateGrant
    [report] = run(event, enforce([user], [key]))

    # Then the engine, which reads only the key policy, writes its statements and says
    # "remediated"; AWS still denies the grant: an explicit Deny in any policy wins
    assert report.outcome == "remediated", report.reason
    assert oracle.check_launch(emulator(world), user, key, START) == denied(START)


# --- cross account: what today's grant does and does not do ---------------------------------


@pytest.mark.parametrize(
    ("fixture", "make_principal", "kind"),
    [
        ("case3_cross_account_asg_create_grant.json", lambda w: w.autoscaling_slr(), ASG),
        ("case4_copied_ami_user_create_grant.json", lambda w: w.user(), RUN),
    ],
    ids=["case3-asg-slr", "case4-user-copied-ami"],
)
def test_oracle_case3_case4_grant_alone_not_enough_without_key_owner_statement(
    world: World, run: Run, fixture: str, make_principal: Any, kind: str
) -> None:
    # Given a key of another account with its default policy, and a launcher here
    key = world.key(OTHER_ACCOUNT)
    principal = make_principal(world)
    keys = [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]
    issuer = remediator_role(world, keys)
    event = load_event(fixture, {SAMPLE_OTHER_KEY_ARN: key})
    clients = emulator(world)
    assert oracle.check_launch(clients, principal, key, kind, grant_issuer=issuer) == denied(kind)

    # When the remediator here creates its grant on the key ARN (the emulator lets it)
    [report] = run(event, enforce(every_principal_of(ACCOUNT), keys))

    # Then AWS would have refused that CreateGrant: K's policy lets no principal of this account
    # create grants, so the grant does not exist in AWS and every call of the launch is denied
    assert report.outcome == "remediated", report.reason
    policy, [grant] = oracle.read_key(clients, key, oracle.read_identity(clients, issuer))
    assert grant.grantee == principal
    assert not oracle.grant_creatable(grant, key, policy)
    assert oracle.check_launch(clients, principal, key, kind, grant_issuer=issuer) == denied(kind)


@pytest.mark.parametrize(
    ("fixture", "make_principal", "kind"),
    [
        ("case3_cross_account_asg_create_grant.json", lambda w: w.autoscaling_slr(), ASG),
        ("case4_copied_ami_user_create_grant.json", lambda w: w.user(), RUN),
    ],
    ids=["case3-asg-slr", "case4-user-copied-ami"],
)
def test_oracle_case3_case4_grant_allows_launch_once_key_owner_lets_this_account_grant(
    world: World, run: Run, fixture: str, make_principal: Any, kind: str
) -> None:
    # Given K's policy lets this account grant exactly the launch's operations to the launcher
    principal = make_principal(world)
    key = world.key(OTHER_ACCOUNT, key_owner_policy(*let_this_account_grant_to(principal)))
    keys = [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]
    issuer = remediator_role(world, keys)
    event = load_event(fixture, {SAMPLE_OTHER_KEY_ARN: key})
    clients = emulator(world)
    assert oracle.check_launch(clients, principal, key, kind, grant_issuer=issuer) == denied(kind)

    # When the remediator here creates its grant on the key ARN
    [report] = run(event, enforce(every_principal_of(ACCOUNT), keys))

    # Then the grant is one AWS would create, and it authorizes every call of the launch
    assert report.outcome == "remediated", report.reason
    assert oracle.check_launch(clients, principal, key, kind, grant_issuer=issuer) == allowed(kind)


def test_oracle_case4_key_owner_statements_alone_not_enough_without_identity_policy_in_launcher_account(
    world: World, run: Run
) -> None:
    # Given the key owner's deployment receives its copy of case 4 for a user of this account
    user = world.user()
    with world.account(OTHER_ACCOUNT):
        key = world.key(OTHER_ACCOUNT)
    event = load_event("case4_copied_ami_user_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    event["account"] = OTHER_ACCOUNT
    event["detail"]["recipientAccountId"] = OTHER_ACCOUNT
    config = enforce(
        [f"arn:aws:iam::{ACCOUNT}:user/*"], [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]
    )
    assert oracle.check_launch(emulator(world), user, key, RUN) == denied(RUN)

    # When it adds the user to K's key policy
    with world.account(OTHER_ACCOUNT):
        [report] = run(event, config)

    # Then K's side allows, but the user's own account grants it nothing: still denied
    assert report.outcome == "remediated", report.reason
    assert oracle.check_launch(emulator(world), user, key, RUN) == denied(RUN)

    # And once this account gives the user the seeds' IAM policy, the launch is authorized
    seeds_iam_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": USE, "Resource": [key]},
            {
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": [key],
                "Condition": FOR_AWS_RESOURCE,
            },
        ],
    }
    world.client("iam").put_user_policy(
        UserName="ops-alice",
        PolicyName="UseCopiedAmiKey",
        PolicyDocument=json.dumps(seeds_iam_policy),
    )
    assert oracle.check_launch(emulator(world), user, key, RUN) == allowed(RUN)
