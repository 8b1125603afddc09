"""``diagnose --instance-id ID | --asg NAME``: why a launch failed, read-only, as text or JSON.

Exit codes: 0 diagnosed (whatever the finding), 2 bad input (malformed or unknown instance id
or group name, bad configuration), 3 an AWS call failed. In organization mode (a configuration
with ``member_role``), ``--account`` names the member account the launch is in; every read is
made in the account it concerns, through the member role there, as the hub makes them.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from remediator.arns import is_account_id
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
    parser.add_argument(
        "--account",
        metavar="ID",
        help="organization mode: the member account the instance or group is in, read through "
        "the configuration's member_role (default: the credentials' own account)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from remediator.diagnose import DiagnoseError, diagnose  # noqa: PLC0415 (keeps --help fast)

    config = common.config(args)
    region = common.require_region(args)
    if args.account is not None and not is_account_id(args.account):
        raise common.UsageError(f"--account {args.account!r} is not a 12-digit account id")
    if args.account is not None and not config.member_role:
        raise common.UsageError(
            "--account needs a configuration with member_role (organization mode)"
        )
    aws = common.engine_port(config.member_role, region).read_only()
    account = args.account or aws.account_id()
    try:
        with aws.acting_for("diagnose", account, region):
            result = diagnose(
                aws, config, region=region, instance_id=args.instance_id, group=args.asg
            )
    except DiagnoseError as err:
        raise common.UsageError(str(err)) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(result.text())
    return common.EXIT_OK
