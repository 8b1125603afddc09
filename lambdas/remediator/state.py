"""Cross-invocation state in DynamoDB. Without a table, ``NoState`` (no lock, no audit)."""

from __future__ import annotations

from remediator.engine import NoState, State


def state_for(table_name: str | None) -> State:
    if not table_name:
        return NoState()
    raise NotImplementedError("the state table arrives with the reliability work")
