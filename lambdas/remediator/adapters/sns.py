"""SNS Publish for the notifications: one message per protocol (``MessageStructure=json``),
with the ``outcome`` message attribute for subscription filters (see ``notification.py``)."""

from __future__ import annotations

import json
from typing import Any

from remediator.adapters.errors import call
from remediator.notification import EMAIL_PROTOCOL


def publish(
    sns: Any, topic_arn: str, subject: str, message: str, outcome: str, *, email: str | None
) -> str:
    """``message`` for SQS, Lambda and HTTPS subscribers (``default``), and ``email``, when
    given, for email subscribers; without ``email``, one message for every protocol."""
    structure: dict[str, str] = {}
    if email is not None:
        structure["MessageStructure"] = "json"
        message = json.dumps({"default": message, EMAIL_PROTOCOL: email})
    response = call(
        "sns:Publish",
        sns.publish,
        TopicArn=topic_arn,
        Subject=subject,
        Message=message,
        MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
        **structure,
    )
    return str(response["MessageId"])
