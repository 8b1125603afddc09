"""Idempotency per failure, with powertools: a repeated failure event returns the first result
without acting or notifying again.

The key is the first of ``DEDUP_FIELDS`` the event has (copies of one cross-account call share
``detail.sharedEventID``). The payload is validated on what identifies the failure, so an event
that reuses an id for other content is refused (``EventReused``) instead of being answered with
another event's result; the fields that legitimately differ between copies (the envelope's id,
account and time, the recipient account) are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remediator.ports import EventReused
from remediator.state_schema import (
    IDEMPOTENCY_PARTITION,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)
from remediator.triggers import DEDUP_FIELDS

IDEMPOTENCY_KEY = " || ".join(DEDUP_FIELDS)
IDEMPOTENCY_SECONDS = 24 * 3600
PAYLOAD_FIELDS = (
    "source",
    '"detail-type"',
    "detail.eventName",
    "detail.errorCode",
    "detail.requestParameters",
    "detail.userIdentity.arn",
    "detail.userIdentity.sessionContext.sessionIssuer.arn",
    'detail."instance-id"',
    "detail.state",
    "detail.AutoScalingGroupName",
    "detail.EC2InstanceId",
    "detail.StatusMessage",
)
PAYLOAD_VALIDATION = "[" + ", ".join(PAYLOAD_FIELDS) + "]"


def idempotent(function: Callable[..., Any], *, table: str, client: Any) -> Callable[..., Any]:
    """Wrap ``function(event=...)``. The wrapper takes the Lambda context too, so that a record
    left in progress by a timed-out invocation expires with it."""
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyValidationError,
    )

    store = DynamoDBPersistenceLayer(
        table_name=table,
        key_attr=PARTITION_KEY,
        sort_key_attr=SORT_KEY,
        static_pk_value=IDEMPOTENCY_PARTITION,
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=client,
    )
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        payload_validation_jmespath=PAYLOAD_VALIDATION,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
    )
    wrapped = idempotent_function(
        data_keyword_argument="event", persistence_store=store, config=config
    )(function)

    def run(event: Any, context: Any = None) -> Any:
        if context is not None:
            config.register_lambda_context(context)
        try:
            return wrapped(event=event)
        except IdempotencyValidationError:
            raise EventReused(
                "the event's id was already used by an event with other content"
            ) from None

    return run
