"""The benchmark keeps running: a quick run, checked for its structure, for the figures that
are correctness rather than speed (how many writes and messages a storm makes), and for clean
output (no emulator traceback, no powertools warning, the missing Access Analyzer said once).
Timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import org

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.server
@pytest.mark.slow
def test_bench_quick_run_writes_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["storms"]["duplicates"]["policy_writes"] == 1
    distinct = figures["storms"]["distinct_principals"]
    assert distinct["policy_writes"] == distinct["events"] == distinct["principals_in_policy"]
    rows = {row["case"]: row for row in figures["AWS_calls_per_case"]}
    assert rows["duplicate event (state table)"]["kms_calls"] == 0
    assert all(row["outcome"] in ("remediated", "cached result", "folded") for row in rows.values())
    for name in ("cold_start", "per_event_latency", "per_event_latency_with_state"):
        assert figures[name]["ratio"] > 0
    assert figures["asset_zip_bytes"] > 0
    assert figures["peak_RSS"]["peak_rss_kb"] >= figures["peak_RSS"]["rss_after_import_kb"] > 0
    assert "Cold start" in run.stdout
    safety = figures["safety_under_faults"]
    assert safety["lost_updates"] == 0
    assert safety["lost_updates_with_the_old_60s_lease"] > 0  # the measure sees a lost update
    assert safety["kills"]["unaudited"] == safety["kills"]["left_pending"] == 0
    assert safety["kills"]["steps"] > 10
    assert safety["cap_race"]["over_cap"] == 0
    assert figures["cold_start"]["traced_ratio"] > 0
    incident = figures["incident_storm"]
    assert incident["policy_writes"] == 1
    assert 1 <= incident["notifications"] <= 2
    assert incident["outcomes"]["remediated"] == 1
    assert sum(incident["outcomes"].values()) == incident["events"]
    assert rows["event of an open incident (state table)"]["outcome"] == "folded"
    assert "Incident storm" in run.stdout
    _organization_step_makes_no_mistake_and_one_remedy_per_incident(figures["organization"])
    assert "Organization (5 accounts x 1 regions, 20 events): cross-account mistakes" in run.stdout

    output = run.stdout + run.stderr
    assert "Traceback" not in output
    assert "Unable to find appropriate backend" not in output
    assert "No application metrics" not in output
    assert '"level":' not in output
    assert output.count("Access Analyzer") == 1


def _organization_step_makes_no_mistake_and_one_remedy_per_incident(
    figures: dict[str, Any],
) -> None:
    """The organization step (bench/org.py), run after the other steps in the same process: 5
    members (one without an allowlist), one region, the hub handling their shuffled events."""
    members, regions = org.QUICK_ACCOUNTS, len(org.QUICK_REGIONS)
    assert figures["events"] == 4 * members * regions
    assert figures["failed_records"] == 0, figures["failures"]
    # Nothing is written that no event justifies
    assert figures["cross_account_mistakes"] == 0, figures["mistakes"]
    # Every fix the events justify shows in the emulator: 4 same-account keys with a statement
    # for the launcher; 3 keys of another account with one for the launcher's member role, and
    # the launcher's grant
    assert figures["fixes_not_seen"] == 0
    assert figures["changes"] >= 4 + 3 * 2
    # Every incident the allowlists cover is fixed exactly once, none outside them
    remedies = figures["remedies"]
    assert remedies["incidents"] == 3 * members * regions
    assert remedies["incidents_to_fix"] == remedies["fixed_once"] == 7
    assert remedies["more_than_once"] == remedies["never"] == 0
    assert remedies["outside_the_allowlists"] == 0
    # Each kind of event ends as it must: a user's case is refused by every allowlist
    outcomes = figures["outcomes"]
    assert outcomes["refusal"] == {"refused": members * regions}
    assert outcomes["same-account fix"] == {"remediated": 4, "refused": 1}
    # The calls were counted per account: the hub's own and the members'
    calls = figures["calls"]
    assert calls["member_accounts_per_incident"] > 0 < calls["hub_account_per_incident"]
    assert calls["members_called"] >= members - 1  # at least each member with an allowlist
    assert calls["floor_per_incident"] > 0 and figures["events_per_second"] > 0
