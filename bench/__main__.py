"""Benchmark: ``make bench`` (or ``python -m bench [--quick] [--out FILE]``).

Prints a table with each figure beside its goal and writes the figures as JSON
(default ``bench/results/latest.json``). It reports; it never fails on a missed goal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench import measure, org, safety

GOALS = {
    "cold_start_ratio": 1.5,
    "latency_ratio": 1.5,
    "asset_bytes": 5 * 1024 * 1024,
    # the incident storm of the acceptance: 30 distinct events, 10 processes at a time, make
    # one key write and at most two notifications
    "storm_events": 30,
    "storm_parallel": 10,
    "storm_writes": 1,
    "storm_notifications": 2,
}


def run(quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    analyzer = measure.access_analyzer_available()
    if not analyzer:
        print(
            "IAM Access Analyzer: not in the emulator; new key policies are vetted by the "
            "local checks only (each adapter asks once)",
            flush=True,
        )
    steps = [
        ("cold start", lambda: measure.cold_start(runs=2 if quick else 15)),
        ("per-event latency", lambda: measure.latency(events=3 if quick else 30)),
        (
            "per-event latency with state",
            lambda: measure.latency(events=3 if quick else 30, table="bench-state"),
        ),
        ("AWS calls per case", measure.calls_per_case),
        (
            "storms",
            lambda: measure.storms(
                duplicates=20 if quick else 1000, principals=5 if quick else 100
            ),
        ),
        (
            "incident storm",
            lambda: measure.incident_storm(
                events=GOALS["storm_events"] // 5 if quick else GOALS["storm_events"],
                parallel=GOALS["storm_parallel"] // 5 if quick else GOALS["storm_parallel"],
            ),
        ),
        ("organization", lambda: org.run(quick)),
        ("peak RSS", measure.peak_rss),
        ("safety under faults", lambda: safety.measure(quick)),
    ]
    figures: dict[str, Any] = {}
    for name, step in steps:
        print(f"... {name}", flush=True)
        figures[name.replace(" ", "_").replace("-", "_")] = step()
    figures["asset_zip_bytes"] = measure.asset_zip_bytes()
    figures["access_analyzer_in_emulator"] = analyzer
    figures["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return figures


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(f: dict[str, Any]) -> str:
    cold, lat, storm = f["cold_start"], f["per_event_latency"], f["storms"]
    stated = f["per_event_latency_with_state"]
    safe = f["safety_under_faults"]
    dup, distinct = storm["duplicates"], storm["distinct_principals"]
    incident = f["incident_storm"]
    rows = [
        (
            "Cold start: import handler (asset with bytecode) / import boto3",
            f"{cold['import_handler_ms']} ms / {cold['import_boto3_ms']} ms = {cold['ratio']}x",
            f"<= {GOALS['cold_start_ratio']}x",
            verdict(cold["ratio"] <= GOALS["cold_start_ratio"]),
        ),
        (
            "Cold start, asset without bytecode (no Python 3.12 at synth) / boto3",
            f"{cold['import_handler_sources_only_ms']} ms / {cold['import_boto3_ms']} ms = "
            f"{cold['sources_only_ratio']}x",
            "- (each cold start compiles the code)",
            "-",
        ),
        (
            "Cold start with tracing on (as deployed): import handler / boto3",
            f"{cold['import_handler_traced_ms']} ms / {cold['import_boto3_ms']} ms = "
            f"{cold['traced_ratio']}x",
            "- (the X-Ray SDK, only where tracing is on)",
            "-",
        ),
        (
            "Per event (case 1): handler / floor",
            f"{lat['handler_ms']} ms / {lat['floor_ms']} ms = {lat['ratio']}x (median of {lat['events']})",
            f"<= {GOALS['latency_ratio']}x",
            verdict(lat["ratio"] <= GOALS["latency_ratio"]),
        ),
        (
            "Per event (case 1), with the state table",
            f"{stated['handler_ms']} ms / {stated['floor_ms']} ms = {stated['ratio']}x",
            "- (adds lock, audit, idempotency)",
            "-",
        ),
        (
            f"Storm: {dup['events']} duplicates",
            f"{dup['seconds']} s, {dup['events_per_second']} ev/s, {dup['policy_writes']} write(s)",
            "1 write",
            verdict(dup["policy_writes"] == 1),
        ),
        (
            f"Storm: {distinct['events']} principals, one key (anti-loop limit raised)",
            f"{distinct['seconds']} s, {distinct['events_per_second']} ev/s, "
            f"{distinct['policy_writes']} writes, {distinct['principals_in_policy']} in policy",
            f"{distinct['events']} writes",
            verdict(distinct["policy_writes"] == distinct["events"]),
        ),
        (
            f"Incident storm: {incident['events']} distinct events, one key and principal, "
            f"replay --state-table x{incident['parallel_processes']}",
            f"{incident['seconds']} s, {incident['policy_writes']} write(s), "
            f"{incident['notifications']} notification(s)",
            f"{GOALS['storm_writes']} write, <= {GOALS['storm_notifications']} notifications",
            verdict(
                incident["policy_writes"] == GOALS["storm_writes"]
                and incident["notifications"] <= GOALS["storm_notifications"]
            ),
        ),
        (
            f"Lost updates, a write slower than the old lease ({safe['slow_write_trials']} trials)",
            f"{safe['lost_updates']} (with the old 60 s lease: "
            f"{safe['lost_updates_with_the_old_60s_lease']})",
            "0",
            verdict(safe["lost_updates"] == 0),
        ),
        (
            f"Unaudited changes after a kill at each of {safe['kills']['steps']} steps",
            f"{safe['kills']['unaudited']} unaudited, {safe['kills']['left_pending']} left pending",
            "0",
            verdict(safe["kills"]["unaudited"] == 0 == safe["kills"]["left_pending"]),
        ),
        (
            f"Changes over the cap, {safe['cap_race']['principals']} racing principals",
            f"{safe['cap_race']['over_cap']} ({safe['cap_race']['changes']} changes at cap "
            f"{safe['cap_race']['cap']})",
            "0",
            verdict(safe["cap_race"]["over_cap"] == 0),
        ),
        (
            "Lambda asset zip (no layer)",
            f"{f['asset_zip_bytes'] / 1024:.1f} KiB",
            "< 5 MB",
            verdict(f["asset_zip_bytes"] < GOALS["asset_bytes"]),
        ),
        (
            "Peak RSS, one invocation",
            f"{f['peak_RSS']['peak_rss_kb'] / 1024:.1f} MiB "
            f"(after import {f['peak_RSS']['rss_after_import_kb'] / 1024:.1f} MiB)",
            "-",
            "-",
        ),
    ]
    rows += org.rows(f["organization"])
    width = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    lines.append("")
    lines.append(
        "Dominant imports at cold start: "
        + ", ".join(f"{d['package']} {d['self_ms']} ms" for d in cold["dominant_imports"])
    )
    lines.append("")
    lines.append("AWS calls per case (engine; no state table unless said) against the floor:")
    for row in f["AWS_calls_per_case"]:
        lines.append(
            f"  {row['case']}: {row['calls']} calls, floor {row['floor']} ({row['outcome']})"
        )
        if "made" in row:
            lines.append(f"    made: {row['made']} (KMS calls: {row['kms_calls']})")
        for extra in row["extra"]:
            lines.append(f"    +{extra['count']} {extra['call']}: {extra['reason']}")
    lines.append("")
    lines += org.details(f["organization"])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: checks it runs, figures are rough"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args()
    figures = run(args.quick)
    print()
    print(table(figures))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"\nfigures written to {out} ({figures['machine']['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
