"""The benchmark keeps running: a quick run, checked for its structure and for the figures that
are correctness rather than speed (how many writes a storm makes). Timings are never asserted."""

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
    assert all(row["outcome"] in ("remediated", "cached result") for row in rows.values())
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
