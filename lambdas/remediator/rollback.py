"""Undo one recorded change: restore the key policy recorded before it, or revoke its grant,
under the same per-key lock the remediator takes, then verify and notify.

It refuses when the key policy has changed since the recorded change (or later changes were
recorded), unless forced: restoring would silently drop what came after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from remediator import exact_json
from remediator.model import PlannedChange
from remediator.outcomes import SERVICE_NAME
from remediator.policy import PolicyError, parse_policy, render
from remediator.ports import AwsPort, LockLost, StatePort
from remediator.recovery import ROLLBACK, recover
from remediator.remedies import GRANT, KEY_POLICY

ROLLED_BACK, REFUSED, FAILED, NOT_FOUND = "rolled_back", "refused", "failed", "not_found"
ALREADY = "already_rolled_back"


Notify = Callable[[str, str, str], None]  # (subject, message, outcome)


def rollback(
    aws: AwsPort,
    state: StatePort,
    key_arn: str,
    change_id: str | None,
    *,
    force: bool,
    notify: Notify | None = None,
) -> dict[str, Any]:
    """Undo the change ``change_id`` (default: the latest); the result's ``outcome`` says how
    it went. The rollback is itself recorded (write-ahead, fenced) and shows in the history."""
    with state.lock(key_arn):
        # A change a stopped process made but did not record would otherwise be undone (or
        # silently dropped by a forced restore) without anyone knowing it existed.
        recover(aws, state, key_arn)
        history = state.history(key_arn)
        changes = [c for c in history if c.get("remedy") in (KEY_POLICY, GRANT)]
        undone = {
            (c.get("planned") or {}).get("rolls_back")
            for c in history
            if c.get("remedy") == ROLLBACK
        }
        chosen = [c for c in changes if c["change_id"] == change_id] if change_id else changes[-1:]
        if not chosen:
            return {
                "outcome": NOT_FOUND,
                "reason": f"no recorded change {change_id or ''} for {key_arn}",
            }
        change = chosen[0]
        result: dict[str, Any] = {
            "key_arn": key_arn,
            "change_id": change["change_id"],
            "remedy": change["remedy"],
        }
        if change["change_id"] in undone:
            return result | {"outcome": ALREADY, "reason": "this change was already rolled back"}
        grant, statement = _halves(change, changes, undone)
        if grant is not None and statement is not None:
            result |= _both(aws, state, key_arn, change, (grant, statement), changes, undone, force)
        elif change["remedy"] == GRANT:
            result |= _revoke(aws, state, key_arn, change)
        else:
            result |= _restore(
                aws, state, key_arn, change, _later(changes, change, undone), force=force
            )
    if notify is not None:
        subject = f"[{SERVICE_NAME}] rollback {result['outcome']}: {key_arn[-36:]}"
        notify(subject, json.dumps(result, default=str), result["outcome"])
    return result


def _halves(
    change: dict[str, Any], changes: list[dict[str, Any]], undone: set[Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the grant, the key owner's statement it needed) when ``change`` is either of them."""
    if change["remedy"] == GRANT:
        needed = (change.get("planned") or {}).get("with_change")
        statement = next((c for c in changes if needed and c["change_id"] == needed), None)
        return change, statement if statement and needed not in undone else None
    grant = next(
        (
            c
            for c in changes
            if (c.get("planned") or {}).get("with_change") == change["change_id"]
            and c["change_id"] not in undone
        ),
        None,
    )
    return grant, change if grant else None


def _later(changes: list[dict[str, Any]], change: dict[str, Any], undone: set[Any]) -> list[str]:
    return [
        c["change_id"] for c in changes if c["at"] > change["at"] and c["change_id"] not in undone
    ]


def _both(
    aws: AwsPort,
    state: StatePort,
    key_arn: str,
    change: dict[str, Any],
    halves: tuple[dict[str, Any], dict[str, Any]],
    changes: list[dict[str, Any]],
    undone: set[Any],
    force: bool,
) -> dict[str, Any]:
    """A cross-account grant and the key owner's statement it needed, undone together: the
    grant first (while the statement that let its creator make it still stands), then the
    statement. The result is the chosen change's; ``together`` is the other's."""
    grant, statement = halves
    first = _revoke(aws, state, key_arn, grant)
    if first["outcome"] == ROLLED_BACK:
        rest = [c for c in changes if c["change_id"] != grant["change_id"]]
        later = _later(rest, statement, undone)
        second = _restore(aws, state, key_arn, statement, later, force=force)
    else:
        second = {"outcome": REFUSED, "reason": "not restored: the grant it let be made stays"}
    mine, other, other_change = (
        (first, second, statement) if change is grant else (second, first, grant)
    )
    together = {"change_id": other_change["change_id"], "remedy": other_change["remedy"], **other}
    result = mine | {"together": together}
    if mine["outcome"] == ROLLED_BACK and other["outcome"] != ROLLED_BACK:
        result |= {"outcome": other["outcome"], "reason": f"together: {other['reason']}"}
    return result


def _revoke(aws: AwsPort, state: StatePort, key_arn: str, change: dict[str, Any]) -> dict[str, Any]:
    grant_id = change["after"]["grant_id"]
    planned = {"rolls_back": change["change_id"], "revoke": grant_id}
    change_id = _begin(state, key_arn, change, None, planned)
    creator = change.get("account")
    if creator and creator != key_arn.split(":")[4]:
        # Made from another account (organization mode): that account retires it.
        aws.in_account(creator).retire_grant(key_arn, grant_id)
    else:
        aws.revoke_grant(key_arn, grant_id)
    ok = grant_id not in {g.grant_id for g in aws.list_grants(key_arn)}
    state.finish_change(key_arn, change_id, {"revoked": grant_id})
    return {"revoked_grant_id": grant_id, "rollback_id": change_id or None, **_verdict(ok)}


def _restore(
    aws: AwsPort,
    state: StatePort,
    key_arn: str,
    change: dict[str, Any],
    later: list[str],
    *,
    force: bool,
) -> dict[str, Any]:
    try:
        # The recorded policies pass the same strict rules as a policy read from KMS: a record
        # holding a value no key policy may hold (such as a non-finite number) is refused,
        # and what is written is exactly what was recorded.
        before, text = _recorded_policy(change["before"])
        recorded_after, _ = _recorded_policy(change["after"])
        current = parse_policy(aws.get_key_policy(key_arn))
    except PolicyError as err:
        return {"outcome": REFUSED, "reason": f"the policy cannot be restored safely: {err}"}
    if (not exact_json.same(current, recorded_after) or later) and not force:
        reason = "the key policy changed since this change was made"
        if later:
            reason += f" (later changes: {later})"
        return {"outcome": REFUSED, "reason": reason + "; use --force to restore anyway"}
    planned = {"rolls_back": change["change_id"], "policy": before}
    change_id = _begin(state, key_arn, change, current, planned)
    aws.put_key_policy(key_arn, text)
    after = parse_policy(aws.get_key_policy(key_arn))
    state.finish_change(key_arn, change_id, after)
    ok = exact_json.same(after, before)
    return {"restored_policy": before, "rollback_id": change_id or None, **_verdict(ok)}


def _begin(
    state: StatePort, key_arn: str, change: dict[str, Any], before: Any, planned: dict[str, Any]
) -> str:
    """Record the rollback's intent, then prove the lock is still held, before writing."""
    event_id = f"rollback-of-{change['change_id']}"
    record = PlannedChange(key_arn, event_id, change["principal_arn"], ROLLBACK, before, planned)
    change_id = state.begin_change(record)
    try:
        state.fence(key_arn)
    except LockLost:
        state.abandon_change(key_arn, change_id)
        raise
    return change_id


def _recorded_policy(recorded: Any) -> tuple[dict[str, Any], str]:
    """(the recorded policy, the text that writes it back), rendered and read back strictly."""
    if not isinstance(recorded, dict):
        raise PolicyError("the recorded policy is not a JSON object")
    text = render(recorded)
    if text is None:
        raise PolicyError("the recorded policy does not fit in a key policy (32 KB)")
    return parse_policy(text), text


def _verdict(ok: bool) -> dict[str, str]:
    if ok:
        return {"outcome": ROLLED_BACK, "reason": "restored as recorded"}
    return {"outcome": FAILED, "reason": "verification after rollback failed"}
