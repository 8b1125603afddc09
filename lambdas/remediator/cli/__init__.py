"""Command line: the same pipeline as the Lambda, and the operator's commands over the state
table, against whatever endpoint the environment names (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, ...).

    PYTHONPATH=lambdas python -m remediator replay EVENT.json [--config FILE] [--dry-run]

Exit codes: 0 handled (any outcome but failed), 1 failed, 2 bad input, configuration or
usage, 3 AWS unreachable, unauthenticated or denying the CLI's own call, 4 a bug. Every error
is one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence

from remediator.cli import cleanup, common, diagnose, replay, state
from remediator.cli.common import (
    EXIT_AWS,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
)
from remediator.config import ConfigError
from remediator.ports import AwsError, LockLost, LockTimeout, NotFound

__all__ = [
    "EXIT_AWS",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

logger = logging.getLogger(__name__)

COMMANDS: dict[str, Callable[..., int]] = {
    "replay": replay.run,
    "diagnose": diagnose.run,
    "state": state.run,
    "history": state.run,
    "rollback": state.run,
    "cleanup": cleanup.run,
}


def build_parser() -> Parser:
    parser = Parser(prog="python -m remediator", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    replay.add_parser(sub)
    diagnose.add_parser(sub)
    state.add_parsers(sub)
    cleanup.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed in one line
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as err:
        common.error(str(err))
        return EXIT_USAGE
    except NotFound as err:
        common.error(f"not found: {err}")
        return EXIT_USAGE
    except AwsError as err:
        common.error(f"an AWS call failed: {err}")
        return EXIT_AWS
    except (LockTimeout, LockLost) as err:
        common.error(f"{err}; try again once the other invocation has finished")
        return EXIT_AWS
    except Exception as err:  # noqa: BLE001 (one line, never a traceback: see the module doc)
        return _unexpected(err)


def _unexpected(err: Exception) -> int:
    from remediator.adapters.operator import sdk_error  # noqa: PLC0415

    found = sdk_error(err)
    if found is not None:
        configuration, message = found
        common.error(f"AWS SDK: {message}")
        return EXIT_USAGE if configuration else EXIT_AWS
    logger.debug("internal_error", exc_info=err)
    common.error(
        f"internal error: {type(err).__name__}: {err} (LOG_LEVEL=DEBUG logs the traceback)"
    )
    return EXIT_INTERNAL
