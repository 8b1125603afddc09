"""CLI commands over the state table: create it, list a key's changes, roll one back.

python -m remediator state create-table NAME [--region R]
python -m remediator history --key KEY_ARN [--state-table NAME] [--region R]
python -m remediator rollback --key KEY_ARN [--change-id ID] [--force] [--state-table NAME]
                              [--region R]

``create-table`` is idempotent: an existing table with the stack's key schema is accepted.
``history`` prints every audit record of the key (changes, their rollbacks, cleanups), each
change marked in place or rolled back, and the key's recent incidents. ``rollback`` exits 0
rolled back (or already rolled back), 1 refused or failed, 2 no such change; each rollback is
counted as the metric ``RolledBack``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from remediator.cli import common
from remediator.outcomes import ROLLED_BACK_METRIC, RollbackOutcome


def add_parsers(sub: Any) -> None:
    state = sub.add_parser("state", help="manage the DynamoDB state table")
    state_sub = state.add_subparsers(dest="state_command", required=True)
    create = state_sub.add_parser(
        "create-table", help="create the table with the stack's schema (an existing one is kept)"
    )
    create.add_argument("name")
    common.add_region(create)

    history = sub.add_parser("history", help="list the recorded changes to a key")
    history.add_argument("--key", required=True, metavar="KEY_ARN", type=common.key_arn)
    common.add_state_table(history)
    common.add_region(history)

    rollback = sub.add_parser("rollback", help="undo a recorded change to a key")
    rollback.add_argument("--key", required=True, metavar="KEY_ARN", type=common.key_arn)
    rollback.add_argument("--change-id", help="default: the latest change")
    rollback.add_argument("--force", action="store_true", help="even if the policy changed since")
    rollback.add_argument(
        "--member-role",
        metavar="NAME",
        help="organization mode: act in each account through this role (as the hub's role)",
    )
    common.add_state_table(rollback)
    common.add_region(rollback)


def run(args: argparse.Namespace) -> int:
    if args.command == "state":
        return _create_table(args)
    table, region = common.require_state_table(args), common.require_region(args)
    with common.table_must_exist(table, region):
        if args.command == "history":
            return _history(args, table, region)
        return _rollback(args, table, region)


def _create_table(args: argparse.Namespace) -> int:
    from remediator.adapters.operator import ensure_state_table  # noqa: PLC0415 (fast --help)

    status, problem = ensure_state_table(common.require_region(args), args.name)
    if problem:
        raise common.UsageError(problem)
    print(json.dumps({status: args.name}))
    return common.EXIT_OK


def _history(args: argparse.Namespace, table: str, region: str) -> int:
    from remediator.adapters.incidents import DynamoIncidents  # noqa: PLC0415

    state = _state(table, region)
    records = state.history(args.key)
    found = DynamoIncidents(table, state.client).incidents(args.key)
    view = present(args.key, records, [i.view() for i in found])
    print(json.dumps(view, indent=2, sort_keys=True, default=str))
    return common.EXIT_OK


def present(
    key_arn: str, records: list[dict[str, Any]], incidents: list[dict[str, Any]]
) -> dict[str, Any]:
    """A key's audit trail as ``history`` prints it: every record, oldest first, a change
    marked ``in place`` or ``rolled back`` (by which rollback, when), and its incidents."""
    from remediator.recovery import CLEANUP, ROLLBACK  # noqa: PLC0415 (keeps --help fast)

    rollbacks = {
        str(_rolls_back(r)): r for r in records if r.get("remedy") == ROLLBACK and _rolls_back(r)
    }
    shown = []
    for record in sorted(records, key=lambda r: str(r.get("at", ""))):
        entry = dict(record)
        undone = rollbacks.get(str(record.get("change_id")))
        if record.get("pending"):
            entry["status"] = "pending: the next invocation on the key settles it"
        elif record.get("remedy") not in (ROLLBACK, CLEANUP):
            entry["status"] = "rolled back" if undone else "in place"
        if undone:
            entry["rolled_back_by"] = undone.get("change_id")
            entry["rolled_back_at"] = undone.get("at")
        shown.append(entry)
    return {"key_arn": key_arn, "records": shown, "incidents": incidents}


def _rolls_back(record: dict[str, Any]) -> Any:
    """The change a rollback's audit record undid (its planned ``rolls_back``), if it is one."""
    planned = record.get("planned")
    return planned.get("rolls_back") if isinstance(planned, dict) else None


def _rollback(args: argparse.Namespace, table: str, region: str) -> int:
    from remediator.adapters.aws import AwsAdapter  # noqa: PLC0415
    from remediator.notification import rollback_text  # noqa: PLC0415
    from remediator.rollback import rollback  # noqa: PLC0415

    state = _state(table, region)
    # KMS answers in the key's region; in organization mode each half in its own account.
    aws = common.engine_port(args.member_role, args.key.split(":")[3])
    topic = common.topic_arn()

    def notify(subject: str, message: str, outcome: str) -> None:
        if topic:
            publisher = AwsAdapter(region=topic.split(":")[3])
            publisher.publish(
                topic, subject[:100], message, outcome, email=rollback_text(json.loads(message))
            )

    result = rollback(aws, state, args.key, args.change_id, force=args.force, notify=notify)
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    if result["outcome"] == RollbackOutcome.ROLLED_BACK:
        _count_rollback(region)
    return exit_code(result["outcome"])


def _count_rollback(region: str) -> None:
    from remediator.adapters.operator import count  # noqa: PLC0415
    from remediator.ports import AwsError  # noqa: PLC0415

    try:
        count(region, ROLLED_BACK_METRIC)
    except AwsError as err:  # the rollback stands; the metric is a record of it
        common.warning(f"rollback not counted in metrics ({ROLLED_BACK_METRIC}): {err}")


def exit_code(outcome: str) -> int:
    """A rollback's exit code: 0 rolled back or already, 1 refused or failed, 2 no such change."""
    if outcome == RollbackOutcome.NOT_FOUND:
        return common.EXIT_USAGE
    if outcome in (RollbackOutcome.ROLLED_BACK, RollbackOutcome.ALREADY_ROLLED_BACK):
        return common.EXIT_OK
    return common.EXIT_FAILED


def _state(table: str, region: str) -> Any:
    from remediator.adapters.dynamo import DynamoState, dynamodb_client  # noqa: PLC0415

    return DynamoState(table, client=dynamodb_client(region))
