"""What to do about one (key, principal) pair: a pure function over freshly read facts.

The order of checks is the safety argument: the principal must be nameable, the key must be
fixable, both must be allowlisted, and the launch must be neither allowed already nor blocked by
a Deny. Only then is a change planned, and only if the launch, judged as AWS would judge it with
the change made (``authorization.authorize``: key policy, identity policies, boundary, grants),
works: otherwise nothing is written and the outcome names what blocks, and where to change it.
Every refusal carries the exact fix an operator could apply by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from remediator.access import Access
from remediator.arns import PrincipalKind
from remediator.authorization import ELSEWHERE, Blocker, LaunchVerdict
from remediator.config import RemediatorConfig, Remedy
from remediator.facts import (
    GRANT_NAME_PREFIX,
    Facts,
    GrantPlan,
    grant_plan,
    has_equivalent_grant,
    launch_verdict,
)
from remediator.fixes import (
    AWS_MANAGED_FIX,
    blocked_fix,
    grant_beyond_ec2,
    grant_denied_fix,
    manual_fix,
    suggested_fix,
    write_denied_fix,
)
from remediator.model import Grant
from remediator.policy import GRANT_OPERATIONS, PolicyChange, PolicyError, add_principal, render

# The names other modules take from here (the facts and fixes a decision is made of).
__all__ = [
    "AWS_MANAGED_FIX",
    "GRANT_NAME_PREFIX",
    "NO_CHANGE",
    "Action",
    "Decision",
    "Facts",
    "GrantPlan",
    "decide",
    "grant_denied_fix",
    "grant_plan",
    "has_equivalent_grant",
    "launch_verdict",
    "manual_fix",
    "policy_diff",
    "suggested_fix",
    "write_denied_fix",
]


class Action(StrEnum):
    NOTHING = "nothing"  # already allowed
    REFUSE = "refuse"
    BLOCKED_ELSEWHERE = "blocked-elsewhere"  # what blocks is outside the key: no write helps
    PUT_KEY_POLICY = "key-policy"
    CREATE_GRANT = "grant"


NO_CHANGE = (Action.NOTHING, Action.REFUSE, Action.BLOCKED_ELSEWHERE)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    policy_change: PolicyChange | None = None
    grant: GrantPlan | None = None
    suggested_fix: dict[str, Any] = field(default_factory=dict)
    # A change that is needed but not enough: what the launch still needs, out of reach here.
    still_needed: str = ""


AWS_MANAGED_REASON = (
    "the key is AWS-managed: its policy cannot be edited and already allows the "
    "account's principals, so the launch failure has another cause"
)


def decide(facts: Facts, config: RemediatorConfig) -> Decision:
    """The one decision for a (key, principal) pair. Each step refuses, answers, or passes."""
    return (
        _unfixable_key(facts)
        or _outside_allowlist(facts, config)
        or _as_it_is(facts)
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


def _as_it_is(facts: Facts) -> Decision | None:
    """3. Already allowed, or denied? (re-read state; the event may be stale or a replay)"""
    try:
        now = launch_verdict(facts)
    except PolicyError as err:
        return _refuse(facts, f"the key policy cannot be read safely: {err}")
    if now.allowed:
        return Decision(Action.NOTHING, _allowed_reason(now))
    if now.access is Access.DENIED and now.blocker is Blocker.KEY_POLICY:
        return _refuse(facts, f"{now.detail}; the tool never edits statements it did not write")
    if now.access is Access.DENIED:
        return _blocked(facts, now)
    if now.blocker is Blocker.CONDITION:
        return _refuse(
            facts,
            f"the launch may be allowed already: {now.detail}; the tool does not guess, so it "
            "changes nothing",
        )
    return None


def _allowed_reason(verdict: LaunchVerdict) -> str:
    vias = {c.via.split(" ", 1)[0] for c in verdict.calls}
    if vias == {"grant"}:
        return "an equivalent grant already exists"
    if vias == {"key"}:
        return "the key policy already allows the launch"
    return (
        "the key policy, the principal's identity policies and its grants already allow every "
        f"call of the launch ({'; '.join(sorted({c.via for c in verdict.calls}))}); if it still "
        "fails, look at what this tool cannot read: service control policies, resource control "
        "policies, session policies"
    )


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
    """5. Choose the remedy, and make it only if the launch would then work."""
    key, principal = facts.key, facts.principal
    if config.remedy is Remedy.GRANT:
        return _grant(facts, "remedy is grant")
    if key.account != facts.this_account:
        if config.remedy is Remedy.KEY_POLICY:
            return _refuse(
                facts,
                "remedy is key-policy, but PutKeyPolicy works only in the key's own account "
                f"({key.account}); apply the suggested statements there or allow remedy grant",
            )
        if principal.kind is PrincipalKind.SERVICE_LINKED_ROLE:
            return _grant(
                facts,
                "the key belongs to another account, so a grant is made from this account on "
                "its ARN",
            )
        return _refuse(facts, _other_accounts_key_reason(facts))
    return _key_policy(facts, config)


def _other_accounts_key_reason(facts: Facts) -> str:
    key, principal = facts.key, facts.principal
    return (
        f"the key belongs to account {key.account}: a launch by {principal.arn} through EC2 "
        f"needs that account's key policy and an identity policy of the principal here, and "
        f"this account can change neither; a grant (remedy grant) would work but "
        f"{grant_beyond_ec2(principal, GRANT_OPERATIONS)}"
    )


SLR_ELSEWHERE_REASON = (
    "a service-linked role of another account can use this key only through a grant: its "
    "identity policy is AWS-managed and allows no use of customer managed keys"
)


def _key_policy(facts: Facts, config: RemediatorConfig) -> Decision:
    key, principal = facts.key, facts.principal
    if principal.kind is PrincipalKind.SERVICE_LINKED_ROLE and principal.account != key.account:
        if config.remedy is Remedy.AUTO:
            return _grant(facts, SLR_ELSEWHERE_REASON)
        return _refuse(facts, f"{SLR_ELSEWHERE_REASON}; remedy key-policy makes no grant")
    if facts.policy is None:
        problem = f" ({facts.policy_problem})" if facts.policy_problem else ""
        return _refuse(facts, f"the key policy could not be read{problem}")
    try:
        change = add_principal(facts.policy, principal, key.account, key.region, facts.kind)
    except PolicyError as err:
        return _refuse(facts, str(err))
    if render(change.after) is None:
        if config.remedy is Remedy.AUTO:
            return _grant(facts, "the key policy would exceed 32 KB, so a grant is made instead")
        return _refuse(
            facts, "the new key policy would exceed 32 KB and remedy key-policy allows no grant"
        )
    after = launch_verdict(replace(facts, policy=change.after))
    if after.allowed and not change.is_noop:
        return Decision(
            Action.PUT_KEY_POLICY, "the key policy does not allow the launch", policy_change=change
        )
    if after.blocker is Blocker.OTHER_ACCOUNT_IDENTITY and not change.is_noop:
        # The key's side is needed whatever the other side says: write it, and say what remains.
        return Decision(
            Action.PUT_KEY_POLICY,
            f"the key policy now lets {principal.arn} use the key through EC2, and the launch "
            f"also needs its identity policy in account {principal.account} to allow it: apply "
            "the iam_policy_statements of suggested_fix there",
            policy_change=change,
            suggested_fix=suggested_fix(facts),
            still_needed=after.detail,
        )
    return _explain(facts, after)


def _grant(facts: Facts, reason: str) -> Decision:
    principal = facts.principal
    plan = grant_plan(facts.key.arn, principal.arn)
    planned = Grant("(planned)", plan.grantee, plan.operations, plan.name)
    after = launch_verdict(replace(facts, grants=[*(facts.grants or ()), planned]))
    if not after.allowed:
        return _explain(facts, after)
    if principal.kind is not PrincipalKind.SERVICE_LINKED_ROLE:
        reason = f"{reason}; note: {grant_beyond_ec2(principal, plan.operations)}"
    return Decision(Action.CREATE_GRANT, reason, grant=plan)


def _explain(facts: Facts, verdict: LaunchVerdict) -> Decision:
    """No change the tool may make would let the launch work: say why, and where to fix it."""
    if verdict.blocker in ELSEWHERE:
        return _blocked(facts, verdict)
    return _refuse(facts, f"no change this tool may make lets the launch work: {verdict.detail}")


def _blocked(facts: Facts, verdict: LaunchVerdict) -> Decision:
    return Decision(
        Action.BLOCKED_ELSEWHERE,
        f"the launch is blocked outside the key: {verdict.detail}",
        suggested_fix=blocked_fix(facts, verdict),
    )


def policy_diff(change: PolicyChange) -> list[dict[str, Any]]:
    """The statements as they are after the change, for each one added or extended."""
    return [s for s in change.after["Statement"] if s.get("Sid") in change.changed_sids]
