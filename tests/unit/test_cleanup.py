"""Cleanup, the pure part: which statements are the tool's own (by Sid and shape), which were
edited by someone else, and the policy without the tool's own."""

from __future__ import annotations

import copy
from typing import Any

from remediator.arns import principal_from_arn
from remediator.cleanup import tool_statements_in, without_tool_statements
from remediator.cross_account import Prerequisite, with_prerequisite
from remediator.policy import GRANT_OPERATIONS, add_principal

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SLR = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
USER = "arn:aws:iam::111122223333:user/ops-alice"
ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ORIGINAL: dict[str, Any] = {"Version": "2012-10-17", "Statement": [ROOT]}


def written(*principals: str) -> dict[str, Any]:
    """The policy after the tool added ``principals`` (as decide() would)."""
    policy = copy.deepcopy(ORIGINAL)
    for arn in principals:
        policy = add_principal(policy, principal_from_arn(arn), "111122223333", "eu-west-1").after
    return policy


def test_cleanup_finds_the_tools_statements_and_their_principals() -> None:
    own, edited = tool_statements_in(written(SLR, USER), KEY)
    assert own == {
        "KmsLaunchRemediatorUse": [SLR],
        "KmsLaunchRemediatorAttach": [SLR, USER],
        "KmsLaunchRemediatorUseViaEc2": [USER],
    }
    assert edited == ()


def test_cleanup_an_edited_tool_statement_is_listed_as_edited_not_as_own() -> None:
    # Given someone widened the tool's attach statement
    policy = written(USER)
    attach = next(s for s in policy["Statement"] if s["Sid"] == "KmsLaunchRemediatorAttach")
    attach["Action"] = ["kms:CreateGrant", "kms:ListGrants"]

    own, edited = tool_statements_in(policy, KEY)

    assert edited == ("KmsLaunchRemediatorAttach",)
    assert set(own) == {"KmsLaunchRemediatorUseViaEc2"}


def test_cleanup_without_tool_statements_restores_the_policy_before_the_tool() -> None:
    assert without_tool_statements(written(SLR, USER), KEY) == ORIGINAL


def test_cleanup_without_tool_statements_keeps_an_edited_one_exactly() -> None:
    # Given an edited tool statement that names a principal the tool also wrote elsewhere
    policy = written(USER)
    attach = next(s for s in policy["Statement"] if s["Sid"] == "KmsLaunchRemediatorAttach")
    attach["Condition"] = {"Bool": {"kms:GrantIsForAWSResource": "false"}}

    after = without_tool_statements(policy, KEY)

    # Then the tool's own statement is gone, the edited one untouched, the rest as it was
    assert after["Statement"] == [ROOT, attach]


def test_cleanup_statement_with_a_tool_sid_and_another_principal_shape_is_edited() -> None:
    policy = written(USER)
    via = next(s for s in policy["Statement"] if s["Sid"] == "KmsLaunchRemediatorUseViaEc2")
    via["Principal"] = {"AWS": [USER], "Service": "ec2.amazonaws.com"}
    assert "KmsLaunchRemediatorUseViaEc2" in tool_statements_in(policy, KEY)[1]


MEMBER_ROLE = "arn:aws:iam::444455556666:role/KmsLaunchRemediatorMember"
MEMBER_SLR = SLR.replace("111122223333", "444455556666")


def with_grantor_statements() -> dict[str, Any]:
    """The policy after organization mode let account 444455556666's member role make a grant
    for its Auto Scaling role (the key owner's half of a cross-account grant)."""
    need = Prerequisite(
        key_account="111122223333",
        grantor_account="444455556666",
        grantor_role=MEMBER_ROLE,
        grantee=MEMBER_SLR,
        operations=GRANT_OPERATIONS,
        dry_run=False,
    )
    result = with_prerequisite(copy.deepcopy(ORIGINAL), need)
    assert result is not None
    return result[0]


def test_cleanup_finds_and_removes_the_key_owner_statements_of_organization_mode() -> None:
    # Given a key policy with the two statements organization mode writes for a member role
    policy = with_grantor_statements()
    # When looking for the tool's own statements
    own, edited = tool_statements_in(policy, KEY)
    # Then both are the tool's, naming the member role, and removing them restores the policy
    assert own == {
        "KmsLaunchRemediatorGrantFrom444455556666": [MEMBER_ROLE],
        "KmsLaunchRemediatorDescribeFrom444455556666": [MEMBER_ROLE],
    }
    assert edited == ()
    assert without_tool_statements(policy, KEY) == ORIGINAL


def test_cleanup_leaves_an_edited_key_owner_statement_alone() -> None:
    # Given the grantor statement widened by hand to any grantee of the account
    policy = with_grantor_statements()
    grant = next(s for s in policy["Statement"] if s["Sid"].startswith("KmsLaunchRemediatorGrant"))
    grant["Condition"]["StringEquals"]["kms:GranteePrincipal"] = "*"
    # When looking for the tool's own statements
    own, edited = tool_statements_in(policy, KEY)
    # Then it is listed as edited and kept; the untouched DescribeKey one is still the tool's
    assert edited == ("KmsLaunchRemediatorGrantFrom444455556666",)
    assert list(own) == ["KmsLaunchRemediatorDescribeFrom444455556666"]
    assert grant in without_tool_statements(policy, KEY)["Statement"]
