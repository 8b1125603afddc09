"""Recovery: settle the changes a process left pending (recorded as intents, but neither
audited nor closed) by reading the key: a change that was made is audited and reported, one
that was not is closed as not applied.

It runs under the key's lock, so the invocation that recorded an intent is gone (its lease
expired, or it died), or it is this one, settling its own write whose outcome it could not
tell.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator import exact_json
from remediator.decision import Action
from remediator.model import PlannedChange
from remediator.outcomes import Outcome
from remediator.policy import TOOL_SIDS, as_list, parse_policy, statements
from remediator.ports import AccessDenied, AwsError, AwsPort, StatePort
from remediator.report import Result

logger = logging.getLogger(__name__)

ROLLBACK = "rollback"  # the remedy recorded for an operator's rollback of a change
CLEANUP = "cleanup"  # the remedy recorded for an operator's cleanup (cleanup.py), same shapes
COMPLETED = "completed by a later invocation: the process that made it stopped before recording it"


@dataclass(frozen=True)
class Recovered:
    """A pending change this invocation settled, and its result to report."""

    intent: dict[str, Any]
    result: Result


def recover(aws: AwsPort, state: StatePort, key_arn: str) -> list[Recovered]:
    """Settle every change left pending on the key; the ones that were made, to report."""
    recovered = []
    for intent in state.pending_changes(key_arn):
        if intent["status"] == "done":  # made and audited; its notification was not sent
            recovered.append(Recovered({**intent, "key_arn": key_arn}, _unnotified(intent)))
            continue
        planned = PlannedChange(
            key_arn,
            intent["event_id"],
            intent["principal_arn"],
            intent["remedy"],
            intent.get("before"),
            intent.get("planned"),
        )
        result = _settle(aws, state, planned, intent["change_id"])
        if result is not None:
            recovered.append(Recovered({**intent, "key_arn": key_arn}, result))
    return recovered


def _unnotified(intent: dict[str, Any]) -> Result:
    return Result(
        Outcome.REMEDIATED,
        "a change made and audited by an earlier invocation, which stopped before notifying",
        remedy=intent["remedy"],
        change_id=intent["change_id"],
    )


def settle(aws: AwsPort, state: StatePort, planned: PlannedChange, change_id: str) -> str:
    """Settle one intent after its write failed; a phrase saying how, for the report."""
    try:
        result = _settle(aws, state, planned, change_id)
    except AwsError as err:
        logger.warning("change_unsettled", extra={"key_arn": planned.key_arn, "error": str(err)})
        return "; whether it was applied could not be read, so it stays pending"
    if result is None:
        return "; it was not applied"
    return "; it was applied after all, and is audited"


def _settle(
    aws: AwsPort, state: StatePort, planned: PlannedChange, change_id: str
) -> Result | None:
    if not change_id:
        return None  # no state table: nothing was recorded
    plan = planned.planned or {}
    if planned.remedy in (ROLLBACK, CLEANUP) and "revoke" in plan:
        made = all(g.grant_id != plan["revoke"] for g in aws.list_grants(planned.key_arn))
        after: Any = {"revoked": plan["revoke"]}
        changes: dict[str, Any] = {}
    elif planned.remedy in (ROLLBACK, CLEANUP):
        after = parse_policy(aws.get_key_policy(planned.key_arn))
        made, changes = exact_json.same(after, plan.get("policy")), {}
    elif planned.remedy == Action.PUT_KEY_POLICY.value:
        after = parse_policy(aws.get_key_policy(planned.key_arn))
        # A key owner's statement for another account's grants names no principal of the
        # tool's Sids (cross_account.py): the policy read back is then the one planned.
        made = names_principal(after, planned.principal_arn) or exact_json.same(after, plan)
        changes = {}
    else:
        grant_id = _grant_made(aws, state, planned)
        made, after = grant_id is not None, {"grant_id": grant_id}
        changes = {"grant_id": grant_id, **plan}
    if not made:
        state.abandon_change(planned.key_arn, change_id)
        logger.info("change_not_applied", extra={"key_arn": planned.key_arn, "id": change_id})
        return None
    state.finish_change(planned.key_arn, change_id, after, COMPLETED)
    return Result(
        Outcome.REMEDIATED,
        f"a change recorded before its write was {COMPLETED}",
        remedy=planned.remedy,
        changes=changes or None,
        change_id=change_id,
    )


def _grant_made(aws: AwsPort, state: StatePort, planned: PlannedChange) -> str | None:
    """The id of the planned grant if it exists. Where grants cannot be listed, CreateGrant
    with the same name answers: it returns the existing grant, or makes the one planned."""
    plan = planned.planned or {}
    try:
        grants = aws.list_grants(planned.key_arn)
    except AccessDenied:
        state.fence(planned.key_arn)
        return aws.create_grant(
            planned.key_arn, plan["grantee"], tuple(plan["operations"]), plan["name"]
        )
    return next((g.grant_id for g in grants if g.name == plan.get("name")), None)


def names_principal(policy: Mapping[str, Any], principal_arn: str) -> bool:
    """Whether one of this tool's statements names ``principal_arn``."""
    return any(
        stmt.get("Sid") in TOOL_SIDS
        and isinstance(stmt.get("Principal"), Mapping)
        and principal_arn in as_list(stmt["Principal"].get("AWS"))
        for stmt in statements(policy)
    )
