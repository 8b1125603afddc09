"""The Lambda asset with its bytecode compiled in, so that a cold start does not compile it.

Lambda runs the code from a read-only /var/task: Python cannot write ``__pycache__`` there, so
an asset without bytecode is compiled from source at every cold start (for this code, about a
third of the handler's import time). The asset is therefore bundled locally, without Docker:
the sources are copied, then compiled by an interpreter of the function's runtime version
(bytecode is specific to a Python version: ``remediator/__pycache__/x.cpython-312.pyc``).

The bytecode is ``checked-hash``, not timestamp-based (PEP 552): the asset is zipped with fixed
modification times, which would make every timestamp-based file stale, and a hash-based file is
also the same bytes on every machine, so the asset's hash changes only when the code does.
Paths in tracebacks are those of Lambda's task root.

Where no interpreter of the runtime's version is found, the asset holds the sources only, and
synth says so in a warning: the function works, its cold starts compile the code. No CDK here:
the benchmark builds the asset the same way to measure the cold start the function has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# Lambda's task root, where the asset is unpacked
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html, LAMBDA_TASK_ROOT).
TASK_ROOT = "/var/task"
EXCLUDES = (
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
)
NO_BYTECODE_WARNING = (
    "no python{version} interpreter on PATH: the Lambda asset ships without bytecode, so each "
    "cold start compiles the code (install Python {version} to compile it at synth)"
)


def runtime_version(runtime_name: str) -> str:
    """``python3.12`` -> ``3.12``."""
    return runtime_name.removeprefix("python")


def interpreter_for(version: str) -> str | None:
    """An interpreter of ``version`` (``3.12``): this one, else ``python3.12`` on PATH if it runs
    and says it is that version; None when there is none."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidate = shutil.which(f"python{version}")
    if candidate is None:
        return None
    said = subprocess.run(  # noqa: S603 (an interpreter found on PATH, fixed arguments)
        [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return candidate if said.returncode == 0 and said.stdout.strip() == version else None


def build(source: Path, output: Path, interpreter: str | None) -> None:
    """Copy ``source`` into ``output`` (without caches) and compile it there with
    ``interpreter`` (None: sources only)."""
    shutil.copytree(source, output, ignore=shutil.ignore_patterns(*EXCLUDES), dirs_exist_ok=True)
    if interpreter is None:
        return
    subprocess.run(  # noqa: S603 (the interpreter chosen above, fixed arguments)
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "checked-hash",
            "-s",
            str(output),
            "-p",
            TASK_ROOT,
            str(output),
        ],
        check=True,
    )
