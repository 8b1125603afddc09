"""A storm of distinct events for one (key, principal) pair, as AWS sends them while an Auto
Scaling group keeps failing to launch on a key: CloudTrail denials, EC2 state changes and Auto
Scaling failures, each with ids of its own, through ``python -m remediator replay
--state-table`` in parallel processes against moto's server (the acceptance test of incidents,
and ``make bench``).

The server runs in this process, so its KMS backend counts the key-policy writes; the
notifications are what an SQS subscriber of the topic received.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.kms.models import KmsBackend

from tests.support.world import SAMPLE_INSTANCE_ID, SAMPLE_KEY_ARN, World, load_event

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = (
    "case1_asg_slr_create_grant_access_denied.json",
    "ec2_state_change_stopped.json",
    "asg_launch_unsuccessful_client_internal_error.json",
)
GROUP = "storm-asg"


@dataclass
class Storm:
    """The events sent and what came of them."""

    events: int
    parallel: int
    seconds: float = 0.0
    policy_writes: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    exit_codes: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "parallel_processes": self.parallel,
            "seconds": round(self.seconds, 2),
            "policy_writes": self.policy_writes,
            "notifications": len(self.notifications),
            "outcomes": dict(sorted(self.outcomes.items())),
        }


@contextlib.contextmanager
def counting_policy_writes() -> Iterator[list[str]]:
    """PutKeyPolicy calls as the emulator's KMS backend receives them (keys written)."""
    puts: list[str] = []
    original = KmsBackend.put_key_policy

    def counting(self: KmsBackend, key_id: str, policy: str) -> None:
        puts.append(key_id)
        original(self, key_id, policy)

    KmsBackend.put_key_policy = counting  # type: ignore[method-assign]
    try:
        yield puts
    finally:
        KmsBackend.put_key_policy = original  # type: ignore[method-assign]


def storm_events(world: World, count: int) -> tuple[str, str, list[dict[str, Any]]]:
    """(key ARN, principal ARN, ``count`` distinct events of the three kinds, interleaved) for
    a group whose launch template uses the key and whose instance failed on it."""
    slr = world.autoscaling_slr()
    key = world.key()
    world.autoscaling_group(world.launch_template(key, f"{GROUP}-lt"), GROUP)
    instance = world.failed_instance(key, group=GROUP)
    replacements = {SAMPLE_KEY_ARN: key, SAMPLE_INSTANCE_ID: instance, "web-asg": GROUP}
    events = []
    for i in range(count):
        event = load_event(FIXTURES[i % len(FIXTURES)], replacements)
        event["id"] = f"storm-{i:03d}"
        detail = event["detail"]
        for name in ("eventID", "sharedEventID", "requestID", "ActivityId", "RequestId"):
            if name in detail:
                detail[name] = f"storm-{name}-{i:03d}"
        events.append(event)
    return key, slr, events


def run_storm(
    world: World,
    *,
    endpoint: str,
    table: str,
    topic: str,
    inbox: str,
    workdir: Path,
    count: int = 30,
    parallel: int = 10,
) -> Storm:
    """Send the storm through ``replay --state-table``, ``parallel`` processes at a time."""
    key, slr, events = storm_events(world, count)
    config = {"mode": "enforce", "allow": {"principals": [slr], "keys": [key]}}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))},
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), str(ROOT)]),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": world.region,
        "REMEDIATOR_CONFIG": json.dumps(config),
        "NOTIFY_TOPIC_ARN": topic,
        "STATE_TABLE_NAME": table,
    }
    paths = []
    for i, event in enumerate(events):
        path = workdir / f"storm-{i:03d}.json"
        path.write_text(json.dumps(event))
        paths.append(path)
    storm = Storm(count, parallel)

    def replay(path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "remediator", "replay", str(path)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        storm.exit_codes[done.returncode] += 1
        try:
            storm.outcomes[json.loads(done.stdout)["outcome"]] += 1
        except (json.JSONDecodeError, KeyError):
            storm.errors.append(done.stderr.strip()[-500:])

    with counting_policy_writes() as puts:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(replay, paths))
        storm.seconds = time.perf_counter() - start
    storm.policy_writes = sum(1 for written in puts if written in key)  # its ARN or its id
    storm.notifications = world.received(inbox)
    return storm
