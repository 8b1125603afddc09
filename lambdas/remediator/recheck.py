"""Looking again when CloudTrail lags: the bounded schedule and the re-check message.

An EC2 state change can arrive before CloudTrail has recorded the call that launched the
instance: "CloudTrail typically delivers events within an average of about 5 minutes of an
API call. This time is not guaranteed." (CloudTrail user guide, "What is AWS CloudTrail?").
So when the launching principal is to come from CloudTrail and is not there yet, the remediator
sends the event to its re-check queue (an SQS queue; ``DelaySeconds`` holds each message back
for up to 900 seconds, SQS developer guide, "Amazon SQS delay queues") and looks again when the
queue delivers it, up to ``RECHECK_DELAYS_SECONDS`` times: about 15 minutes in all.

A re-check message is the original EventBridge event inside an envelope whose ``id`` is its own
(``<event id>#recheck-<n>``), so that the idempotency record of the first look does not answer
the later ones, and a redelivered copy of one re-check still acts once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Delays before the 1st, 2nd and 3rd look again: 2 + 5 + 8 = 15 minutes after the first look.
RECHECK_DELAYS_SECONDS = (120, 300, 480)
RECHECK_FIELD = "kms-launch-remediator-recheck"
SQS_EVENT_SOURCE = "aws:sqs"


def total_minutes() -> int:
    return sum(RECHECK_DELAYS_SECONDS) // 60


def message(event: object, attempt: int) -> str:
    """The re-check ``attempt`` (1-based) of ``event``, as the SQS message body."""
    original: dict[str, Any] = dict(event) if isinstance(event, Mapping) else {}
    envelope = {
        "id": f"{original.get('id')}#recheck-{attempt}",
        RECHECK_FIELD: {"attempt": attempt, "event": original},
    }
    return json.dumps(envelope, sort_keys=True, default=str)


def unwrap(event: object) -> tuple[object, int]:
    """(the EventBridge event, how many times it was looked at before): a re-check envelope
    gives its event and attempt; anything else is a first look."""
    if isinstance(event, Mapping):
        envelope = event.get(RECHECK_FIELD)
        if isinstance(envelope, Mapping):
            attempt = envelope.get("attempt")
            inner = envelope.get("event")
            if isinstance(attempt, int) and 0 < attempt <= len(RECHECK_DELAYS_SECONDS):
                return inner, attempt
            return inner, len(RECHECK_DELAYS_SECONDS)  # malformed: no further re-check
    return event, 0


def next_delay(attempt: int) -> int | None:
    """Seconds until the next look after look number ``attempt`` (0 = the first), or None
    when the looks are used up."""
    if attempt < len(RECHECK_DELAYS_SECONDS):
        return RECHECK_DELAYS_SECONDS[attempt]
    return None


def sqs_bodies(event: object) -> list[dict[str, Any]] | None:
    """The message bodies of an SQS batch (the re-check queue's event source mapping), parsed;
    None when ``event`` is not an SQS batch. A body that is no JSON object becomes an object
    without ``detail``, which the pipeline ignores."""
    if not isinstance(event, Mapping):
        return None
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return None
    if not all(
        isinstance(r, Mapping) and r.get("eventSource") == SQS_EVENT_SOURCE for r in records
    ):
        return None
    bodies: list[dict[str, Any]] = []
    for record in records:
        text = str(record.get("body", ""))
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            body = None
        bodies.append(body if isinstance(body, dict) else {"unreadable_body": text[:200]})
    return bodies
