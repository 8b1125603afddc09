"""``authorize``: the key policy, identity policies, permissions boundary and grants, combined as
AWS combines them, for each KMS call of a launch. Each row cites the page whose rule it checks.

The last test runs the engine on the oracle's table of AWS-documented examples
(tests/unit/test_oracle.py) and requires the engine to answer as AWS does, except on the rows
listed with the reason the engine cannot (what it does not read) or need not (what cannot
happen in AWS) answer them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from remediator.access import Access, not_principal_applies
from remediator.arns import Principal, principal_from_arn
from remediator.authorization import (
    Blocker,
    IdentitySide,
    IdentityState,
    Sources,
    authorize,
    authorize_call,
)
from remediator.conditions import ABSENT, RequestContext, Undecided
from remediator.launch_model import KmsCall, LaunchKind, call_context
from remediator.model import Grant, IdentityPolicies, NamedPolicy
from tests.unit import test_oracle as documented

A, K = "111122223333", "444455556666"
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:eu-west-1:{K}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
CN_KEY = f"arn:aws-cn:kms:cn-north-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER = f"arn:aws:iam::{A}:user/ops-alice"
ROLE = f"arn:aws:iam::{A}:role/SaaSSchedulerRole"
SLR = (
    f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
ROOT_A, ROOT_K = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{K}:root"
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
OPERATIONS = (
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
)

EVALUATION = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
)
CROSS_ACCOUNT = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"
NOT_PRINCIPAL = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
)
KMS_ROOT = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam"
KMS_CROSS_ACCOUNT = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html"
KMS_CONDITIONS = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html"
KMS_GRANTS = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
RESOURCE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
)
FORWARD_ACCESS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html"
)
START_INSTANCES = "https://repost.aws/knowledge-center/kms-iam-ec2-permission"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(principal: Any, actions: Any, **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": actions,
        "Resource": "*",
        **extra,
    }


def deny(principal: Any, actions: Any, **extra: Any) -> dict[str, Any]:
    return {**allow(principal, actions, **extra), "Effect": "Deny"}


def iam(effect: str, actions: Any, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return policy({"Effect": effect, "Action": actions, "Resource": resource, **extra})


def read(
    principal: str, *documents: dict[str, Any], boundary: dict[str, Any] | None = None
) -> IdentitySide:
    named = tuple(NamedPolicy(f"policy {i}", d) for i, d in enumerate(documents))
    bound = NamedPolicy("the boundary", boundary) if boundary else None
    return IdentitySide.read(IdentityPolicies(principal, named, bound))


ROOT_DELEGATION = allow(ROOT_A, "kms:*", Sid="Enable IAM User Permissions")
K_ROOT_DELEGATION = allow(ROOT_K, "kms:*", Sid="Enable IAM User Permissions")
FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": True}}
ATTACH = "kms:CreateGrant"
OTHER_ACCOUNT = IdentitySide(IdentityState.OTHER_ACCOUNT, note="in account 111122223333")
AWS_MANAGED = IdentitySide(IdentityState.AWS_MANAGED, IdentityPolicies(SLR))


@dataclass(frozen=True)
class Case:
    id: str
    page: str
    principal: str
    key_policy: dict[str, Any] | None
    identity: IdentitySide
    access: Access
    blocker: Blocker = Blocker.NOTHING
    key: str = KEY
    kind: LaunchKind = LaunchKind.RUN_INSTANCES
    grants: tuple[Grant, ...] = ()


CASES = [
    Case(
        "key-policy-names-the-user",
        EVALUATION,
        USER,
        policy(allow(USER, [*USE, ATTACH])),
        read(USER),
        Access.ALLOWED,
    ),
    Case(
        "root-delegation-and-identity-policy-allow",
        KMS_ROOT,
        USER,
        policy(ROOT_DELEGATION),
        read(USER, iam("Allow", "kms:*")),
        Access.ALLOWED,
    ),
    Case(
        "root-delegation-alone-gives-nothing",
        KMS_ROOT,
        USER,
        policy(ROOT_DELEGATION),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.IDENTITY_POLICY,
    ),
    Case(
        "identity-policy-without-key-policy-is-ignored",
        KMS_ROOT,
        USER,
        policy(allow(SLR, USE)),
        read(USER, iam("Allow", "kms:*")),
        Access.NOT_ALLOWED,
        Blocker.KEY_POLICY,
    ),
    Case(
        "identity-deny-beats-key-policy-allow",
        EVALUATION,
        USER,
        policy(allow(USER, "kms:*")),
        read(USER, iam("Deny", "kms:CreateGrant")),
        Access.DENIED,
        Blocker.IDENTITY_POLICY,
    ),
    Case(
        "boundary-deny-beats-key-policy-allow",
        EVALUATION,
        USER,
        policy(allow(USER, "kms:*")),
        read(USER, boundary=iam("Deny", "kms:*")),
        Access.DENIED,
        Blocker.PERMISSIONS_BOUNDARY,
    ),
    Case(
        "boundary-implicit-deny-does-not-limit-a-key-policy-naming-a-user",
        EVALUATION,
        USER,
        policy(allow(USER, "kms:*")),
        read(USER, boundary=iam("Allow", "ec2:*")),
        Access.ALLOWED,
    ),
    Case(
        "boundary-implicit-deny-limits-a-key-policy-naming-a-role",
        EVALUATION,
        ROLE,
        policy(allow(ROLE, "kms:*")),
        read(ROLE, boundary=iam("Allow", "ec2:*")),
        Access.NOT_ALLOWED,
        Blocker.PERMISSIONS_BOUNDARY,
    ),
    Case(
        "boundary-limits-what-identity-policies-allow",
        EVALUATION,
        USER,
        policy(ROOT_DELEGATION),
        read(USER, iam("Allow", "kms:*"), boundary=iam("Allow", "ec2:*")),
        Access.NOT_ALLOWED,
        Blocker.PERMISSIONS_BOUNDARY,
    ),
    Case(
        "cross-account-key-policy-and-identity-policy-allow",
        KMS_CROSS_ACCOUNT,
        USER,
        policy(K_ROOT_DELEGATION, allow(ROOT_A, "kms:*")),
        read(USER, iam("Allow", "kms:*", OTHER_KEY)),
        Access.ALLOWED,
        key=OTHER_KEY,
    ),
    Case(
        "cross-account-key-policy-naming-the-user-is-not-enough",
        CROSS_ACCOUNT,
        USER,
        policy(K_ROOT_DELEGATION, allow(USER, "kms:*")),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.IDENTITY_POLICY,
        key=OTHER_KEY,
    ),
    Case(
        "cross-account-identity-side-unreadable-from-the-key-owner",
        CROSS_ACCOUNT,
        USER,
        policy(K_ROOT_DELEGATION, allow(USER, "kms:*")),
        OTHER_ACCOUNT,
        Access.UNKNOWN,
        Blocker.OTHER_ACCOUNT_IDENTITY,
        key=OTHER_KEY,
    ),
    Case(
        "cross-account-slr-named-by-the-key-owner-is-not-enough",
        KMS_CROSS_ACCOUNT,
        SLR,
        policy(K_ROOT_DELEGATION, allow(SLR, "kms:*")),
        AWS_MANAGED,
        Access.NOT_ALLOWED,
        Blocker.IDENTITY_POLICY,
        key=OTHER_KEY,
    ),
    Case(
        "cross-account-grant-allows-the-slr-key-policy-unreadable",
        KMS_GRANTS,
        SLR,
        None,
        read(SLR),
        Access.ALLOWED,
        key=OTHER_KEY,
        grants=(Grant("g", SLR, OPERATIONS),),
    ),
    Case(
        "cross-account-without-grant-key-policy-unreadable",
        KMS_GRANTS,
        SLR,
        None,
        read(SLR),
        Access.UNKNOWN,
        Blocker.OTHER_ACCOUNT_KEY_POLICY,
        key=OTHER_KEY,
    ),
    Case(
        "grant-allows-but-an-identity-deny-wins",
        KMS_GRANTS,
        USER,
        policy(ROOT_DELEGATION),
        read(USER, iam("Deny", "kms:Decrypt")),
        Access.DENIED,
        Blocker.IDENTITY_POLICY,
        grants=(Grant("g", USER, OPERATIONS),),
    ),
    Case(
        "grant-allows-but-a-key-policy-deny-wins",
        KMS_GRANTS,
        USER,
        policy(ROOT_DELEGATION, deny(USER, "kms:Decrypt")),
        read(USER),
        Access.DENIED,
        Blocker.KEY_POLICY,
        grants=(Grant("g", USER, OPERATIONS),),
    ),
    Case(
        "grant-constrained-by-encryption-context-is-not-counted",
        KMS_GRANTS,
        USER,
        policy(ROOT_DELEGATION),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.IDENTITY_POLICY,
        grants=(Grant("g", USER, OPERATIONS, constrained=True),),
    ),
    Case(
        "grant-without-create-grant-does-not-allow-it",
        KMS_GRANTS,
        USER,
        policy(ROOT_DELEGATION),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.IDENTITY_POLICY,
        grants=(Grant("g", USER, OPERATIONS[:-1]),),
    ),
    Case(
        "start-instances-needs-only-create-grant-for-aws-resources",
        START_INSTANCES,
        USER,
        policy(allow(USER, ATTACH, Condition=FOR_AWS_RESOURCE)),
        read(USER),
        Access.ALLOWED,
        kind=LaunchKind.START_INSTANCES,
    ),
    Case(
        "run-instances-needs-the-use-actions-too",
        START_INSTANCES,
        USER,
        policy(allow(USER, ATTACH, Condition=FOR_AWS_RESOURCE)),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.KEY_POLICY,
    ),
    Case(
        "resource-naming-another-key-does-not-allow",
        RESOURCE,
        USER,
        policy({**allow(USER, "kms:*"), "Resource": OTHER_KEY}),
        read(USER),
        Access.NOT_ALLOWED,
        Blocker.KEY_POLICY,
    ),
    Case(
        "resource-naming-this-key-allows",
        RESOURCE,
        USER,
        policy({**allow(USER, "kms:*"), "Resource": KEY}),
        read(USER),
        Access.ALLOWED,
    ),
    Case(
        "via-service-in-aws-cn-ends-in-amazonaws-com-cn",
        KMS_CONDITIONS,
        "arn:aws-cn:iam::111122223333:user/li",
        policy(
            allow(
                "arn:aws-cn:iam::111122223333:user/li",
                "kms:*",
                Condition={"StringEquals": {"kms:ViaService": "ec2.cn-north-1.amazonaws.com.cn"}},
            )
        ),
        read("arn:aws-cn:iam::111122223333:user/li"),
        Access.ALLOWED,
        key=CN_KEY,
    ),
    Case(
        "deny-outside-aws-services-does-not-apply-to-ebs-calls",
        FORWARD_ACCESS,
        USER,
        policy(
            allow(USER, "kms:*"),
            deny("*", "kms:*", Condition={"Bool": {"aws:ViaAWSService": "false"}}),
        ),
        read(USER),
        Access.ALLOWED,
    ),
    Case(
        "deny-of-other-grant-operations-does-not-apply-to-ebs-grant",
        KMS_CONDITIONS,
        USER,
        policy(
            allow(USER, "kms:*"),
            deny(
                "*",
                ATTACH,
                Condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Encrypt"]}},
            ),
        ),
        read(USER),
        Access.ALLOWED,
    ),
    Case(
        "allow-on-an-undecidable-condition-is-unknown",
        EVALUATION,
        USER,
        policy(
            ROOT_DELEGATION,
            allow("*", "kms:*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-1"}}),
        ),
        read(USER),
        Access.UNKNOWN,
        Blocker.CONDITION,
    ),
    Case(
        "deny-on-an-undecidable-condition-counts-as-applying",
        EVALUATION,
        USER,
        policy(
            allow(USER, "kms:*"),
            deny("*", "kms:*", Condition={"StringNotEquals": {"aws:SourceVpce": "v"}}),
        ),
        read(USER),
        Access.DENIED,
        Blocker.KEY_POLICY,
    ),
    Case(
        "identity-side-unreadable-proves-nothing",
        EVALUATION,
        USER,
        policy(allow(USER, "kms:*")),
        IdentitySide.unreadable("ListUserPolicies: AccessDenied"),
        Access.UNKNOWN,
        Blocker.IDENTITY_UNREADABLE,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_authorization_combines_sources_as_aws_does(case: Case) -> None:
    # Given the documents of one situation; When the launch is judged
    principal = principal_from_arn(case.principal)
    sources = Sources(case.key_policy, case.identity, case.grants)
    verdict = authorize(sources, principal, case.key, case.kind)

    # Then it is what the page says, and the blocker is where it says
    assert (verdict.access, verdict.blocker) == (case.access, case.blocker), (case.page, verdict)


@pytest.mark.parametrize(
    ("principal", "listed", "has_boundary", "applies"),
    [
        (USER, [USER, ROOT_A], False, False),
        (USER, [USER, A], False, False),
        (USER, [ROOT_A], False, True),
        (USER, [USER], False, "undecided"),
        (USER, [USER, ROOT_A], True, True),
        (ROLE, [ROLE, ROOT_A], False, True),
        (
            ROLE,
            [ROLE, ROOT_A, f"arn:aws:sts::{A}:assumed-role/SaaSSchedulerRole/vendor"],
            False,
            "undecided",
        ),
        (SLR, [SLR, ROOT_A], False, True),
        (ROOT_A, [ROOT_A], False, False),
        (ROOT_A, [USER], False, True),
    ],
    ids=[
        "user-and-its-account-exempt",
        "user-and-its-account-id-exempt",
        "account-alone-exempts-no-user",
        "user-without-its-account-may-be-denied",
        "boundary-makes-it-always-deny",
        "role-and-account-do-not-exempt-its-sessions",
        "named-sessions-only",
        "service-linked-role-sessions-too",
        "root-exempt-by-its-account",
        "root-not-listed",
    ],
)
def test_authorization_not_principal_deny_applies_as_the_iam_page_says(
    principal: str, listed: list[str], has_boundary: bool, applies: object
) -> None:
    found = not_principal_applies({"AWS": listed}, principal_from_arn(principal), has_boundary)
    if applies == "undecided":
        assert isinstance(found, Undecided), NOT_PRINCIPAL
    else:
        assert found is applies, NOT_PRINCIPAL


# --- the engine on the oracle's AWS-documented examples ---------------------------------------

# Rows the engine cannot or need not answer as AWS does, and why.
NOT_FOR_THE_ENGINE = {
    "scp-deny-beats-key-policy-allow": "the engine reads no service control policies",
    "scp-allowing-no-kms-action-caps-the-key-policy": "the engine reads no service control policies",
    "slr-has-no-identity-permission-for-customer-keys": (
        "in AWS a service-linked role's policy is AWS's own, with no KMS permission; the engine "
        "reads what IAM returns, which cannot be this row's kms:*"
    ),
    "grant-the-key-owner-never-let-anyone-create-counts-for-nothing": (
        "in AWS a grant that could not be created does not exist; the engine counts the grants "
        "KMS lists"
    ),
    "grant-creation-needs-a-statement-without-grant-is-for-aws-resource": (
        "in AWS a grant that could not be created does not exist"
    ),
    "grant-creation-outside-the-allowed-operations-is-refused": (
        "in AWS a grant that could not be created does not exist"
    ),
    "null-true-holds-when-the-principal-has-no-such-tag": (
        "the principal is a role: the sessions that launch may carry session tags, which the "
        "engine cannot see, so it says unknown (it decides this for users and service-linked "
        "roles, test_conditions.py)"
    ),
}


def engine_identity(identity: documented.Identity) -> IdentitySide:
    documents = [*identity.policies, *(d for _, docs in identity.groups for d in docs)]
    named = tuple(NamedPolicy(f"policy {i}", dict(d)) for i, d in enumerate(documents))
    boundary = NamedPolicy("boundary", dict(identity.boundary)) if identity.boundary else None
    return IdentitySide.read(IdentityPolicies(identity.arn, named, boundary, dict(identity.tags)))


def engine_context(row: documented.Row, principal: Principal) -> RequestContext:
    """The row's request exactly: its keys, the principal's, and every launch key it lacks absent."""
    launch = call_context(row.action, principal, row.key)
    values = {k: ABSENT for k in launch if k.startswith("kms:")}
    values |= {k: v for k, v in launch.items() if k.startswith("aws:principal")}
    for key, value in row.context.items():
        values[key.lower()] = tuple(value) if isinstance(value, list) else (str(value),)
    tags = dict(row.identity.tags)
    complete = ":user/" in row.identity.arn or ":role/aws-service-role/" in row.identity.arn
    return RequestContext(values, principal_tags=tags, tags_complete=complete)


ENGINE_ROWS = [r for r in documented.ROWS if r.id not in NOT_FOR_THE_ENGINE]


@pytest.mark.parametrize("row", ENGINE_ROWS, ids=[r.id for r in ENGINE_ROWS])
def test_authorization_decides_the_documented_examples_as_aws(row: documented.Row) -> None:
    # Given one of AWS's documented examples (the oracle's table)
    principal = principal_from_arn(row.identity.arn)
    grants = tuple(
        Grant(f"g{i}", g.grantee, tuple(g.operations), constrained=g.constrained)
        for i, g in enumerate(row.grants)
    )
    sources = Sources(row.key_policy, engine_identity(row.identity), grants)

    # When the engine judges the call
    verdict = authorize_call(
        sources, principal, row.key, KmsCall(row.action, engine_context(row, principal))
    )

    # Then it answers as AWS does (where principalmapper departs, the engine does not)
    assert (verdict.access is Access.ALLOWED) is row.aws, (row.page, verdict)


def test_authorization_rows_not_for_the_engine_exist_in_the_documented_table() -> None:
    assert set(NOT_FOR_THE_ENGINE) <= {r.id for r in documented.ROWS}
