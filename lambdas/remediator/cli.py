"""Command line: the same pipeline as the Lambda, against whatever endpoint the environment names.

    PYTHONPATH=lambdas python -m remediator replay EVENT.json [--config FILE] [--dry-run]

Exit codes: 0 handled (any outcome but failed), 1 failed, 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from remediator import state_cli
from remediator.config import ConfigError, Mode, RemediatorConfig, Settings, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input or configuration: reported on stderr, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m remediator", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser(
        "replay", help="run the remediation pipeline on one event (JSON file, or - for stdin)"
    )
    replay.add_argument("event", help="path to an EventBridge event JSON file, or - for stdin")
    _add_common(replay)
    replay.add_argument("--dry-run", action="store_true", help="decide and report, change nothing")
    diagnose = sub.add_parser(
        "diagnose", help="explain, read-only, why an instance or group failed to launch on a key"
    )
    target = diagnose.add_mutually_exclusive_group(required=True)
    target.add_argument("--instance-id", metavar="ID", help="the instance that failed to launch")
    target.add_argument("--asg", metavar="NAME", help="the Auto Scaling group whose launches fail")
    diagnose.add_argument(
        "--config", metavar="FILE", help=f"configuration JSON (default: ${Settings.ENV_CONFIG})"
    )
    diagnose.add_argument("--region", help="AWS region (default: the environment's)")
    diagnose.add_argument("--json", action="store_true", help="print one JSON object")
    state_cli.add_parsers(sub)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help=f"configuration JSON (default: ${Settings.ENV_CONFIG})"
    )
    parser.add_argument(
        "--state-table",
        metavar="NAME",
        help=f"DynamoDB state table (default: ${Settings.ENV_STATE_TABLE})",
    )
    parser.add_argument(
        "--region", help="AWS region (default: the environment's, else the event's)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "diagnose":
            from remediator import diagnose  # noqa: PLC0415 (keeps --help and usage errors fast)

            return diagnose.run(args, _config(args))
        handled = state_cli.run(args)
        if handled is not None:
            return handled
    except (UsageError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _config(args: argparse.Namespace) -> RemediatorConfig:
    if args.config:
        config = load_config(_read(args.config, "config"))
    else:
        config = load_config(os.environ.get(Settings.ENV_CONFIG))
    if getattr(args, "dry_run", False):
        config = config.model_copy(update={"mode": Mode.DRY_RUN})
    return config


def _read(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {what} file {path!r}: {err.strerror}") from None


def _replay(args: argparse.Namespace) -> int:
    from remediator.aws import AwsAdapter  # noqa: PLC0415 (keeps --help and usage errors fast)
    from remediator.engine import RemediationFailed, Remediator  # noqa: PLC0415
    from remediator.report import summary  # noqa: PLC0415
    from remediator.state import state_for  # noqa: PLC0415

    config = _config(args)
    text = _read(args.event, "event")
    try:
        event: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"event is not valid JSON: {err}") from None
    if not isinstance(event, dict):
        raise UsageError("event must be a JSON object (one EventBridge event)")
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or (event.get("region") if isinstance(event.get("region"), str) else None)
    engine = Remediator(
        AwsAdapter(region=region),
        config,
        topic_arn=os.environ.get(Settings.ENV_TOPIC) or None,
        state=state_for(args.state_table or os.environ.get(Settings.ENV_STATE_TABLE)),
    )
    try:
        reports = engine.handle(event)
    except RemediationFailed as failure:
        print(json.dumps(summary(failure.reports), indent=2, sort_keys=True, default=str))
        return EXIT_FAILED
    print(json.dumps(summary(reports), indent=2, sort_keys=True, default=str))
    return EXIT_OK
