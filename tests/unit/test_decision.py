"""``decide(Facts, config)`` as tables: every refusal with its reason and exact suggested fix, and
every positive choice of remedy."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from remediator.arns import Principal, principal_from_arn
from remediator.authorization import IdentitySide, IdentityState
from remediator.config import Allowlist, RemediatorConfig, parse_config
from remediator.decision import (
    Action,
    Facts,
    GrantPlan,
    decide,
    grant_denied_fix,
    grant_plan,
    has_equivalent_grant,
    policy_diff,
    suggested_fix,
    write_denied_fix,
)
from remediator.launch_model import LaunchKind
from remediator.model import Grant, IdentityPolicies, KeyInfo, NamedPolicy
from remediator.policy import render
from tests.support.allowlists import every_key_of, every_principal_of

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "eu-west-1"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
US_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER_ARN = "arn:aws:iam::111122223333:user/ops-alice"
SLR_ARN = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
ROOT_ARN = "arn:aws:iam::111122223333:root"
OTHER_ROOT_ARN = "arn:aws:iam::444455556666:root"
FEDERATED_ARN = "arn:aws:sts::111122223333:federated-user/bob"
OPERATIONS = (
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
)
SLR_OTHER_KEY_GRANT = "kms-launch-remediator-74787daf095259d2"
USER_OWN_KEY_GRANT = "kms-launch-remediator-840c03f7a337cb4f"
SLR_OWN_KEY_GRANT = "kms-launch-remediator-eee8c544221108ad"

USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
ROOT_STATEMENT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": ROOT_ARN},
    "Action": "kms:*",
    "Resource": "*",
}
DEFAULT_POLICY = {"Version": "2012-10-17", "Statement": [ROOT_STATEMENT]}


def use_stmt(principal: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUse",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": USE,
        "Resource": "*",
    }


def via_ec2_stmt(principal: str, region: str = REGION) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorUseViaEc2",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": USE,
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
    }


def attach_stmt(principal: str) -> dict[str, Any]:
    return {
        "Sid": "KmsLaunchRemediatorAttach",
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": ["kms:CreateGrant"],
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }


def grant_prerequisite(grantor: str, grantee: str) -> list[dict[str, Any]]:
    """What a key owner adds so that ``grantor`` may create the grant for ``grantee``: no
    kms:GrantIsForAWSResource, this grantee and the grant's operations only, and DescribeKey."""
    root = f"arn:aws:iam::{grantor}:root"
    return [
        {
            "Sid": f"AllowLaunchGrantsFrom{grantor}",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": grantee},
                "ForAllValues:StringEquals": {"kms:GrantOperations": list(OPERATIONS)},
            },
        },
        {
            "Sid": f"AllowDescribeKeyFrom{grantor}",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


def key(arn: str = KEY_ARN, manager: str = "CUSTOMER", state: str = "Enabled") -> KeyInfo:
    parts = arn.split(":")
    return KeyInfo(arn=arn, account=parts[4], region=parts[3], manager=manager, state=state)


def identity(
    principal: str, *policies: dict[str, Any], boundary: dict[str, Any] | None = None
) -> IdentitySide:
    """The identity side as assess() reads it: this account's principals' policies as given,
    another account's service-linked role as AWS-managed, any other principal as unreadable."""
    if principal.split(":")[4] != ACCOUNT:
        if ":role/aws-service-role/" in principal:
            return IdentitySide(IdentityState.AWS_MANAGED, IdentityPolicies(principal))
        return IdentitySide(IdentityState.OTHER_ACCOUNT, note="in another account")
    named = tuple(NamedPolicy(f"policy {i}", doc) for i, doc in enumerate(policies))
    bound = NamedPolicy("the boundary", boundary) if boundary else None
    return IdentitySide.read(IdentityPolicies(principal, named, bound))


def facts(principal: str = USER_ARN, key_info: KeyInfo | None = None, **changes: Any) -> Facts:
    changes.setdefault("identity", identity(principal))
    base = Facts(
        this_account=ACCOUNT,
        event_region=REGION,
        principal=principal_from_arn(principal),
        key=key_info or key(),
        policy=DEFAULT_POLICY,
        grants=None,
        principal_exists=True,
        changes_in_last_hour=0,
    )
    return replace(base, **changes)


def other_key_facts(principal: str = SLR_ARN, **changes: Any) -> Facts:
    defaults: dict[str, Any] = {"policy": None, "grants": [], "principal_exists": True}
    return facts(principal, key(OTHER_KEY_ARN), **{**defaults, **changes})


PERMISSIVE = {
    "allow": {
        "principals": every_principal_of(ACCOUNT, OTHER),
        "keys": every_key_of(ACCOUNT, OTHER),
    }
}


def config(**overrides: Any) -> RemediatorConfig:
    return parse_config({**PERMISSIVE, **overrides})


def unvalidated_config(principals: list[str]) -> RemediatorConfig:
    """An allowlist the config model rejects (a glob that would match a root or a federated
    user): built without validation so that decide()'s own exact-name check is exercised."""
    allow = Allowlist(principals=tuple(principals), keys=PERMISSIVE["allow"]["keys"])
    return RemediatorConfig(
        mode=config().mode, allow=allow, remedy=config().remedy, max_changes_per_key_per_hour=10
    )


def filler_policy(compact_size: int) -> dict[str, Any]:
    """The default policy plus an unrelated statement, sized to ``compact_size`` bytes compact."""
    filler = {
        "Sid": "Filler",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:user/aaron"},
        "Action": "kms:DescribeKey",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:team": ""}},
    }
    policy = {"Version": "2012-10-17", "Statement": [ROOT_STATEMENT, filler]}
    size = len(json.dumps(policy, separators=(",", ":")))
    filler["Condition"]["StringEquals"]["kms:EncryptionContext:team"] = "x" * (compact_size - size)
    return policy


ALREADY_ALLOWING = {
    "Statement": [ROOT_STATEMENT, via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
}
EXPLICIT_DENY = {
    "Statement": [
        ROOT_STATEMENT,
        {
            "Sid": "NoGrants",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
    ]
}
ALTERED_TOOL_STATEMENT = {
    "Statement": [ROOT_STATEMENT, {**attach_stmt(SLR_ARN), "Action": "kms:*"}],
}


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_facts", "the_config", "reason", "statements"),
    [
        (
            facts(key_info=key(state="Disabled")),
            config(),
            "the key is Disabled",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(key_info=key(state="PendingDeletion")),
            config(),
            "the key is PendingDeletion",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(key_info=key(state="PendingImport")),
            config(),
            "the key is PendingImport",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(key_info=key(state="Unavailable")),
            config(),
            "the key is Unavailable",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(key_info=key(US_KEY_ARN)),
            config(),
            "the key is in us-east-1, not in the event's region eu-west-1",
            [via_ec2_stmt(USER_ARN, "us-east-1"), attach_stmt(USER_ARN)],
        ),
        (
            facts(),
            config(allow={**PERMISSIVE["allow"], "keys": ["arn:aws:kms:*:444455556666:key/*"]}),
            "the key is not in the allowlist (allow.keys)",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(),
            config(allow={**PERMISSIVE["allow"], "principals": [SLR_ARN]}),
            "the principal is not in the allowlist (allow.principals)",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(),
            RemediatorConfig(),
            "the key is not in the allowlist (allow.keys)",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(ROOT_ARN, policy={"Statement": []}),
            unvalidated_config(["arn:aws:iam::111122223333:*"]),
            "the principal is a account-root identity",
            [via_ec2_stmt(ROOT_ARN), attach_stmt(ROOT_ARN)],
        ),
        (
            facts(FEDERATED_ARN),
            unvalidated_config(["arn:aws:sts::111122223333:federated-user/*"]),
            "the principal is a federated identity",
            [via_ec2_stmt(FEDERATED_ARN), attach_stmt(FEDERATED_ARN)],
        ),
        (
            facts(principal_exists=False),
            config(),
            "the principal does not exist in IAM",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(policy=EXPLICIT_DENY),
            config(),
            "Deny statement 'NoGrants' of the key policy applies to kms:CreateGrant",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(changes_in_last_hour=10),
            config(),
            "10 changes to this key in the last hour reach the limit (max_changes_per_key_per_hour=10)",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(changes_in_last_hour=1),
            config(max_changes_per_key_per_hour=1),
            "max_changes_per_key_per_hour=1",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            other_key_facts(),
            config(remedy="key-policy"),
            "PutKeyPolicy works only in the key's own account (444455556666)",
            # Not statements naming the SLR (which cannot use them across accounts): what lets
            # its account create the grant.
            grant_prerequisite(ACCOUNT, SLR_ARN),
        ),
        (
            facts(policy=filler_policy(32600)),
            config(remedy="key-policy"),
            "would exceed 32 KB and remedy key-policy allows no grant",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(SLR_ARN, policy=ALTERED_TOOL_STATEMENT),
            config(),
            "carries this tool's Sid but was changed by someone else",
            [use_stmt(SLR_ARN), attach_stmt(SLR_ARN)],
        ),
        (
            facts(policy=None),
            config(),
            "the key policy could not be read",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
        (
            facts(policy={"Statement": [ROOT_STATEMENT, "Allow"]}),
            config(),
            "the key policy cannot be read safely",
            [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
        ),
    ],
    ids=[
        "disabled-key",
        "pending-deletion",
        "pending-import",
        "unavailable",
        "key-region-differs",
        "key-not-allowlisted",
        "principal-not-allowlisted",
        "empty-allowlist",
        "root-not-named-exactly",
        "federated-not-named-exactly",
        "principal-does-not-exist",
        "explicit-deny",
        "anti-loop-limit-reached",
        "anti-loop-custom-limit",
        "key-policy-remedy-other-account-key",
        "policy-too-large-remedy-key-policy",
        "altered-tool-statement",
        "own-key-policy-unreadable",
        "policy-with-non-object-statement",
    ],
)
def test_decision_refuses(
    the_facts: Facts, the_config: RemediatorConfig, reason: str, statements: list[dict[str, Any]]
) -> None:
    decision = decide(the_facts, the_config)
    assert decision.action is Action.REFUSE
    assert reason in decision.reason
    assert decision.policy_change is None
    assert decision.grant is None
    assert decision.suggested_fix["key_policy_statements"] == statements
    assert the_facts.key.arn in decision.suggested_fix["key_policy_note"]


def test_decision_refusal_for_other_account_key_suggests_the_grant_command() -> None:
    decision = decide(other_key_facts(), config(remedy="key-policy"))
    assert decision.action is Action.REFUSE
    assert decision.suggested_fix["grant_cli"] == (
        "aws kms create-grant --key-id "
        "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321 "
        "--grantee-principal arn:aws:iam::111122223333:role/aws-service-role/"
        "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling "
        "--operations Decrypt GenerateDataKeyWithoutPlaintext ReEncryptFrom ReEncryptTo "
        "CreateGrant --name kms-launch-remediator-74787daf095259d2"
    )
    assert "Run from account 111122223333" in decision.suggested_fix["grant_note"]


def test_decision_refusal_for_own_key_and_own_principal_has_no_grant_command() -> None:
    decision = decide(facts(key_info=key(state="Disabled")), config())
    assert set(decision.suggested_fix) == {"key_policy_statements", "key_policy_note"}


def test_decision_refusal_for_aws_managed_key_points_away_from_the_key_policy() -> None:
    # Given an AWS-managed key, whose policy nobody can edit
    decision = decide(facts(key_info=key(manager="AWS")), config())

    # Then no statement is suggested; the operator is sent to what else can deny
    assert decision.action is Action.REFUSE
    assert decision.reason.startswith("the key is AWS-managed")
    assert set(decision.suggested_fix) == {"manual_review"}
    assert "service control policy" in decision.suggested_fix["manual_review"]


def test_decision_aws_managed_check_comes_before_the_allowlist() -> None:
    decision = decide(facts(key_info=key(manager="AWS")), RemediatorConfig())
    assert "AWS-managed" in decision.reason


def test_decision_already_allowed_is_not_limited_by_anti_loop() -> None:
    decision = decide(facts(policy=ALREADY_ALLOWING, changes_in_last_hour=99), config())
    assert decision.action is Action.NOTHING


# --- positive choices ----------------------------------------------------------------------


def test_decision_own_key_gets_key_policy_change() -> None:
    decision = decide(facts(), config())
    assert decision.action is Action.PUT_KEY_POLICY
    assert decision.reason == "the key policy does not allow the launch"
    assert decision.policy_change is not None
    assert decision.policy_change.after == {
        "Version": "2012-10-17",
        "Statement": [ROOT_STATEMENT, via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)],
    }
    assert policy_diff(decision.policy_change) == [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)]
    assert decision.grant is None
    assert decision.suggested_fix == {}


def test_decision_own_key_slr_gets_unrestricted_use_statement() -> None:
    decision = decide(facts(SLR_ARN), config())
    assert decision.action is Action.PUT_KEY_POLICY
    assert decision.policy_change is not None
    assert policy_diff(decision.policy_change) == [use_stmt(SLR_ARN), attach_stmt(SLR_ARN)]


def test_decision_other_account_key_with_auto_creates_grant() -> None:
    decision = decide(other_key_facts(), config())
    assert decision.action is Action.CREATE_GRANT
    assert decision.reason == (
        "the key belongs to another account, so a grant is made from this account on its ARN"
    )
    assert decision.grant == GrantPlan(OTHER_KEY_ARN, SLR_ARN, OPERATIONS, SLR_OTHER_KEY_GRANT)
    assert decision.policy_change is None


def test_decision_remedy_grant_creates_grant_for_own_key() -> None:
    decision = decide(facts(), config(remedy="grant"))
    assert decision.action is Action.CREATE_GRANT
    assert decision.reason.startswith("remedy is grant; note: a grant cannot be limited to EC2")
    assert decision.grant == GrantPlan(KEY_ARN, USER_ARN, OPERATIONS, USER_OWN_KEY_GRANT)


def test_decision_too_large_policy_with_auto_falls_back_to_grant() -> None:
    # Given a policy that fits now but not once the two statements are added
    policy = filler_policy(32600)
    assert render(policy) is not None
    decision = decide(facts(policy=policy), config())
    assert decision.action is Action.CREATE_GRANT
    assert decision.reason.startswith(
        "the key policy would exceed 32 KB, so a grant is made instead; note: a grant cannot"
    )
    assert decision.grant == GrantPlan(KEY_ARN, USER_ARN, OPERATIONS, USER_OWN_KEY_GRANT)


def test_decision_policy_that_still_fits_gets_key_policy() -> None:
    decision = decide(facts(policy=filler_policy(31000)), config())
    assert decision.action is Action.PUT_KEY_POLICY


@pytest.mark.parametrize(
    ("grants", "action"),
    [
        ([Grant("g-1", SLR_ARN, OPERATIONS)], Action.NOTHING),
        (
            [Grant("g-1", SLR_ARN, (*OPERATIONS, "Encrypt", "DescribeKey"), "by-hand")],
            Action.NOTHING,
        ),
        ([Grant("g-0", USER_ARN, OPERATIONS), Grant("g-1", SLR_ARN, OPERATIONS)], Action.NOTHING),
        ([Grant("g-1", SLR_ARN, OPERATIONS[:-1])], Action.CREATE_GRANT),
        ([Grant("g-1", USER_ARN, OPERATIONS)], Action.CREATE_GRANT),
        ([], Action.CREATE_GRANT),
        (None, Action.CREATE_GRANT),
    ],
    ids=[
        "same-operations",
        "superset-of-operations",
        "among-others",
        "missing-create-grant",
        "other-grantee",
        "no-grants",
        "grants-unreadable",
    ],
)
def test_decision_equivalent_grant_means_nothing_to_do(
    grants: list[Grant] | None, action: Action
) -> None:
    decision = decide(other_key_facts(grants=grants), config())
    assert decision.action is action
    if action is Action.NOTHING:
        assert decision.reason == "an equivalent grant already exists"


def test_decision_policy_already_allowing_means_nothing_to_do() -> None:
    decision = decide(facts(policy=ALREADY_ALLOWING), config())
    assert decision.action is Action.NOTHING
    assert decision.reason == "the key policy already allows the launch"


@pytest.mark.parametrize(
    ("principal", "the_config", "action"),
    [
        (
            OTHER_ROOT_ARN,
            config(allow={**PERMISSIVE["allow"], "principals": [OTHER_ROOT_ARN]}),
            Action.PUT_KEY_POLICY,
        ),
        (FEDERATED_ARN, unvalidated_config([FEDERATED_ARN]), Action.PUT_KEY_POLICY),
    ],
    ids=["root-named-exactly", "federated-named-exactly"],
)
def test_decision_root_or_federated_named_exactly_may_be_changed(
    principal: str, the_config: RemediatorConfig, action: Action
) -> None:
    decision = decide(facts(principal, principal_exists=None), the_config)
    assert decision.action is action


def test_decision_anti_loop_below_limit_allows_change() -> None:
    assert decide(facts(changes_in_last_hour=9), config()).action is Action.PUT_KEY_POLICY


def test_decision_unknown_existence_does_not_refuse() -> None:
    assert decide(facts(principal_exists=None), config()).action is Action.PUT_KEY_POLICY


# --- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_arn", "principal", "name"),
    [
        (KEY_ARN, SLR_ARN, SLR_OWN_KEY_GRANT),
        (KEY_ARN, USER_ARN, USER_OWN_KEY_GRANT),
        (OTHER_KEY_ARN, SLR_ARN, SLR_OTHER_KEY_GRANT),
        (OTHER_KEY_ARN, USER_ARN, "kms-launch-remediator-c060ee0adafb9cb8"),
    ],
    ids=["own-key-slr", "own-key-user", "other-key-slr", "other-key-user"],
)
def test_decision_grant_plan_name_is_deterministic(key_arn: str, principal: str, name: str) -> None:
    assert grant_plan(key_arn, principal) == GrantPlan(key_arn, principal, OPERATIONS, name)


def test_decision_has_equivalent_grant_needs_every_operation() -> None:
    plan = grant_plan(OTHER_KEY_ARN, SLR_ARN)
    assert has_equivalent_grant([Grant("g", SLR_ARN, tuple(reversed(OPERATIONS)))], plan) is True
    assert has_equivalent_grant([Grant("g", SLR_ARN, ("Decrypt",))], plan) is False


def test_decision_suggested_fix_for_cross_account_principal_on_own_key() -> None:
    principal: Principal = principal_from_arn("arn:aws:iam::444455556666:role/Launcher")
    fix = suggested_fix(facts(principal.arn))
    assert fix["key_policy_statements"] == [via_ec2_stmt(principal.arn), attach_stmt(principal.arn)]
    assert fix["grant_cli"].endswith("--name kms-launch-remediator-6a83bc0416f390fd")
    assert "Run from account 444455556666" in fix["grant_note"]


# --- judged as AWS judges: identity policies, boundaries, other accounts, launch kinds --------

DENY_CREATE_GRANT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"}],
}
ALLOW_KMS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}
ROLE_ARN = "arn:aws:iam::111122223333:role/SaaSSchedulerRole"
OTHER_USER_ARN = "arn:aws:iam::111122223333:user/ops-alice"  # of A, for a key of K


def test_decision_identity_deny_is_blocked_elsewhere_with_no_change() -> None:
    # Given the user's own IAM policy denies CreateGrant (the key policy only delegates to IAM)
    the_facts = facts(identity=identity(USER_ARN, DENY_CREATE_GRANT))
    # When deciding
    decision = decide(the_facts, config())
    # Then no key-policy statement could help: nothing is planned, and the Deny is named
    assert decision.action is Action.BLOCKED_ELSEWHERE
    assert decision.policy_change is None and decision.grant is None
    assert "Deny statement '#0' of policy 0 applies to kms:CreateGrant" in decision.reason
    assert decision.suggested_fix["blocked_by"] == "identity-policy"


def test_decision_identity_deny_blocks_a_grant_too() -> None:
    decision = decide(facts(identity=identity(USER_ARN, DENY_CREATE_GRANT)), config(remedy="grant"))
    assert decision.action is Action.BLOCKED_ELSEWHERE


def test_decision_role_boundary_without_kms_is_blocked_elsewhere() -> None:
    # Given a role whose permissions boundary allows EC2 only: it caps a key policy naming it
    ec2_only = {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    the_facts = facts(ROLE_ARN, identity=identity(ROLE_ARN, boundary=ec2_only))
    decision = decide(the_facts, config())
    assert decision.action is Action.BLOCKED_ELSEWHERE
    assert decision.suggested_fix["blocked_by"] == "permissions-boundary"


def test_decision_user_boundary_does_not_cap_a_key_policy_naming_the_user() -> None:
    ec2_only = {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    decision = decide(facts(identity=identity(USER_ARN, boundary=ec2_only)), config())
    assert decision.action is Action.PUT_KEY_POLICY


def test_decision_identity_not_read_is_blocked_elsewhere_without_a_write() -> None:
    decision = decide(facts(identity=IdentitySide.unreadable("ListUserPolicies denied")), config())
    assert decision.action is Action.BLOCKED_ELSEWHERE
    assert "ListUserPolicies denied" in decision.reason
    assert decision.suggested_fix["blocked_by"] == "identity-unreadable"


def test_decision_identity_policy_already_allowing_means_nothing_to_do() -> None:
    # Given the root delegation, and the user's IAM policy allows kms:*
    decision = decide(facts(identity=identity(USER_ARN, ALLOW_KMS)), config())
    # Then the launch is allowed already (what still fails it, the tool cannot read)
    assert decision.action is Action.NOTHING
    assert "identity policies" in decision.reason
    assert "service control policies" in decision.reason


def test_decision_allow_on_an_undecidable_condition_refuses_to_guess() -> None:
    # Given a statement that allows the launch only within an organization (not read here)
    org = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}},
    }
    decision = decide(facts(policy={"Statement": [ROOT_STATEMENT, org]}), config())
    # Then it may already be allowed: the tool neither adds a broader statement nor guesses
    assert decision.action is Action.REFUSE
    assert "aws:PrincipalOrgID" in decision.reason


def test_decision_deny_not_principal_naming_only_the_root_refuses() -> None:
    # Given a Deny for everyone but the account root (the IAM NotPrincipal page: the user is
    # still denied)
    guard = {
        "Sid": "OnlyRoot",
        "Effect": "Deny",
        "NotPrincipal": {"AWS": ROOT_ARN},
        "Action": "kms:*",
        "Resource": "*",
    }
    decision = decide(facts(policy={"Statement": [ROOT_STATEMENT, guard]}), config())
    assert decision.action is Action.REFUSE
    assert "Deny statement 'OnlyRoot' of the key policy applies" in decision.reason


def test_decision_deny_not_principal_listing_role_and_root_refuses_for_role_sessions() -> None:
    guard = {
        "Sid": "OnlyThese",
        "Effect": "Deny",
        "NotPrincipal": {"AWS": [ROLE_ARN, ROOT_ARN]},
        "Action": "kms:*",
        "Resource": "*",
    }
    decision = decide(facts(ROLE_ARN, policy={"Statement": [ROOT_STATEMENT, guard]}), config())
    assert decision.action is Action.REFUSE


def test_decision_start_instances_adds_only_create_grant_for_aws_resources() -> None:
    decision = decide(facts(kind=LaunchKind.START_INSTANCES), config())
    assert decision.action is Action.PUT_KEY_POLICY
    assert decision.policy_change is not None
    assert policy_diff(decision.policy_change) == [attach_stmt(USER_ARN)]


def test_decision_aws_cn_key_gets_the_china_via_service() -> None:
    cn_key = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cn_user = "arn:aws-cn:iam::111122223333:user/li"
    root = {**ROOT_STATEMENT, "Principal": {"AWS": "arn:aws-cn:iam::111122223333:root"}}
    the_facts = replace(
        facts(cn_user, key(cn_key), policy={"Statement": [root]}), event_region="cn-north-1"
    )
    cn_config = parse_config(
        {"allow": {"principals": [cn_user], "keys": ["arn:aws-cn:kms:*:111122223333:key/*"]}}
    )
    decision = decide(the_facts, cn_config)
    assert decision.action is Action.PUT_KEY_POLICY
    assert decision.policy_change is not None
    [use, _] = policy_diff(decision.policy_change)
    assert use["Condition"] == {
        "StringEquals": {"kms:ViaService": "ec2.cn-north-1.amazonaws.com.cn"}
    }


# --- across accounts ------------------------------------------------------------------------


def key_owner_facts(principal: str, **changes: Any) -> Facts:
    """The key owner's (K's) deployment, its own key, a principal of account A, whose identity
    policies K cannot read (an SLR's are AWS's, known without reading)."""
    k_root = {**ROOT_STATEMENT, "Principal": {"AWS": OTHER_ROOT_ARN}}
    side = (
        IdentitySide(IdentityState.AWS_MANAGED, IdentityPolicies(principal))
        if ":role/aws-service-role/" in principal
        else IdentitySide(IdentityState.OTHER_ACCOUNT, note="in account 111122223333")
    )
    base = facts(principal, key(OTHER_KEY_ARN), policy={"Statement": [k_root]})
    defaults: dict[str, Any] = {"this_account": OTHER, "principal_exists": None, "identity": side}
    return replace(base, **{**defaults, **changes})


def test_decision_key_owner_side_writes_its_statements_and_names_what_remains() -> None:
    # Given K's deployment, K's key, a user of A: A's identity policy must allow too
    decision = decide(key_owner_facts(OTHER_USER_ARN), config())
    # Then K's statements (limited to EC2) are planned, but not as a remediation: the launch
    # also needs the IAM statements in A, which the notification carries
    assert decision.action is Action.PUT_KEY_POLICY
    assert decision.still_needed
    assert decision.policy_change is not None
    assert policy_diff(decision.policy_change) == [
        via_ec2_stmt(OTHER_USER_ARN),
        attach_stmt(OTHER_USER_ARN),
    ]
    assert [s["Sid"] for s in decision.suggested_fix["iam_policy_statements"]] == [
        "KmsLaunchUseViaEc2",
        "KmsLaunchAttach",
    ]


def test_decision_key_owner_side_with_its_statements_already_there_is_blocked_elsewhere() -> None:
    policy = {
        "Statement": [
            {**ROOT_STATEMENT, "Principal": {"AWS": OTHER_ROOT_ARN}},
            via_ec2_stmt(OTHER_USER_ARN),
            attach_stmt(OTHER_USER_ARN),
        ]
    }
    decision = decide(key_owner_facts(OTHER_USER_ARN, policy=policy), config())
    # On today's main this was "already allowed": the key policy alone was judged
    assert decision.action is Action.BLOCKED_ELSEWHERE
    assert decision.suggested_fix["blocked_by"] == "other-account-identity"
    assert decision.suggested_fix["iam_policy_statements"]


def test_decision_key_owner_side_gives_another_accounts_slr_a_grant() -> None:
    # Given an SLR of A: its identity policy is AWS's, so only a grant can work
    decision = decide(key_owner_facts(SLR_ARN), config())
    assert decision.action is Action.CREATE_GRANT
    assert "only through a grant" in decision.reason
    refused = decide(key_owner_facts(SLR_ARN), config(remedy="key-policy"))
    assert refused.action is Action.REFUSE
    assert "only through a grant" in refused.reason


def test_decision_user_with_another_accounts_key_is_refused_with_both_sides() -> None:
    # Given a user here and K's key (its policy cannot be read from here), remedy auto
    the_facts = other_key_facts(USER_ARN, identity=identity(USER_ARN))
    decision = decide(the_facts, config())
    # Then no grant (one could not be limited to EC2): K's statements and the user's IAM ones
    assert decision.action is Action.REFUSE
    assert "cannot be limited to EC2" in decision.reason
    fix = decision.suggested_fix
    assert fix["key_policy_statements"] == [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)]
    assert [s["Resource"] for s in fix["iam_policy_statements"]] == [OTHER_KEY_ARN] * 2
    assert fix["key_owner_statements"] == grant_prerequisite(ACCOUNT, USER_ARN)


def test_decision_user_with_another_accounts_key_gets_a_grant_only_with_remedy_grant() -> None:
    decision = decide(
        other_key_facts(USER_ARN, identity=identity(USER_ARN)), config(remedy="grant")
    )
    assert decision.action is Action.CREATE_GRANT
    assert "cannot be limited to EC2" in decision.reason


def test_decision_grant_denied_fix_is_the_prerequisite_for_exactly_this_grant() -> None:
    the_facts = other_key_facts()
    plan = grant_plan(OTHER_KEY_ARN, SLR_ARN)
    fix = grant_denied_fix(the_facts, plan)
    assert fix["key_policy_statements"] == grant_prerequisite(ACCOUNT, SLR_ARN)
    assert all("GrantIsForAWSResource" not in json.dumps(s) for s in fix["key_policy_statements"])
    assert "RemediatorRoleArn" in fix["key_policy_note"]
    assert fix["grant_cli"] == plan.cli()


def test_decision_write_denied_fix_tells_the_key_admin_what_to_allow() -> None:
    fix = write_denied_fix(facts(), "kms:PutKeyPolicy")
    assert fix["key_policy_statements"] == [via_ec2_stmt(USER_ARN), attach_stmt(USER_ARN)]
    assert "KMS denied kms:PutKeyPolicy to the remediator" in fix["key_policy_note"]
