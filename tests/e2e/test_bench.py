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

import pytest

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
    # The organization step, run after the others in the same process, still reads outcomes
    org = figures["organization"]
    assert org["cross_account_mistakes"] == org["failed_records"] == 0
    assert org["remedies"]["fixed_once"] == org["remedies"]["incidents_to_fix"] > 0
    assert org["remedies"]["never"] == org["remedies"]["more_than_once"] == 0

    output = run.stdout + run.stderr
    assert "Traceback" not in output
    assert "Unable to find appropriate backend" not in output
    assert "No application metrics" not in output
    assert output.count("Access Analyzer") == 1
