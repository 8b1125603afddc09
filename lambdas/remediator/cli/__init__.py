"""Command line: the same pipeline as the Lambda, against whatever endpoint the environment
names (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).

    PYTHONPATH=lambdas python -m remediator replay EVENT.json [--config FILE] [--dry-run]

Exit codes: 0 handled (any outcome but failed), 1 failed, 2 bad input, configuration or
usage, 3 AWS unreachable, unauthenticated or denying the CLI's own call. Every error is one
line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from remediator.cli import common, diagnose, replay, state
from remediator.cli.common import EXIT_AWS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from remediator.config import ConfigError
from remediator.ports import AwsError, LockLost, LockTimeout

__all__ = ["EXIT_AWS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m remediator", description=(__doc__ or "").split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    replay.add_parser(sub)
    diagnose.add_parser(sub)
    state.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    args = build_parser().parse_args(argv)
    commands = {"replay": replay.run, "diagnose": diagnose.run}
    try:
        return commands.get(args.command, state.run)(args)
    except (UsageError, ConfigError) as err:
        common.error(str(err))
        return EXIT_USAGE
    except AwsError as err:
        common.error(f"an AWS call failed: {err}")
        return EXIT_AWS
    except (LockTimeout, LockLost) as err:
        common.error(f"{err}; try again once the other invocation has finished")
        return EXIT_AWS
