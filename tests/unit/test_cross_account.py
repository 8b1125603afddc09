"""Both halves of a cross-account grant as tables: when the key's account allows its half, the
statements it gets, how a second launcher joins them, and what verification accepts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from remediator.config import RemediatorConfig, parse_config
from remediator.cross_account import (
    SID_DESCRIBE_FROM,
    SID_GRANT_FROM,
    Prerequisite,
    edited_prerequisite,
    grantor_prerequisite,
    prerequisite_holds,
    with_prerequisite,
)
from remediator.decision import decide
from remediator.outcomes import Outcome
from remediator.policy import GRANT_OPERATIONS
from remediator.report import Result
from tests.unit.test_decision import (
    ACCOUNT,
    OTHER,
    OTHER_KEY_ARN,
    SLR_ARN,
    other_key_facts,
)

ROLE = "KmsLaunchRemediatorMember"
MEMBER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
SLRS = [f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/*"]
OTHER_KEYS = [f"arn:aws:kms:*:{OTHER}:key/*"]
SECOND_SLR = f"{SLR_ARN}_web"
K_ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
K_POLICY = {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [K_ROOT]}


def org(k_entry: dict[str, Any] | None, **top: Any) -> RemediatorConfig:
    accounts = {ACCOUNT: {"allow": {"principals": SLRS, "keys": OTHER_KEYS}}}
    if k_entry is not None:
        accounts[OTHER] = k_entry
    return parse_config({"mode": "enforce", "member_role": ROLE, "accounts": accounts, **top})


def need(grantee: str = SLR_ARN) -> Prerequisite:
    return Prerequisite(OTHER, ACCOUNT, MEMBER_ROLE, grantee, GRANT_OPERATIONS, dry_run=False)


def grant_statement(grantees: str | list[str]) -> dict[str, Any]:
    return {
        "Sid": SID_GRANT_FROM + ACCOUNT,
        "Effect": "Allow",
        "Principal": {"AWS": MEMBER_ROLE},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:GranteePrincipal": grantees},
            "ForAllValues:StringEquals": {"kms:GrantOperations": list(GRANT_OPERATIONS)},
        },
    }


DESCRIBE = {
    "Sid": SID_DESCRIBE_FROM + ACCOUNT,
    "Effect": "Allow",
    "Principal": {"AWS": MEMBER_ROLE},
    "Action": "kms:DescribeKey",
    "Resource": "*",
}


# --- which half each account allows ----------------------------------------------------------


@pytest.mark.parametrize(
    ("k_entry", "expected"),
    [
        ({"allow": {"principals": SLRS, "keys": OTHER_KEYS}}, "allowed"),
        ({"allow": {"principals": SLRS, "keys": OTHER_KEYS}, "mode": "dry-run"}, "dry-run"),
        (None, "key is not in the allowlist of the key's account"),
        ({"allow": {"principals": [], "keys": OTHER_KEYS}}, "principal is not in the allowlist"),
        ({"allow": {"principals": SLRS, "keys": []}}, "key is not in the allowlist"),
    ],
    ids=["both-allow", "K-in-dry-run", "K-has-no-entry", "K-not-the-principal", "K-not-the-key"],
)
def test_grantor_prerequisite_follows_the_key_accounts_own_configuration(
    k_entry: dict[str, Any] | None, expected: str
) -> None:
    # Given A's SLR, K's key, a grant decided for A, and K's configuration
    config = org(k_entry)
    facts = other_key_facts()
    decision = decide(facts, config.for_account(ACCOUNT))
    # When asking what K must say first
    found = grantor_prerequisite(config, facts, decision)
    # Then K's own entry decides: its statements (dry-run when K is), or a refusal with them
    if expected in ("allowed", "dry-run"):
        assert found == Prerequisite(
            OTHER, ACCOUNT, MEMBER_ROLE, SLR_ARN, GRANT_OPERATIONS, dry_run=expected == "dry-run"
        )
        return
    assert isinstance(found, Result)
    assert found.outcome is Outcome.REFUSED
    assert expected in found.reason
    assert found.suggested_fix["key_policy_statements"] == [grant_statement(SLR_ARN), DESCRIBE]
    assert found.suggested_fix["grant_cli"].startswith(
        f"aws kms create-grant --key-id {OTHER_KEY_ARN}"
    )


def test_grantor_prerequisite_none_when_no_grant_is_decided() -> None:
    # Given a refusal (A does not allow the principal)
    config = parse_config({"mode": "enforce", "member_role": ROLE})
    facts = other_key_facts()
    decision = decide(facts, config)
    # Then there is no key owner's half to make
    assert grantor_prerequisite(config, facts, decision) is None


# --- the statements ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "grantee", "expected"),
    [
        ([K_ROOT], SLR_ARN, [K_ROOT, grant_statement(SLR_ARN), DESCRIBE]),
        ([K_ROOT, grant_statement(SLR_ARN), DESCRIBE], SLR_ARN, None),
        (
            [K_ROOT, grant_statement(SLR_ARN), DESCRIBE],
            SECOND_SLR,
            [K_ROOT, grant_statement([SLR_ARN, SECOND_SLR]), DESCRIBE],
        ),
        ([grant_statement(SLR_ARN), K_ROOT], SLR_ARN, [K_ROOT, grant_statement(SLR_ARN), DESCRIBE]),
        (
            [K_ROOT, {**DESCRIBE, "Action": "kms:*"}],
            SLR_ARN,
            [K_ROOT, grant_statement(SLR_ARN), DESCRIBE],
        ),
    ],
    ids=["added", "in-place", "second-launcher-joins", "describe-missing", "edited-is-rewritten"],
)
def test_with_prerequisite_adds_or_completes_the_grantors_statements(
    statements: list[dict[str, Any]],
    grantee: str,
    expected: list[dict[str, Any]] | None,
) -> None:
    # Given K's policy, When adding what lets A's member role grant ``grantee``
    policy = {"Version": "2012-10-17", "Statement": statements}
    original = copy.deepcopy(policy)
    found = with_prerequisite(policy, need(grantee))
    # Then the policy has exactly the expected statements (None: nothing to change)
    assert policy == original
    if expected is None:
        assert found is None
        return
    assert found is not None
    after, added = found
    assert after == {"Version": "2012-10-17", "Statement": expected}
    assert added == [s for s in expected if s["Sid"].startswith("KmsLaunchRemediator")]


@pytest.mark.parametrize(
    ("read_back", "problem"),
    [
        ({**K_POLICY, "Statement": [K_ROOT, grant_statement(SLR_ARN), DESCRIBE]}, None),
        (K_POLICY, "are not in place"),
        (
            {"Version": "2012-10-17", "Statement": [K_ROOT, grant_statement(SLR_ARN), DESCRIBE]},
            "did not write",
        ),
        (
            {
                **K_POLICY,
                "Statement": [
                    {**K_ROOT, "Action": "kms:Decrypt"},
                    grant_statement(SLR_ARN),
                    DESCRIBE,
                ],
            },
            "did not write",
        ),
    ],
    ids=["as-written", "not-applied", "id-dropped", "other-statement-changed"],
)
def test_prerequisite_holds_only_when_written_and_nothing_else_changed(
    read_back: dict[str, Any], problem: str | None
) -> None:
    found = prerequisite_holds(K_POLICY, read_back, need())
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def _written() -> dict[str, Any]:
    """K's policy with the grantor's statements as the tool writes them for one launcher."""
    change = with_prerequisite(copy.deepcopy(K_POLICY), need())
    assert change is not None
    return change[0]


def _narrowed(policy: dict[str, Any]) -> None:
    grant = next(s for s in policy["Statement"] if s.get("Sid") == SID_GRANT_FROM + ACCOUNT)
    grant["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"] = ["Decrypt"]


def _deny_under_the_describe_sid(policy: dict[str, Any]) -> None:
    describe = next(s for s in policy["Statement"] if s.get("Sid") == SID_DESCRIBE_FROM + ACCOUNT)
    describe.update(Effect="Deny", Principal="*")


def _other_role(policy: dict[str, Any]) -> None:
    for stmt in policy["Statement"]:
        if str(stmt.get("Sid")).startswith((SID_GRANT_FROM, SID_DESCRIBE_FROM)):
            stmt["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admin"}


def _any_grantee(policy: dict[str, Any]) -> None:
    grant = next(s for s in policy["Statement"] if s.get("Sid") == SID_GRANT_FROM + ACCOUNT)
    grant["Condition"]["StringEquals"]["kms:GranteePrincipal"] = "*"


def _twice(policy: dict[str, Any]) -> None:
    policy["Statement"].append(copy.deepcopy(policy["Statement"][-1]))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (None, None),
        (_narrowed, "is not as the tool wrote it"),
        (_deny_under_the_describe_sid, "is not as the tool wrote it"),
        (_other_role, "is not as the tool wrote it"),
        (_any_grantee, "names grantees the tool never writes (*)"),
        (_twice, "2 statements with the tool's Sid"),
    ],
    ids=[
        "as-written",
        "operations-narrowed",
        "sid-reused-for-a-deny",
        "other-role",
        "grantee-widened-to-any",
        "sid-twice",
    ],
)
def test_cross_account_edited_prerequisite_is_refused_never_rewritten(
    edit: Any, problem: str | None
) -> None:
    # Given K's policy with the grantor's statements, as written or then changed by someone
    policy = _written()
    if edit is not None:
        edit(policy)
    # When a second launcher of the same account would join them
    found = edited_prerequisite(policy, need(SECOND_SLR))
    # Then only the statements exactly as the tool wrote them may be rewritten
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
