"""What every CLI command shares: exit codes, the one-line error, reading files, config, region.

Exit codes: 0 handled (any outcome but failed), 1 outcome failed, 2 bad input, configuration
or usage, 3 AWS unreachable, unauthenticated, or denying the CLI's own call.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from remediator.config import Mode, RemediatorConfig, Settings, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input, configuration or usage: one line on stderr, exit 2."""


def add_region(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", help="AWS region (default: $AWS_REGION, else $AWS_DEFAULT_REGION)"
    )


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help=f"configuration JSON (default: ${Settings.ENV_CONFIG})"
    )


def add_state_table(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-table",
        metavar="NAME",
        help=f"DynamoDB state table (default: ${Settings.ENV_STATE_TABLE})",
    )


def region(args: argparse.Namespace, fallback: str | None = None) -> str | None:
    """--region, else AWS_REGION, else AWS_DEFAULT_REGION, else ``fallback``."""
    return (
        getattr(args, "region", None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or fallback
    )


def state_table(args: argparse.Namespace) -> str | None:
    return getattr(args, "state_table", None) or os.environ.get(Settings.ENV_STATE_TABLE) or None


def topic_arn() -> str | None:
    return os.environ.get(Settings.ENV_TOPIC) or None


def config(args: argparse.Namespace) -> RemediatorConfig:
    path = getattr(args, "config", None)
    text = read(path, "config") if path else os.environ.get(Settings.ENV_CONFIG)
    loaded = load_config(text)
    if getattr(args, "dry_run", False):
        loaded = loaded.model_copy(update={"mode": Mode.DRY_RUN})
    return loaded


def read(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {what} file {path!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} file {path!r} is not UTF-8 text") from None


def error(message: str) -> None:
    """One line on stderr."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
