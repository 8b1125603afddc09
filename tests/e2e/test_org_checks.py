"""The organization demo's and benchmark's judge (tests/support/org_checks.py): it must see every
write that no event justifies, and accept the writes organization mode is meant to make."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.emulator_calls import OWN_CREDENTIALS, Call
from tests.support.org_checks import (
    Change,
    Justification,
    KeyState,
    changes,
    cross_account_statement_problems,
    mistakes,
)

HUB, A, K = "123456789012", "111122223333", "444455556666"
KEY_A = f"arn:aws:kms:eu-west-1:{A}:key/aaaa"
KEY_K = f"arn:aws:kms:eu-west-1:{K}:key/kkkk"
LAUNCHER = (
    f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
MEMBER_A = f"arn:aws:iam::{A}:role/KmsLaunchRemediatorMember"
SESSION_A = f"arn:aws:sts::{A}:assumed-role/KmsLaunchRemediatorMember/kms-launch-remediator-e1"
SESSION_K = f"arn:aws:sts::{K}:assumed-role/KmsLaunchRemediatorMember/kms-launch-remediator-e1"
OPERATIONS = frozenset(
    {"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant"}
)
ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{K}:root"}}
JUSTIFIED = [
    Justification(KEY_A, LAUNCHER, LAUNCHER, A),  # a same-account case in A
    Justification(KEY_K, MEMBER_A, LAUNCHER, A),  # the cross-account case
]


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [ROOT, *statements]}


def statement(
    sid: str, principal: str, action: str = "kms:Decrypt", **extra: Any
) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": action,
        **extra,
    }


def state(
    *statements: dict[str, Any], grants: tuple[tuple[str, frozenset[str]], ...] = ()
) -> KeyState:
    return KeyState(policy(*statements), frozenset(grants))


def write(operation: str, account: str, caller: str, key: str, grantee: str | None = None) -> Call:
    return Call(account, caller, "kms", operation, "eu-west-1", key_id=key, grantee=grantee)


def judge(after: dict[str, KeyState], calls: list[Call]) -> list[str]:
    before = {KEY_A: state(), KEY_K: state()}
    return mistakes(
        changes(before, after), calls, JUSTIFIED, hub_account=HUB, operations=OPERATIONS
    )


GRANT = ((LAUNCHER, OPERATIONS),)
FIXED = {
    KEY_A: state(statement("Use", LAUNCHER)),
    KEY_K: state(statement("Let", MEMBER_A), grants=GRANT),
}
FIXED_CALLS = [
    write("PutKeyPolicy", A, SESSION_A, KEY_A),
    write("PutKeyPolicy", K, SESSION_K, KEY_K),
    write("CreateGrant", A, SESSION_A, KEY_K, LAUNCHER),
]


def test_org_checks_accept_what_organization_mode_is_meant_to_write() -> None:
    # Given A's key fixed in A, K's statement for A's member role written in K and the grant
    # created from A, with reads, role assumptions and the hub's own state calls around them
    reads = [
        Call(K, SESSION_K, "kms", "GetKeyPolicy", "eu-west-1", key_id=KEY_K),
        Call(HUB, OWN_CREDENTIALS, "sts", "AssumeRole", "eu-west-1"),
        Call(HUB, OWN_CREDENTIALS, "dynamodb", "PutItem", "eu-west-1"),
        Call(A, SESSION_A, "iam", "GetRole", "us-east-1"),
    ]
    # When judged, Then there is no mistake
    assert judge(FIXED, [*FIXED_CALLS, *reads]) == []


@pytest.mark.parametrize(
    ("after", "calls", "mistake"),
    [
        (
            {**FIXED, KEY_K: state(statement("Let", LAUNCHER), grants=GRANT)},
            FIXED_CALLS,
            "statement 'Let' on " + KEY_K + " naming " + LAUNCHER,
        ),
        (
            {**FIXED, KEY_A: state(statement("Use", f"arn:aws:iam::{A}:user/mallory"))},
            FIXED_CALLS,
            "naming arn:aws:iam::111122223333:user/mallory",
        ),
        (
            {**FIXED, KEY_K: state(statement("Let", MEMBER_A), grants=((MEMBER_A, OPERATIONS),))},
            FIXED_CALLS,
            "grant on " + KEY_K + " to " + MEMBER_A,
        ),
        (
            {
                **FIXED,
                KEY_K: state(
                    statement("Let", MEMBER_A), grants=((LAUNCHER, OPERATIONS | {"Encrypt"}),)
                ),
            },
            FIXED_CALLS,
            "grant on " + KEY_K,
        ),
        (
            {KEY_A: KeyState({"Statement": []}, frozenset()), KEY_K: FIXED[KEY_K]},
            FIXED_CALLS,
            "statement removed on " + KEY_A,
        ),
        (
            FIXED,
            [*FIXED_CALLS, write("CreateGrant", K, SESSION_K, KEY_K, LAUNCHER)],
            "CreateGrant in account 444455556666",
        ),
        (
            FIXED,
            [*FIXED_CALLS, write("CreateGrant", HUB, OWN_CREDENTIALS, KEY_K, LAUNCHER)],
            "by own credentials",
        ),
        (FIXED, [*FIXED_CALLS, write("RevokeGrant", A, SESSION_A, KEY_K)], "kms:RevokeGrant"),
        (
            FIXED,
            [
                *FIXED_CALLS,
                write(
                    "PutKeyPolicy", "555566667777", "x", "arn:aws:kms:eu-west-1:555566667777:key/b"
                ),
            ],
            "kms:PutKeyPolicy in account 555566667777",
        ),
        (
            FIXED,
            [*FIXED_CALLS, Call(A, SESSION_A, "iam", "PutRolePolicy", "eu-west-1")],
            "iam:PutRolePolicy",
        ),
    ],
    ids=[
        "K-policy-names-the-launcher-not-the-member-role",
        "statement-for-someone-no-event-names",
        "grant-to-the-member-role",
        "grant-with-an-undocumented-operation",
        "statement-removed",
        "grant-created-from-the-key-owner",
        "grant-created-with-the-hubs-credentials",
        "a-revoke",
        "key-policy-written-in-an-account-no-event-justifies",
        "an-iam-write-in-a-member",
    ],
)
def test_org_checks_see_each_write_no_event_justifies(
    after: dict[str, KeyState], calls: list[Call], mistake: str
) -> None:
    # Given one write beyond what the events justify, When judged, Then exactly it is reported
    found = judge(after, calls)
    assert len(found) == 1, found
    assert mistake in found[0]


def test_org_checks_a_key_named_by_id_is_the_callers_accounts() -> None:
    # Given a key policy written with the key's id (not its ARN) in the key's account
    calls = [write("PutKeyPolicy", A, SESSION_A, "aaaa"), *FIXED_CALLS[1:]]
    # Then it is the justified key; the same id in another account is not
    assert judge(FIXED, calls) == []
    assert judge(FIXED, [*calls, write("PutKeyPolicy", K, SESSION_K, "aaaa")]) != []


def test_org_checks_changes_see_a_principal_merged_into_a_statement() -> None:
    # Given a statement of the tool that gains a second principal
    before = {KEY_A: state(statement("Use", LAUNCHER))}
    merged = statement("Use", LAUNCHER)
    merged["Principal"] = {"AWS": [LAUNCHER, f"arn:aws:iam::{A}:user/bob"]}
    # When compared, Then the new version is a change naming both, and nothing is removed
    [change] = changes(before, {KEY_A: state(merged)})
    assert change == Change(KEY_A, "statement", (LAUNCHER, f"arn:aws:iam::{A}:user/bob"), merged)


NARROW = [
    statement(
        "LetGrant",
        MEMBER_A,
        "kms:CreateGrant",
        Resource="*",
        Condition={
            "StringEquals": {"kms:GranteePrincipal": LAUNCHER},
            "ForAllValues:StringEquals": {"kms:GrantOperations": sorted(OPERATIONS)},
        },
    ),
    statement("LetDescribe", MEMBER_A, "kms:DescribeKey", Resource="*"),
]


def _problems(added: list[dict[str, Any]]) -> list[str]:
    return cross_account_statement_problems(
        added, member_role_arn=MEMBER_A, launcher_arn=LAUNCHER, operations=OPERATIONS
    )


def test_org_checks_cross_account_statements_narrow_enough() -> None:
    assert _problems(NARROW) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda s: s[0]["Condition"].pop("StringEquals"), "kms:GranteePrincipal is None"),
        (lambda s: s[0]["Condition"].pop("ForAllValues:StringEquals"), "kms:GrantOperations None"),
        (
            lambda s: s[0]["Condition"]["ForAllValues:StringEquals"].update(
                {"kms:GrantOperations": ["Decrypt", "RetireGrant"]}
            ),
            "not within",
        ),
        (
            lambda s: s[0]["Condition"].update({"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            "conditioned on kms:GrantIsForAWSResource",
        ),
        (lambda s: s[0].update({"Principal": {"AWS": f"arn:aws:iam::{A}:root"}}), "not only"),
        (lambda s: s[1].update({"Action": "kms:*"}), "allows ['kms:*']"),
        (lambda s: s.pop(1), "no statement allows kms:DescribeKey"),
        (lambda s: s.pop(0), "no statement allows kms:CreateGrant"),
    ],
    ids=[
        "any-grantee",
        "any-operations",
        "an-operation-beyond-the-documented",
        "for-aws-resources-only",
        "the-whole-account",
        "every-action",
        "no-describe",
        "no-create-grant",
    ],
)
def test_org_checks_cross_account_statements_too_wide_or_missing(edit: Any, problem: str) -> None:
    # Given the narrow statements with one thing changed
    import copy

    added = copy.deepcopy(NARROW)
    edit(added)
    # Then the problem is named
    assert any(problem in p for p in _problems(added)), _problems(added)
