"""The six cases of domain.md, judged by the oracle (tests/support/oracle.py) before and after
the remediator runs: does AWS then authorize every KMS call the launch makes?

The worlds are built as tests/integration/test_cases.py builds them. Across accounts, moto's KMS
is made to refuse what AWS would refuse (tests/support/kms_authorization.py), so the engine
meets the AccessDenied it would meet in AWS. Every outcome is checked against the oracle:
after "remediated" every call is allowed; after any other outcome the launch still fails, and
applying the suggested fix (as the key's or the principal's administrator would) makes it work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.allowlists import every_principal_of
from tests.support.kms_authorization import (
    add_statements,
    allowed,
    attach_inline,
    denied,
    enforced,
    key_owner_policy,
    remediator_role,
    verdicts,
)
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

Run = Callable[..., list[Any]]

ASG, START, RUN = "asg", "start", "run"
LAUNCH_OPERATIONS = [
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
]
OTHER_KEYS = [f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/*"]
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE4 = "case4_copied_ami_user_create_grant.json"
CASE5 = "case5_user_start_instances_create_grant.json"


def enforce(principals: list[str], keys: list[str], **extra: Any) -> dict[str, Any]:
    return {"mode": "enforce", "allow": {"principals": principals, "keys": keys}, **extra}


def let_this_account(grantee: str, *, describe: bool = True, grant: bool = True) -> list[Any]:
    """What K says before this account can grant ``grantee`` the launch's operations: a
    CreateGrant without kms:GrantIsForAWSResource (the grant is for a role or user, not made by
    an AWS service), narrowed to that grantee and those operations, plus DescribeKey."""
    this_account = f"arn:aws:iam::{ACCOUNT}:root"
    statements = []
    if grant:
        statements.append(
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
            }
        )
    if describe:
        statements.append(
            {
                "Sid": "LetAccountDescribeKey",
                "Effect": "Allow",
                "Principal": {"AWS": this_account},
                "Action": "kms:DescribeKey",
                "Resource": "*",
            }
        )
    return statements


@pytest.fixture
def issuer(world: World) -> Iterator[str]:
    """The remediator's role here, and moto's KMS refusing what AWS refuses it across accounts."""
    arn = remediator_role(world, OTHER_KEYS)
    with enforced(world, arn):
        yield arn


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
    assert verdicts(world, slr, key, ASG) == denied(ASG)

    # When the remediator handles the failed CreateGrant
    [report] = run(event, config)

    # Then every KMS call of the Auto Scaling launch is authorized
    assert report.outcome == "remediated", report.reason
    assert verdicts(world, slr, key, ASG) == allowed(ASG)


@pytest.mark.parametrize(
    ("fixture", "make_principal"),
    [
        (CASE5, lambda w: w.user()),
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
    assert verdicts(world, principal, key, START) == denied(START)

    # When the remediator handles the CreateGrant EC2 made (the KMS record does not say whether
    # for RunInstances or StartInstances, so the fix covers RunInstances)
    [report] = run(event, enforce([principal], [key]))

    # Then StartInstances' grant is authorized, and so is a RunInstances with that key
    assert report.outcome == "remediated", report.reason
    assert verdicts(world, principal, key, START) == allowed(START)
    assert verdicts(world, principal, key, RUN) == allowed(RUN)


def test_oracle_case5_identity_deny_is_blocked_elsewhere_and_the_key_policy_untouched(
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
    before = world.policy(key)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key})

    # When the remediator handles the failed CreateGrant
    [report] = run(event, enforce([user], [key]))

    # Then no key-policy statement could help, so none is written: the outcome names the Deny
    # and where it is; AWS still denies the grant, as the oracle says
    assert report.outcome == "blocked_elsewhere", report.reason
    assert "inline policy NoGrants of user ops-alice" in report.reason
    assert report.suggested_fix["blocked_by"] == "identity-policy"
    assert world.policy(key) == before
    assert verdicts(world, user, key, START) == denied(START)


# --- cross account: the launcher's account (A) makes the grant, K must allow it -------------


def test_oracle_case3_describe_refused_until_key_owner_adds_the_suggested_statements(
    world: World, run: Run, issuer: str
) -> None:
    # Given a key of another account with its default policy, and this account's Auto Scaling SLR
    key = world.key(OTHER_ACCOUNT)
    slr = world.autoscaling_slr()
    event = load_event(CASE3, {SAMPLE_OTHER_KEY_ARN: key})
    config = enforce(every_principal_of(ACCOUNT), OTHER_KEYS)
    assert verdicts(world, slr, key, ASG, issuer) == denied(ASG)

    # When the remediator here handles the failure: K's policy lets it not even describe the key
    [report] = run(event, config)

    # Then it is refused with the statements K must add (this account may describe the key and
    # create exactly this grant; no GrantIsForAWSResource), nothing is made, the launch fails
    assert report.outcome == "refused", report.reason
    assert "may not describe key" in report.reason
    assert world.grants(key) == []
    assert verdicts(world, slr, key, ASG, issuer) == denied(ASG)
    fix = report.suggested_fix
    [grant_statement, describe_statement] = fix["key_policy_statements"]
    assert grant_statement["Action"] == "kms:CreateGrant"
    assert grant_statement["Condition"] == {
        "StringEquals": {"kms:GranteePrincipal": slr},
        "ForAllValues:StringEquals": {"kms:GrantOperations": LAUNCH_OPERATIONS},
    }
    assert describe_statement["Action"] == "kms:DescribeKey"

    # And once K's administrator adds them, the same event makes the grant, and the launch works
    add_statements(world, key, fix["key_policy_statements"])
    [again] = run(event, config)
    assert again.outcome == "remediated", again.reason
    assert verdicts(world, slr, key, ASG, issuer) == allowed(ASG)


def test_oracle_case3_create_grant_refused_with_the_exact_prerequisite(
    world: World, run: Run, issuer: str
) -> None:
    # Given K lets this account describe its key but not create grants on it
    slr = world.autoscaling_slr()
    key = world.key(
        OTHER_ACCOUNT, key_owner_policy(OTHER_ACCOUNT, *let_this_account(slr, grant=False))
    )
    event = load_event(CASE3, {SAMPLE_OTHER_KEY_ARN: key})
    config = enforce(every_principal_of(ACCOUNT), OTHER_KEYS)

    # When the remediator here tries the grant
    [report] = run(event, config)

    # Then KMS's AccessDenied is a refusal whose fix is the K-side statement permitting exactly
    # this grant: this account, the launcher as grantee, the launch's operations, no
    # GrantIsForAWSResource; plus DescribeKey
    assert report.outcome == "refused", report.reason
    assert "KMS denied CreateGrant" in report.reason
    assert world.grants(key) == []
    assert verdicts(world, slr, key, ASG, issuer) == denied(ASG)
    statements = report.suggested_fix["key_policy_statements"]
    assert statements == [
        {
            "Sid": f"AllowLaunchGrantsFrom{ACCOUNT}",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": slr},
                "ForAllValues:StringEquals": {"kms:GrantOperations": LAUNCH_OPERATIONS},
            },
        },
        {
            "Sid": f"AllowDescribeKeyFrom{ACCOUNT}",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]

    # And with it in K's policy, the grant is made and every call of the launch is authorized
    add_statements(world, key, statements[:1])
    [again] = run(event, config)
    assert again.outcome == "remediated", again.reason
    assert verdicts(world, slr, key, ASG, issuer) == allowed(ASG)


@pytest.mark.parametrize(
    ("fixture", "make_principal", "kind", "remedy"),
    [
        (CASE3, lambda w: w.autoscaling_slr(), ASG, "auto"),
        (CASE4, lambda w: w.user(), RUN, "grant"),
    ],
    ids=["case3-asg-slr", "case4-user-copied-ami-remedy-grant"],
)
def test_oracle_case3_case4_grant_allows_launch_once_key_owner_lets_this_account_grant(
    world: World, run: Run, issuer: str, fixture: str, make_principal: Any, kind: str, remedy: str
) -> None:
    # Given K's policy lets this account grant exactly the launch's operations to the launcher
    principal = make_principal(world)
    key = world.key(OTHER_ACCOUNT, key_owner_policy(OTHER_ACCOUNT, *let_this_account(principal)))
    event = load_event(fixture, {SAMPLE_OTHER_KEY_ARN: key})
    assert verdicts(world, principal, key, kind, issuer) == denied(kind)

    # When the remediator here creates its grant on the key ARN
    config = enforce(every_principal_of(ACCOUNT), OTHER_KEYS, remedy=remedy)
    [report] = run(event, config)

    # Then the grant is one AWS would create, and it authorizes every call of the launch
    assert report.outcome == "remediated", report.reason
    assert verdicts(world, principal, key, kind, issuer) == allowed(kind)
    if kind == RUN:  # a grant to a user: the notification says what it allows beyond EC2
        assert "a grant cannot be limited to EC2" in report.reason


def test_oracle_case4_user_refused_with_key_owner_and_iam_statements_that_make_it_work(
    world: World, run: Run, issuer: str
) -> None:
    # Given a user here launching from an AMI whose snapshot key is K's (default policy)
    user = world.user()
    key = world.key(OTHER_ACCOUNT)
    event = load_event(CASE4, {SAMPLE_OTHER_KEY_ARN: key})

    # When the remediator here handles it (remedy auto: no grant to a user of another account's
    # key, which could not be limited to EC2)
    [report] = run(event, enforce(every_principal_of(ACCOUNT), OTHER_KEYS))

    # Then nothing is made, the launch still fails, and the fix has both sides
    assert report.outcome == "refused", report.reason
    assert world.grants(key) == []
    assert verdicts(world, user, key, RUN) == denied(RUN)
    fix = report.suggested_fix
    assert [s["Sid"] for s in fix["key_policy_statements"]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert [s["Sid"] for s in fix["iam_policy_statements"]] == [
        "KmsLaunchUseViaEc2",
        "KmsLaunchAttach",
    ]

    # And K's statements alone are not enough (both sides must allow across accounts) ...
    add_statements(world, key, fix["key_policy_statements"])
    assert verdicts(world, user, key, RUN) == denied(RUN)
    # ... but with the IAM statements attached to the user here, every call is authorized
    attach_inline(world, user, fix["iam_policy_statements"])
    assert verdicts(world, user, key, RUN) == allowed(RUN)


def test_oracle_case4_key_owner_side_writes_its_statements_and_names_the_iam_policy_needed(
    world: World, run: Run
) -> None:
    # Given the key owner's deployment receives a copy of case 4 for a user of this account
    user = world.user()
    with world.account(OTHER_ACCOUNT):
        key = world.key(OTHER_ACCOUNT)
    event = load_event(CASE4, {SAMPLE_OTHER_KEY_ARN: key})
    event["account"] = OTHER_ACCOUNT
    event["detail"]["recipientAccountId"] = OTHER_ACCOUNT
    config = enforce([f"arn:aws:iam::{ACCOUNT}:user/*"], OTHER_KEYS)
    assert verdicts(world, user, key, RUN) == denied(RUN)

    # When it adds the user to K's key policy
    with world.account(OTHER_ACCOUNT):
        [report] = run(event, config)

    # Then K's side is written, but the user's own account grants it nothing yet: the outcome is
    # not "remediated", it names the IAM policy needed in the user's account
    assert report.outcome == "blocked_elsewhere", report.reason
    assert report.changes["statements"]
    assert verdicts(world, user, key, RUN) == denied(RUN)

    # And once this account gives the user the suggested IAM statements, the launch is authorized
    attach_inline(world, user, report.suggested_fix["iam_policy_statements"])
    assert verdicts(world, user, key, RUN) == allowed(RUN)
