"""Cross-invocation state in one DynamoDB table (schema in ``state_schema.py``).

- Idempotency per failure: powertools idempotency, keyed on ``detail.sharedEventID``, else
  ``detail.eventID``, else the event ``id`` (cross-account copies of one call share the first).
- A per-key lock: KMS has no conditional PutKeyPolicy, so two read-modify-write cycles on one
  key would silently lose a principal. The lock is a conditional put with an expiry, so a
  crashed holder cannot block a key for longer than ``LOCK_SECONDS``.
- An audit record per change (before and after), read by ``history`` and ``rollback`` and by
  the anti-loop count.

Implements ``remediator.ports.StatePort``. Without a table, ``ports.NoState`` applies: no
lock and no audit (single CLI runs, unit tests).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from remediator.adapters.aws import RETRY_CONFIG
from remediator.adapters.errors import Conflict, call, pages
from remediator.ports import AwsError, LockTimeout, NoState, StatePort
from remediator.state_schema import (
    ATTRIBUTE_DEFINITIONS,
    AUDIT_PREFIX,
    IDEMPOTENCY_PARTITION,
    KEY_SCHEMA,
    LOCK_PREFIX,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)
from remediator.triggers import DEDUP_FIELDS

logger = logging.getLogger(__name__)

LOCK_SECONDS = 60  # longer than one read-modify-write cycle takes, shorter than the Lambda timeout
LOCK_WAIT_SECONDS = 45
IDEMPOTENCY_KEY = " || ".join(DEDUP_FIELDS)
IDEMPOTENCY_SECONDS = 24 * 3600


def dynamodb_client(region: str | None = None) -> Any:
    import boto3  # noqa: PLC0415 (the adapter's own import, made when a table is used)

    return boto3.client("dynamodb", region_name=region, config=RETRY_CONFIG)


def create_table(client: Any, name: str) -> None:
    """Create the state table with the stack's schema (for local and emulator runs)."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
        KeySchema=KEY_SCHEMA,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class DynamoState:
    table: str
    client: Any = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    # lock() is a conditional put: one holder per key at a time
    serializes_writes = True

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = dynamodb_client()

    # --- lock ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key_arn: str) -> Iterator[None]:
        item_key = {PARTITION_KEY: {"S": f"{LOCK_PREFIX}{key_arn}"}, SORT_KEY: {"S": "lock"}}
        deadline = self.clock() + LOCK_WAIT_SECONDS
        delay = 0.05
        while True:
            now = self.clock()
            try:
                call(
                    "dynamodb:PutItem",
                    self.client.put_item,
                    TableName=self.table,
                    Item={
                        **item_key,
                        "owner": {"S": self.owner},
                        TTL_ATTRIBUTE: {"N": str(int(now + LOCK_SECONDS))},
                    },
                    ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY, "#exp": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":now": {"N": str(int(now))}},
                )
                break
            except Conflict:
                pass  # held by another invocation: wait and try again
            if self.clock() > deadline:
                raise LockTimeout(f"{key_arn} is locked by another invocation")
            self.sleep(delay)
            delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            self._release(item_key, key_arn)

    def _release(self, item_key: dict[str, Any], key_arn: str) -> None:
        try:
            call(
                "dynamodb:DeleteItem",
                self.client.delete_item,
                TableName=self.table,
                Key=item_key,
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}},
            )
        except Conflict:
            return  # the lock expired and another invocation holds it: nothing to release
        except AwsError as err:
            # Not raised: the change under the lock is done, and the lock expires on its own.
            logger.warning("lock_release_failed", extra={"key_arn": key_arn, "code": err.code})

    # --- audit -----------------------------------------------------------------------------

    def record_change(
        self,
        *,
        key_arn: str,
        event_id: str,
        principal_arn: str,
        remedy: str,
        before: Any,
        after: Any,
    ) -> str:
        now = self.clock()
        change_id = f"{int(now)}-{uuid.uuid4().hex[:8]}"
        item = {
            PARTITION_KEY: {"S": f"{AUDIT_PREFIX}{key_arn}"},
            SORT_KEY: {"S": f"{_iso(now)}#{change_id}"},
            "change_id": {"S": change_id},
            "event_id": {"S": event_id},
            "principal_arn": {"S": principal_arn},
            "remedy": {"S": remedy},
            "at": {"S": _iso(now)},
            "before": {"S": json.dumps(before)},
            "after": {"S": json.dumps(after)},
        }
        call("dynamodb:PutItem", self.client.put_item, TableName=self.table, Item=item)
        return change_id

    def changes_in_last_hour(self, key_arn: str) -> int:
        response = call(
            "dynamodb:Query",
            self.client.query,
            TableName=self.table,
            KeyConditionExpression="#pk = :pk AND #sk >= :since",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": f"{AUDIT_PREFIX}{key_arn}"},
                ":since": {"S": _iso(self.clock() - 3600)},
            },
            Select="COUNT",
        )
        return int(response["Count"])

    def history(self, key_arn: str) -> list[dict[str, Any]]:
        """Every recorded change to a key, oldest first."""
        items: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        iterator = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": f"{AUDIT_PREFIX}{key_arn}"}},
        )
        for page in pages("dynamodb:Query", iterator):
            items += [_plain(item) for item in page["Items"]]
        return items

    # --- idempotency -----------------------------------------------------------------------

    def idempotent(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap ``function(event=...)`` so that a repeated failure event returns the first
        result without acting or notifying again. The wrapper takes the Lambda context too, so
        that a record left in progress by a timed-out invocation expires with it."""
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        store = DynamoDBPersistenceLayer(
            table_name=self.table,
            key_attr=PARTITION_KEY,
            sort_key_attr=SORT_KEY,
            static_pk_value=IDEMPOTENCY_PARTITION,
            expiry_attr=TTL_ATTRIBUTE,
            boto3_client=self.client,
        )
        config = IdempotencyConfig(
            event_key_jmespath=IDEMPOTENCY_KEY, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        wrapped = idempotent_function(
            data_keyword_argument="event", persistence_store=store, config=config
        )(function)

        def run(event: Any, context: Any = None) -> Any:
            if context is not None:
                config.register_lambda_context(context)
            return wrapped(event=event)

        return run


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    record = {
        k: v.get("S", v.get("N")) for k, v in item.items() if k not in (PARTITION_KEY, SORT_KEY)
    }
    for name in ("before", "after"):
        if record.get(name) is not None:
            record[name] = json.loads(record[name])
    return record


def state_for(table_name: str | None) -> StatePort:
    if not table_name:
        return NoState()
    return DynamoState(table_name)
