"""Faults injected at the AWS boundary, with a state table: a process killed after each AWS call
of a change, a write slower than the old lease, throttled state writes, racing writers at the
cap, and random kills among concurrent writers. After each, no principal is lost, every change
is audited (and so undoable and counted), and no key stays locked past its lease."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import boto3
import pytest

from remediator.adapters.dynamo import DynamoState, create_table
from remediator.model import PlannedChange
from remediator.pipeline import RemediationFailed
from remediator.ports import LockTimeout
from remediator.state_schema import LOCK_LEASE_SECONDS
from tests.integration.conftest import allow
from tests.support.faults import Clock, Killed, error, invocation, short_waits, tool_principals
from tests.support.world import ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"
TABLE = "faults"
USERS = f"arn:aws:iam::{ACCOUNT}:user/*"


@pytest.fixture
def table(world: World) -> str:
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    return TABLE


def user_event(world: World, key: str, name: str) -> dict[str, Any]:
    """Case 5 (a user's StartInstances) for the user ``name``, created here."""
    world.user(name)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key, "user/ops-alice": f"user/{name}"})
    event["id"] = f"evt-{name}"
    event["detail"]["eventID"] = f"ct-{name}"
    return event


def arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def audited(state: DynamoState, key: str) -> set[str]:
    """The principals of the changes the audit trail records (and does not show rolled back)."""
    return {
        c["principal_arn"]
        for c in state.history(key)
        if c.get("remedy") in ("key-policy", "grant") and not c.get("pending")
    }


def assert_consistent(world: World, state: DynamoState, key: str) -> None:
    """Every principal in the policy has its audit record, and nothing is left pending."""
    assert state.pending_changes(key) == []
    assert tool_principals(world.policy(key)) == audited(state, key)
    for change in state.history(key):
        assert change.get("before") is not None  # undoable: the prior policy is recorded


def clean_run_calls(world: World, table: str) -> list[str]:
    key = world.key()
    clock = Clock(time.time())
    engine, faults = invocation(table, allow([USERS], [key]), clock=clock, sleep=clock.sleep)
    engine.handle(user_event(world, key, "probe"))
    return faults.calls


def test_faults_clean_change_makes_the_calls_the_kill_test_walks(world: World, table: str) -> None:
    calls = clean_run_calls(world, table)
    # the lock, the intent, the fence, the write, its read-back, the audit record, the release
    for operation in ("PutItem", "UpdateItem", "PutKeyPolicy", "GetKeyPolicy", "DeleteItem"):
        assert any(c.endswith(f".{operation}") for c in calls), operation
    assert calls.index("kms.PutKeyPolicy") > calls.index("dynamodb.UpdateItem")  # fenced


def test_faults_kill_after_each_call_leaves_every_change_audited(
    world: World, table: str, inbox: tuple[str, str]
) -> None:
    steps = len(clean_run_calls(world, table))
    for step in range(1, steps + 1):
        # Given a key, and an invocation for alice killed right after its step-th AWS call
        key = world.key()
        config = allow([USERS], [key])
        clock = Clock(time.time())
        dying, faults = invocation(table, config, clock=clock, sleep=clock.sleep, topic=inbox[0])
        faults.kill_after = step
        with pytest.raises(Killed):
            dying.handle(user_event(world, key, f"alice{step}"))

        # When the next failure on the key (bob's) arrives after the dead invocation's lease
        clock.now += LOCK_LEASE_SECONDS + 1
        later, _ = invocation(table, config, clock=clock, sleep=clock.sleep, topic=inbox[0])
        reports = later.handle(user_event(world, key, f"bob{step}"))

        # Then bob is fixed, nothing is lost or left pending, and every change is audited
        state = DynamoState(TABLE, clock=clock)
        assert [r.outcome for r in reports if r.principal_arn == arn(f"bob{step}")] == [
            "remediated"
        ], f"step {step} ({faults.calls[-1]})"
        assert arn(f"bob{step}") in tool_principals(world.policy(key))
        assert_consistent(world, state, key)
        # And every audited change was notified, by the invocation that made it or the next
        notified = {
            n["message"]["principal_arn"]
            for n in world.received(inbox[1])
            if n["message"]["outcome"] == "remediated" and n["message"]["key_arn"] == key
        }
        assert audited(state, key) <= notified, f"step {step} ({faults.calls[-1]})"


@pytest.mark.parametrize("lease", [LOCK_LEASE_SECONDS, 60], ids=["lease", "old-lease"])
def test_faults_write_slower_than_the_old_lease_loses_no_principal(
    world: World, table: str, lease: float
) -> None:
    # Given alice's PutKeyPolicy takes 100 s, and bob's failure arrives while it runs
    key = world.key()
    config = allow([USERS], [key])
    clock = Clock(time.time())
    alice, alice_faults = invocation(
        table, config, clock=clock, sleep=clock.sleep, lease_seconds=lease
    )
    bob, _ = invocation(table, config, clock=clock, sleep=clock.sleep, lease_seconds=lease)
    bob_event = user_event(world, key, "bob")
    outcomes: list[str] = []

    def slow_write(name: str) -> None:
        if name == "kms.PutKeyPolicy" and not outcomes:
            clock.now += 100
            try:
                outcomes.append(bob.handle(bob_event)[0].outcome)
            except LockTimeout:
                outcomes.append("waited")

    alice_faults.on_call = slow_write
    alice.handle(user_event(world, key, "alice"))
    if outcomes == ["waited"]:
        bob.handle(bob_event)  # its async retry

    # Then with the lease derived from the function timeout, bob waited for alice and both
    # are in the policy; the old 60 s lease let bob in, and alice's write dropped him
    principals = tool_principals(world.policy(key))
    if lease == LOCK_LEASE_SECONDS:
        assert outcomes == ["waited"]
        assert principals == {arn("alice"), arn("bob")}
        assert_consistent(world, DynamoState(TABLE, clock=clock), key)
    else:
        assert outcomes == ["remediated"]
        assert principals == {arn("alice")}  # the lost update a too-short lease allows


def test_faults_lock_lost_before_the_write_abandons_it(world: World, table: str) -> None:
    # Given alice's invocation stalls for longer than its lease just before its fenced write,
    # and bob takes the expired lock and fixes his launch meanwhile
    key = world.key()
    config = allow([USERS], [key])
    clock = Clock(time.time())
    alice, alice_faults = invocation(table, config, clock=clock, sleep=clock.sleep)
    bob, _ = invocation(table, config, clock=clock, sleep=clock.sleep)
    bob_event, ran = user_event(world, key, "bob"), []

    def stall(name: str) -> None:
        if name == "dynamodb.UpdateItem" and not ran:  # the fence
            clock.now += LOCK_LEASE_SECONDS + 1
            ran.append(bob.handle(bob_event)[0].outcome)

    alice_faults.on_call = stall
    alice_event = user_event(world, key, "alice")

    # When alice's invocation resumes, Then its write is abandoned and reported failed
    with pytest.raises(RemediationFailed) as raised:
        alice.handle(alice_event)
    assert "not attempted" in raised.value.failed[0].reason
    assert ran == ["remediated"]
    assert tool_principals(world.policy(key)) == {arn("bob")}
    # And its async retry fixes alice; bob is still there
    alice.handle(alice_event)
    assert tool_principals(world.policy(key)) == {arn("alice"), arn("bob")}
    assert_consistent(world, DynamoState(TABLE, clock=clock), key)


@pytest.mark.parametrize("which", [2, 3], ids=["intent", "audit-record"])
def test_faults_throttled_state_write_leaves_no_unaudited_change(
    world: World, table: str, which: int, inbox: tuple[str, str]
) -> None:
    # Given DynamoDB throttles one PutItem of alice's change (1: lock, 2: intent, 3: audit)
    key = world.key()
    config = allow([USERS], [key])
    clock = Clock(time.time())
    alice, faults = invocation(table, config, clock=clock, sleep=clock.sleep, topic=inbox[0])
    puts: list[str] = []

    def throttle(name: str) -> None:
        if name == "dynamodb.PutItem":
            puts.append(name)
            if len(puts) == which:
                raise error("PutItem", "ProvisionedThroughputExceededException")

    faults.on_call = throttle
    with pytest.raises(RemediationFailed):
        alice.handle(user_event(world, key, "alice"))
    state = DynamoState(TABLE, clock=clock)
    if which == 2:  # no intent, so no write
        assert tool_principals(world.policy(key)) == set()
        assert state.history(key) == []
    else:  # written, and recorded as pending until the next invocation completes it
        assert [c["principal_arn"] for c in state.pending_changes(key)] == [arn("alice")]

    # When the next failure on the key arrives (here bob's)
    later, _ = invocation(table, config, clock=clock, sleep=clock.sleep, topic=inbox[0])
    later.handle(user_event(world, key, "bob"))

    # Then every change in the policy is audited, and none is pending
    assert_consistent(world, state, key)
    assert arn("bob") in tool_principals(world.policy(key))


def test_faults_concurrent_principals_never_exceed_the_cap(moto_server: str) -> None:
    # Given 20 distinct users failing on one key at once, with a cap of one change an hour
    world = World()
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    key = world.key()
    config = allow([USERS], [key], max_changes_per_key_per_hour=1)
    events = [user_event(world, key, f"user{i:02d}") for i in range(20)]
    outcomes: list[str] = []
    start = threading.Barrier(len(events))

    def invoke(event: dict[str, Any]) -> None:
        engine, _ = invocation(TABLE, config, clock=time.time, sleep=short_waits)
        start.wait()
        outcomes.append(engine.handle(event)[0].outcome)

    threads = [threading.Thread(target=invoke, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then exactly one change is made; the others are refused by the cap
    assert sorted(outcomes) == ["refused"] * 19 + ["remediated"]
    assert len(tool_principals(world.policy(key))) == 1
    assert DynamoState(TABLE).changes_in_last_hour(key) == 1


def test_faults_cap_counts_every_page_of_the_audit_trail(world: World, table: str) -> None:
    # Given 30 recorded changes, each with a large prior policy (DynamoDB pages at 1 MB)
    key = world.key()
    state = DynamoState(TABLE)
    big = {"Statement": [{"Sid": "x" * 100_000}]}
    for i in range(30):
        change = PlannedChange(key, f"e{i}", arn(f"u{i}"), "key-policy", big, big)
        state.finish_change(key, state.begin_change(change), big)

    # When the hourly count is read, Then it counts all of them
    assert state.changes_in_last_hour(key) == 30


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_faults_random_kills_among_concurrent_writers(moto_server: str, seed: int) -> None:
    # Given 10 writers on one key, with random delays, half of them killed at a random call;
    # a short lease (3 s) keeps the test quick and still far longer than one write here
    rng = random.Random(seed)
    world = World()
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    key = world.key()
    config = allow([USERS], [key], max_changes_per_key_per_hour=100)
    names = [f"w{seed}x{i}" for i in range(10)]
    events = {name: user_event(world, key, name) for name in names}
    plans = {name: (rng.randint(1, 14) if rng.random() < 0.5 else None) for name in names}
    remediated: list[str] = []
    lock = threading.Lock()

    def invoke(name: str) -> None:
        engine, faults = invocation(
            TABLE, config, clock=time.time, sleep=short_waits, lease_seconds=3
        )
        delays = random.Random(f"{seed}{name}")
        faults.on_call = lambda _: time.sleep(delays.random() * 0.02)
        faults.kill_after = plans[name]
        try:
            for report in engine.handle(events[name]):
                if report.outcome == "remediated":
                    with lock:
                        remediated.append(report.principal_arn or "")
        except Killed:
            pass

    threads = [threading.Thread(target=invoke, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    # When a later failure on the key arrives, after every dead writer's lease
    time.sleep(4)
    later, _ = invocation(TABLE, config, clock=time.time, sleep=time.sleep)
    later.handle(user_event(world, key, f"w{seed}late"))

    # Then every remediated principal is in the policy, and every change is in the audit trail
    principals = tool_principals(world.policy(key))
    assert set(remediated) <= principals
    assert arn(f"w{seed}late") in principals
    assert_consistent(world, DynamoState(TABLE), key)
    # And every writer that was not killed got its principal in
    assert {arn(n) for n in names if plans[n] is None} <= principals
