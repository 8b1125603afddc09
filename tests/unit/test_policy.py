"""Key policies as plain data: the evaluator for an EC2 launch, the statements the tool writes,
the merge that adds (and removes) a principal, and the 32 KB rendering."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from remediator.access import Access, evaluate
from remediator.arns import Principal, principal_from_arn
from remediator.launch_model import LaunchKind
from remediator.policy import (
    LAUNCH_ACTIONS,
    PolicyError,
    action_matches,
    add_principal,
    non_tool_statements,
    parse_policy,
    remove_principal,
    render,
    same_untouched_parts,
    statements,
    tool_statements,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "eu-west-1"
USER_ARN = "arn:aws:iam::111122223333:user/ops-alice"
AARON_ARN = "arn:aws:iam::111122223333:user/aaron"
SLR_ARN = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
OTHER_ROLE_ARN = "arn:aws:iam::444455556666:role/Launcher"
USER = principal_from_arn(USER_ARN)
AARON = principal_from_arn(AARON_ARN)
SLR = principal_from_arn(SLR_ARN)
OTHER_ROLE = principal_from_arn(OTHER_ROLE_ARN)
OTHER_ROOT = principal_from_arn("arn:aws:iam::444455556666:root")

USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
ROOT_STATEMENT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "kms:*",
    "Resource": "*",
}
DEFAULT_POLICY = {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [ROOT_STATEMENT]}


def use_stmt(*principals: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUse",
        "Effect": "Allow",
        "Principal": {"AWS": list(principals)},
        "Action": USE,
        "Resource": "*",
    }


def use_via_ec2_stmt(*principals: str, region: str = REGION) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUseViaEc2",
        "Effect": "Allow",
        "Principal": {"AWS": list(principals)},
        "Action": USE,
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
    }


def attach_stmt(*principals: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorAttach",
        "Effect": "Allow",
        "Principal": {"AWS": list(principals)},
        "Action": ["kms:CreateGrant"],
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }


def allow(action: object, principal: object = None, condition: object = None) -> dict[str, Any]:
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": USER_ARN} if principal is None else principal,
        "Action": action,
        "Resource": "*",
    }
    if condition is not None:
        stmt["Condition"] = condition
    return stmt


def deny(action: object = "kms:*", **extra: object) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "Guard", "Effect": "Deny", "Action": action, "Resource": "*"}
    stmt.update({"Principal": "*"} if "NotPrincipal" not in extra else {})
    stmt.update(extra)
    return stmt


ALL_LAUNCH = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
]
EBS_DEFAULT_STATEMENT = {
    "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:CreateGrant",
        "kms:DescribeKey",
    ],
    "Resource": "*",
    "Condition": {
        "StringEquals": {
            "kms:CallerAccount": "111122223333",
            "kms:ViaService": "ec2.eu-west-1.amazonaws.com",
        }
    },
}


def ebs_default(account: str = ACCOUNT, via: str = "ec2.eu-west-1.amazonaws.com") -> dict[str, Any]:
    stmt = copy.deepcopy(EBS_DEFAULT_STATEMENT)
    stmt["Condition"]["StringEquals"] = {"kms:CallerAccount": account, "kms:ViaService": via}
    return stmt


# --- evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "principal", "access", "detail"),
    [
        ([ROOT_STATEMENT], USER, Access.UNKNOWN, "delegates kms:CreateGrant to IAM"),
        ([allow(ALL_LAUNCH)], USER, Access.ALLOWED, ""),
        ([allow(ALL_LAUNCH[1:])], USER, Access.NOT_ALLOWED, "no statement allows kms:CreateGrant"),
        ([allow(ALL_LAUNCH[:-1])], USER, Access.NOT_ALLOWED, "no statement allows kms:DescribeKey"),
        (
            [allow(ALL_LAUNCH, {"AWS": [AARON_ARN]})],
            USER,
            Access.NOT_ALLOWED,
            "no statement allows",
        ),
        ([allow(ALL_LAUNCH, {"Service": "ec2.amazonaws.com"})], USER, Access.NOT_ALLOWED, ""),
        ([{**allow(ALL_LAUNCH), "Effect": "allow"}], USER, Access.NOT_ALLOWED, ""),
        ([ROOT_STATEMENT, allow(ALL_LAUNCH)], USER, Access.ALLOWED, ""),
        ([allow(ALL_LAUNCH, "*")], USER, Access.ALLOWED, ""),
        ([allow(ALL_LAUNCH, {"AWS": ["*"]})], USER, Access.ALLOWED, ""),
        ([allow(ALL_LAUNCH, {"AWS": ACCOUNT})], USER, Access.UNKNOWN, "delegates"),
        ([ebs_default()], USER, Access.ALLOWED, ""),
        ([ebs_default()], SLR, Access.ALLOWED, ""),
        ([ebs_default(OTHER)], USER, Access.NOT_ALLOWED, "no statement allows"),
        ([ebs_default()], OTHER_ROLE, Access.NOT_ALLOWED, "no statement allows"),
        (
            [ebs_default(via="ec2.us-east-1.amazonaws.com")],
            USER,
            Access.NOT_ALLOWED,
            "no statement allows",
        ),
        (
            [ebs_default(via="rds.eu-west-1.amazonaws.com")],
            USER,
            Access.NOT_ALLOWED,
            "no statement allows",
        ),
        (
            [allow(ALL_LAUNCH, condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})],
            USER,
            Access.UNKNOWN,
            "conditions this tool cannot evaluate",
        ),
        (
            [allow(ALL_LAUNCH, condition={"NumericLessThan": {"kms:CallerAccount": "5"}})],
            USER,
            Access.UNKNOWN,
            "cannot evaluate",
        ),
        (
            [allow(ALL_LAUNCH, condition={"StringEquals": {"kms:CallerAccount": 111122223333}})],
            USER,
            Access.UNKNOWN,
            "cannot evaluate",
        ),
        ([allow(ALL_LAUNCH, condition="not-a-map")], USER, Access.UNKNOWN, "cannot evaluate"),
        (
            [
                allow(
                    ALL_LAUNCH,
                    condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops-*"}},
                )
            ],
            USER,
            Access.ALLOWED,
            "",
        ),
        (
            [
                allow(
                    ALL_LAUNCH, condition={"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
                )
            ],
            USER,
            Access.ALLOWED,
            "",
        ),
        (
            [
                allow(
                    ALL_LAUNCH,
                    condition={
                        "ForAnyValue:StringEquals": {
                            "KMS:VIASERVICE": ["ec2.eu-west-1.amazonaws.com"]
                        }
                    },
                )
            ],
            USER,
            Access.ALLOWED,
            "",
        ),
        (
            [ROOT_STATEMENT],
            principal_from_arn("arn:aws:iam::111122223333:root"),
            Access.ALLOWED,
            "",
        ),
        ([ROOT_STATEMENT], OTHER_ROLE, Access.NOT_ALLOWED, "no statement allows"),
    ],
    ids=[
        "default-root-only-delegates-to-iam",
        "direct-allow-all-launch-actions",
        "allow-missing-create-grant",
        "allow-missing-describe-key",
        "allow-names-someone-else",
        "allow-names-a-service",
        "effect-lower-case-is-not-allow",
        "root-plus-direct-allow",
        "principal-star-string",
        "principal-aws-star-list",
        "principal-bare-account-id",
        "ebs-default-shape",
        "ebs-default-shape-slr",
        "ebs-default-shape-other-caller-account",
        "ebs-default-shape-principal-of-other-account",
        "ebs-default-shape-other-region",
        "ebs-default-shape-other-service",
        "allow-unknown-condition-key",
        "allow-unknown-operator",
        "allow-non-string-condition-value",
        "allow-condition-not-a-map",
        "arn-like-principal-arn",
        "string-like-via-service",
        "for-any-value-and-upper-case-key",
        "root-principal-itself",
        "other-account-principal-root-statement",
    ],
)
def test_policy_evaluate_launch(
    items: list[dict[str, Any]], principal: Principal, access: Access, detail: str
) -> None:
    verdict = evaluate({"Statement": items}, principal, LAUNCH_ACTIONS, REGION)
    assert verdict.access is access
    assert detail in verdict.detail


@pytest.mark.parametrize(
    ("guard", "access", "detail"),
    [
        (deny(), Access.DENIED, "Deny statement 'Guard' applies to kms:CreateGrant"),
        (deny("kms:Decrypt"), Access.DENIED, "Deny statement 'Guard' applies to kms:Decrypt"),
        (
            deny(NotPrincipal={"AWS": "arn:aws:iam::111122223333:role/Admin"}),
            Access.DENIED,
            "applies to kms:CreateGrant",
        ),
        # The IAM NotPrincipal page: list the user and its account, or AWS may deny the account
        # (and so the user) first; with only the account listed, the user is still denied.
        (deny(NotPrincipal={"AWS": [USER_ARN]}), Access.DENIED, "may apply"),
        (
            deny(NotPrincipal={"AWS": [USER_ARN, f"arn:aws:iam::{ACCOUNT}:root"]}),
            Access.ALLOWED,
            "",
        ),
        (deny(NotPrincipal={"AWS": [USER_ARN, ACCOUNT]}), Access.ALLOWED, ""),
        (deny(NotPrincipal={"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}), Access.DENIED, "applies"),
        (
            deny(Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}}),
            Access.DENIED,
            "Deny statement 'Guard' may apply to kms:CreateGrant",
        ),
        (
            deny(Condition={"StringEquals": {"aws:PrincipalTag/team": "ops"}}),
            Access.DENIED,
            "may apply",
        ),
        (deny(Principal={"AWS": AARON_ARN}), Access.ALLOWED, ""),
        (deny(Principal={"AWS": "arn:aws:iam::111122223333:root"}), Access.DENIED, "Guard"),
        (deny("kms:ScheduleKeyDeletion"), Access.ALLOWED, ""),
        (deny(Condition={"Bool": {"kms:GrantIsForAWSResource": "false"}}), Access.ALLOWED, ""),
        (
            deny(Condition={"StringNotEquals": {"kms:CallerAccount": OTHER}}),
            Access.DENIED,
            "applies",
        ),
        (deny(Condition={"StringNotEquals": {"kms:CallerAccount": ACCOUNT}}), Access.ALLOWED, ""),
        (deny(NotAction=["kms:CreateGrant"]), Access.DENIED, "applies to kms:Decrypt"),
        # Keys the launch's request carries, so a Deny on them is decided, not "may apply":
        # EBS calls KMS in a forward access session (aws:ViaAWSService true,
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html),
        # and its grant asks for Decrypt only (kms:GrantOperations, ct-ec2two)
        (deny(Condition={"Bool": {"aws:ViaAWSService": "false"}}), Access.ALLOWED, ""),
        (
            deny(Condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Encrypt"]}}),
            Access.ALLOWED,
            "",
        ),
    ],
    ids=[
        "plain-deny",
        "deny-one-launch-action",
        "not-principal-someone-else",
        "not-principal-names-only-the-user",
        "not-principal-names-the-user-and-its-account",
        "not-principal-names-the-user-and-its-account-id",
        "not-principal-names-only-the-account-root",
        "unknown-condition-key-may-apply",
        "principal-tag-may-apply",
        "deny-for-someone-else",
        "deny-for-the-account",
        "deny-unrelated-action",
        "deny-condition-false-at-launch",
        "deny-unless-caller-is-other-account",
        "deny-unless-caller-is-this-account",
        "deny-not-action",
        "deny-outside-aws-services-is-not-an-ebs-call",
        "deny-of-other-grant-operations-is-not-ebs-grant",
    ],
)
def test_policy_evaluate_explicit_deny_beats_allow(
    guard: dict[str, Any], access: Access, detail: str
) -> None:
    # Given a policy that allows every launch action directly, plus a Deny
    policy = {"Statement": [allow(ALL_LAUNCH), guard]}
    # When evaluated for the user
    verdict = evaluate(policy, USER, LAUNCH_ACTIONS, REGION)
    # Then the Deny decides when it (may) apply
    assert verdict.access is access
    assert detail in verdict.detail


@pytest.mark.parametrize(
    ("action", "condition", "access"),
    [
        # kms:GrantIsForAWSResource is absent from a Decrypt request
        ("kms:Decrypt", {"StringNotEquals": {"kms:GrantIsForAWSResource": "true"}}, Access.ALLOWED),
        (
            "kms:Decrypt",
            {"StringEquals": {"kms:GrantIsForAWSResource": "true"}},
            Access.NOT_ALLOWED,
        ),
        ("kms:Decrypt", {"Bool": {"kms:GrantIsForAWSResource": "true"}}, Access.NOT_ALLOWED),
        (
            "kms:Decrypt",
            {"StringEqualsIfExists": {"kms:GrantIsForAWSResource": "true"}},
            Access.ALLOWED,
        ),
        ("kms:Decrypt", {"Null": {"kms:GrantIsForAWSResource": "true"}}, Access.ALLOWED),
        ("kms:Decrypt", {"Null": {"kms:GrantIsForAWSResource": "false"}}, Access.NOT_ALLOWED),
        # ...and present (true) for CreateGrant
        ("kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": "true"}}, Access.ALLOWED),
        ("kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": True}}, Access.ALLOWED),
        ("kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": "TRUE"}}, Access.ALLOWED),
        ("kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": "false"}}, Access.NOT_ALLOWED),
        (
            "kms:CreateGrant",
            {"StringNotEquals": {"kms:GrantIsForAWSResource": "true"}},
            Access.NOT_ALLOWED,
        ),
        ("kms:CreateGrant", {"Null": {"kms:GrantIsForAWSResource": "false"}}, Access.ALLOWED),
        # an absent key the tool cannot know stays undecided
        ("kms:Decrypt", {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}, Access.UNKNOWN),
        ("kms:Decrypt", {"Null": {"aws:SourceVpce": "true"}}, Access.UNKNOWN),
        # value comparisons
        (
            "kms:Decrypt",
            {"StringEquals": {"kms:ViaService": "EC2.eu-west-1.amazonaws.com"}},
            Access.NOT_ALLOWED,
        ),
        (
            "kms:Decrypt",
            {"StringEqualsIgnoreCase": {"kms:ViaService": "EC2.eu-west-1.amazonaws.com"}},
            Access.ALLOWED,
        ),
        (
            "kms:Decrypt",
            {
                "StringEquals": {
                    "kms:ViaService": ["rds.eu-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]
                }
            },
            Access.ALLOWED,
        ),
        (
            "kms:Decrypt",
            {
                "StringNotEquals": {
                    "kms:ViaService": ["rds.eu-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]
                }
            },
            Access.NOT_ALLOWED,
        ),
        (
            "kms:Decrypt",
            {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
            Access.ALLOWED,
        ),
        (
            "kms:Decrypt",
            {
                "StringEquals": {"kms:CallerAccount": ACCOUNT},
                "ArnEquals": {"aws:PrincipalArn": AARON_ARN},
            },
            Access.NOT_ALLOWED,
        ),
        # IAM wildcards, not fnmatch: ArnLike matches each of the six ARN components, so a
        # pattern of fewer never matches; no character classes
        ("kms:Decrypt", {"ArnLike": {"aws:PrincipalArn": "arn:aws:*"}}, Access.NOT_ALLOWED),
        (
            "kms:Decrypt",
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333*"}},
            Access.NOT_ALLOWED,
        ),
        (
            "kms:Decrypt",
            {"StringLike": {"kms:ViaService": "ec2.[e]u-west-1.amazonaws.com"}},
            Access.NOT_ALLOWED,
        ),
    ],
    ids=[
        "string-not-equals-on-absent-grant-key",
        "string-equals-on-absent-grant-key",
        "bool-on-absent-grant-key",
        "if-exists-on-absent-grant-key",
        "null-true-on-absent-key",
        "null-false-on-absent-key",
        "bool-true-on-create-grant",
        "bool-json-true-on-create-grant",
        "bool-upper-case-value",
        "bool-false-on-create-grant",
        "string-not-equals-on-present-key",
        "null-false-on-present-key",
        "string-not-equals-on-unknown-absent-key",
        "null-on-unknown-absent-key",
        "string-equals-is-case-sensitive",
        "string-equals-ignore-case",
        "any-of-several-values",
        "not-equals-none-of-several-values",
        "arn-not-like",
        "all-operators-must-hold",
        "arn-like-pattern-of-three-components",
        "arn-like-star-does-not-cross-a-colon",
        "string-like-has-no-character-classes",
    ],
)
def test_policy_evaluate_condition_operators(
    action: str, condition: dict[str, Any], access: Access
) -> None:
    policy = {"Statement": [allow(action, condition=condition)]}
    assert evaluate(policy, USER, [action], REGION).access is access


@pytest.mark.parametrize(
    ("action", "access"),
    [
        ("kms:*", Access.ALLOWED),
        ("KMS:*", Access.ALLOWED),
        ("*", Access.ALLOWED),
        (
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            Access.ALLOWED,
        ),
        (
            [
                "KMS:creategrant",
                "kms:DECRYPT",
                "kms:reencrypt*",
                "Kms:GenerateDataKey*",
                "kms:describekey",
            ],
            Access.ALLOWED,
        ),
        (
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:ReEncrypt",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            Access.NOT_ALLOWED,
        ),
        (
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
            ],
            Access.NOT_ALLOWED,
        ),
        (
            [
                "kms:Create*",
                "kms:Decrypt",
                "kms:ReEncrypt?????",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            Access.NOT_ALLOWED,
        ),
        (
            [
                "kms:Create*",
                "kms:Decrypt",
                "kms:ReEncrypt??*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            Access.ALLOWED,
        ),
        ("ec2:*", Access.NOT_ALLOWED),
    ],
    ids=[
        "kms-star",
        "upper-kms-star",
        "star",
        "seed-use-actions-and-create-grant",
        "mixed-case",
        "reencrypt-without-star",
        "generate-data-key-without-star",
        "question-marks-too-long",
        "question-marks-and-star",
        "other-service",
    ],
)
def test_policy_evaluate_action_globs_case_insensitive(action: object, access: Access) -> None:
    assert evaluate({"Statement": [allow(action)]}, USER, LAUNCH_ACTIONS, REGION).access is access


def test_policy_evaluate_not_action_allows_what_it_does_not_name() -> None:
    stmt = {
        "Effect": "Allow",
        "Principal": {"AWS": USER_ARN},
        "NotAction": "kms:PutKeyPolicy",
        "Resource": "*",
    }
    assert evaluate({"Statement": [stmt]}, USER, LAUNCH_ACTIONS, REGION).access is Access.ALLOWED
    stmt["NotAction"] = ["kms:PutKeyPolicy", "kms:Decrypt"]
    verdict = evaluate({"Statement": [stmt]}, USER, LAUNCH_ACTIONS, REGION)
    assert (verdict.access, verdict.detail) == (
        Access.NOT_ALLOWED,
        "no statement allows kms:Decrypt",
    )


def test_policy_evaluate_not_allowed_outranks_unknown() -> None:
    # Given CreateGrant delegated to IAM (unknown) and Decrypt allowed to nobody
    policy = {"Statement": [allow("kms:CreateGrant", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"})]}
    verdict = evaluate(policy, USER, ["kms:CreateGrant", "kms:Decrypt"], REGION)
    assert verdict.access is Access.NOT_ALLOWED
    assert verdict.detail == "no statement allows kms:Decrypt"


def test_policy_evaluate_accepts_single_statement_object() -> None:
    assert (
        evaluate({"Statement": allow(ALL_LAUNCH)}, USER, LAUNCH_ACTIONS, REGION).access
        is Access.ALLOWED
    )


def test_policy_evaluate_rejects_non_object_statement() -> None:
    with pytest.raises(PolicyError, match="not an object"):
        evaluate({"Statement": [ROOT_STATEMENT, "Allow"]}, USER, LAUNCH_ACTIONS, REGION)


@pytest.mark.parametrize(
    ("principal", "key_account"),
    [(USER, ACCOUNT), (SLR, ACCOUNT), (OTHER_ROLE, ACCOUNT), (SLR, OTHER), (OTHER_ROOT, ACCOUNT)],
    ids=[
        "same-account-user",
        "same-account-slr",
        "other-account-role",
        "slr-of-other-account",
        "other-root",
    ],
)
def test_policy_tool_statements_make_launch_allowed(principal: Principal, key_account: str) -> None:
    # Given a policy that delegates to IAM only
    assert evaluate(DEFAULT_POLICY, principal, LAUNCH_ACTIONS, REGION).access is not Access.ALLOWED
    # When the tool's statements for this principal are added
    policy = {"Statement": [ROOT_STATEMENT, *tool_statements(principal, key_account, REGION)]}
    # Then the launch is allowed
    assert evaluate(policy, principal, LAUNCH_ACTIONS, REGION).access is Access.ALLOWED


def test_policy_tool_statements_do_not_allow_another_principal() -> None:
    policy = {"Statement": tool_statements(USER, ACCOUNT, REGION)}
    assert evaluate(policy, AARON, LAUNCH_ACTIONS, REGION).access is Access.NOT_ALLOWED


def test_policy_tool_statements_via_ec2_do_not_allow_another_region() -> None:
    policy = {"Statement": tool_statements(USER, ACCOUNT, "us-east-1")}
    assert evaluate(policy, USER, LAUNCH_ACTIONS, REGION).access is Access.NOT_ALLOWED


@pytest.mark.parametrize(
    ("principal", "key_account", "expected"),
    [
        (SLR, ACCOUNT, [use_stmt(SLR_ARN), attach_stmt(SLR_ARN)]),
        (SLR, OTHER, [use_via_ec2_stmt(SLR_ARN), attach_stmt(SLR_ARN)]),
        (USER, ACCOUNT, [use_via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)]),
        (OTHER_ROLE, ACCOUNT, [use_via_ec2_stmt(OTHER_ROLE_ARN), attach_stmt(OTHER_ROLE_ARN)]),
    ],
    ids=["slr-own-account", "slr-of-other-account", "user", "other-account-role"],
)
def test_policy_tool_statements_shape(
    principal: Principal, key_account: str, expected: list[dict[str, Any]]
) -> None:
    assert tool_statements(principal, key_account, REGION) == expected


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "no Statement list"),
        ('{"Version": "2012-10-17"}', "no Statement list"),
        ('{"Statement": "Allow"}', "no Statement list"),
        ('{"Statement": null}', "no Statement list"),
    ],
    ids=["truncated", "list", "no-statement", "statement-string", "statement-null"],
)
def test_policy_parse_policy_rejects(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_policy_parse_policy_reads_default_policy() -> None:
    assert parse_policy(json.dumps(DEFAULT_POLICY)) == DEFAULT_POLICY


def test_policy_statements_wraps_single_object() -> None:
    assert statements({"Statement": ROOT_STATEMENT}) == [ROOT_STATEMENT]
    assert statements({}) == []


# --- add_principal -------------------------------------------------------------------------


def test_policy_add_principal_adds_exactly_two_statements() -> None:
    original = copy.deepcopy(DEFAULT_POLICY)
    change = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION)
    assert change.after == {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [ROOT_STATEMENT, use_via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
    }
    assert change.changed_sids == ("KmsLaunchRemediatorUseViaEc2", "KmsLaunchRemediatorAttach")
    assert change.is_noop is False
    assert change.before == original
    assert original == DEFAULT_POLICY  # the input is not mutated


def test_policy_add_principal_slr_gets_unrestricted_use() -> None:
    change = add_principal(DEFAULT_POLICY, SLR, ACCOUNT, REGION)
    assert change.after["Statement"] == [ROOT_STATEMENT, use_stmt(SLR_ARN), attach_stmt(SLR_ARN)]
    assert change.changed_sids == ("KmsLaunchRemediatorUse", "KmsLaunchRemediatorAttach")


def test_policy_add_second_principal_extends_sorted_lists() -> None:
    # Given ops-alice already added
    first = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION).after
    # When aaron (who sorts first) is added
    change = add_principal(first, AARON, ACCOUNT, REGION)
    # Then the same two statements name both, sorted, and nothing is appended
    assert change.after["Statement"] == [
        ROOT_STATEMENT,
        use_via_ec2_stmt(AARON_ARN, USER_ARN),
        attach_stmt(AARON_ARN, USER_ARN),
    ]
    assert change.changed_sids == ("KmsLaunchRemediatorUseViaEc2", "KmsLaunchRemediatorAttach")


def test_policy_add_user_after_slr_shares_attach_statement() -> None:
    with_slr = add_principal(DEFAULT_POLICY, SLR, ACCOUNT, REGION).after
    change = add_principal(with_slr, USER, ACCOUNT, REGION)
    assert change.after["Statement"] == [
        ROOT_STATEMENT,
        use_stmt(SLR_ARN),
        attach_stmt(SLR_ARN, USER_ARN),
        use_via_ec2_stmt(USER_ARN),
    ]
    assert change.changed_sids == ("KmsLaunchRemediatorUseViaEc2", "KmsLaunchRemediatorAttach")


def test_policy_add_same_principal_again_is_noop() -> None:
    once = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION).after
    again = add_principal(once, USER, ACCOUNT, REGION)
    assert again.is_noop is True
    assert again.changed_sids == ()
    assert again.after == once


def test_policy_add_principal_accepts_single_string_principal_in_tool_statement() -> None:
    # Given tool statements whose Principal.AWS is a plain string (as a human may rewrite it)
    use, attach = use_via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)
    use["Principal"] = {"AWS": USER_ARN}
    attach["Principal"] = {"AWS": USER_ARN}
    policy = {"Statement": [ROOT_STATEMENT, use, attach]}
    assert add_principal(policy, USER, ACCOUNT, REGION).is_noop is True
    change = add_principal(policy, AARON, ACCOUNT, REGION)
    assert change.after["Statement"][1]["Principal"] == {"AWS": [AARON_ARN, USER_ARN]}


def test_policy_add_principal_keeps_other_statements_in_order() -> None:
    others = [
        ROOT_STATEMENT,
        deny("kms:ScheduleKeyDeletion", Sid="NoDelete"),
        {
            "Sid": "Admins",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:role/Admin"]},
            "Action": ["kms:Create*", "kms:Describe*"],
            "Resource": "*",
        },
        ebs_default(),
        {
            "Effect": "Allow",
            "Principal": {"AWS": USER_ARN},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"Null": {"x": "y"}},
        },
    ]
    policy = {"Version": "2012-10-17", "Id": "custom", "Statement": copy.deepcopy(others)}
    change = add_principal(policy, USER, ACCOUNT, REGION)
    assert change.after["Statement"][: len(others)] == others
    assert [s["Sid"] for s in change.after["Statement"][len(others) :]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert non_tool_statements(change.after) == others
    assert (change.after["Version"], change.after["Id"]) == ("2012-10-17", "custom")


def test_policy_add_principal_handles_single_dict_statement() -> None:
    policy = {"Version": "2012-10-17", "Statement": ROOT_STATEMENT}
    change = add_principal(policy, USER, ACCOUNT, REGION)
    assert change.after["Statement"] == [
        ROOT_STATEMENT,
        use_via_ec2_stmt(USER_ARN),
        attach_stmt(USER_ARN),
    ]
    assert change.before == {"Version": "2012-10-17", "Statement": ROOT_STATEMENT}


def _altered(stmt: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**stmt, **fields}


@pytest.mark.parametrize(
    ("tool_statement", "message"),
    [
        (_altered(attach_stmt(USER_ARN), Action=["kms:*"]), "changed by someone else"),
        (_altered(attach_stmt(USER_ARN), Condition={}), "changed by someone else"),
        (_altered(use_via_ec2_stmt(USER_ARN), Effect="Deny"), "changed by someone else"),
        (use_via_ec2_stmt(USER_ARN, region="us-east-1"), "changed by someone else"),
        (_altered(use_via_ec2_stmt(USER_ARN), Resource=["*"]), "changed by someone else"),
        (_altered(attach_stmt(USER_ARN), Extra=1), "changed by someone else"),
        (_altered(attach_stmt(USER_ARN), Principal="*"), "Principal this tool did not write"),
        (
            _altered(attach_stmt(USER_ARN), Principal={"AWS": "*"}),
            "Principal this tool did not write",
        ),
        (
            _altered(attach_stmt(), Principal={"AWS": ["arn:aws:iam::1:role/*"]}),
            "Principal this tool did not write",
        ),
        (
            _altered(
                attach_stmt(USER_ARN), Principal={"AWS": [USER_ARN], "Service": "ec2.amazonaws.com"}
            ),
            "Principal this tool did not write",
        ),
        (
            _altered(attach_stmt(USER_ARN), Principal={"AWS": [5]}),
            "Principal this tool did not write",
        ),
    ],
    ids=[
        "action-widened",
        "condition-removed",
        "effect-flipped",
        "other-region-condition",
        "resource-list",
        "extra-field",
        "principal-star",
        "principal-aws-star",
        "principal-wildcard-arn",
        "principal-extra-service",
        "principal-non-string",
    ],
)
def test_policy_add_principal_refuses_altered_tool_statement(
    tool_statement: dict[str, Any], message: str
) -> None:
    # Given a statement that carries the tool's Sid but not its content
    policy = {"Statement": [ROOT_STATEMENT, tool_statement]}
    before = copy.deepcopy(policy)
    # When the tool would add a principal, it raises and leaves the policy alone
    with pytest.raises(PolicyError, match=message):
        add_principal(policy, USER, ACCOUNT, REGION)
    assert policy == before


def test_policy_add_principal_refuses_duplicate_tool_sids() -> None:
    policy = {"Statement": [ROOT_STATEMENT, attach_stmt(USER_ARN), attach_stmt(AARON_ARN)]}
    with pytest.raises(PolicyError, match="2 statements with Sid 'KmsLaunchRemediatorAttach'"):
        add_principal(policy, USER, ACCOUNT, REGION)


def test_policy_add_principal_refuses_non_object_statement() -> None:
    with pytest.raises(PolicyError, match="not an object"):
        add_principal({"Statement": [ROOT_STATEMENT, ["x"]]}, USER, ACCOUNT, REGION)


# --- remove_principal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal", [USER, SLR, OTHER_ROLE], ids=["user", "slr", "other-account-role"]
)
def test_policy_remove_principal_undoes_add_exactly(principal: Principal) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [ROOT_STATEMENT, ebs_default(), deny("kms:Disable*")],
    }
    added = add_principal(policy, principal, ACCOUNT, REGION).after
    restored = remove_principal(added, principal.arn)
    assert json.dumps(restored, sort_keys=True) == json.dumps(policy, sort_keys=True)
    assert restored == policy


def test_policy_remove_one_of_two_principals_keeps_the_other() -> None:
    one = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION).after
    two = add_principal(one, AARON, ACCOUNT, REGION).after
    assert remove_principal(two, AARON_ARN) == one


def test_policy_remove_absent_principal_changes_nothing() -> None:
    one = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION).after
    assert remove_principal(one, AARON_ARN) == one


def test_policy_remove_principal_leaves_non_tool_statements_naming_it() -> None:
    policy = {"Statement": [allow(ALL_LAUNCH, {"AWS": [USER_ARN]})]}
    assert remove_principal(policy, USER_ARN) == policy


def test_policy_remove_principal_undoes_add_on_single_dict_statement() -> None:
    # Given a policy whose Statement is a single object, not a list: the policy grammar's other
    # spelling of a one-statement list, which IAM and KMS read the same way
    policy = {"Version": "2012-10-17", "Statement": ROOT_STATEMENT}

    # When the tool's statements are added and then removed again
    added = add_principal(policy, USER, ACCOUNT, REGION).after
    restored = remove_principal(added, USER_ARN)

    # Then the policy says exactly what it said: the same statements and the same other fields;
    # only the one-statement spelling becomes the list one (rollback, which restores the
    # recorded text, gives back the original spelling too)
    assert statements(restored) == statements(policy) == [ROOT_STATEMENT]
    assert {k: v for k, v in restored.items() if k != "Statement"} == {"Version": "2012-10-17"}
    assert restored["Statement"] == [ROOT_STATEMENT]


# --- render --------------------------------------------------------------------------------


def _policy_with_compact_size(size: int) -> dict[str, Any]:
    empty = json.dumps({"Statement": [{"Sid": ""}]}, separators=(",", ":"))
    return {"Statement": [{"Sid": "x" * (size - len(empty))}]}


def test_policy_render_small_policy_is_indented() -> None:
    text = render(DEFAULT_POLICY)
    assert text is not None
    assert text.startswith('{\n  "Version": "2012-10-17",\n')
    assert json.loads(text) == DEFAULT_POLICY


def test_policy_render_compact_when_only_compact_fits() -> None:
    # Given many statements: indentation costs more than the slack below 32 KB
    policy = {"Statement": [deny(f"kms:Action{i:04d}", Sid=f"S{i:04d}") for i in range(300)]}
    indented = json.dumps(policy, indent=2)
    compact = json.dumps(policy, separators=(",", ":"))
    assert len(indented.encode()) > 32768 >= len(compact.encode())
    text = render(policy)
    assert text == compact
    assert "\n" not in text


@pytest.mark.parametrize(
    ("size", "fits"),
    [(32768, True), (32769, False), (40000, False)],
    ids=["exactly-32-KiB", "one-byte-over", "far-over"],
)
def test_policy_render_limit_is_32_kib(size: int, fits: bool) -> None:
    policy = _policy_with_compact_size(size)
    text = render(policy)
    if fits:
        assert text is not None
        assert len(text.encode()) == 32768
    else:
        assert text is None


# --- partitions ----------------------------------------------------------------------------

CN_USER = principal_from_arn("arn:aws-cn:iam::111122223333:user/li")


def test_policy_evaluate_deny_on_account_root_applies_in_other_partitions() -> None:
    policy = {
        "Statement": [
            allow("kms:*", {"AWS": "arn:aws-cn:iam::111122223333:user/li"}),
            deny("kms:CreateGrant", Principal={"AWS": "arn:aws-cn:iam::111122223333:root"}),
        ]
    }
    assert evaluate(policy, CN_USER, LAUNCH_ACTIONS, "cn-north-1").access is Access.DENIED


def test_policy_evaluate_root_statement_delegates_in_other_partitions() -> None:
    root = {**ROOT_STATEMENT, "Principal": {"AWS": "arn:aws-cn:iam::111122223333:root"}}
    assert (
        evaluate({"Statement": [root]}, CN_USER, LAUNCH_ACTIONS, "cn-north-1").access
        is Access.UNKNOWN
    )


# --- statements per launch kind, and partitions ----------------------------------------------


def test_policy_tool_statements_for_start_instances_are_create_grant_for_aws_resources_only() -> (
    None
):
    # StartInstances of an instance whose volumes exist needs only kms:CreateGrant with
    # kms:GrantIsForAWSResource (https://repost.aws/knowledge-center/kms-iam-ec2-permission)
    assert tool_statements(USER, ACCOUNT, REGION, LaunchKind.START_INSTANCES) == [
        attach_stmt(USER_ARN)
    ]


def test_policy_tool_statements_via_ec2_in_the_china_partition() -> None:
    [use, _] = tool_statements(CN_USER, ACCOUNT, "cn-north-1")
    assert use["Condition"] == {
        "StringEquals": {"kms:ViaService": "ec2.cn-north-1.amazonaws.com.cn"}
    }


def test_policy_add_principal_for_start_then_run_extends_to_the_use_statement() -> None:
    # Given a user fixed for StartInstances, When it later fails a RunInstances
    started = add_principal(DEFAULT_POLICY, USER, ACCOUNT, REGION, LaunchKind.START_INSTANCES)
    run = add_principal(started.after, USER, ACCOUNT, REGION)
    # Then the use statement is added and the attach statement is not duplicated
    assert run.changed_sids == ("KmsLaunchRemediatorUseViaEc2",)
    assert [s["Sid"] for s in run.after["Statement"]] == [
        "Enable IAM User Permissions",
        "KmsLaunchRemediatorAttach",
        "KmsLaunchRemediatorUseViaEc2",
    ]


def test_policy_action_matches_has_no_character_classes() -> None:
    # IAM's Action wildcards are * and ? only: "[" is an ordinary character
    assert not action_matches({"Action": "kms:[CD]*"}, "kms:Decrypt")
    assert action_matches({"Action": "kms:[CD]*"}, "kms:[CD]ecrypt")


# --- which service-linked roles get the unconditioned statement ----------------------------

LAUNCHER_SLRS = [
    "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web",
    "spot.amazonaws.com/AWSServiceRoleForEC2Spot",
    "spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet",
    "ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet",
]
OTHER_ROLES = [
    "aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk",
    "aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
    "aws-service-role/AdminRole",
    "aws-service-role/autoscaling.amazonaws.com/nested/AdminRole",
    "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
]


@pytest.mark.parametrize("path", LAUNCHER_SLRS)
def test_policy_tool_statements_unconditioned_for_launching_services_slr(path: str) -> None:
    # Given the service-linked role of a service that launches instances, in the key's account
    arn = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{path}"
    # When the tool's statements are made, Then it gets the seeds' unconditioned use statement
    assert tool_statements(principal_from_arn(arn), ACCOUNT, REGION) == [
        use_stmt(arn),
        attach_stmt(arn),
    ]


@pytest.mark.parametrize("path", OTHER_ROLES)
def test_policy_tool_statements_via_ec2_for_other_roles_under_service_paths(path: str) -> None:
    # Given another service's service-linked role, or a role at a path that is no
    # service-linked role's (a name beside or below a service path)
    arn = f"arn:aws:iam::{ACCOUNT}:role/{path}"
    # When the tool's statements are made, Then the use actions are allowed only through EC2
    assert tool_statements(principal_from_arn(arn), ACCOUNT, REGION) == [
        use_via_ec2_stmt(arn),
        attach_stmt(arn),
    ]


# --- strict parsing: what the tool refuses to read, and so never writes --------------------

DENY_ALL = {
    "Sid": "DenyAll",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "kms:*",
    "Resource": "*",
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"Version": "2012-10-17", "Statement": ['
            + json.dumps(DENY_ALL)
            + '], "Statement": ['
            + json.dumps(ROOT_STATEMENT)
            + "]}",
            "key policy repeats the name 'Statement'",
        ),
        (
            '{"Statement": [{"Sid": "NoAlice", "Effect": "Deny", "Principal": {"AWS": "'
            + USER_ARN
            + '"}, "Action": "kms:*", "Resource": "*", "Effect": "Allow"}]}',
            "key policy repeats the name 'Effect'",
        ),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", '
            '"Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": '
            "1e400}}}]}",
            "key policy has the number 1E[+]400, which is infinite as a double",
        ),
        ('{"Statement": [], "Id": NaN}', "key policy has NaN"),
        ('{"Statement": [], "Id": -Infinity}', "key policy has -Infinity"),
    ],
    ids=["duplicate-statement-hides-deny", "duplicate-effect", "1e400", "nan", "minus-infinity"],
)
def test_policy_parse_policy_refuses_text_kms_may_read_otherwise(text: str, message: str) -> None:
    # Given policy text that Python's json would read one way (the last duplicate wins, 1e400
    # is infinity) and KMS possibly another
    # When it is parsed, Then it is refused with the reason
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_policy_render_writes_numbers_as_they_were_read() -> None:
    # Given a policy whose conditions hold numbers a double would reformat or round
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Sid": "Mfa", "Effect": "Allow", '
        '"Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": "kms:*", '
        '"Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 1.10, '
        '"aws:EpochTime": 0.1000000000000000000001}}}]}'
    )
    # When the tool adds its statements and renders the result
    rendered = render(add_principal(parse_policy(text), USER, ACCOUNT, REGION).after)
    # Then the numbers are written digit for digit
    assert rendered is not None
    assert '"aws:MultiFactorAuthAge": 1.10,' in rendered
    assert '"aws:EpochTime": 0.1000000000000000000001' in rendered


@pytest.mark.parametrize(
    "value", [float("inf"), float("nan"), Decimal("Infinity"), Decimal("1e400")]
)
def test_policy_render_never_writes_a_non_finite_number(value: Any) -> None:
    # Given a policy holding a number that would be written as Infinity or NaN (as a policy
    # read by Python's json from "1e400" does)
    policy = {"Statement": [{**ROOT_STATEMENT, "Condition": {"NumericLessThan": {"k": value}}}]}
    # When it is rendered, Then it is refused: no text that is not JSON is ever made
    with pytest.raises(PolicyError, match="key policy has the number"):
        render(policy)


# --- the untouched check after a write -----------------------------------------------------

MFA_STATEMENT = {
    "Sid": "Mfa",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
    "Action": "kms:*",
    "Resource": "*",
    "Condition": {
        "NumericLessThan": {"aws:MultiFactorAuthAge": Decimal("1.10")},
        "Bool": {"aws:SecureTransport": True},
    },
}


def _changed_mfa(**condition: Any) -> dict[str, Any]:
    stmt = copy.deepcopy(MFA_STATEMENT)
    for operator, clause in condition.items():
        stmt["Condition"][operator] = clause
    return stmt


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        ([MFA_STATEMENT], [MFA_STATEMENT, attach_stmt(USER_ARN)], True),
        (
            [MFA_STATEMENT],
            [_changed_mfa(NumericLessThan={"aws:MultiFactorAuthAge": Decimal("1.1")})],
            True,
        ),
        (
            [MFA_STATEMENT],
            [_changed_mfa(NumericLessThan={"aws:MultiFactorAuthAge": Decimal("1.2")})],
            False,
        ),
        ([MFA_STATEMENT], [_changed_mfa(Bool={"aws:SecureTransport": 1})], False),
        ([MFA_STATEMENT, ROOT_STATEMENT], [ROOT_STATEMENT, MFA_STATEMENT], False),
    ],
    ids=[
        "tool-statement-added",
        "same-number-other-digits",
        "changed-number",
        "true-became-1",
        "statements-reordered",
    ],
)
def test_policy_same_untouched_parts_compares_exactly(
    before: list[dict[str, Any]], after: list[dict[str, Any]], same: bool
) -> None:
    # Given the policy before the write and the one read back after it
    # When the parts the tool does not write are compared
    # Then only a change of JSON value counts (True == 1 in Python, not in JSON)
    assert same_untouched_parts({"Statement": before}, {"Statement": after}) is same


def test_policy_same_untouched_parts_sees_version_and_id() -> None:
    assert not same_untouched_parts(DEFAULT_POLICY, {**DEFAULT_POLICY, "Id": "other"})
    assert not same_untouched_parts(DEFAULT_POLICY, {"Statement": [ROOT_STATEMENT]})
