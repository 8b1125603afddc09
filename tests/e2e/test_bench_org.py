"""The organization benchmark keeps running (``python -m bench.org --quick``, the step ``make
bench`` runs): its correctness figures are checked (no cross-account mistake, one remedy per
incident, nothing fixed outside the allowlists, each kind of event ending as it must), its
output is clean. Timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import org

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.server
def test_bench_org_quick_run_makes_no_mistake_and_one_remedy_per_incident(tmp_path: Path) -> None:
    # Given a quick organization: 5 members (one without an allowlist), one region
    out = tmp_path / "org.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    # When the hub handles its shuffled events
    run = subprocess.run(
        [sys.executable, "-m", "bench.org", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    members, regions = org.QUICK_ACCOUNTS, len(org.QUICK_REGIONS)
    assert figures["events"] == 4 * members * regions
    assert figures["failed_records"] == 0, figures["failures"]

    # Then nothing is written that no event justifies
    assert figures["cross_account_mistakes"] == 0, figures["mistakes"]
    # And every fix the events justify shows in the emulator: 4 same-account keys with a
    # statement for the launcher; 3 keys of another account with one for the launcher's
    # member role, and the launcher's grant
    assert figures["fixes_not_seen"] == 0
    assert figures["changes"] >= 4 + 3 * 2
    # And every incident the allowlists cover is fixed exactly once, none outside them
    remedies = figures["remedies"]
    assert remedies["incidents"] == 3 * members * regions
    assert remedies["incidents_to_fix"] == 7
    assert remedies["fixed_once"] == 7
    assert remedies["more_than_once"] == remedies["never"] == 0
    assert remedies["outside_the_allowlists"] == 0
    # And each kind of event ends as it must: a user's case is refused by every allowlist
    outcomes = figures["outcomes"]
    assert outcomes["refusal"] == {"refused": members * regions}
    assert outcomes["same-account fix"] == {"remediated": 4, "refused": 1}

    # And the calls were counted per account: the hub's own and the members'
    calls = figures["calls"]
    assert calls["member_accounts_per_incident"] > 0 < calls["hub_account_per_incident"]
    assert calls["members_called"] >= members - 1  # at least each member with an allowlist
    assert calls["floor_per_incident"] > 0 and figures["events_per_second"] > 0

    output = run.stdout + run.stderr
    assert "Organization (5 accounts x 1 regions, 20 events): cross-account mistakes" in output
    assert "Traceback" not in output
    assert "Unable to find appropriate backend" not in output
    assert '"level":' not in output
