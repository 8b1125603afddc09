"""SQS events as Lambda's event source mapping delivers them to a queue-reading function."""

from __future__ import annotations

import hashlib
from typing import Any


def sqs_record(message_id: str, body: str, *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, carrying ``body`` (for the hub: an EventBridge event)."""
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1717000000000",
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": "1717000000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
