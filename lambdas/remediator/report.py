"""What became of each (event, key, principal): the stages' ``Result``, and the ``Report`` built
from it once per target, which is the SNS message, the CLI's output and the audit line."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

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
    Outcome.PENDING: 0,
    Outcome.ALREADY_ALLOWED: 1,
    Outcome.DRY_RUN: 2,
    Outcome.REMEDIATED: 3,
    Outcome.BLOCKED_ELSEWHERE: 4,
    Outcome.REFUSED: 5,
    Outcome.FAILED: 6,
}
