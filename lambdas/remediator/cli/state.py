"""CLI commands over the state table: create it, list a key's changes, roll one back.

python -m remediator state create-table NAME
python -m remediator history --key KEY_ARN [--state-table NAME]
python -m remediator rollback --key KEY_ARN [--change-id ID] [--force] [--state-table NAME]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from remediator.cli import common
from remediator.config import Settings


def add_parsers(sub: Any) -> None:
    state = sub.add_parser("state", help="manage the DynamoDB state table")
    state_sub = state.add_subparsers(dest="state_command", required=True)
    create = state_sub.add_parser("create-table", help="create the table with the stack's schema")
    create.add_argument("name")
    common.add_region(create)

    history = sub.add_parser("history", help="list the recorded changes to a key")
    history.add_argument("--key", required=True, metavar="KEY_ARN")
    common.add_state_table(history)
    common.add_region(history)

    rollback = sub.add_parser("rollback", help="undo a recorded change to a key")
    rollback.add_argument("--key", required=True, metavar="KEY_ARN")
    rollback.add_argument("--change-id", help="default: the latest change")
    rollback.add_argument("--force", action="store_true", help="even if the policy changed since")
    common.add_state_table(rollback)
    common.add_region(rollback)


def run(args: argparse.Namespace) -> int:
    from remediator.adapters import dynamo  # noqa: PLC0415 (keeps --help fast)

    if args.command == "state":
        dynamo.create_table(dynamo.dynamodb_client(common.region(args)), args.name)
        print(json.dumps({"created": args.name}))
        return common.EXIT_OK
    if args.command == "history":
        print(json.dumps(_state(args).history(args.key), indent=2, sort_keys=True))
        return common.EXIT_OK
    return _rollback(args)


def _rollback(args: argparse.Namespace) -> int:
    from remediator.adapters.aws import AwsAdapter  # noqa: PLC0415
    from remediator.rollback import rollback  # noqa: PLC0415

    state = _state(args)
    aws = AwsAdapter(region=args.key.split(":")[3] if args.key.count(":") >= 5 else None)
    topic = common.topic_arn()

    def notify(subject: str, message: str, outcome: str) -> None:
        if topic:
            aws.publish(topic, subject[:100], message, outcome)

    result = rollback(aws, state, args.key, args.change_id, force=args.force, notify=notify)
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return exit_code(result["outcome"])


def exit_code(outcome: str) -> int:
    """A rollback's exit code: 0 rolled back, 1 refused or failed, 2 no such change."""
    from remediator.rollback import NOT_FOUND, ROLLED_BACK  # noqa: PLC0415

    if outcome == NOT_FOUND:
        return common.EXIT_USAGE
    return common.EXIT_OK if outcome == ROLLED_BACK else common.EXIT_FAILED


def _state(args: argparse.Namespace) -> Any:
    from remediator.adapters.dynamo import DynamoState, dynamodb_client  # noqa: PLC0415

    table = common.state_table(args)
    if not table:
        raise common.UsageError(
            f"name the state table with --state-table or ${Settings.ENV_STATE_TABLE}"
        )
    return DynamoState(table, client=dynamodb_client(common.region(args)))
