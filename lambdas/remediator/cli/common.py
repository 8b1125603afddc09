"""What every CLI command shares: exit codes, the one-line error, the parser, reading files,
config, region and state table.

Exit codes: 0 handled (any outcome but failed), 1 outcome failed, 2 bad input, configuration
or usage, 3 AWS unreachable, unauthenticated, or denying the CLI's own call, 4 a bug (the line
names the exception; LOG_LEVEL=DEBUG logs the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from remediator.arns import key_arn_parts
from remediator.config import RemediatorConfig, Settings, load_config
from remediator.ports import AwsPort, NotFound

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AWS, EXIT_INTERNAL = 0, 1, 2, 3, 4
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


class UsageError(Exception):
    """Bad input, configuration or usage: one line on stderr, exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with every error as one line on stderr and exit 2 (not usage and error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def key_arn(value: str) -> str:
    """An argparse type: a KMS key ARN, as history, rollback and cleanup need."""
    if key_arn_parts(value) is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a KMS key ARN; expected arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"
        )
    return value


def add_region(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        help="AWS region (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else the profile's)",
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
    """--region, else AWS_REGION, else AWS_DEFAULT_REGION, else ``fallback``, else the region
    of the SDK's configuration (the profile). The same on every command: botocore alone reads
    only AWS_DEFAULT_REGION, so the region found here is passed to every client."""
    found = getattr(args, "region", None) or next(
        (os.environ[name] for name in REGION_ENV if os.environ.get(name)), None
    )
    if found or fallback:
        return found or fallback
    from remediator.adapters.operator import configured_region  # noqa: PLC0415

    return configured_region()


def require_region(args: argparse.Namespace, fallback: str | None = None) -> str:
    found = region(args, fallback)
    if not found:
        raise UsageError("no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION")
    return found


def state_table(args: argparse.Namespace) -> str | None:
    return getattr(args, "state_table", None) or os.environ.get(Settings.ENV_STATE_TABLE) or None


def require_state_table(args: argparse.Namespace) -> str:
    table = state_table(args)
    if not table:
        raise UsageError(
            f"name the state table with --state-table or ${Settings.ENV_STATE_TABLE} "
            "(the stack's output StateTableName)"
        )
    return table


@contextlib.contextmanager
def table_must_exist(table: str, region: str) -> Iterator[None]:
    """A missing state table is bad input (a wrong name or region): say how to make it."""
    try:
        yield
    except NotFound as err:
        if not err.operation.startswith("dynamodb:"):
            raise
        raise UsageError(
            f"state table {table!r} not found in {region}: create it with "
            f"`state create-table {table} --region {region}`, or name the stack's (its output "
            "StateTableName)"
        ) from None


def topic_arn() -> str | None:
    return os.environ.get(Settings.ENV_TOPIC) or None


def config(args: argparse.Namespace) -> RemediatorConfig:
    path = getattr(args, "config", None)
    text = read(path, "config") if path else os.environ.get(Settings.ENV_CONFIG)
    loaded = load_config(text)
    if getattr(args, "dry_run", False):
        loaded = loaded.dry_run_everywhere()
    return loaded


def engine_port(member_role: str | None, region: str) -> AwsPort:
    """The engine's AWS access: these credentials in one account, or, in organization mode,
    each call in the account it concerns through ``member_role`` there (the credentials must be
    allowed to assume it: the member role trusts the hub's role only)."""
    from remediator.adapters.aws import AwsAdapter  # noqa: PLC0415 (keeps --help fast)

    if not member_role:
        return AwsAdapter(region=region)
    from remediator.adapters.accounts import AccountSessions  # noqa: PLC0415
    from remediator.adapters.routing import AccountRouter  # noqa: PLC0415

    return AccountRouter(AccountSessions(member_role, region=region))


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


def warning(message: str) -> None:
    """One line on stderr, for what went wrong beside the command's own result."""
    print(f"warning: {' '.join(message.split())}", file=sys.stderr)
