"""Lambda edge of the organization hub: SQS batches whose records each carry one EventBridge
event from a member account, each handed to the same pipeline as the single-account handler.

The hub's rules deliver every matching event to an SQS queue; Lambda reads it in batches.
Powertools' batch processor runs each record on its own and reports the ones that raised as
``batchItemFailures`` (the event source mapping has ReportBatchItemFailures), so only those
return to the queue, to be retried until the queue's redrive policy moves them to the
dead-letter queue; the others are deleted. A record whose event fails in the engine
(``RemediationFailed``, a lock that stayed taken, an AWS error) is such a failure; one that the
engine handles, whatever its outcome, is not. Idempotency (with a state table) makes a retried
record answer with its first result.

The handler string is ``remediator.hub.handler``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from remediator.handler import logger, metrics, pipeline, traced


class NotAnEvent(ValueError):
    """A record's body is not the JSON object of an EventBridge event."""


def event_of(record: SQSRecord) -> dict[str, Any]:
    """The EventBridge event an SQS record carries (EventBridge writes it as the body)."""
    try:
        event = json.loads(record.body)
    except json.JSONDecodeError as err:
        raise NotAnEvent(f"record {record.message_id}: body is not JSON: {err}") from None
    if not isinstance(event, dict):
        raise NotAnEvent(f"record {record.message_id}: body is not a JSON object")
    return event


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> Any:
    """One record: its event through the pipeline, logged under the event's id."""
    event = event_of(record)
    logger.set_correlation_id(str(event.get("id", record.message_id)))
    try:
        return pipeline()(event=event, context=lambda_context)
    finally:
        logger.set_correlation_id(None)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
