"""``cleanup``: list what the tool wrote that is still in place; with ``--apply``, remove it.

    python -m remediator cleanup [--key KEY_ARN ...] [--state-table NAME] [--region R] [--apply]

The keys are those given and every key the state table's audit trail names. Exit codes: 0
listed (or all removed), 1 something could not be removed, 2 bad usage, 3 an AWS call failed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from remediator.cli import common


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "cleanup",
        help="list the statements and grants the tool wrote that are still in place; "
        "--apply removes them",
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY_ARN",
        type=common.key_arn,
        help="a key to look at (repeatable); the audit trail's keys are looked at too",
    )
    common.add_state_table(parser)
    common.add_region(parser)
    parser.add_argument("--apply", action="store_true", help="remove what is listed")


def run(args: argparse.Namespace) -> int:
    from remediator.adapters.aws import AwsAdapter  # noqa: PLC0415 (keeps --help fast)
    from remediator.cleanup import FAILED, REFUSED, find, remove_tool_changes  # noqa: PLC0415
    from remediator.ports import NoState, StatePort  # noqa: PLC0415

    table = common.state_table(args)
    if not table and not args.key:
        raise common.UsageError("name the keys with --key, or the state table with --state-table")
    keys = list(dict.fromkeys(args.key))
    state: StatePort = NoState()
    if table:
        from remediator.adapters.dynamo import DynamoState, dynamodb_client  # noqa: PLC0415
        from remediator.adapters.operator import audited_keys  # noqa: PLC0415

        region = common.require_region(args)
        with common.table_must_exist(table, region):
            keys += [k for k in audited_keys(region, table) if k not in keys]
        state = DynamoState(table, client=dynamodb_client(region))
    adapters: dict[str, AwsAdapter] = {}
    found = []
    for key in keys:
        region = key.split(":")[3]  # KMS answers in the key's region
        found.append(find(adapters.setdefault(region, AwsAdapter(region=region)), key))
    output: dict[str, Any] = {"keys": [f.as_dict() for f in found], "applied": args.apply}
    code = common.EXIT_OK
    if args.apply:
        results = [remove_tool_changes(adapters[f.key_arn.split(":")[3]], state, f) for f in found]
        output["results"] = results
        if any(r["outcome"] in (REFUSED, FAILED) for r in results):
            code = common.EXIT_FAILED
    print(json.dumps(output, indent=2, sort_keys=True, default=str))
    return code
