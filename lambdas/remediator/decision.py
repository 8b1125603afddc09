"""What to do about one (key, principal) pair: a pure function over freshly read facts.

The order of checks is the safety argument: the principal must be nameable, the key must be
fixable, both must be allowlisted, nothing may already deny, and only then is a change planned.
Every refusal carries the exact fix an operator could apply by hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from remediator.access import Access, evaluate
from remediator.arns import Principal, PrincipalKind
from remediator.config import RemediatorConfig, Remedy
from remediator.model import Grant, KeyInfo
from remediator.outcomes import SERVICE_NAME
from remediator.policy import (
    GRANT_OPERATIONS,
    LAUNCH_ACTIONS,
    PolicyChange,
    PolicyError,
    add_principal,
    render,
    tool_statements,
)

GRANT_NAME_PREFIX = f"{SERVICE_NAME}-"


class Action(StrEnum):
    NOTHING = "nothing"  # already allowed
    REFUSE = "refuse"
    PUT_KEY_POLICY = "key-policy"
    CREATE_GRANT = "grant"


@dataclass(frozen=True)
class Facts:
    """What was read from AWS just now, not what the event claimed."""

    this_account: str
    event_region: str
    principal: Principal
    key: KeyInfo
    policy: dict[str, Any] | None  # None when the key is in another account (not readable)
    grants: list[Grant] | None  # None when not read (yet), or not listable
    principal_exists: bool | None  # None when it cannot be checked (another account)
    changes_in_last_hour: int = 0
    grants_denied: bool = False  # ListGrants is denied on this key: do not ask again


@dataclass(frozen=True)
class GrantPlan:
    key_arn: str
    grantee: str
    operations: tuple[str, ...]
    name: str

    def cli(self) -> str:
        return (
            f"aws kms create-grant --key-id {self.key_arn} --grantee-principal {self.grantee} "
            f"--operations {' '.join(self.operations)} --name {self.name}"
        )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    policy_change: PolicyChange | None = None
    grant: GrantPlan | None = None
    suggested_fix: dict[str, Any] = field(default_factory=dict)


def grant_plan(key_arn: str, principal_arn: str) -> GrantPlan:
    digest = hashlib.sha256(f"{key_arn}|{principal_arn}".encode()).hexdigest()[:16]
    return GrantPlan(key_arn, principal_arn, GRANT_OPERATIONS, GRANT_NAME_PREFIX + digest)


def has_equivalent_grant(grants: list[Grant], plan: GrantPlan) -> bool:
    return any(
        g.grantee == plan.grantee and set(plan.operations) <= set(g.operations) for g in grants
    )


def suggested_fix(facts: Facts) -> dict[str, Any]:
    """What an operator would apply by hand: the key-owner statements, or the grant command."""
    statements = tool_statements(facts.principal, facts.key.account, facts.key.region)
    fix: dict[str, Any] = {
        "key_policy_statements": statements,
        "key_policy_note": (
            f"Add these statements to the policy of {facts.key.arn} in account "
            f"{facts.key.account} (aws kms get-key-policy / put-key-policy, policy name default)."
        ),
    }
    if facts.key.account != facts.this_account or facts.principal.account != facts.key.account:
        fix["grant_cli"] = grant_plan(facts.key.arn, facts.principal.arn).cli()
        fix["grant_note"] = (
            f"Run from account {facts.principal.account}, on the key ARN; the caller needs IAM "
            f"kms:CreateGrant on {facts.key.arn}, and the key policy must allow that account."
        )
    return fix


AWS_MANAGED_REASON = (
    "the key is AWS-managed: its policy cannot be edited and already allows the "
    "account's principals, so the launch failure has another cause"
)
AWS_MANAGED_FIX = {
    "manual_review": (
        "AWS-managed keys (such as aws/ebs) let every principal of their account use them "
        "through EC2. Look for what else denies kms:CreateGrant or kms:Decrypt to the launching "
        "principal: a service control policy, a permissions boundary, or an explicit Deny in its "
        "IAM policies; or another, customer-managed key on the launch (volumes, AMI snapshots)."
    )
}


def manual_fix(reason: str, instance_id: str | None) -> dict[str, Any]:
    """For events the tool cannot act on at all: what an operator should look at."""
    fix: dict[str, Any] = {
        "manual_review": (
            f"The remediator could not act: {reason}. Check the CloudTrail event and the key "
            "policy by hand; the tool changes nothing it cannot identify exactly."
        )
    }
    if instance_id:
        fix["diagnose"] = f"python -m remediator diagnose --instance-id {instance_id}"
    return fix


def decide(facts: Facts, config: RemediatorConfig) -> Decision:
    """The one decision for a (key, principal) pair. Each step refuses, answers, or passes."""
    return (
        _unfixable_key(facts)
        or _outside_allowlist(facts, config)
        or _already_allowed(facts)
        or _over_the_cap(facts, config)
        or _remedy(facts, config)
    )


def _refuse(facts: Facts, reason: str) -> Decision:
    return Decision(Action.REFUSE, reason, suggested_fix=suggested_fix(facts))


def _unfixable_key(facts: Facts) -> Decision | None:
    """1. Keys that no change can fix."""
    key = facts.key
    if key.manager == "AWS":
        # No key-policy statement can be suggested: nobody can edit this policy.
        return Decision(Action.REFUSE, AWS_MANAGED_REASON, suggested_fix=AWS_MANAGED_FIX)
    if key.state != "Enabled":
        return _refuse(facts, f"the key is {key.state}; enable it (or cancel its deletion) first")
    if key.region != facts.event_region:
        return _refuse(
            facts, f"the key is in {key.region}, not in the event's region {facts.event_region}"
        )
    return None


def _outside_allowlist(facts: Facts, config: RemediatorConfig) -> Decision | None:
    """2. The allowlist, and identities that must be named exactly."""
    principal, allow = facts.principal, config.allow
    if not allow.allows_key(facts.key.arn):
        return _refuse(facts, "the key is not in the allowlist (allow.keys)")
    if not allow.allows_principal(principal.arn):
        return _refuse(facts, "the principal is not in the allowlist (allow.principals)")
    exact_only = (PrincipalKind.ROOT, PrincipalKind.FEDERATED, PrincipalKind.ANONYMOUS)
    if principal.kind in exact_only and not allow.names_principal_exactly(principal.arn):
        return _refuse(
            facts,
            f"the principal is a {principal.kind.value} identity; it is changed only when "
            "allow.principals names its exact ARN, without a glob",
        )
    if facts.principal_exists is False:
        return _refuse(facts, "the principal does not exist in IAM")
    return None


def _already_allowed(facts: Facts) -> Decision | None:
    """3. Already allowed? (re-read state; the event may be stale or a replay)"""
    plan = grant_plan(facts.key.arn, facts.principal.arn)
    if facts.grants is not None and has_equivalent_grant(facts.grants, plan):
        return Decision(Action.NOTHING, "an equivalent grant already exists")
    if facts.policy is None:
        return None
    try:
        verdict = evaluate(facts.policy, facts.principal, LAUNCH_ACTIONS, facts.key.region)
    except PolicyError as err:
        return _refuse(facts, f"the key policy cannot be read safely: {err}")
    if verdict.access is Access.ALLOWED:
        return Decision(Action.NOTHING, "the key policy already allows the launch")
    if verdict.access is Access.DENIED:
        return _refuse(facts, f"{verdict.detail}; the tool never edits statements it did not write")
    return None


def _over_the_cap(facts: Facts, config: RemediatorConfig) -> Decision | None:
    """4. Anti-loop."""
    limit = config.max_changes_per_key_per_hour
    if facts.changes_in_last_hour < limit:
        return None
    return _refuse(
        facts,
        f"{facts.changes_in_last_hour} changes to this key in the last hour reach the limit "
        f"(max_changes_per_key_per_hour={limit}): likely a loop",
    )


def _remedy(facts: Facts, config: RemediatorConfig) -> Decision:
    """5. Choose the remedy."""
    key, principal = facts.key, facts.principal
    plan = grant_plan(key.arn, principal.arn)
    own_key = key.account == facts.this_account
    if config.remedy is Remedy.GRANT or (config.remedy is Remedy.AUTO and not own_key):
        return Decision(Action.CREATE_GRANT, _grant_reason(own_key), grant=plan)
    if not own_key:
        return _refuse(
            facts,
            "remedy is key-policy, but PutKeyPolicy works only in the key's own account "
            f"({key.account}); apply the suggested statements there or allow remedy grant",
        )
    if facts.policy is None:
        return _refuse(facts, "the key policy could not be read")
    try:
        change = add_principal(facts.policy, principal, key.account, key.region)
    except PolicyError as err:
        return _refuse(facts, str(err))
    if render(change.after) is not None:
        return Decision(
            Action.PUT_KEY_POLICY, "the key policy does not allow the launch", policy_change=change
        )
    if config.remedy is Remedy.AUTO:
        return Decision(
            Action.CREATE_GRANT,
            "the key policy would exceed 32 KB, so a grant is made instead",
            grant=plan,
        )
    return _refuse(
        facts, "the new key policy would exceed 32 KB and remedy key-policy allows no grant"
    )


def _grant_reason(own_key: bool) -> str:
    if own_key:
        return "remedy is grant"
    return "the key belongs to another account, so a grant is made from this account on its ARN"


def policy_diff(change: PolicyChange) -> list[dict[str, Any]]:
    """The statements as they are after the change, for each one added or extended."""
    return [s for s in change.after["Statement"] if s.get("Sid") in change.changed_sids]
