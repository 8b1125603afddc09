"""Incidents: the events of one (key, principal) pair within a window are one incident.

An Auto Scaling group that cannot launch retries for hours, and each failed launch emits up to
three events (the CloudTrail denial, the EC2 state change, the Auto Scaling failure), each with
ids of its own: idempotency on event ids folds copies of one event, not these. With a state
table, the pipeline asks the incident store before it decides:

- the first event of a pair opens the incident, and is decided, acted on and notified as ever;
- a later event of the pair within the window, of any kind and with any ids, joins it: the
  incident's count and last-seen time go up, and nothing is decided, written or notified. Only
  when the key policy differs from the one the incident was decided on (its digest is kept;
  a joining event re-reads the policy, one GetKeyPolicy) is the pair decided again, by one
  event; a re-decision that finds the launch still allowed is not notified either;
- an incident whose decision failed, or whose deciding invocation died (its lease ran out),
  is taken over by the next event of the pair;
- the first event after the window closes opens a new incident, and the closed one, if events
  joined it, gets its one follow-up summary.

Without a state table there are no incidents: every event is decided, as before. This module
is pure; the store is ``adapters/incidents.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from remediator.outcomes import SERVICE_NAME, Outcome
from remediator.policy import PolicyError, parse_policy
from remediator.report import Result

# Outcomes after which a re-decision that finds the launch allowed has nothing new to say.
_ALLOWED = (Outcome.REMEDIATED.value, Outcome.ALREADY_ALLOWED.value)
TRIGGER_WORDS = {
    "KmsCallDenied": "denied KMS calls (CloudTrail)",
    "InstanceLaunchFailed": "EC2 instance state changes",
    "AsgLaunchFailed": "Auto Scaling launch failures",
}


class Status(StrEnum):
    DECIDING = "deciding"  # its owner event is deciding now, under a lease
    DECIDED = "decided"  # later events join it
    FAILED = "failed"  # the decision failed: the next event of the pair decides again


@dataclass(frozen=True)
class Incident:
    key_arn: str
    principal_arn: str
    opened_at: float
    closes_at: float
    owner_event: str  # the event deciding it: the first, or the one that decided again
    status: Status
    lease_until: float  # a DECIDING incident not settled by then may be taken over
    events: int = 1  # every event of the incident, the first included
    last_seen: float = 0.0
    triggers: Mapping[str, int] = field(default_factory=dict)  # events per trigger kind
    outcome: str | None = None
    policy_digest: str | None = None  # of the key policy as the decision left it
    change_id: str | None = None

    @property
    def joined(self) -> int:
        """Events after the first."""
        return self.events - 1

    def view(self) -> dict[str, Any]:
        """The incident as messages, the CLI and ``history`` show it."""
        return {
            "opened_at": iso(self.opened_at),
            "closes_at": iso(self.closes_at),
            "last_seen": iso(self.last_seen or self.opened_at),
            "events": self.events,
            "events_by_trigger": dict(sorted(self.triggers.items())),
            "status": self.status.value,
            "outcome": self.outcome,
            "decided_by_event": self.owner_event,
            "change_id": self.change_id,
            "principal_arn": self.principal_arn,
        }


@dataclass(frozen=True)
class Opened:
    """This event decides the incident (it opened it, took it over, or decides it again)."""

    incident: Incident
    closed: Incident | None = None  # the closed incident of the pair it replaced, if any
    again: bool = False  # a re-decision because the key policy changed


@dataclass(frozen=True)
class Joined:
    """This event joins an incident decided (or being decided) by another event."""

    incident: Incident  # as it is with this event counted


class IncidentStore(Protocol):
    """Where incidents live: conditional writes, so that one event decides each incident."""

    def open(
        self,
        key_arn: str,
        principal_arn: str,
        *,
        event_id: str,
        trigger: str,
        window_seconds: int,
        lease_seconds: int,
    ) -> Opened | Joined:
        """Join the pair's open incident, or open one (taking over a failed or expired one)."""
        ...

    def decide_again(
        self, incident: Incident, *, event_id: str, lease_seconds: int
    ) -> Opened | None:
        """Take a decided incident back for ``event_id``; None if another event already did,
        or the policy digest it was decided on changed meanwhile."""
        ...

    def settle(
        self,
        incident: Incident,
        *,
        status: Status,
        outcome: str,
        policy_digest: str | None,
        change_id: str | None,
    ) -> None:
        """Record the decision of the incident's owner event (a no-op for a stale owner)."""
        ...

    def incidents(self, key_arn: str) -> list[Incident]:
        """The latest incident of each principal on the key."""
        ...


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_digest(policy_text: str) -> str:
    """A digest of a key policy's content: equal for policies equal as JSON, whatever their
    whitespace or key order (KMS may return the text it was given, or its own rendering)."""
    try:
        canonical = json.dumps(parse_policy(policy_text), sort_keys=True, separators=(",", ":"))
    except PolicyError:
        canonical = policy_text
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def needs_decision_again(incident: Incident, current_digest: str | None) -> bool:
    """Whether a joining event must decide again: the incident was decided on a key policy,
    and the policy read now differs from it."""
    return (
        incident.status is Status.DECIDED
        and incident.policy_digest is not None
        and current_digest is not None
        and current_digest != incident.policy_digest
    )


def settled_status(outcome: Outcome) -> Status:
    return Status.FAILED if outcome is Outcome.FAILED else Status.DECIDED


def quiet_again(opened: Opened, outcome: Outcome, previous_outcome: str | None) -> bool:
    """A re-decision that finds the launch still allowed after an allowed incident: nothing
    for operators to learn, so it is reported folded rather than notified."""
    return opened.again and outcome is Outcome.ALREADY_ALLOWED and previous_outcome in _ALLOWED


def joined_result(incident: Incident, note: str = "") -> Result:
    """The result of an event that joined an incident: nothing decided, written or notified."""
    decided = (
        f"decided {incident.outcome}" if incident.outcome else "being decided by another event"
    )
    reason = (
        f"part of the incident for this key and principal opened at {iso(incident.opened_at)} "
        f"by event {incident.owner_event} ({decided}); this is its event {incident.events}; "
        f"nothing is decided, changed or notified again before {iso(incident.closes_at)} "
        "unless the key policy changes"
    )
    return Result(
        Outcome.FOLDED,
        f"{note}; {reason}" if note else reason,
        change_id=incident.change_id,
        extra={"incident": incident.view()},
    )


@dataclass(frozen=True)
class Summary:
    """The one follow-up message of a closed incident that events joined."""

    subject: str
    message: dict[str, Any]
    text: str
    outcome: str


def summary(closed: Incident | None) -> Summary | None:
    """The follow-up of ``closed``, or None when no event joined it."""
    if closed is None or closed.joined < 1:
        return None
    kinds = ", ".join(
        f"{count} {TRIGGER_WORDS.get(kind, kind)}"
        for kind, count in sorted(closed.triggers.items())
    )
    outcome = closed.outcome or Outcome.FAILED.value
    first, last = iso(closed.opened_at), iso(closed.last_seen or closed.opened_at)
    reason = (
        f"{closed.joined} more events joined the incident between {first} and {last} "
        f"({kinds} in all); it was decided {outcome} by event {closed.owner_event}"
    )
    key_id = closed.key_arn.rsplit("/", 1)[-1][:13]
    who = closed.principal_arn.rsplit("/", 1)[-1][:40]
    subject = f"[{SERVICE_NAME}] Summary: {closed.events} events, KMS key {key_id}, {who}"[:100]
    message = {
        "summary": True,
        "outcome": outcome,
        "reason": reason,
        "key_arn": closed.key_arn,
        "principal_arn": closed.principal_arn,
        "change_id": closed.change_id,
        "incident": closed.view(),
    }
    text = "\n".join(
        [
            f"Incident summary: {closed.events} events for one key and one principal.",
            "",
            f"  key        {closed.key_arn}",
            f"  principal  {closed.principal_arn}",
            f"  events     {closed.events} between {first} and {last}: {kinds}",
            f"  decision   {outcome}, by event {closed.owner_event}"
            + (f" (change {closed.change_id})" if closed.change_id else ""),
            "",
            "The first event was decided and notified; the others changed nothing and sent",
            "nothing. A new incident opens with the next event of this pair.",
        ]
    )
    return Summary(subject, message, text, outcome)
