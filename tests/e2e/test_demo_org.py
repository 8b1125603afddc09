"""The organization demo as a person runs it (``python -m tests.e2e.demo_org``, ``make demo-org``):
every row ends as organization mode must end it, nothing is written that no event justifies, and
the output has no emulator noise.

The run is a subprocess, so moto's server, its backends and the environment never leak into other
tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import demo_org

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds; the demo itself takes well under a minute
CASES = ("a-same", "a-asg", "cross-a", "b-refused", "cross-k")


def run_demo_org() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambdas"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.demo_org"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def table(output: str) -> dict[str, list[str]]:
    """case -> the columns of its table row (case, copy, key, principal, outcome, oracle, writes)."""
    rows = {}
    for line in output.splitlines():
        columns = re.split(r"\s{2,}", line.strip())
        if columns[0] in CASES and len(columns) == 7:
            rows[columns[0]] = columns
    return rows


@pytest.mark.server
def test_demo_org_ends_every_row_as_organization_mode_must() -> None:
    # Given a fresh emulator with a hub and members A, K and B
    # When the organization demo runs its events through the hub's SQS handler
    result = run_demo_org()

    # Then it exits 0: every row as expected, nothing written that no event justifies
    output = result.stdout + result.stderr
    assert result.returncode == demo_org.EXIT_OK, output
    assert "OK: all 5 rows ended as expected" in result.stdout
    assert "Writes that no event justifies: 0" in result.stdout
    assert "NOT AS EXPECTED" not in result.stdout
    rows = table(result.stdout)
    assert set(rows) == set(CASES)

    # And each copy is the member's it claims, and each key the account it says
    assert {case: rows[case][1] for case in CASES} == {
        "a-same": "A",
        "a-asg": "A",
        "cross-a": "A",
        "b-refused": "B",
        "cross-k": "K",
    }
    assert rows["cross-a"][2].startswith("K:key/") and rows["cross-k"][2] == rows["cross-a"][2]

    # And A's same-account cases are fixed in A with A's member role; the cross-account case
    # writes K's policy as K's member role and creates the grant as A's; K's copy writes nothing
    member = demo_org.o.MEMBER_ROLE
    for case in ("a-same", "a-asg"):
        assert rows[case][4] == "remediated"
        assert set(rows[case][6].split("; ")) == {f"PutKeyPolicy in A as {member}"}
    assert rows["cross-a"][4] == "remediated"
    assert set(rows["cross-a"][6].split("; ")) == {
        f"PutKeyPolicy in K as {member}",
        f"CreateGrant in A as {member}",
    }
    assert rows["cross-k"][6] == "no write"
    assert rows["b-refused"][4] == "refused" and rows["b-refused"][6] == "no write"

    # And the evaluator written elsewhere agrees: allowed for A's launches, denied for B's
    assert {case: rows[case][5] for case in CASES} == {
        "a-same": "allowed",
        "a-asg": "allowed",
        "cross-a": "allowed",
        "b-refused": "denied (5 of 5 calls)",
        "cross-k": "allowed",
    }

    # And the statement added to K's key names A's member role, conditioned on the launcher
    assert '"AWS": "arn:aws:iam::111122223333:role/KmsLaunchRemediatorMember"' in result.stdout
    assert '"kms:GranteePrincipal"' in result.stdout
    # And the member-role sessions carry the event ids
    assert f"assumed-role/{member}/kms-launch-remediator-" in result.stdout

    # And nothing of the emulator's or the hub's own logging is printed among the lines
    assert "Traceback" not in output
    assert "Unable to find appropriate backend" not in output
    assert "Error on request" not in output
    assert '"level":' not in output  # the hub's JSON log lines are captured, not printed
    assert output.count("Access Analyzer") == 1
    assert result.stderr == ""
