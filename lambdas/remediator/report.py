"""What became of each (event, key, principal): the stages' ``Result``, and the ``Report`` built
from it once per target, which is the SNS message, the CLI's output and the audit line."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from remediator import exact_json
from remediator.outcomes import SERVICE_NAME, Outcome

MAX_SUBJECT = 100  # SNS rejects longer subjects


@dataclass(frozen=True)
class Result:
    """A stage's verdict on one target: the outcome and what goes with it."""

    outcome: Outcome
    reason: str
    remedy: str | None = None  # "key-policy" or "grant" when one was planned or applied
    changes: dict[str, Any] | None = None
    undo: dict[str, Any] | None = None
    suggested_fix: dict[str, Any] | None = None
    change_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    outcome: Outcome
    event_id: str
    reason: str
    trigger: str = ""
    key_arn: str | None = None
    principal_arn: str | None = None
    remedy: str | None = None  # "key-policy" or "grant" when one was planned or applied
    instance_id: str | None = None
    changes: dict[str, Any] | None = None
    undo: dict[str, Any] | None = None
    suggested_fix: dict[str, Any] | None = None
    change_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    group_name: str | None = None  # the Auto Scaling group of the launch, when there is one

    @classmethod
    def of(
        cls,
        result: Result,
        *,
        event_id: str,
        trigger: str,
        key_arn: str | None,
        principal_arn: str | None,
        instance_id: str | None,
        group_name: str | None = None,
    ) -> Report:
        return cls(
            result.outcome,
            event_id,
            result.reason,
            trigger=trigger,
            key_arn=key_arn,
            principal_arn=principal_arn,
            remedy=result.remedy,
            instance_id=instance_id,
            changes=result.changes,
            undo=result.undo,
            suggested_fix=result.suggested_fix,
            change_id=result.change_id,
            extra=result.extra,
            group_name=group_name,
        )

    def message(self) -> dict[str, Any]:
        body = asdict(self)
        extra = body.pop("extra")
        body["outcome"] = self.outcome.value
        return {**extra, **body}  # extra details never replace a core field

    def message_json(self) -> str:
        return json.dumps(self.message(), indent=2, sort_keys=True, default=str)

    def subject(self) -> str:
        key = (self.key_arn or "unknown key").rsplit("/", 1)[-1][:13]
        who = (self.principal_arn or "unknown principal").rsplit("/", 1)[-1][:40]
        verbs = {
            Outcome.REMEDIATED: f"KMS key {key} now allows {who}",
            Outcome.ALREADY_ALLOWED: f"KMS key {key} already allows {who}",
            Outcome.REFUSED: f"Not fixed: KMS key {key} for {who}",
            Outcome.BLOCKED_ELSEWHERE: f"Blocked outside KMS key {key} for {who}",
            Outcome.DRY_RUN: f"Would fix KMS key {key} for {who}",
            Outcome.FAILED: f"FAILED to fix KMS key {key} for {who}",
            Outcome.IGNORED: "Ignored event",
            Outcome.FOLDED: f"Event joined the incident of KMS key {key} and {who}",
            Outcome.PENDING: f"Pending: looking again for who launched {self.instance_id}",
        }
        return f"[{SERVICE_NAME}] {verbs[self.outcome]}"[:MAX_SUBJECT]


def summary(reports: list[Report]) -> dict[str, Any]:
    """The CLI's single JSON object: the report itself, or the worst of several with all."""
    if len(reports) == 1:
        return reports[0].message()
    worst = max(reports, key=lambda r: _SEVERITY[r.outcome])
    return {**worst.message(), "results": [r.message() for r in reports]}


_SEVERITY = {
    Outcome.IGNORED: 0,
    Outcome.FOLDED: 0,
    Outcome.PENDING: 0,
    Outcome.ALREADY_ALLOWED: 1,
    Outcome.DRY_RUN: 2,
    Outcome.REMEDIATED: 3,
    Outcome.BLOCKED_ELSEWHERE: 4,
    Outcome.REFUSED: 5,
    Outcome.FAILED: 6,
}


# --- undo: commands that work when pasted as they are ------------------------------------------

CLI = "PYTHONPATH=lambdas python -m remediator"  # run from the repository root, in its venv


def rollback_command(
    key_arn: str, change_id: str, state_table: str, member_role: str | None = None
) -> str:
    """The ``rollback`` of one recorded change, with everything it needs on its line (in
    organization mode, the member role it acts through in each account)."""
    role = f" --member-role {shlex.quote(member_role)}" if member_role else ""
    return (
        f"{CLI} rollback --key {key_arn} --state-table {shlex.quote(state_table)} "
        f"--region {_region(key_arn)} --change-id {shlex.quote(change_id)}{role}"
    )


def complete_undo(
    result: Result, key_arn: str | None, state_table: str | None, member_role: str | None = None
) -> Result:
    """The result with undo commands an operator can paste as they are: the ``rollback`` of the
    recorded change (with its state table and region, when the table's name is known), and the
    AWS CLI command that undoes it by hand (the previous policy inline, or the grant's id, and
    the region)."""
    undo = result.undo
    if not undo or not key_arn:
        return result
    completed = {k: v for k, v in undo.items() if k != "cli"}
    region = _region(key_arn)
    if "previous_policy" in undo:
        # exact_json: the recorded policy's numbers written digit for digit, as KMS had them
        policy = exact_json.dumps(undo["previous_policy"])
        completed["cli"] = (
            f"aws kms put-key-policy --key-id {key_arn} --policy-name default "
            f"--region {region} --policy {shlex.quote(policy)}"
        )
    elif (result.changes or {}).get("grant_id"):
        grant_id = shlex.quote(str((result.changes or {})["grant_id"]))
        completed["cli"] = (
            f"aws kms revoke-grant --key-id {key_arn} --grant-id {grant_id} --region {region}"
        )
    elif "cli" in undo:
        completed["cli"] = undo["cli"]
    if result.change_id and state_table:
        completed["rollback"] = rollback_command(
            key_arn, result.change_id, state_table, member_role
        )
    return replace(result, undo=completed)


def _region(key_arn: str) -> str:
    parts = key_arn.split(":")
    return parts[3] if len(parts) > 3 else ""
