"""``replay EVENT.json``: the Lambda's pipeline on one event, printed as one JSON object.

With ``--state-table`` (or $STATE_TABLE_NAME) it is the Lambda's pipeline with its table: the
per-key lock, the audit trail and incidents (a later event of an open incident is ``folded``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from remediator.cli import common


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "replay", help="run the remediation pipeline on one event (JSON file, or - for stdin)"
    )
    parser.add_argument(
        "event",
        help="an EventBridge event, or a dead-letter queue message body, as a JSON file "
        "(- for stdin)",
    )
    common.add_config(parser)
    common.add_state_table(parser)
    common.add_region(parser)
    parser.add_argument("--dry-run", action="store_true", help="decide and report, change nothing")


def run(args: argparse.Namespace) -> int:
    from remediator.pipeline import RemediationFailed, Remediator  # noqa: PLC0415
    from remediator.report import summary  # noqa: PLC0415

    config = common.config(args)
    event = _event(common.read(args.event, "event"))
    # The event's own region, unless --region says otherwise: an event is handled where it
    # happened, whatever region the shell's environment defaults to.
    named = event.get("region") if isinstance(event.get("region"), str) else None
    region = args.region or named or common.require_region(args)
    table = common.state_table(args)
    engine = Remediator(
        common.engine_port(config.member_role, region),
        config,
        topic_arn=common.topic_arn(),
        state_table_name=table,
        **_state(table, region),
    )
    try:
        reports = engine.handle(event)
    except RemediationFailed as failure:
        _print(summary(failure.reports))
        return common.EXIT_FAILED
    _print(summary(reports))
    return common.EXIT_OK


def _state(table: str | None, region: str) -> dict[str, Any]:
    """With a state table, as the Lambda has it: the lock and audit, and incidents."""
    if not table:
        return {}
    from remediator.adapters.dynamo import DynamoState, dynamodb_client  # noqa: PLC0415
    from remediator.adapters.incidents import DynamoIncidents  # noqa: PLC0415

    client = dynamodb_client(region)
    return {"state": DynamoState(table, client=client), "incidents": DynamoIncidents(table, client)}


def _event(text: str) -> dict[str, Any]:
    try:
        event: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise common.UsageError(f"event is not valid JSON: {err}") from None
    except RecursionError:
        raise common.UsageError("event is nested too deeply to be an EventBridge event") from None
    if not isinstance(event, dict):
        raise common.UsageError("event must be a JSON object (one EventBridge event)")
    return unwrapped(event)


def unwrapped(message: dict[str, Any]) -> dict[str, Any]:
    """The event in a dead-letter queue message. The queue holds two kinds: an event
    EventBridge could not deliver (the event itself), and Lambda's on-failure invocation record,
    whose ``requestPayload`` is the event ("Capturing records of Lambda asynchronous
    invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    payload = message.get("requestPayload")
    if isinstance(message.get("requestContext"), dict) and isinstance(payload, dict):
        return payload
    return message


def _print(value: dict[str, Any]) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
