"""Safety under faults, measured on the emulator: lost updates when a write is slower than the
old 60 s lease, unaudited changes after a kill at every step of a change, and changes over the
hourly cap when 50 principals race for one key. Each figure has the goal 0; the old lease is
measured beside the real one to show the measure can see a lost update."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import boto3

from remediator.adapters.dynamo import DynamoState, create_table
from remediator.ports import LockTimeout
from remediator.state_schema import LOCK_LEASE_SECONDS
from tests.support.faults import Clock, Killed, invocation, short_waits, tool_principals
from tests.support.world import ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"
USERS = f"arn:aws:iam::{ACCOUNT}:user/*"


def _config(key: str, cap: int = 100) -> dict[str, Any]:
    return {
        "mode": "enforce",
        "allow": {"principals": [USERS], "keys": [key]},
        "max_changes_per_key_per_hour": cap,
    }


def _event(world: World, key: str, name: str) -> dict[str, Any]:
    world.user(name)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key, "user/ops-alice": f"user/{name}"})
    event["id"], event["detail"]["eventID"] = f"evt-{name}", f"ct-{name}"
    return event


def _arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def slow_writes(world: World, table: str, trials: int, lease: float) -> int:
    """Principals lost when each first write takes 100 s and a second writer arrives meanwhile."""
    lost = 0
    for trial in range(trials):
        key = world.key()
        clock = Clock(time.time())
        first, faults = invocation(
            table, _config(key), clock=clock, sleep=clock.sleep, lease_seconds=lease
        )
        second, _ = invocation(
            table, _config(key), clock=clock, sleep=clock.sleep, lease_seconds=lease
        )
        names = (f"slow{trial}a{int(lease)}", f"slow{trial}b{int(lease)}")
        later = _event(world, key, names[1])
        waited: list[bool] = []
        faults.on_call = _slow_write(clock, second, later, waited)
        first.handle(_event(world, key, names[0]))
        if waited == [True]:
            second.handle(later)  # the async retry
        lost += len({_arn(n) for n in names} - tool_principals(world.policy(key)))
    return lost


def _slow_write(clock: Clock, second: Any, event: dict[str, Any], waited: list[bool]) -> Any:
    """A hook: the first PutKeyPolicy takes 100 s, during which ``second`` handles ``event``."""

    def hook(name: str) -> None:
        if name == "kms.PutKeyPolicy" and not waited:
            clock.now += 100
            try:
                second.handle(event)
                waited.append(False)
            except LockTimeout:
                waited.append(True)

    return hook


def kills(world: World, table: str, every: int = 1) -> dict[str, int]:
    """Kill a change after each (``every``-th) of its AWS calls; the next invocation comes
    after the dead one's lease."""
    probe_key = world.key()
    clock = Clock(time.time())
    probe, faults = invocation(table, _config(probe_key), clock=clock, sleep=clock.sleep)
    probe.handle(_event(world, probe_key, "probe"))
    steps, unaudited, left_pending = len(faults.calls), 0, 0
    for step in range(1, steps + 1, every):
        key = world.key()
        clock = Clock(time.time())
        dying, faults = invocation(table, _config(key), clock=clock, sleep=clock.sleep)
        faults.kill_after = step
        with contextlib.suppress(Killed):
            dying.handle(_event(world, key, f"kill{step}a"))
        clock.now += LOCK_LEASE_SECONDS + 1
        later, _ = invocation(table, _config(key), clock=clock, sleep=clock.sleep)
        later.handle(_event(world, key, f"kill{step}b"))
        state = DynamoState(table, clock=clock)
        audited = {c["principal_arn"] for c in state.history(key) if not c.get("pending")}
        unaudited += len(tool_principals(world.policy(key)) - audited)
        left_pending += len(state.pending_changes(key))
    return {"steps": steps, "unaudited": unaudited, "left_pending": left_pending}


def over_cap(world: World, table: str, principals: int, cap: int) -> dict[str, int]:
    """Changes made beyond the cap when ``principals`` distinct principals race for one key."""
    key = world.key()
    events = [_event(world, key, f"race{i:03d}") for i in range(principals)]
    start = threading.Barrier(principals)
    outcomes: list[str] = []

    def invoke(event: dict[str, Any]) -> None:
        engine, _ = invocation(table, _config(key, cap), clock=time.time, sleep=short_waits)
        start.wait()
        outcomes.extend(r.outcome for r in engine.handle(event))

    threads = [threading.Thread(target=invoke, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    made = len(tool_principals(world.policy(key)))
    return {"principals": principals, "cap": cap, "changes": made, "over_cap": max(0, made - cap)}


def measure(quick: bool) -> dict[str, Any]:
    from bench.measure import emulator

    with emulator():
        world = World()
        create_table(boto3.client("dynamodb"), "bench-safety")
        trials = 1 if quick else 5
        return {
            "slow_write_trials": trials,
            "lost_updates": slow_writes(world, "bench-safety", trials, LOCK_LEASE_SECONDS),
            "lost_updates_with_the_old_60s_lease": slow_writes(world, "bench-safety", trials, 60),
            "kills": kills(world, "bench-safety", every=8 if quick else 1),
            "cap_race": over_cap(world, "bench-safety", 10 if quick else 50, 5),
        }
