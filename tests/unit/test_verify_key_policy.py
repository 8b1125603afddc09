"""verify_key_policy: after PutKeyPolicy, the policy read back must allow the launch and keep
every part the tool did not write exactly as it was (JSON values, not Python equality)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from remediator.arns import principal_from_arn
from remediator.authorization import IdentitySide
from remediator.decision import Facts
from remediator.model import IdentityPolicies, KeyInfo
from remediator.policy import add_principal, parse_policy, render
from remediator.remedies import verify_key_policy

ACCOUNT = "111122223333"
REGION = "eu-west-1"
KEY = KeyInfo(
    f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ACCOUNT,
    REGION,
    "CUSTOMER",
    "Enabled",
)
USER = principal_from_arn(f"arn:aws:iam::{ACCOUNT}:user/ops-alice")
BEFORE_TEXT = """{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "AdminsWithMfa", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": "kms:*",
     "Resource": "*",
     "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600.5},
                   "Bool": {"aws:MultiFactorAuthPresent": true}}}
  ]
}"""


def _facts() -> Facts:
    # A user with no identity policy: the key policy the tool writes is what allows its launch.
    identity = IdentitySide.read(IdentityPolicies(USER.arn))
    return Facts(
        ACCOUNT, REGION, USER, KEY, parse_policy(BEFORE_TEXT), None, True, identity=identity
    )


def _written() -> dict[str, Any]:
    """The policy as the tool writes it, read back as KMS returns it."""
    after = add_principal(_facts().policy or {}, USER, ACCOUNT, REGION).after
    text = render(after)
    assert text is not None
    return parse_policy(text)


def test_verify_key_policy_holds_when_only_tool_statements_were_added() -> None:
    assert verify_key_policy(_facts(), _written()) is None


def _mfa(policy: dict[str, Any]) -> dict[str, Any]:
    stmt: dict[str, Any] = policy["Statement"][1]
    return stmt["Condition"]


@pytest.mark.parametrize(
    "change",
    [
        lambda p: _mfa(p)["NumericLessThan"].update({"aws:MultiFactorAuthAge": Decimal("3600")}),
        lambda p: _mfa(p)["Bool"].update({"aws:MultiFactorAuthPresent": 1}),
        lambda p: p.update({"Version": "2008-10-17"}),
        lambda p: p.pop("Id"),
    ],
    ids=["number-changed", "true-became-1", "version-changed", "id-dropped"],
)
def test_verify_key_policy_notices_a_changed_untouched_part(change: Any) -> None:
    # Given the policy read back after the write, with a part the tool did not write changed
    # in a way Python's == does not see (True == 1) or the old check ignored (Version, Id)
    after = copy.deepcopy(_written())
    change(after)

    # When it is verified, Then the change is reported
    problem = verify_key_policy(_facts(), after)
    assert problem is not None
    assert "did not write" in problem
