"""Cross-invocation state in one DynamoDB table (schema and item prefixes in ``state_schema.py``).

Implements ``remediator.ports.StatePort``:

- A per-key lock. KMS has no conditional PutKeyPolicy, so two read-modify-write cycles on one
  key would silently lose a principal. The lock is a conditional put with a lease that outlives
  the Lambda (``LOCK_LEASE_SECONDS``), and a token per acquisition: ``fence`` proves, just
  before a KMS write, that this acquisition still holds the lock, and renews its lease.
- Write-ahead audit. ``begin_change`` records an intent (the prior state, the planned change)
  before any KMS write; ``finish_change`` writes the audit record (once, never overwritten) and
  marks the intent done; ``close_change`` closes it once its notification is sent;
  ``abandon_change`` closes it as not applied. An intent left open by a process that died is
  found by ``pending_changes`` and completed (or notified) by the next one.
- The anti-loop count: every audit record and pending intent of the last hour, over all pages.

Without a table, ``ports.NoState`` applies: no lock and no audit (single CLI runs, unit tests).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from remediator import exact_json
from remediator.adapters.aws import RETRY_CONFIG
from remediator.adapters.errors import Conflict, call, pages
from remediator.model import PlannedChange
from remediator.ports import AwsError, LockLost, LockTimeout, NoState, StatePort
from remediator.state_schema import (
    ATTRIBUTE_DEFINITIONS,
    AUDIT_PREFIX,
    INTENT_PREFIX,
    KEY_SCHEMA,
    LOCK_LEASE_SECONDS,
    LOCK_PREFIX,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)

logger = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 45
CLOSED_INTENT_SECONDS = 30 * 24 * 3600  # a closed intent is kept this long, for history
# An intent is pending until its change is settled; done (audited, not yet notified); then
# notified or not_applied, and kept a while for history.
PENDING, DONE, NOTIFIED, NOT_APPLIED = "pending", "done", "notified", "not_applied"
COUNTED_REMEDIES = ("key-policy", "grant")  # the anti-loop cap counts these, not rollbacks


def dynamodb_client(region: str | None = None) -> Any:
    # A session of its own, not boto3's process-wide default one, whose credentials are
    # resolved once and kept (sessions.py shares only the parsed service models).
    from remediator.adapters.sessions import new_session  # noqa: PLC0415 (when a table is used)

    return new_session().client("dynamodb", region_name=region, config=RETRY_CONFIG)


def create_table(client: Any, name: str) -> bool:
    """Create the state table with the stack's schema (for local and emulator runs); False
    when a table of that name already exists."""
    try:
        call(
            "dynamodb:CreateTable",
            client.create_table,
            TableName=name,
            AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
            KeySchema=KEY_SCHEMA,
            BillingMode="PAY_PER_REQUEST",
        )
    except AwsError as err:
        if err.code == "ResourceInUseException":
            return False
        raise
    client.get_waiter("table_exists").wait(TableName=name)
    call(
        "dynamodb:UpdateTimeToLive",
        client.update_time_to_live,
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: str) -> dict[str, str]:
    return {"S": value}


@dataclass
class DynamoState:
    table: str
    client: Any = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    lease_seconds: float = LOCK_LEASE_SECONDS
    tokens: dict[str, str] = field(default_factory=dict)  # key ARN -> token of the held lock
    serializes_writes = True  # lock() is a conditional put: one holder per key at a time

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = dynamodb_client()

    # --- lock ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key_arn: str) -> Iterator[None]:
        token = uuid.uuid4().hex
        deadline = self.clock() + LOCK_WAIT_SECONDS
        delay = 0.05
        while not self._acquire(key_arn, token):
            if self.clock() > deadline:
                raise LockTimeout(f"{key_arn} is locked by another invocation")
            self.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.tokens[key_arn] = token
        try:
            yield
        finally:
            self.tokens.pop(key_arn, None)
            self._release(key_arn, token)

    def _lock_key(self, key_arn: str) -> dict[str, Any]:
        return {PARTITION_KEY: _text(f"{LOCK_PREFIX}{key_arn}"), SORT_KEY: _text("lock")}

    def _acquire(self, key_arn: str, token: str) -> bool:
        now = self.clock()
        try:
            call(
                "dynamodb:PutItem",
                self.client.put_item,
                TableName=self.table,
                Item={
                    **self._lock_key(key_arn),
                    "token": _text(token),
                    TTL_ATTRIBUTE: {"N": str(int(now + self.lease_seconds))},
                },
                ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except Conflict:
            return False  # held by another invocation: wait and try again
        return True

    def fence(self, key_arn: str) -> None:
        """Prove this invocation still holds the key's lock, and renew its lease; raise
        ``LockLost`` otherwise. Called just before every KMS write."""
        token = self.tokens.get(key_arn)
        if token is None:
            raise LockLost(f"{key_arn}: no lock is held by this invocation")
        now = self.clock()
        try:
            call(
                "dynamodb:UpdateItem",
                self.client.update_item,
                TableName=self.table,
                Key=self._lock_key(key_arn),
                UpdateExpression="SET #exp = :until",
                ConditionExpression="#token = :token AND #exp >= :now",
                ExpressionAttributeNames={"#token": "token", "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":token": _text(token),
                    ":now": {"N": str(int(now))},
                    ":until": {"N": str(int(now + self.lease_seconds))},
                },
            )
        except Conflict:
            raise LockLost(f"{key_arn}: the lock expired and was taken by another") from None

    def _release(self, key_arn: str, token: str) -> None:
        try:
            call(
                "dynamodb:DeleteItem",
                self.client.delete_item,
                TableName=self.table,
                Key=self._lock_key(key_arn),
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": _text(token)},
            )
        except Conflict:
            return  # the lock expired and another invocation holds it: nothing to release
        except AwsError as err:
            # Not raised: the change under the lock is done, and the lock expires on its own.
            logger.warning("lock_release_failed", extra={"key_arn": key_arn, "code": err.code})

    # --- write-ahead audit -----------------------------------------------------------------

    def begin_change(self, change: PlannedChange) -> str:
        """Record the intent to make ``change``; returns its change id."""
        now = self.clock()
        change_id = f"{int(now)}-{uuid.uuid4().hex[:8]}"
        item = {
            PARTITION_KEY: _text(f"{INTENT_PREFIX}{change.key_arn}"),
            SORT_KEY: _text(change_id),
            "status": _text(PENDING),
            "change_id": _text(change_id),
            "event_id": _text(change.event_id),
            "principal_arn": _text(change.principal_arn),
            "remedy": _text(change.remedy),
            "at": _text(_iso(now)),
            "before": _text(exact_json.dumps(change.before)),
            "planned": _text(exact_json.dumps(change.planned)),
            "token": _text(self.tokens.get(change.key_arn, "")),
            **({"account": _text(change.account)} if change.account else {}),
        }
        call("dynamodb:PutItem", self.client.put_item, TableName=self.table, Item=item)
        return change_id

    def finish_change(self, key_arn: str, change_id: str, after: Any, note: str = "") -> None:
        """The change was made: write its audit record (once) and close the intent."""
        intent = self._intent(key_arn, change_id)
        if intent is None:
            raise LockLost(f"{key_arn}: intent {change_id} is not recorded")
        item = {
            PARTITION_KEY: _text(f"{AUDIT_PREFIX}{key_arn}"),
            SORT_KEY: _text(f"{intent['at']['S']}#{change_id}"),
            **{name: intent[name] for name in ("change_id", "event_id", "principal_arn")},
            **{name: intent[name] for name in ("remedy", "at", "before", "planned")},
            **{name: intent[name] for name in ("account",) if name in intent},
            "after": _text(exact_json.dumps(after)),
        }
        if note:
            item["note"] = _text(note)
        # Conflict: already written by an earlier attempt; an audit record is never replaced.
        with contextlib.suppress(Conflict):
            call(
                "dynamodb:PutItem",
                self.client.put_item,
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        self._close(key_arn, change_id, DONE, keep=True)

    def close_change(self, key_arn: str, change_id: str) -> None:
        """The change was made, audited and notified."""
        self._close(key_arn, change_id, NOTIFIED)

    def abandon_change(self, key_arn: str, change_id: str) -> None:
        """The change was not made: close its intent as not applied."""
        self._close(key_arn, change_id, NOT_APPLIED)

    def _close(self, key_arn: str, change_id: str, status: str, keep: bool = False) -> None:
        expiry = {":until": {"N": str(int(self.clock() + CLOSED_INTENT_SECONDS))}}
        call(
            "dynamodb:UpdateItem",
            self.client.update_item,
            TableName=self.table,
            Key={PARTITION_KEY: _text(f"{INTENT_PREFIX}{key_arn}"), SORT_KEY: _text(change_id)},
            UpdateExpression="SET #status = :status" + ("" if keep else ", #exp = :until"),
            ExpressionAttributeNames={
                "#status": "status",
                **({} if keep else {"#exp": TTL_ATTRIBUTE}),
            },
            ExpressionAttributeValues={":status": _text(status), **({} if keep else expiry)},
        )

    def _intent(self, key_arn: str, change_id: str) -> dict[str, Any] | None:
        response = call(
            "dynamodb:GetItem",
            self.client.get_item,
            TableName=self.table,
            Key={PARTITION_KEY: _text(f"{INTENT_PREFIX}{key_arn}"), SORT_KEY: _text(change_id)},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def pending_changes(self, key_arn: str) -> list[dict[str, Any]]:
        """Intents not closed: changes that may or may not have been made (pending), and
        changes made and audited whose notification was not sent (done)."""
        intents = self._query(f"{INTENT_PREFIX}{key_arn}")
        return [i for i in intents if i["status"] in (PENDING, DONE)]

    def _unsettled(self, key_arn: str) -> list[dict[str, Any]]:
        return [i for i in self.pending_changes(key_arn) if i["status"] == PENDING]

    def changes_in_last_hour(self, key_arn: str) -> int:
        """Changes made or in flight within the hour: audit records and unsettled intents."""
        since = _iso(self.clock() - 3600)
        recorded = self._query(f"{AUDIT_PREFIX}{key_arn}", since=since)
        recorded += [c for c in self._unsettled(key_arn) if c["at"] >= since]
        return sum(1 for c in recorded if c.get("remedy") in COUNTED_REMEDIES)

    def history(self, key_arn: str) -> list[dict[str, Any]]:
        """Every recorded change to a key, oldest first, then the intents still unsettled."""
        done = self._query(f"{AUDIT_PREFIX}{key_arn}")
        pending = [{**c, "pending": True} for c in self._unsettled(key_arn)]
        return [*done, *pending]

    def _query(self, partition: str, since: str = "") -> list[dict[str, Any]]:
        condition = "#pk = :pk" + (" AND #sk >= :since" if since else "")
        names = {"#pk": PARTITION_KEY, **({"#sk": SORT_KEY} if since else {})}
        values = {":pk": _text(partition), **({":since": _text(since)} if since else {})}
        iterator = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        return [
            _plain(item) for page in pages("dynamodb:Query", iterator) for item in page["Items"]
        ]

    # --- idempotency -----------------------------------------------------------------------

    def idempotent(self, function: Callable[..., Any]) -> Callable[..., Any]:
        from remediator.adapters.idempotency import idempotent  # noqa: PLC0415

        return idempotent(function, table=self.table, client=self.client)


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    record = {
        k: v.get("S", v.get("N")) for k, v in item.items() if k not in (PARTITION_KEY, SORT_KEY)
    }
    for name in ("before", "after", "planned"):
        if record.get(name) is not None:
            with contextlib.suppress(exact_json.JsonTextError):
                # (a record an older version wrote with a non-finite number stays as text:
                # history lists it, and rollback refuses to write it)
                record[name] = exact_json.loads(record[name])
    record.pop("token", None)
    return record


def state_for(table_name: str | None) -> StatePort:
    if not table_name:
        return NoState()
    return DynamoState(table_name)
