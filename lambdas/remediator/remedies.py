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

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from remediator.assess import read_grants
from remediator.config import RemediatorConfig
from remediator.cross_account import (
    Prerequisite,
    edited_prerequisite,
    prerequisite_holds,
    with_prerequisite,
)
from remediator.decision import (
    Action,
    Decision,
    Facts,
    GrantPlan,
    decide,
    grant_denied_fix,
    policy_diff,
    suggested_fix,
    write_denied_fix,
)
from remediator.model import PlannedChange
from remediator.outcomes import Outcome
from remediator.policy import parse_policy, render
from remediator.ports import AccessDenied, AwsError, AwsPort, LockLost, Rejected, StatePort
from remediator.recovery import Recovered, recover, settle
from remediator.remedy_checks import (
    grant_undo,
    no_change,
    plan_record,
    planned_changes,
    policy_undo,
    verify_key_policy,
    vet,
)
from remediator.report import Result

# The names other modules take from here.
__all__ = [
    "GRANT",
    "KEY_POLICY",
    "Remedies",
    "no_change",
    "planned_changes",
    "verify_key_policy",
]

KEY_POLICY = Action.PUT_KEY_POLICY.value
GRANT = Action.CREATE_GRANT.value


@dataclass
class Remedies:
    aws: AwsPort
    state: StatePort
    config: RemediatorConfig
    # Changes that an interrupted invocation left pending and this one completed: the
    # pipeline notifies them as their own reports.
    recovered: list[Recovered] = field(default_factory=list)

    def apply(
        self,
        event_id: str,
        facts: Facts,
        decision: Decision,
        config: RemediatorConfig | None = None,
        prerequisite: Prerequisite | None = None,
    ) -> Result:
        """Make the decided change (``config``: the launch account's, default the top level).
        With a ``prerequisite``, the key owner's statement first, then the grant: one result."""
        config = config or self.config
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
                decision = decide(facts, config)
            if decision.action is Action.PUT_KEY_POLICY:
                return self._key_policy(event_id, facts, decision)
            if decision.action is Action.CREATE_GRANT:
                assert decision.grant is not None
                if prerequisite is None:
                    return self._grant(event_id, facts, decision.grant, decision.reason)
                return self._both_halves(event_id, facts, decision, prerequisite)
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
            key.arn,
            event_id,
            facts.principal.arn,
            KEY_POLICY,
            facts.policy,
            change.after,
            key.account if self.config.member_role else "",  # PutKeyPolicy: the key's account
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

    def _grant(
        self, event_id: str, facts: Facts, plan: GrantPlan, reason: str, with_change: str = ""
    ) -> Result:
        """``with_change``: the key owner's change this grant needs (undone together)."""
        result = Result(Outcome.REMEDIATED, reason, remedy=GRANT)
        record = plan_record(plan) | ({"with_change": with_change} if with_change else {})
        # Organization mode records the account the grant is made from (rollback retires it
        # from there); a single account makes every grant itself, as before.
        account = facts.this_account if self.config.member_role else ""
        planned = PlannedChange(
            plan.key_arn, event_id, facts.principal.arn, GRANT, None, record, account
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

    # --- both halves of a cross-account grant ---------------------------------------------

    def _both_halves(
        self, event_id: str, facts: Facts, decision: Decision, need: Prerequisite
    ) -> Result:
        """The key owner's statement (in the key's account), then the grant (from the
        launcher's): each vetted, recorded, fenced, written and verified; one result."""
        assert decision.grant is not None
        key_arn = facts.key.arn
        result = Result(Outcome.REMEDIATED, decision.reason, remedy=GRANT)
        try:
            before = parse_policy(self.aws.get_key_policy(key_arn))
        except AccessDenied as err:
            why = f"KMS denied GetKeyPolicy in the key's account {need.key_account}: {err}"
            return replace(result, outcome=Outcome.REFUSED, reason=why)
        edited = edited_prerequisite(before, need)
        if edited is not None:
            why = f"{edited}; nothing was changed in either account"
            return replace(result, outcome=Outcome.REFUSED, reason=why)
        change = with_prerequisite(before, need)
        first: dict[str, Any] = {}
        if change is not None:
            written = self._prerequisite(event_id, facts, need, before, *change)
            if isinstance(written, Result):
                return written
            first = written
        granted = self._grant(
            event_id, facts, decision.grant, decision.reason, first.get("change_id", "")
        )
        if not first:
            return granted
        changes = {**(granted.changes or {}), "key_owner_statements": first["statements"]}
        extra = {**granted.extra, "key_owner_change_id": first["change_id"]}
        return replace(granted, changes=changes, extra=extra)

    def _prerequisite(
        self,
        event_id: str,
        facts: Facts,
        need: Prerequisite,
        before: dict[str, Any],
        after: dict[str, Any],
        added: list[dict[str, Any]],
    ) -> dict[str, Any] | Result:
        key_arn = facts.key.arn
        result = Result(Outcome.REMEDIATED, "", remedy=KEY_POLICY)
        text = render(after)
        problem = "the key policy would exceed 32 KB" if text is None else None
        problem = problem or vet(self.aws, text or "", added)
        if problem or text is None:
            return replace(result, outcome=Outcome.REFUSED, reason=f"{problem}; nothing written")
        planned = PlannedChange(
            key_arn, event_id, need.grantor_role, KEY_POLICY, before, after, need.key_account
        )
        change_id, failed = self._write(
            planned, result, facts, lambda: self.aws.put_key_policy(key_arn, text)
        )
        if failed:
            return replace(failed, reason=f"the key owner's statements: {failed.reason}")
        read_back = parse_policy(self.aws.get_key_policy(key_arn))
        problem = prerequisite_holds(before, read_back, need)
        note = f"verification failed: {problem}" if problem else ""
        audited = self._finish(key_arn, change_id, read_back, note)
        if problem or audited:
            why = f"verification failed after PutKeyPolicy: {problem}" if problem else audited
            return replace(
                result, outcome=Outcome.FAILED, reason=why, changes={"statements": added}
            )
        return {"change_id": change_id, "statements": added}

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
