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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    launch_verdict,
    policy_diff,
    suggested_fix,
    write_denied_fix,
)
from remediator.model import KeyInfo, PlannedChange
from remediator.outcomes import Outcome
from remediator.policy import (
    ADMIN_ACTIONS,
    admin_actions_granted,
    parse_policy,
    render,
    same_untouched_parts,
)
from remediator.ports import AccessDenied, AwsError, AwsPort, LockLost, Rejected, StatePort
from remediator.recovery import Recovered, recover, settle
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
    return {"grant": plan_record(decision.grant)}


@dataclass
class Remedies:
    aws: AwsPort
    state: StatePort
    config: RemediatorConfig
    # Changes that an interrupted invocation left pending and this one completed: the
    # pipeline notifies them as their own reports.
    recovered: list[Recovered] = field(default_factory=list)

    def apply(self, event_id: str, facts: Facts, decision: Decision) -> Result:
        with self.state.lock(facts.key.arn):
            self.recovered += recover(self.aws, self.state, facts.key.arn)
            if self.state.serializes_writes:
                # Read-modify-write under the lock: another invocation may have changed the
                # policy, made the grant, or spent the hourly cap while this one waited.
                try:
                    facts = self._refresh(facts)
                except AccessDenied as err:
                    # The policy changed while this one waited, and no longer lets it read.
                    return Result(
                        Outcome.REFUSED,
                        f"KMS denied GetKeyPolicy to this account: {err}",
                        suggested_fix=write_denied_fix(facts, "kms:GetKeyPolicy"),
                    )
                decision = decide(facts, self.config)
            if decision.action is Action.PUT_KEY_POLICY:
                return self._key_policy(event_id, facts, decision)
            if decision.action is Action.CREATE_GRANT:
                assert decision.grant is not None
                return self._grant(event_id, facts, decision.grant, decision.reason)
            return no_change(decision)

    def recover_pending(self, key_arn: str) -> None:
        """Settle changes left pending on the key by an invocation that stopped mid-way."""
        if self.state.serializes_writes and self.state.pending_changes(key_arn):
            with self.state.lock(key_arn):
                self.recovered += recover(self.aws, self.state, key_arn)

    def _refresh(self, facts: Facts) -> Facts:
        key_arn = facts.key.arn
        fresh = replace(facts, changes_in_last_hour=self.state.changes_in_last_hour(key_arn))
        if facts.policy is not None:
            fresh = replace(fresh, policy=parse_policy(self.aws.get_key_policy(key_arn)))
        if facts.grants is not None and not facts.grants_denied:
            fresh = replace(fresh, grants=read_grants(self.aws, key_arn))
        return fresh

    # --- key policy ------------------------------------------------------------------------

    def _key_policy(self, event_id: str, facts: Facts, decision: Decision) -> Result:
        key = facts.key
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
        planned = PlannedChange(
            key.arn, event_id, facts.principal.arn, KEY_POLICY, facts.policy, change.after
        )
        change_id, failed = self._write(
            planned, result, facts, lambda: self.aws.put_key_policy(key.arn, text)
        )
        if failed:
            return failed
        changes = {"statements": added}
        after = parse_policy(self.aws.get_key_policy(key.arn))
        problem = verify_key_policy(facts, after)
        note = f"verification failed: {problem}" if problem else ""
        audited = self._finish(key.arn, change_id, after, note)
        if problem or audited:
            why = f"verification failed after PutKeyPolicy: {problem}" if problem else audited
            return replace(result, outcome=Outcome.FAILED, changes=changes, reason=why)
        undo = policy_undo(key, facts.principal.arn, facts.policy, change_id)
        return replace(result, changes=changes, undo=undo, change_id=change_id or None)

    # --- grant -----------------------------------------------------------------------------

    def _grant(self, event_id: str, facts: Facts, plan: GrantPlan, reason: str) -> Result:
        result = Result(Outcome.REMEDIATED, reason, remedy=GRANT)
        planned = PlannedChange(
            plan.key_arn, event_id, facts.principal.arn, GRANT, None, plan_record(plan)
        )
        grant_ids: list[str] = []

        def write() -> None:
            grant_ids.append(
                self.aws.create_grant(plan.key_arn, plan.grantee, plan.operations, plan.name)
            )

        change_id, failed = self._write(planned, result, facts, write)
        if failed:
            return failed
        [grant_id] = grant_ids
        changes = {
            "grant_id": grant_id,
            "grant_name": plan.name,
            "grantee": plan.grantee,
            "operations": list(plan.operations),
        }
        result = replace(result, changes=changes, undo=grant_undo(plan.key_arn, grant_id))
        verified, problem = self.verify_grant(facts, plan, grant_id)
        audited = self._finish(plan.key_arn, change_id, {"grant_id": grant_id}, problem)
        if problem or audited:
            return replace(result, outcome=Outcome.FAILED, reason=problem or audited)
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

    # --- fenced write and its audit --------------------------------------------------------

    def _write(
        self,
        planned: PlannedChange,
        result: Result,
        facts: Facts,
        write: Callable[[], None],
    ) -> tuple[str, Result | None]:
        """Record the intent, fence, then write: (the change id, None) when written; else the
        result, with the intent settled."""
        what = _WRITES[planned.remedy]
        try:
            change_id = self.state.begin_change(planned)
        except AwsError as err:
            why = f"{what} not attempted: the change could not be recorded first ({err})"
            return "", replace(result, outcome=Outcome.FAILED, reason=why)
        return change_id, self._fenced(planned, change_id, result, facts, write)

    def _fenced(
        self,
        planned: PlannedChange,
        change_id: str,
        result: Result,
        facts: Facts,
        write: Callable[[], None],
    ) -> Result | None:
        key_arn, what = planned.key_arn, _WRITES[planned.remedy]
        try:
            self.state.fence(key_arn)
        except LockLost as err:
            self.state.abandon_change(key_arn, change_id)
            return replace(result, outcome=Outcome.FAILED, reason=f"{what} not attempted: {err}")
        try:
            write()
        except (Rejected, AccessDenied) as err:
            self.state.abandon_change(key_arn, change_id)
            verb = "rejected" if isinstance(err, Rejected) else "denied"
            return replace(
                result,
                outcome=Outcome.REFUSED,
                reason=_REFUSALS[planned.remedy].format(verb=verb, err=err),
                suggested_fix=_refused_fix(facts, planned, denied=isinstance(err, AccessDenied)),
            )
        except AwsError as err:
            # Whether KMS applied it is unknown: look now, and leave it to the next
            # invocation on this key if even that cannot tell.
            settled = settle(self.aws, self.state, planned, change_id)
            return replace(result, outcome=Outcome.FAILED, reason=f"{what} failed: {err}{settled}")
        return None

    def _finish(self, key_arn: str, change_id: str, after: Any, note: str) -> str:
        """Audit a change that was made; the problem when the record cannot be written."""
        try:
            self.state.finish_change(key_arn, change_id, after, note)
        except AwsError as err:
            return (
                f"the change was made, but its audit record could not be written ({err}); "
                "it stays recorded as pending and the next invocation on this key completes it"
            )
        return ""


_WRITES = {KEY_POLICY: "PutKeyPolicy", GRANT: "CreateGrant"}
_REFUSALS = {
    KEY_POLICY: "KMS {verb} the new policy: {err}",
    GRANT: "KMS {verb} CreateGrant from this account: {err}",
}


def _refused_fix(facts: Facts, planned: PlannedChange, *, denied: bool) -> dict[str, Any]:
    """What a key administrator must do when KMS refused the write: for a denied CreateGrant,
    the statements that permit exactly this grant; for a denied PutKeyPolicy, the statements to
    add by hand and what to let the remediator do."""
    if not denied:
        return suggested_fix(facts)
    if planned.remedy == GRANT:
        record = planned.planned
        plan = GrantPlan(
            planned.key_arn, record["grantee"], tuple(record["operations"]), record["name"]
        )
        return grant_denied_fix(facts, plan)
    return write_denied_fix(facts, "kms:PutKeyPolicy")


def plan_record(plan: GrantPlan) -> dict[str, Any]:
    return {"name": plan.name, "grantee": plan.grantee, "operations": list(plan.operations)}


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
    if not same_untouched_parts(facts.policy, after):
        # Compared exactly (exact_json.same): a changed number, a boolean become a string, a
        # dropped or added name all count, though Python's == would hold some of them equal.
        return "statements the tool did not write (or the policy's Version or Id) changed"
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
