"""The re-check message and schedule: what the re-check queue carries, and when looks end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediator import recheck
from remediator.adapters.idempotency import IDEMPOTENCY_KEY

EVENT = {"id": "evt-1", "source": "aws.ec2", "detail": {"instance-id": "i-0123456789abcdef0"}}


def test_recheck_message_round_trips_the_event_and_its_attempt() -> None:
    body = json.loads(recheck.message(EVENT, 2))
    assert recheck.unwrap(body) == (EVENT, 2)


def test_recheck_message_has_an_idempotency_key_of_its_own() -> None:
    # The idempotency key is the first of detail.sharedEventID, detail.eventID, id the event
    # has: the envelope has no detail, so its own id, distinct per attempt, is the key
    assert IDEMPOTENCY_KEY == "detail.sharedEventID || detail.eventID || id"
    bodies = [json.loads(recheck.message(EVENT, n)) for n in (1, 2, 3)]
    assert [b["id"] for b in bodies] == ["evt-1#recheck-1", "evt-1#recheck-2", "evt-1#recheck-3"]
    assert all("detail" not in b for b in bodies)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (EVENT, (EVENT, 0)),
        ("text", ("text", 0)),
        ({recheck.RECHECK_FIELD: {"attempt": 1, "event": EVENT}}, (EVENT, 1)),
        ({recheck.RECHECK_FIELD: {"attempt": 0, "event": EVENT}}, (EVENT, 3)),
        ({recheck.RECHECK_FIELD: {"attempt": 9, "event": EVENT}}, (EVENT, 3)),
        ({recheck.RECHECK_FIELD: {"attempt": "1", "event": EVENT}}, (EVENT, 3)),
        ({recheck.RECHECK_FIELD: {"event": EVENT}}, (EVENT, 3)),
    ],
    ids=["fresh", "not-an-object", "attempt-1", "zero", "too-many", "text-attempt", "no-attempt"],
)
def test_recheck_unwrap_never_extends_the_looks(event: object, expected: tuple[Any, int]) -> None:
    # A malformed envelope counts as the last look: it can never schedule more
    assert recheck.unwrap(event) == expected


def test_recheck_next_delay_is_bounded() -> None:
    assert [recheck.next_delay(n) for n in range(5)] == [120, 300, 480, None, None]
    assert recheck.total_minutes() == 15


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"Records": [{"eventSource": "aws:sqs", "body": json.dumps(EVENT)}]}, [EVENT]),
        (
            {"Records": [{"eventSource": "aws:sqs", "body": "not json"}]},
            [{"unreadable_body": "not json"}],
        ),
        ({"Records": [{"eventSource": "aws:sqs", "body": "[1]"}]}, [{"unreadable_body": "[1]"}]),
        ({"Records": [{"eventSource": "aws:sns", "body": "{}"}]}, None),
        ({"Records": []}, None),
        (EVENT, None),
        ([EVENT], None),
    ],
    ids=["sqs", "not-json", "not-an-object", "other-source", "empty", "eventbridge", "list"],
)
def test_recheck_sqs_bodies(event: object, expected: list[dict[str, Any]] | None) -> None:
    assert recheck.sqs_bodies(event) == expected
