"""The oracle (tests/support/oracle.py) against AWS's own documented evaluation examples.

Each row cites the page whose rule it checks and states what AWS decides (``aws``). Where
principalmapper decides otherwise, the row says what it answers (``oracle``) and why, so the
limitation is visible and pinned: such a row fails the day principalmapper (or the oracle's use of
it) changes, and must then be re-read against the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.oracle import (
    LAUNCH_CALLS,
    Grant,
    Identity,
    evaluate_call,
    evaluate_launch,
    normalise,
    request_context,
)

A = "111122223333"  # the launcher's account
K = "444455556666"  # a key owner in another account
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:eu-west-1:{K}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
CN_KEY = f"arn:aws-cn:kms:cn-north-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER = f"arn:aws:iam::{A}:user/ops-alice"
ROLE = f"arn:aws:iam::{A}:role/SaaSSchedulerRole"
SLR = (
    f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
ISSUER = f"arn:aws:iam::{A}:role/KmsLaunchRemediator"
OPERATIONS = frozenset(
    {"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant"}
)
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]

# The pages the rows cite.
EVALUATION = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
)
CROSS_ACCOUNT_EVALUATION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"
NOT_PRINCIPAL = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
)
NULL_OPERATOR = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null"
SCPS = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html"
KMS_ACCESS = "https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html"
KMS_ROOT = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam"
KMS_CROSS_ACCOUNT = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html"
KMS_CONDITIONS = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html"
KMS_GRANTS = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
KMS_GRANT_AUTHORIZATION = (
    "https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html"
)
ASG_KEY_POLICY = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html"
START_INSTANCES = "https://repost.aws/knowledge-center/kms-iam-ec2-permission"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(principal: str | list[str], actions: Any, **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": actions,
        "Resource": "*",
        **extra,
    }


def iam_allow(actions: Any, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return policy({"Effect": "Allow", "Action": actions, "Resource": resource, **extra})


def iam_deny(actions: Any, resource: str = "*") -> dict[str, Any]:
    return policy({"Effect": "Deny", "Action": actions, "Resource": resource})


ROOT_DELEGATION = allow(f"arn:aws:iam::{A}:root", "kms:*", Sid="Enable IAM User Permissions")
K_ROOT_DELEGATION = allow(f"arn:aws:iam::{K}:root", "kms:*", Sid="Enable IAM User Permissions")
FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": True}}  # JSON true, as the seeds write it
VIA_EC2 = {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}}
# What K needs so that A may create the seeds' grant for its SLR: no GrantIsForAWSResource
# (the grant is for a role, not made by an AWS service), narrowed to that grantee and operations.
LET_A_GRANT_TO_ITS_SLR = allow(
    f"arn:aws:iam::{A}:root",
    "kms:CreateGrant",
    Condition={
        "StringEquals": {"kms:GranteePrincipal": SLR},
        "ForAllValues:StringEquals": {"kms:GrantOperations": sorted(OPERATIONS)},
    },
)
ISSUER_MAY_GRANT_ON_OTHER_KEY = Identity(
    ISSUER, policies=(iam_allow("kms:CreateGrant", OTHER_KEY),)
)


def via_ec2(action: str, launcher: str = A, key: str = KEY) -> dict[str, Any]:
    return request_context(action, launcher, key)


def direct(launcher: str = A) -> dict[str, Any]:
    return {"kms:CallerAccount": launcher}


@dataclass(frozen=True)
class Row:
    id: str
    page: str
    identity: Identity
    key_policy: dict[str, Any]
    action: str
    context: dict[str, Any]
    aws: bool  # what the page says AWS decides
    key: str = KEY
    grants: tuple[Grant, ...] = ()
    scps: dict[str, Any] = field(default_factory=dict)
    oracle: bool | None = None  # what principalmapper answers, only where it departs from AWS
    limitation: str = ""


ROWS = [
    # --- KMS key policies and IAM policies, same account ------------------------------------
    Row(
        "root-delegation-iam-policy-allows",
        KMS_ROOT,
        Identity(USER, policies=(iam_allow("kms:Decrypt", KEY),)),
        policy(ROOT_DELEGATION),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    Row(
        "root-delegation-alone-gives-a-user-nothing",
        KMS_ROOT,
        Identity(USER),
        policy(ROOT_DELEGATION),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "iam-policy-without-root-delegation-is-ignored",
        KMS_ACCESS,
        Identity(USER, policies=(iam_allow("kms:*"),)),
        policy(allow(SLR, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "key-policy-naming-the-user-suffices-in-the-same-account",
        KMS_ACCESS,
        Identity(USER),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    # --- cross account: both sides must allow ------------------------------------------------
    Row(
        "cross-account-key-policy-and-iam-policy-allow",
        KMS_CROSS_ACCOUNT,
        Identity(USER, policies=(iam_allow(USE, OTHER_KEY),)),
        policy(K_ROOT_DELEGATION, allow(f"arn:aws:iam::{A}:root", USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=True,
        key=OTHER_KEY,
    ),
    Row(
        "cross-account-key-policy-alone-is-not-enough",
        CROSS_ACCOUNT_EVALUATION,
        Identity(USER),
        policy(K_ROOT_DELEGATION, allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
    ),
    Row(
        "cross-account-iam-policy-alone-is-not-enough",
        KMS_CROSS_ACCOUNT,
        Identity(USER, policies=(iam_allow("kms:*", OTHER_KEY),)),
        policy(K_ROOT_DELEGATION),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
    ),
    # --- explicit deny wins ------------------------------------------------------------------
    Row(
        "identity-policy-deny-beats-key-policy-allow",
        EVALUATION,
        Identity(USER, policies=(iam_deny("kms:CreateGrant"),)),
        policy(allow(USER, "kms:CreateGrant")),
        "kms:CreateGrant",
        via_ec2("kms:CreateGrant"),
        aws=False,
    ),
    Row(
        "key-policy-deny-beats-identity-policy-allow",
        EVALUATION,
        Identity(USER, policies=(iam_allow("kms:*"),)),
        policy(ROOT_DELEGATION, {**allow(USER, "kms:Decrypt"), "Effect": "Deny"}),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "group-policy-deny-beats-key-policy-allow",
        EVALUATION,
        Identity(USER, groups=((f"arn:aws:iam::{A}:group/ops", (iam_deny("kms:*"),)),)),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "permissions-boundary-deny-beats-key-policy-allow",
        EVALUATION,
        Identity(USER, boundary=iam_deny("kms:*")),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "boundary-implicit-deny-does-not-limit-a-key-policy-naming-a-user",
        EVALUATION,
        Identity(USER, boundary=iam_allow("ec2:*")),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    Row(
        "boundary-implicit-deny-limits-a-key-policy-naming-a-role",
        EVALUATION,  # "Resource-based policies that grant permissions to an IAM role ARN are
        # limited by an implicit deny in a permissions boundary or session policy."
        Identity(ROLE, boundary=iam_allow("ec2:*")),
        policy(allow(ROLE, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
        oracle=True,
        limitation="principalmapper returns allowed as soon as a same-account key policy names "
        "the role, before it checks the boundary's allow; it does not tell role sessions from users",
    ),
    # --- NotPrincipal --------------------------------------------------------------------------
    Row(
        "not-principal-deny-exempts-a-listed-user-and-account",
        NOT_PRINCIPAL,
        Identity(USER),
        policy(
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [USER, f"arn:aws:iam::{A}:root"]},
                "Action": "kms:*",
                "Resource": "*",
            },
            allow(USER, USE),
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    Row(
        "not-principal-deny-applies-to-a-role-session-not-listed",
        NOT_PRINCIPAL,  # the role's session ARN (assumed-role/...) must be listed too
        Identity(ROLE),
        policy(
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{A}:root"]},
                "Action": "kms:*",
                "Resource": "*",
            },
            allow(ROLE, USE),
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
        oracle=True,
        limitation="principalmapper evaluates the role, not its session: a NotPrincipal listing "
        "the role ARN (or the account root) exempts every session of it",
    ),
    # --- SCPs ----------------------------------------------------------------------------------
    Row(
        "scp-deny-beats-key-policy-allow",
        SCPS,
        Identity(USER),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
        scps={A: [[iam_allow("*")], [iam_allow("*"), iam_deny("kms:Decrypt")]]},
    ),
    Row(
        "scp-allowing-no-kms-action-caps-the-key-policy",
        SCPS,
        Identity(USER),
        policy(allow(USER, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
        scps={A: [[iam_allow("ec2:*")]]},
    ),
    Row(
        "scps-do-not-affect-service-linked-roles",
        SCPS,
        Identity(SLR),
        policy(allow(SLR, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
        scps={A: [[iam_allow("*"), iam_deny("kms:*")]]},
    ),
    # --- conditions of the launch's request context --------------------------------------------
    Row(
        "grant-is-for-aws-resource-true-when-ec2-creates-the-grant",
        KMS_CONDITIONS,
        Identity(USER),
        policy(allow(USER, "kms:CreateGrant", Condition=FOR_AWS_RESOURCE)),
        "kms:CreateGrant",
        via_ec2("kms:CreateGrant"),
        aws=True,
    ),
    Row(
        "grant-is-for-aws-resource-absent-on-a-direct-create-grant",
        KMS_CONDITIONS,
        Identity(USER),
        policy(allow(USER, "kms:CreateGrant", Condition=FOR_AWS_RESOURCE)),
        "kms:CreateGrant",
        {**direct(), "kms:GranteePrincipal": ROLE, "kms:GrantOperations": ["Decrypt"]},
        aws=False,
    ),
    Row(
        "via-service-ec2-matches-calls-ec2-makes",
        KMS_CONDITIONS,
        Identity(ROLE),
        policy(allow(ROLE, USE, Condition=VIA_EC2)),
        "kms:GenerateDataKeyWithoutPlaintext",
        via_ec2("kms:GenerateDataKeyWithoutPlaintext"),
        aws=True,
    ),
    Row(
        "via-service-ec2-does-not-match-a-direct-call",
        KMS_CONDITIONS,
        Identity(ROLE),
        policy(allow(ROLE, USE, Condition=VIA_EC2)),
        "kms:Decrypt",
        direct(),
        aws=False,
    ),
    Row(
        "via-service-in-aws-cn-ends-in-amazonaws-com-cn",
        KMS_CONDITIONS,
        Identity(f"arn:aws-cn:iam::{A}:role/SaaSSchedulerRole"),
        policy(
            allow(
                f"arn:aws-cn:iam::{A}:role/SaaSSchedulerRole",
                USE,
                Condition={"StringEquals": {"kms:ViaService": "ec2.cn-north-1.amazonaws.com.cn"}},
            )
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=CN_KEY),
        aws=True,
        key=CN_KEY,
    ),
    Row(
        "null-true-holds-when-the-principal-has-no-such-tag",
        NULL_OPERATOR,
        Identity(ROLE),
        policy(allow(ROLE, USE, Condition={"Null": {"aws:PrincipalTag/team": "true"}})),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    Row(
        "null-true-fails-when-the-principal-has-the-tag",
        NULL_OPERATOR,
        Identity(ROLE, tags={"team": "platform"}),
        policy(allow(ROLE, USE, Condition={"Null": {"aws:PrincipalTag/team": "true"}})),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    # --- the Auto Scaling service-linked role ---------------------------------------------------
    Row(
        "slr-named-in-a-same-account-key-policy",
        ASG_KEY_POLICY,  # example 1
        Identity(SLR),
        policy(ROOT_DELEGATION, allow(SLR, USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=True,
    ),
    Row(
        "slr-has-no-identity-permission-for-customer-keys",
        ASG_KEY_POLICY,  # "they do not include access to your customer managed keys"
        Identity(SLR, policies=(iam_allow("kms:*"),)),  # whatever IAM's copy says
        policy(ROOT_DELEGATION),
        "kms:Decrypt",
        via_ec2("kms:Decrypt"),
        aws=False,
    ),
    Row(
        "slr-cross-account-key-policy-naming-its-account-is-not-enough",
        ASG_KEY_POLICY,  # example 2: a grant is needed as well
        Identity(SLR),
        policy(K_ROOT_DELEGATION, allow(f"arn:aws:iam::{A}:root", USE)),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
    ),
    # --- grants -------------------------------------------------------------------------------
    Row(
        "slr-cross-account-grant-from-its-account-allows",
        KMS_GRANTS,  # with ASG_KEY_POLICY example 2: the grantee needs no IAM policy
        Identity(SLR),
        policy(K_ROOT_DELEGATION, LET_A_GRANT_TO_ITS_SLR),
        "kms:GenerateDataKeyWithoutPlaintext",
        via_ec2("kms:GenerateDataKeyWithoutPlaintext", key=OTHER_KEY),
        aws=True,
        key=OTHER_KEY,
        grants=(Grant(SLR, OPERATIONS, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-the-key-owner-never-let-anyone-create-counts-for-nothing",
        KMS_GRANT_AUTHORIZATION,
        Identity(SLR),
        policy(K_ROOT_DELEGATION),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(SLR, OPERATIONS, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-creation-needs-a-statement-without-grant-is-for-aws-resource",
        KMS_GRANT_AUTHORIZATION,  # a grant for a role is not created by an AWS service
        Identity(SLR),
        policy(
            K_ROOT_DELEGATION,
            allow(f"arn:aws:iam::{A}:root", "kms:CreateGrant", Condition=FOR_AWS_RESOURCE),
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(SLR, OPERATIONS, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-creation-outside-the-allowed-operations-is-refused",
        KMS_GRANT_AUTHORIZATION,
        Identity(SLR),
        policy(K_ROOT_DELEGATION, LET_A_GRANT_TO_ITS_SLR),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(SLR, OPERATIONS | {"Encrypt"}, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-of-other-operations-does-not-allow-the-call",
        KMS_GRANTS,
        Identity(SLR),
        policy(K_ROOT_DELEGATION, LET_A_GRANT_TO_ITS_SLR),
        "kms:ReEncryptFrom",
        via_ec2("kms:ReEncryptFrom", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(SLR, frozenset({"Decrypt", "CreateGrant"}), ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-allows-but-a-key-policy-deny-still-wins",
        KMS_ACCESS,  # "provided explicitly and never denied"; grants "allow access, but not deny"
        Identity(SLR),
        policy(
            K_ROOT_DELEGATION,
            LET_A_GRANT_TO_ITS_SLR,
            {**allow(SLR, "kms:Decrypt"), "Effect": "Deny"},
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(SLR, OPERATIONS, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
    Row(
        "grant-allows-but-an-identity-policy-deny-still-wins",
        KMS_ACCESS,
        Identity(USER, policies=(iam_deny("kms:Decrypt"),)),
        policy(
            K_ROOT_DELEGATION,
            allow(
                f"arn:aws:iam::{A}:root",
                "kms:CreateGrant",
                Condition={"StringEquals": {"kms:GranteePrincipal": USER}},
            ),
        ),
        "kms:Decrypt",
        via_ec2("kms:Decrypt", key=OTHER_KEY),
        aws=False,
        key=OTHER_KEY,
        grants=(Grant(USER, OPERATIONS, ISSUER_MAY_GRANT_ON_OTHER_KEY),),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_oracle_decides_as_aws_documents(row: Row) -> None:
    # Given the documents of one of AWS's examples
    expected = row.aws if row.oracle is None else row.oracle

    # When the oracle is asked about the call
    verdict = evaluate_call(
        row.identity,
        row.action,
        row.key,
        row.key_policy,
        row.context,
        grants=row.grants,
        scps=row.scps,
    )

    # Then it answers as the page says, or as the row's documented limitation says
    assert verdict is expected, row.page
    assert (row.oracle is None) == (row.limitation == ""), "a departure needs its reason"


def test_oracle_start_instances_needs_only_the_grant_for_aws_resources() -> None:
    # Given a key policy letting the user create grants for AWS resources, nothing else
    identity = Identity(USER)
    key_policy = policy(allow(USER, "kms:CreateGrant", Condition=FOR_AWS_RESOURCE))

    # When StartInstances and RunInstances are judged (re:Post, START_INSTANCES)
    start = evaluate_launch(identity, KEY, key_policy, "start")
    run = evaluate_launch(identity, KEY, key_policy, "run")

    # Then StartInstances works and RunInstances still lacks the use actions
    assert start == {"kms:CreateGrant": True}
    assert run == {
        "kms:CreateGrant": True,
        "kms:Decrypt": False,
        "kms:GenerateDataKeyWithoutPlaintext": False,
        "kms:ReEncryptFrom": False,
        "kms:ReEncryptTo": False,
    }


def test_oracle_seeds_statements_for_a_same_account_slr_allow_every_launch_call() -> None:
    # Given the two statements of ASG_KEY_POLICY example 1 for the Auto Scaling SLR
    key_policy = policy(
        ROOT_DELEGATION,
        allow(SLR, USE),
        allow(SLR, "kms:CreateGrant", Condition=FOR_AWS_RESOURCE),
    )

    # When an Auto Scaling launch is judged
    verdicts = evaluate_launch(Identity(SLR), KEY, key_policy, "asg")

    # Then every call EC2 makes for it is allowed
    assert set(verdicts) == set(LAUNCH_CALLS["asg"])
    assert all(verdicts.values()), verdicts


def test_oracle_request_context_names_ec2_the_launcher_and_aws_resource_grants() -> None:
    # Given a launch in eu-west-1 by a principal of A on K's key
    # When the context of its CreateGrant and of its Decrypt are built
    grant = request_context("kms:CreateGrant", A, OTHER_KEY)
    decrypt = request_context("kms:Decrypt", A, OTHER_KEY)

    # Then both come through EC2 of the key's region for the launcher's account
    assert grant == {
        "kms:ViaService": "ec2.eu-west-1.amazonaws.com",
        "kms:CallerAccount": A,
        "kms:GrantIsForAWSResource": "true",
    }
    assert decrypt == {"kms:ViaService": "ec2.eu-west-1.amazonaws.com", "kms:CallerAccount": A}


def test_oracle_normalise_turns_condition_values_into_strings_and_keeps_the_input() -> None:
    # Given a statement with JSON booleans and numbers in its conditions
    document = policy(
        allow(
            USER,
            "kms:CreateGrant",
            Condition={"Bool": {"kms:GrantIsForAWSResource": True}, "NumericLessThan": {"x": [3]}},
        )
    )

    # When it is normalised for principalmapper
    result = normalise(document)

    # Then the values are IAM's strings, and the original is untouched
    assert result["Statement"][0]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"},
        "NumericLessThan": {"x": ["3"]},
    }
    assert document["Statement"][0]["Condition"]["Bool"]["kms:GrantIsForAWSResource"] is True
