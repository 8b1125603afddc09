"""Remedies: the two changes this tool makes, each as vet -> write -> verify -> record, under the
per-key lock, and how to undo them.

- Key policy: re-read under the lock (KMS has no conditional PutKeyPolicy), vet the new
  policy, PutKeyPolicy, read it back and ``verify_key_policy``, record the change.
- Grant: re-list under the lock, CreateGrant with a deterministic name (a retry returns the
  same grant), ``verify_grant`` by listing it where that is allowed, record the change.

A change whose post-condition does not hold is reported ``failed``; the pipeline raises so
that the async retry, and then the dead-letter queue, take over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from remediator.assess import read_grants
from remediator.authorization import Blocker
from remediator.config import RemediatorConfig
from remediator.decision import (
    Action,
    Decision,
    Facts,
    GrantPlan,
    decide,
    grant_denied_fix,
    has_equivalent_grant,
    launch_verdict,
    policy_diff,
    suggested_fix,
    write_denied_fix,
)
from remediator.model import KeyInfo
from remediator.outcomes import Outcome
from remediator.policy import (
    ADMIN_ACTIONS,
    admin_actions_granted,
    non_tool_statements,
    parse_policy,
    render,
)
from remediator.ports import AccessDenied, AwsError, AwsPort, Rejected, StatePort
from remediator.report import Result

KEY_POLICY = Action.PUT_KEY_POLICY.value
GRANT = Action.CREATE_GRANT.value


def no_change(decision: Decision) -> Result:
    """The result of a decision that changes nothing."""
    if decision.action is Action.NOTHING:
        return Result(Outcome.ALREADY_ALLOWED, decision.reason)
    outcome = (
        Outcome.BLOCKED_ELSEWHERE
        if decision.action is Action.BLOCKED_ELSEWHERE
        else Outcome.REFUSED
    )
    return Result(outcome, decision.reason, suggested_fix=decision.suggested_fix)


def planned_changes(decision: Decision) -> dict[str, Any]:
    """What a dry run reports it would apply."""
    if decision.policy_change is not None:
        return {"statements": policy_diff(decision.policy_change)}
    assert decision.grant is not None
    plan = decision.grant
    return {
        "grant": {"name": plan.name, "grantee": plan.grantee, "operations": list(plan.operations)}
    }


@dataclass
class Remedies:
    aws: AwsPort
    state: StatePort
    config: RemediatorConfig

    def apply(self, event_id: str, facts: Facts, decision: Decision) -> Result:
        with self.state.lock(facts.key.arn):
            if decision.action is Action.PUT_KEY_POLICY:
                return self._key_policy(event_id, facts, decision)
            assert decision.grant is not None
            return self._grant(event_id, facts, decision.grant, decision.reason)

    # --- key policy ------------------------------------------------------------------------

    def _key_policy(self, event_id: str, facts: Facts, decision: Decision) -> Result:
        key = facts.key
        if self.state.serializes_writes:
            # Read-modify-write under the lock: another invocation may have changed the policy
            # while this one waited. (Without a lock a re-read would close no race.)
            try:
                facts = replace(facts, policy=parse_policy(self.aws.get_key_policy(key.arn)))
            except AccessDenied as err:
                reason = f"KMS denied GetKeyPolicy to this account: {err}"
                return Result(
                    Outcome.REFUSED,
                    reason,
                    suggested_fix=write_denied_fix(facts, "kms:GetKeyPolicy"),
                )
            decision = decide(facts, self.config)
            if decision.action is Action.CREATE_GRANT:
                assert decision.grant is not None
                return self._grant(event_id, facts, decision.grant, decision.reason)
            if decision.action is not Action.PUT_KEY_POLICY:
                return no_change(decision)
        assert facts.policy is not None and decision.policy_change is not None
        change = decision.policy_change
        text = render(change.after)
        assert text is not None  # decide() refused or chose a grant otherwise
        added = policy_diff(change)
        result = Result(Outcome.REMEDIATED, decision.reason, remedy=KEY_POLICY)
        if decision.still_needed:
            # The key's side was needed but is not enough: say what else must change, and where.
            result = replace(
                result, outcome=Outcome.BLOCKED_ELSEWHERE, suggested_fix=decision.suggested_fix
            )
        problem = vet(self.aws, text, added)
        if problem:
            return replace(
                result, outcome=Outcome.REFUSED, reason=problem, suggested_fix=suggested_fix(facts)
            )
        try:
            self.aws.put_key_policy(key.arn, text)
        except Rejected as err:
            return replace(
                result,
                outcome=Outcome.REFUSED,
                reason=f"KMS rejected the new policy: {err}",
                suggested_fix=suggested_fix(facts),
            )
        except AccessDenied as err:
            return replace(
                result,
                outcome=Outcome.REFUSED,
                reason=f"KMS denied PutKeyPolicy to this account: {err}",
                suggested_fix=write_denied_fix(facts, "kms:PutKeyPolicy"),
            )
        except AwsError as err:
            return replace(result, outcome=Outcome.FAILED, reason=f"PutKeyPolicy failed: {err}")
        changes = {"statements": added}
        after = parse_policy(self.aws.get_key_policy(key.arn))
        problem = verify_key_policy(facts, after)
        if problem:
            return replace(
                result,
                outcome=Outcome.FAILED,
                changes=changes,
                reason=f"verification failed after PutKeyPolicy: {problem}",
            )
        change_id = self.state.record_change(
            key_arn=key.arn,
            event_id=event_id,
            principal_arn=facts.principal.arn,
            remedy=KEY_POLICY,
            before=facts.policy,
            after=after,
        )
        undo = policy_undo(key, facts.principal.arn, facts.policy, change_id)
        return replace(result, changes=changes, undo=undo, change_id=change_id or None)

    # --- grant -----------------------------------------------------------------------------

    def _grant(self, event_id: str, facts: Facts, plan: GrantPlan, reason: str) -> Result:
        result = Result(Outcome.REMEDIATED, reason, remedy=GRANT)
        if self.state.serializes_writes and not facts.grants_denied:
            # Another invocation may have made the grant while this one waited for the lock.
            # (decide() has checked the grants read before; without a lock, that is all.)
            grants = read_grants(self.aws, plan.key_arn)
            if grants is not None and has_equivalent_grant(grants, plan):
                return Result(Outcome.ALREADY_ALLOWED, "an equivalent grant already exists")
        try:
            grant_id = self.aws.create_grant(plan.key_arn, plan.grantee, plan.operations, plan.name)
        except AccessDenied as err:
            return replace(
                result,
                outcome=Outcome.REFUSED,
                reason=f"KMS denied CreateGrant from this account: {err}",
                suggested_fix=grant_denied_fix(facts, plan),
            )
        except AwsError as err:
            return replace(result, outcome=Outcome.FAILED, reason=f"CreateGrant failed: {err}")
        changes = {
            "grant_id": grant_id,
            "grant_name": plan.name,
            "grantee": plan.grantee,
            "operations": list(plan.operations),
        }
        result = replace(result, changes=changes, undo=grant_undo(plan.key_arn, grant_id))
        verified, problem = self.verify_grant(facts, plan, grant_id)
        if problem:
            return replace(result, outcome=Outcome.FAILED, reason=problem)
        change_id = self.state.record_change(
            key_arn=plan.key_arn,
            event_id=event_id,
            principal_arn=facts.principal.arn,
            remedy=GRANT,
            before=None,
            after={"grant_id": grant_id},
        )
        extra = (
            {}
            if verified
            else {"verification": "ListGrants is not allowed on this key; grant id returned"}
        )
        return replace(result, change_id=change_id or None, extra=extra)

    def verify_grant(self, facts: Facts, plan: GrantPlan, grant_id: str) -> tuple[bool, str]:
        """(whether the grant was listed, the problem if it does not hold)."""
        if facts.grants_denied:
            return False, ""
        after = read_grants(self.aws, plan.key_arn)
        if after is None:
            return False, ""
        listed = any(
            g.grant_id == grant_id and set(plan.operations) <= set(g.operations) for g in after
        )
        return True, "" if listed else "verification failed: the new grant is not listed"


def vet(aws: AwsPort, policy_text: str, added: list[dict[str, Any]]) -> str | None:
    """Why the new policy must not be applied, or None. The local check always runs;
    Access Analyzer adds its own where it is available."""
    granted = admin_actions_granted(added)
    if granted:
        return f"the added statements would grant administrative actions {granted}"
    findings = aws.validate_policy(policy_text)
    errors = [f for f in findings or [] if f.get("findingType") == "ERROR"]
    if errors:
        details = "; ".join(f"{f.get('issueCode')}: {f.get('findingDetails')}" for f in errors)
        return f"Access Analyzer ValidatePolicy reported errors: {details}"
    added_text = json.dumps({"Version": "2012-10-17", "Statement": added})
    checked = aws.check_access_not_granted(added_text, ADMIN_ACTIONS)
    if checked is not None and checked[0] != "PASS":
        return (
            f"Access Analyzer: the added statements may grant administrative access: {checked[1]}"
        )
    return None


def verify_key_policy(facts: Facts, after: dict[str, Any]) -> str | None:
    """The problem with the policy read back after PutKeyPolicy, or None when it holds: the
    launch is allowed (or, for a principal of another account, the key's side of it is), and
    every statement the tool did not write is as it was."""
    assert facts.policy is not None
    verdict = launch_verdict(replace(facts, policy=after))
    if not verdict.allowed and verdict.blocker is not Blocker.OTHER_ACCOUNT_IDENTITY:
        return verdict.detail
    if non_tool_statements(after) != non_tool_statements(facts.policy):
        return "other statements changed"
    return None


def policy_undo(key: KeyInfo, principal_arn: str, before: Any, change_id: str) -> dict[str, Any]:
    undo: dict[str, Any] = {
        "description": f"restore the key policy as it was before {principal_arn} was added",
        "cli": f"aws kms put-key-policy --key-id {key.arn} --policy-name default "
        "--policy file://previous-policy.json",
        "previous_policy": before,
    }
    if change_id:
        undo["rollback"] = f"python -m remediator rollback --key {key.arn} --change-id {change_id}"
    return undo


def grant_undo(key_arn: str, grant_id: str) -> dict[str, Any]:
    return {
        "description": "revoke the grant",
        "cli": f"aws kms revoke-grant --key-id {key_arn} --grant-id {grant_id}",
    }
