"""The state commands' presentation: a rollback's exit code per outcome, and ``history``
marking each change in place or rolled back (by the rollback's audit record)."""

from __future__ import annotations

import pytest

from remediator.cli.state import exit_code, present
from remediator.outcomes import RollbackOutcome

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (RollbackOutcome.ROLLED_BACK, 0),
        (RollbackOutcome.ALREADY_ROLLED_BACK, 0),
        (RollbackOutcome.REFUSED, 1),
        (RollbackOutcome.FAILED, 1),
        (RollbackOutcome.NOT_FOUND, 2),
        ("rolled_back", 0),  # the strings rollback returns compare equal
    ],
)
def test_cli_rollback_exit_code_per_outcome(outcome: str, code: int) -> None:
    assert exit_code(outcome) == code


def test_cli_history_marks_changes_in_place_or_rolled_back() -> None:
    # Given two changes, the first rolled back (its rollback's audit record names it), a
    # cleanup, and a change still pending
    records = [
        {"change_id": "c-2", "at": "2024-05-14T09:20:00Z", "remedy": "grant"},
        {"change_id": "c-1", "at": "2024-05-14T09:10:00Z", "remedy": "key-policy"},
        {
            "change_id": "r-1",
            "at": "2024-05-14T09:30:00Z",
            "remedy": "rollback",
            "planned": {"rolls_back": "c-1", "policy": {}},
        },
        {"change_id": "x-1", "at": "2024-05-14T09:40:00Z", "remedy": "cleanup"},
        {"change_id": "p-1", "at": "2024-05-14T09:50:00Z", "remedy": "grant", "pending": True},
    ]

    shown = present(KEY, records, [{"events": 3}])

    # Then they are shown oldest first, each change with its status, the rollback as it is
    assert [r["change_id"] for r in shown["records"]] == ["c-1", "c-2", "r-1", "x-1", "p-1"]
    first, second, rollback, cleanup, pending = shown["records"]
    assert first["status"] == "rolled back"
    assert (first["rolled_back_by"], first["rolled_back_at"]) == ("r-1", "2024-05-14T09:30:00Z")
    assert second["status"] == "in place"
    assert "status" not in rollback
    assert "status" not in cleanup
    assert pending["status"].startswith("pending")
    assert shown["incidents"] == [{"events": 3}]
    assert shown["key_arn"] == KEY
