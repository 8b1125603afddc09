"""``diagnose --instance-id ID | --asg NAME``: why a launch failed, read-only, as text or JSON.

Exit codes: 0 diagnosed (whatever the finding), 2 bad input (malformed or unknown instance id
or group name, bad configuration), 3 an AWS call failed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from remediator.cli import common


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "diagnose", help="explain, read-only, why an instance or group failed to launch on a key"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--instance-id", metavar="ID", help="the instance that failed to launch")
    target.add_argument("--asg", metavar="NAME", help="the Auto Scaling group whose launches fail")
    common.add_config(parser)
    common.add_region(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from remediator.adapters.aws import AwsAdapter  # noqa: PLC0415 (keeps --help fast)
    from remediator.diagnose import DiagnoseError, diagnose  # noqa: PLC0415

    config = common.config(args)
    region = common.require_region(args)
    aws = AwsAdapter(region=region).read_only()
    try:
        result = diagnose(aws, config, region=region, instance_id=args.instance_id, group=args.asg)
    except DiagnoseError as err:
        raise common.UsageError(str(err)) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(result.text())
    return common.EXIT_OK
