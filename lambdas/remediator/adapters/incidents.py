"""The incident store: implements ``remediator.incidents.IncidentStore`` in the state table.

One item per (key, principal) pair: partition ``incident#<key ARN>``, sort key the principal
ARN, holding the pair's latest incident. Every write is conditional, so that of events racing
for one pair exactly one decides:

- join: UpdateItem counting the event, if the incident is open (within its window) and decided,
  or being decided under a live lease by another event;
- open: PutItem of a new incident, if there is none, or it closed, failed, or its owner's lease
  ran out (or the owner is this very event, retried); ``ReturnValues=ALL_OLD`` hands the
  replaced incident to the one event that replaced it, for its summary;
- decide again: UpdateItem taking a decided incident back, if its policy digest is unchanged;
- settle: UpdateItem recording the decision, if this event still owns the incident.

Items expire ``RETENTION_SECONDS`` after their window closes (TTL), so ``history`` shows
recent incidents. The calls are the table's item calls granted in ``permissions.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remediator.adapters.dynamo import dynamodb_client
from remediator.adapters.errors import Conflict, call, pages
from remediator.incidents import Incident, Joined, Opened, Status
from remediator.ports import AwsError
from remediator.state_schema import INCIDENT_PREFIX, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

logger = logging.getLogger(__name__)

RETENTION_SECONDS = 7 * 24 * 3600
ATTEMPTS = 3  # join, else open; a lost race on both is retried this many times

# DynamoDB reserves words such as "status" and "events": every attribute goes by a name.
_NAMES = {
    "#pk": PARTITION_KEY,
    "#opened": "opened_at",
    "#closes": "closes_at",
    "#lease": "lease_until",
    "#owner": "owner_event",
    "#status": "status",
    "#events": "events",
    "#last": "last_seen",
    "#triggers": "triggers",
    "#outcome": "outcome",
    "#digest": "policy_digest",
    "#change": "change_id",
}
_JOIN = (
    "attribute_exists(#pk) AND #closes > :now AND (#status = :decided OR "
    "(#status = :deciding AND #lease > :now AND #owner <> :me))"
)
_OPEN = (
    "attribute_not_exists(#pk) OR #closes <= :now OR #status = :failed OR "
    "(#status = :deciding AND (#lease <= :now OR #owner = :me))"
)


def _names(expression: str) -> dict[str, str]:
    return {name: value for name, value in _NAMES.items() if name in expression}


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}


@dataclass
class DynamoIncidents:
    table: str
    client: Any
    clock: Callable[[], float] = time.time

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
        key = _key(key_arn, principal_arn)
        for _ in range(ATTEMPTS):
            try:
                return Joined(self._join(key, event_id, trigger))
            except Conflict:
                pass  # no open incident to join: open one
            try:
                return self._open(key, event_id, trigger, window_seconds, lease_seconds)
            except Conflict:
                continue  # another event opened it meanwhile: join that one
        # Never seen: every attempt lost a race. Deciding is safe (writes are locked per key).
        logger.warning("incident_contended", extra={"key_arn": key_arn, "event_id": event_id})
        now = self.clock()
        incident = Incident(
            key_arn, principal_arn, now, now + window_seconds, event_id, Status.DECIDING, now
        )
        return Opened(incident)

    def _join(self, key: dict[str, Any], event_id: str, trigger: str) -> Incident:
        now = self.clock()
        update = (
            "SET #events = #events + :one, #last = :now, "
            "#triggers.#kind = if_not_exists(#triggers.#kind, :zero) + :one"
        )
        response = call(
            "dynamodb:UpdateItem",
            self.client.update_item,
            TableName=self.table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=_JOIN,
            ExpressionAttributeNames={**_names(update + _JOIN), "#kind": trigger},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":zero": {"N": "0"},
                ":now": _n(now),
                ":me": {"S": event_id},
                ":decided": {"S": Status.DECIDED.value},
                ":deciding": {"S": Status.DECIDING.value},
            },
            ReturnValues="ALL_NEW",
        )
        return _incident(response["Attributes"])

    def _open(
        self,
        key: dict[str, Any],
        event_id: str,
        trigger: str,
        window_seconds: int,
        lease_seconds: int,
    ) -> Opened:
        now = self.clock()
        closes = now + window_seconds
        item = {
            **key,
            "opened_at": _n(now),
            "closes_at": _n(closes),
            "lease_until": _n(now + lease_seconds),
            "owner_event": {"S": event_id},
            "status": {"S": Status.DECIDING.value},
            "events": {"N": "1"},
            "last_seen": _n(now),
            "triggers": {"M": {trigger: {"N": "1"}}},
            TTL_ATTRIBUTE: {"N": str(int(closes + RETENTION_SECONDS))},
        }
        response = call(
            "dynamodb:PutItem",
            self.client.put_item,
            TableName=self.table,
            Item=item,
            ConditionExpression=_OPEN,
            ExpressionAttributeNames=_names(_OPEN),
            ExpressionAttributeValues={
                ":now": _n(now),
                ":me": {"S": event_id},
                ":failed": {"S": Status.FAILED.value},
                ":deciding": {"S": Status.DECIDING.value},
            },
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        replaced = _incident(old) if old else None
        closed = replaced if replaced and replaced.closes_at <= now else None
        return Opened(_incident(item), closed=closed)

    def decide_again(
        self, incident: Incident, *, event_id: str, lease_seconds: int
    ) -> Opened | None:
        now = self.clock()
        update = "SET #status = :deciding, #owner = :me, #lease = :lease"
        condition = "#status = :decided AND #digest = :digest AND #closes > :now"
        try:
            response = call(
                "dynamodb:UpdateItem",
                self.client.update_item,
                TableName=self.table,
                Key=_key(incident.key_arn, incident.principal_arn),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update + condition),
                ExpressionAttributeValues={
                    ":deciding": {"S": Status.DECIDING.value},
                    ":decided": {"S": Status.DECIDED.value},
                    ":me": {"S": event_id},
                    ":lease": _n(now + lease_seconds),
                    ":digest": {"S": incident.policy_digest or ""},
                    ":now": _n(now),
                },
                ReturnValues="ALL_NEW",
            )
        except Conflict:
            return None  # another event is deciding it again, or did
        return Opened(_incident(response["Attributes"]), again=True)

    def settle(
        self,
        incident: Incident,
        *,
        status: Status,
        outcome: str,
        policy_digest: str | None,
        change_id: str | None,
    ) -> None:
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":outcome": {"S": outcome},
            ":me": {"S": incident.owner_event},
            ":deciding": {"S": Status.DECIDING.value},
        }
        sets = ["#status = :status", "#outcome = :outcome"]
        removes = []
        for name, value in (("#digest", policy_digest), ("#change", change_id)):
            if value is None:
                removes.append(name)
            else:
                values[f":{name[1:]}"] = {"S": value}
                sets.append(f"{name} = :{name[1:]}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = "#owner = :me AND #status = :deciding"
        try:
            call(
                "dynamodb:UpdateItem",
                self.client.update_item,
                TableName=self.table,
                Key=_key(incident.key_arn, incident.principal_arn),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update + condition),
                ExpressionAttributeValues=values,
            )
        except Conflict:
            # Its lease ran out and another event took it over: that one settles it.
            logger.warning("incident_taken_over", extra={"key_arn": incident.key_arn})
        except AwsError as err:
            # Not raised: the decision stands; the lease expires and the next event decides.
            logger.warning(
                "incident_settle_failed", extra={"key_arn": incident.key_arn, "code": err.code}
            )

    def incidents(self, key_arn: str) -> list[Incident]:
        iterator = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": f"{INCIDENT_PREFIX}{key_arn}"}},
        )
        return [
            _incident(item) for page in pages("dynamodb:Query", iterator) for item in page["Items"]
        ]


def _key(key_arn: str, principal_arn: str) -> dict[str, Any]:
    return {
        PARTITION_KEY: {"S": f"{INCIDENT_PREFIX}{key_arn}"},
        SORT_KEY: {"S": principal_arn},
    }


def _incident(item: Mapping[str, Any]) -> Incident:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value else None

    def number(name: str) -> float:
        value = item.get(name)
        return float(value["N"]) if value else 0.0

    triggers = {k: int(v["N"]) for k, v in item.get("triggers", {}).get("M", {}).items()}
    return Incident(
        key_arn=str(item[PARTITION_KEY]["S"]).removeprefix(INCIDENT_PREFIX),
        principal_arn=str(item[SORT_KEY]["S"]),
        opened_at=number("opened_at"),
        closes_at=number("closes_at"),
        owner_event=text("owner_event") or "",
        status=Status(text("status") or Status.FAILED.value),
        lease_until=number("lease_until"),
        events=int(number("events")) or 1,
        last_seen=number("last_seen"),
        triggers=triggers,
        outcome=text("outcome"),
        policy_digest=text("policy_digest"),
        change_id=text("change_id"),
    )


def incidents_for(table_name: str | None, client: Any = None) -> DynamoIncidents | None:
    """The incident store of a state table, or None without one."""
    if not table_name:
        return None
    return DynamoIncidents(table_name, client or dynamodb_client())
