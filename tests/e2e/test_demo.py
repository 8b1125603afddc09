"""The demo as a person runs it (``python -m tests.e2e.demo`` from the repository root): every
case ends as expected, a deliberately broken case is refused as expected, with its fix, and the
output has no emulator noise: no traceback, and the missing Access Analyzer said once.

Each run is a subprocess, so moto's server, its backends and the environment the demo sets never
leak into other tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import demo

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds; the demo itself takes well under a minute


def run_demo(*args: str, broken: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", demo.BREAK_ENV)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambdas"), str(ROOT)])
    if broken:
        env[demo.BREAK_ENV] = broken
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


ACCESS_ANALYZER_LINE = "IAM Access Analyzer: not in the emulator"


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    """No emulator traceback or warning anywhere; the missing Access Analyzer said once."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "Unable to find appropriate backend" not in output
    assert "Error on request" not in output
    assert output.count("Access Analyzer") == 1
    assert output.count(ACCESS_ANALYZER_LINE) == 1
    assert result.stderr == ""


def table_column(output: str, index: int) -> dict[str, str]:
    """case -> one column of the printed table (3: the outcome, with any '<-- expected' marker;
    4: the oracle's verdict)."""
    rows = {}
    cases = [row.case for row in demo.build_rows()]
    for line in output.splitlines():
        first = line.split("  ", 1)[0]
        if first in cases:  # table rows (progress lines start with the clock)
            columns = re.split(r"\s{2,}", line.strip())
            rows[first] = columns[index]
    return rows


def table_outcomes(output: str) -> dict[str, str]:
    return table_column(output, 3)


@pytest.mark.server
def test_demo_ends_every_case_as_expected() -> None:
    # Given a fresh emulator, When the demo runs every case
    result = run_demo()

    # Then it exits 0, and the table shows each case with its expected outcome
    assert result.returncode == demo.EXIT_OK, result.stdout + result.stderr
    expected = {row.case: row.expected for row in demo.build_rows()}
    assert table_outcomes(result.stdout) == expected
    assert f"OK: all {len(expected)} cases ended as expected." in result.stdout
    assert "NOT AS EXPECTED" not in result.stdout

    # And the oracle agrees with every outcome: AWS would now authorize each remediated
    # launch's KMS calls, and still refuse the refused ones
    all_calls = "CreateGrant, Decrypt, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo"
    assert table_column(result.stdout, 4) == {
        **{case: "allowed" for case, outcome in expected.items() if outcome == "remediated"},
        "case4": f"denied ({all_calls})",
        "aws-managed": "denied (CreateGrant)",
        **{case: "-" for case in ("asg-capacity", "grant-ok", "decrypt", "running")},
    }
    assert "disagrees" not in result.stdout

    # And the operators received one notification per delivered, non-ignored case
    assert "Notifications received on the operators' topic (11):" in result.stdout
    assert result.stdout.count("\n  remediated ") == 9
    assert "Not fixed: KMS key" in result.stdout  # the AWS-managed control and case 4
    # And the Karpenter-style and default-EBS-key launches are fixed for their principals
    assert "now allows KarpenterControllerRole-prod" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1].isalpha()}
    assert "KarpenterControllerRole-prod" in rows["karpenter"]
    assert "+KmsLaunchRemediatorUseViaEc2" in rows["karpenter"]
    assert "AWSServiceRoleForAutoScaling " in rows["default-key"]

    # And every change is shown: a policy diff per key-policy change, a grant per grant
    assert result.stdout.count("--- key policy (before)") == 8
    assert '+      "Sid": "KmsLaunchRemediatorUseViaEc2"' in result.stdout
    assert result.stdout.count("key policy  unchanged") == 1
    assert re.search(r"Elapsed: \d+\.\ds", result.stdout)
    assert "moto server stopped" in result.stdout

    # And nothing of the emulator's own is printed among the demo's lines
    assert_clean(result)


@pytest.mark.server
def test_demo_broken_case_is_refused_as_expected_with_fix() -> None:
    # Given case 5's principal removed from the allowlist (as `make demo DEMO_BREAK=case5`)
    result = run_demo(broken="case5")

    # Then the refusal is the expected result: the run succeeds
    assert result.returncode == demo.EXIT_OK, result.stdout + result.stderr

    # And only case 5 is refused, as expected, with the reason and the fix to apply
    outcomes = table_outcomes(result.stdout)
    assert outcomes["case5"] == "refused"
    others = {row.case: row.expected for row in demo.build_rows() if row.case != "case5"}
    assert {case: outcomes[case] for case in others} == others
    assert "case5 was refused: the principal is not in the allowlist" in result.stdout
    assert "suggested fix:" in result.stdout
    assert '"Sid": "KmsLaunchRemediatorUseViaEc2"' in result.stdout
    assert "arn:aws:iam::111122223333:user/ops-alice" in result.stdout
    assert "NOT AS EXPECTED" not in result.stdout
    assert "UNEXPECTED" not in result.stdout
    assert "case5 was broken on purpose" in result.stdout
    assert_clean(result)


def test_demo_unknown_break_case_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # When the break names no case, Then the demo stops before starting the emulator
    assert demo.main(["--break", "case9"]) == demo.EXIT_USAGE
    assert "unknown case 'case9'" in capsys.readouterr().err
