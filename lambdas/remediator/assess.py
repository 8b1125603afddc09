"""Assess: re-read AWS for one target and return the ``Facts`` the decision is taken on.

The event is a trigger, not the truth: the key is resolved and described, and its policy,
its grants, the principal and its identity policies (inline, attached, its groups', its
permissions boundary) are read now: AWS decides on all of them (``authorization.py``). The
Lambda's role may read the policy and grants of allowlisted keys only, so for any other pair
nothing more is read: ``decide`` refuses it before it needs more. ``diagnose`` asks for a
thorough assessment, which reads whatever the caller's credentials can read, and keeps why
something could not be read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from remediator.arns import Principal, PrincipalKind, key_arn_parts, key_id_of
from remediator.authorization import IdentitySide, IdentityState
from remediator.config import RemediatorConfig
from remediator.decision import Facts, grant_plan
from remediator.fixes import grant_prerequisite, key_fix, prerequisite_note
from remediator.identify import Target
from remediator.launch_model import launch_kind
from remediator.model import Grant, IdentityPolicies, KeyInfo, NamedPolicy
from remediator.policy import PolicyError, parse_policy
from remediator.ports import AccessDenied, AwsPort, StatePort

logger = logging.getLogger(__name__)

_CHECKABLE = (PrincipalKind.ROLE, PrincipalKind.USER, PrincipalKind.SERVICE_LINKED_ROLE)
DESCRIBE_DENIED = "this account may not describe key"
ASSUME_ROLE = "sts:AssumeRole"  # the operation of a member role that could not be assumed


@dataclass(frozen=True)
class Assessment:
    """The facts for one target, or why no decision can be taken on it."""

    key: KeyInfo | None = None
    facts: Facts | None = None
    problem: str | None = None  # why the target cannot be decided (no key, a key mismatch, ...)
    policy_note: str = ""  # why the key policy was not read, in words (for diagnose)
    grants_note: str = ""  # why the grants were not read, in words (for diagnose)
    suggested_fix: dict[str, Any] | None = None  # for a problem whose fix is known exactly


def assess(
    aws: AwsPort,
    state: StatePort,
    config: RemediatorConfig,
    *,
    this_account: str,
    event_account: str,
    region: str,
    target: Target,
    thorough: bool = False,
) -> Assessment:
    """``this_account`` is the account the credentials act in (STS GetCallerIdentity),
    ``event_account`` the account the event claims (its ``account`` field)."""
    if event_account != this_account:
        return Assessment(problem=foreign_event_problem(event_account, this_account))
    if target.problem or target.principal is None or target.key_reference is None:
        return Assessment(problem=target.problem or "the event names no usable key or principal")
    key, problem = resolve_key(aws, target, region)
    if key is None or problem:
        denied = key is None and (problem or "").startswith(DESCRIBE_DENIED)
        fix = _describe_denied_fix(target, this_account) if denied else None
        problem = problem or "the key could not be resolved"
        return Assessment(key=key, problem=problem, suggested_fix=fix)
    principal = target.principal
    kind = launch_kind(principal, target.launch_call)
    facts = Facts(this_account, region, principal, key, None, None, None, kind=kind)
    allow = config.allow
    allowed = allow.allows_key(key.arn) and allow.allows_principal(principal.arn)
    if key.manager != "CUSTOMER" or not (allowed or thorough):
        return Assessment(key=key, facts=facts, policy_note=_unread_note(key))
    try:
        policy, policy_note = _policy(aws, key, this_account)
    except PolicyError as err:
        logger.warning("key_policy_unreadable", extra={"key_arn": key.arn, "error": str(err)})
        if not thorough:
            return Assessment(key=key, facts=facts, problem=unsafe_policy_problem(err))
        policy, policy_note = None, f"unreadable: {err}"
    # Grants allow as much as the key policy does: read them for this account's keys too.
    grants, grants_note = _grants(aws, key.arn)
    identity = identity_side(aws, principal, this_account)
    facts = replace(
        facts,
        policy=policy,
        grants=grants,
        grants_denied=bool(grants_note),
        principal_exists=_exists(aws, principal, this_account, identity),
        identity=identity,
        changes_in_last_hour=state.changes_in_last_hour(key.arn) if allowed else 0,
        policy_problem=policy_note if key.account == this_account else "",
    )
    return Assessment(key=key, facts=facts, policy_note=policy_note, grants_note=grants_note)


def foreign_event_problem(event_account: str, this_account: str) -> str:
    """Why an event of another account is not acted on.

    An AWS service's event carries "the account and region in which it occurred" (EventBridge
    reference, "Event structure"; ``account`` is "the 12-digit number identifying an AWS
    account", user guide, "Event structure reference"), and a rule that forwards it to another
    account's bus keeps that account. A customer's own events may not use a ``source`` that
    begins with "aws." (same page), so an ``aws.*`` event of another account came here
    forwarded, or was handed over directly (``replay``, a crafted invocation). Either way its
    instance, group and principal are not this account's: these credentials can neither read
    them nor check that the principal exists, and acting on it would take the event's word for
    facts this tool must read itself.
    """
    return (
        f"the event is from account {event_account}, but this remediator acts in account "
        f"{this_account} (STS GetCallerIdentity): an event forwarded from another account, or "
        "crafted, is not acted on; run the remediator in the event's account"
    )


def unsafe_policy_problem(err: PolicyError) -> str:
    """Why a key policy that ``parse_policy`` refuses stops the remediation."""
    return (
        f"{err}; the tool neither acts on nor rewrites a key policy it cannot read exactly: "
        "correct the policy by hand (aws kms get-key-policy / put-key-policy)"
    )


def _exists(
    aws: AwsPort, principal: Principal, this_account: str, identity: IdentitySide
) -> bool | None:
    """Whether the principal exists, None where it cannot be checked (another account). Reading
    its identity policies found it (GetRole/GetUser returned exactly its ARN) or not; only where
    they could not be read is IAM asked again."""
    if principal.account != this_account or principal.kind not in _CHECKABLE:
        return None
    if identity.state in (IdentityState.READ, IdentityState.NOT_FOUND):
        return identity.state is IdentityState.READ
    return aws.principal_exists(principal.arn)


# The account root may do anything in its own account: no identity policy limits it.
_ROOT_PERMISSIONS = NamedPolicy(
    "the account root's own permissions",
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
)


def identity_side(aws: AwsPort, principal: Principal, this_account: str) -> IdentitySide:
    """The principal's identity policies, read in IAM where they are this account's."""
    if principal.account != this_account:
        if principal.kind is PrincipalKind.SERVICE_LINKED_ROLE:
            # AWS's own policy, the same in every account, with no KMS permission on customer
            # keys (launch_model.ASG_KEY_POLICY): known without reading it.
            return IdentitySide(IdentityState.AWS_MANAGED, IdentityPolicies(principal.arn))
        note = f"its identity policies are in account {principal.account}"
        return IdentitySide(IdentityState.OTHER_ACCOUNT, note=note)
    if principal.kind is PrincipalKind.ROOT:
        return IdentitySide.read(IdentityPolicies(principal.arn, (_ROOT_PERMISSIONS,)))
    if principal.kind not in _CHECKABLE:
        return IdentitySide.unreadable(f"a {principal.kind.value} identity has no policies to read")
    try:
        policies = aws.identity_policies(principal.arn)
    except AccessDenied as err:
        return IdentitySide.unreadable(
            f"the identity policies of {principal.arn} could not be read ({err.operation}: "
            f"{err.code})"
        )
    if policies is None:
        return IdentitySide(IdentityState.NOT_FOUND, note=f"IAM has no principal {principal.arn}")
    return IdentitySide.read(policies)


def _describe_denied_fix(target: Target, this_account: str) -> dict[str, Any] | None:
    """DescribeKey of another account's key was denied. For a service-linked role, the statements
    its owner must add before this account can make the launcher's grant; for a user or role,
    the key-policy statements there and the identity policy here that let it launch."""
    arn = key_arn_parts(target.key_reference)
    principal = target.principal
    if arn is None or principal is None or arn.account == this_account:
        return None
    if principal.kind is not PrincipalKind.SERVICE_LINKED_ROLE:
        key = KeyInfo(str(arn), arn.account, arn.region, "CUSTOMER", "unknown")
        return key_fix(principal, key, launch_kind(principal, target.launch_call))
    plan = grant_plan(str(arn), principal.arn)
    return {
        "key_policy_statements": grant_prerequisite(
            this_account, arn.partition, plan.grantee, plan.operations
        ),
        "key_policy_note": prerequisite_note(plan.key_arn, this_account, plan.grantee),
        "grant_cli": plan.cli(),
    }


def resolve_key(aws: AwsPort, target: Target, region: str) -> tuple[KeyInfo | None, str | None]:
    """Describe the key the target names; refuse when the event's key references disagree."""
    reference = target.key_reference or ""
    named = {*target.expected_key_arns, *([reference] if key_arn_parts(reference) else [])}
    if len(named) > 1:
        return None, f"the event names different keys: {sorted(named)}"
    try:
        key = aws.describe_key(reference)
    except AccessDenied as err:
        if err.operation == ASSUME_ROLE:  # organization mode: the key's account is out of reach
            return None, f"the key's account cannot be reached to describe {reference!r}: {err}"
        return None, (
            f"{DESCRIBE_DENIED} {reference!r}: the key owner's policy must allow it "
            "(kms:DescribeKey, kms:CreateGrant) before a grant can be made"
        )
    if key is None:
        return None, f"key {reference!r} was not found"
    if named and key.arn not in named:
        return None, f"{reference!r} resolves to {key.arn}, not to the key the event names"
    direct_id = key_id_of(reference)
    if direct_id and key.arn.rsplit("/", 1)[-1] != direct_id:
        return None, f"{reference!r} resolves to a different key, {key.arn}"
    if key.region != region:
        return key, f"the key is in {key.region}, not in the event's region {region}"
    return key, None


def with_grants(aws: AwsPort, facts: Facts) -> Facts:
    """The facts with the key's grants read, unless they were read or are not listable."""
    if facts.grants is not None or facts.grants_denied:
        return facts
    grants, note = _grants(aws, facts.key.arn)
    return replace(facts, grants=grants, grants_denied=bool(note))


def read_grants(aws: AwsPort, key_arn: str) -> list[Grant] | None:
    """The key's grants, or None when this account may not list them."""
    return _grants(aws, key_arn)[0]


def _grants(aws: AwsPort, key_arn: str) -> tuple[list[Grant] | None, str]:
    try:
        return aws.list_grants(key_arn), ""
    except AccessDenied as err:
        return None, f"cannot be listed from here ({err.code})"


def _policy(aws: AwsPort, key: KeyInfo, this_account: str) -> tuple[dict[str, object] | None, str]:
    if key.account != this_account:
        return None, _unread_note(key)
    try:
        return parse_policy(aws.get_key_policy(key.arn)), ""
    except AccessDenied as err:
        return None, f"could not be read: {err.code}"


def _unread_note(key: KeyInfo) -> str:
    if key.manager == "AWS":
        return (
            "AWS-managed key: its policy is fixed by AWS and lets every principal of the account "
            "use the key through EC2"
        )
    return (
        f"the key belongs to account {key.account}: its policy can be read only there "
        "(GetKeyPolicy works in the key's own account)"
    )
