"""State: audit and history, anti-loop, rollback, duplicate storms, and concurrent writers."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.kms.models import KmsBackend

from remediator import handler
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState, create_table
from remediator.cli.state import exit_code
from remediator.config import parse_config
from remediator.pipeline import Remediator
from remediator.rollback import rollback as _rollback
from tests.integration.conftest import allow
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.faults import short_waits
from tests.support.lambda_context import FakeContext
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

CASE5 = "case5_user_start_instances_create_grant.json"
TABLE = "remediator-state"


def rollback(
    state: DynamoState, key: str, change_id: str | None, *, force: bool
) -> tuple[dict[str, Any], int]:
    """Roll back as the CLI does: (the result, its exit code)."""
    result = _rollback(AwsAdapter(region=key.split(":")[3]), state, key, change_id, force=force)
    return result, exit_code(result["outcome"])


@pytest.fixture
def state(world: World) -> DynamoState:
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    return DynamoState(TABLE, client=boto3.client("dynamodb", region_name="eu-west-1"))


def user_event(world: World, key: str, name: str) -> dict[str, Any]:
    """Case 5 for the user ``name`` (created here)."""
    arn = world.user(name)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key, "user/ops-alice": f"user/{name}"})
    event["id"] = f"evt-{name}"
    event["detail"]["eventID"] = f"ct-{name}"
    assert event["detail"]["userIdentity"]["arn"] == arn
    return event


def engine(state: DynamoState, config: dict[str, Any], topic: str | None = None) -> Remediator:
    return Remediator(
        AwsAdapter(region="eu-west-1"), parse_config(config), topic_arn=topic, state=state
    )


def test_change_is_audited_with_before_and_after(world: World, state: DynamoState) -> None:
    key = world.key()
    before = world.policy(key)
    [report] = engine(state, allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key])).handle(
        user_event(world, key, "alice")
    )

    [record] = state.history(key)
    assert report.change_id == record["change_id"]
    assert record["before"] == before
    assert record["after"] == world.policy(key)
    assert record["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert record["event_id"] == "evt-alice"
    assert state.changes_in_last_hour(key) == 1
    assert report.undo is not None
    assert report.undo["rollback"].endswith(f"--change-id {record['change_id']}")


def test_anti_loop_refuses_beyond_limit(world: World, state: DynamoState) -> None:
    # Given a limit of two changes per key per hour
    key = world.key()
    config = allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key], max_changes_per_key_per_hour=2)
    outcomes = [
        engine(state, config).handle(user_event(world, key, n))[0].outcome for n in ("a", "b", "c")
    ]

    # Then the third change is refused
    assert outcomes == ["remediated", "remediated", "refused"]
    assert len(state.history(key)) == 2


def test_rollback_restores_exact_prior_policy(world: World, state: DynamoState) -> None:
    key = world.key()
    before = world.policy(key)
    engine(state, allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key])).handle(
        user_event(world, key, "alice")
    )

    result, code = rollback(state, key, None, force=False)

    assert (code, result["outcome"]) == (0, "rolled_back")
    assert world.policy(key) == before


def test_rollback_detects_later_conflicting_change(world: World, state: DynamoState) -> None:
    # Given two changes to the key, and a rollback of the first
    key = world.key()
    config = allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key])
    [first] = engine(state, config).handle(user_event(world, key, "alice"))
    engine(state, config).handle(user_event(world, key, "bob"))
    after_both = world.policy(key)

    # When the first is rolled back without --force
    result, code = rollback(state, key, first.change_id, force=False)

    # Then it refuses and the policy stays as it is; --force restores the recorded policy
    assert (code, result["outcome"]) == (1, "refused")
    assert "changed since" in result["reason"]
    assert world.policy(key) == after_both
    forced, forced_code = rollback(state, key, first.change_id, force=True)
    assert (forced_code, forced["outcome"]) == (0, "rolled_back")
    assert world.policy(key) == state.history(key)[0]["before"]


def test_rollback_of_grant_revokes_it(world: World, state: DynamoState) -> None:
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    engine(state, allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT))).handle(
        event
    )
    assert len(world.grants(key)) == 1

    result, code = rollback(state, key, None, force=False)

    assert (code, result["outcome"]) == (0, "rolled_back")
    assert world.grants(key) == []


def test_cross_account_grant_is_audited_when_list_grants_is_denied(
    world: World, state: DynamoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key in another account whose policy lets this account create grants but not
    # list them (ListGrants denied), and this account's Auto Scaling SLR launching with it
    from remediator.ports import AccessDenied

    listed: list[str] = []

    def deny(self: AwsAdapter, key_arn: str) -> list[Any]:
        listed.append(key_arn)
        raise AccessDenied("kms:ListGrants", "AccessDeniedException", "not authorized")

    monkeypatch.setattr(AwsAdapter, "list_grants", deny)
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    config = allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT))

    # When the failure arrives
    [report] = engine(state, config).handle(event)

    # Then the grant is made and audited, so rollback and the hourly cap know it
    assert report.outcome == "remediated"
    assert report.change_id is not None
    [change] = state.history(key)
    assert (change["change_id"], change["remedy"]) == (report.change_id, "grant")
    assert change["after"] == {"grant_id": report.changes["grant_id"]}
    assert state.changes_in_last_hour(key) == 1
    # And ListGrants, once denied, is not asked again
    assert listed == [key]


@pytest.fixture
def lambda_env(
    world: World, state: DynamoState, inbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    key = world.key()
    world.user()
    monkeypatch.setenv(
        "REMEDIATOR_CONFIG", json.dumps(allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key]))
    )
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", inbox[0])
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    yield {"key": key}
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()


@pytest.mark.slow
def test_storm_of_duplicates_writes_once_and_notifies_once(
    world: World,
    inbox: tuple[str, str],
    lambda_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given PutKeyPolicy calls are counted at the emulator
    puts: list[str] = []
    original = KmsBackend.put_key_policy

    def counting(self: KmsBackend, key_id: str, policy: str) -> None:
        puts.append(key_id)
        original(self, key_id, policy)

    monkeypatch.setattr(KmsBackend, "put_key_policy", counting)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: lambda_env["key"]})

    # When 500 copies of one failure event arrive
    results = [handler.handler(event, FakeContext()) for _ in range(500)]  # type: ignore[arg-type]

    # Then one policy write and one notification happened, and every copy got the same answer
    assert len(puts) == 1
    assert len(world.received(inbox[1])) == 1
    assert {r["outcome"] for r in results} == {"remediated"}


def test_event_reusing_an_id_for_other_content_is_refused_not_answered(
    world: World, lambda_env: dict[str, str]
) -> None:
    # Given alice's failure was handled, and a second event reuses its CloudTrail eventID for
    # another principal's failure (a crafted or broken event)
    first = load_event(CASE5, {SAMPLE_KEY_ARN: lambda_env["key"]})
    handled = handler.handler(first, FakeContext())  # type: ignore[arg-type]
    world.user("mallory")
    crafted = load_event(
        CASE5, {SAMPLE_KEY_ARN: lambda_env["key"], "user/ops-alice": "user/mallory"}
    )
    crafted["id"] = "another-envelope"
    before = world.policy(lambda_env["key"])

    # When it arrives
    result = handler.handler(crafted, FakeContext())  # type: ignore[arg-type]

    # Then it is refused as a reused id: not answered with alice's result, nothing written
    assert handled["outcome"] == "remediated"
    assert result["outcome"] == "ignored"
    assert "already used by an event with other content" in result["reason"]
    assert world.policy(lambda_env["key"]) == before


def test_rollback_while_a_dead_invocation_holds_the_lock_is_one_line_exit_3(
    world: World, state: DynamoState, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a recorded change, and the key's lock held by an invocation that died
    from remediator import cli
    from remediator.adapters import dynamo

    key = world.key()
    engine(state, allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key])).handle(
        user_event(world, key, "alice")
    )
    dead = DynamoState(TABLE, client=boto3.client("dynamodb", region_name="eu-west-1"))
    held = dead.lock(key)
    held.__enter__()  # never released: the process is gone, its lease not yet expired

    # When the operator rolls it back (the wait for the lock cut short)
    original = dynamo.LOCK_WAIT_SECONDS
    dynamo.LOCK_WAIT_SECONDS = 0
    try:
        code = cli.main(["rollback", "--key", key, "--state-table", TABLE])
    finally:
        dynamo.LOCK_WAIT_SECONDS = original

    # Then one line on stderr says the key is locked, exit 3, and nothing changed
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "locked by another invocation" in err
    assert "Traceback" not in err


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_invocations_on_one_key_lose_no_principal(moto_server: str, round_: int) -> None:
    # Given 20 allowlisted users failing on the same key at once, against moto's HTTP server
    world = World()
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(dynamodb, f"{TABLE}-{round_}")
    key = world.key()
    events = [user_event(world, key, f"user{i:02d}") for i in range(20)]
    # (the hourly cap, counted under the lock, would otherwise stop the 11th change)
    config = allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key], max_changes_per_key_per_hour=20)
    errors: list[BaseException] = []
    start = threading.Barrier(len(events))

    def invoke(event: dict[str, Any]) -> None:
        try:
            state = DynamoState(
                f"{TABLE}-{round_}",
                client=boto3.client("dynamodb", region_name="eu-west-1"),
                sleep=short_waits,
            )
            start.wait()
            engine(state, config).handle(event)
        except BaseException as err:  # noqa: BLE001 (collected and asserted below)
            errors.append(err)

    threads = [threading.Thread(target=invoke, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then every one of them is in the key policy
    assert errors == []
    names = {s["Sid"]: set(s["Principal"]["AWS"]) for s in world.policy(key)["Statement"][1:]}
    wanted = {f"arn:aws:iam::{ACCOUNT}:user/user{i:02d}" for i in range(20)}
    assert names == {"KmsLaunchRemediatorUseViaEc2": wanted, "KmsLaunchRemediatorAttach": wanted}


@pytest.mark.parametrize(
    ("code", "logged"),
    [("ConditionalCheckFailedException", False), ("ProvisionedThroughputExceededException", True)],
)
def test_lock_release_error_is_logged_not_raised(
    code: str, logged: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # Given a lock taken, and a release that fails (expired and taken over, or throttled)
    from botocore.stub import ANY, Stubber

    client = boto3.client("dynamodb", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_response(
        "put_item",
        {},
        {
            "TableName": TABLE,
            "Item": ANY,
            "ConditionExpression": ANY,
            "ExpressionAttributeNames": ANY,
            "ExpressionAttributeValues": ANY,
        },
    )
    stub.add_client_error("delete_item", service_error_code=code)
    ran = []

    # (powertools may have stopped remediator.* from propagating to the root: listen directly)
    module_logger = logging.getLogger("remediator.adapters.dynamo")
    module_logger.addHandler(caplog.handler)
    state = DynamoState(TABLE, client=client)

    # When the work under the lock completes
    try:
        with stub, state.lock("arn:aws:kms:eu-west-1:111122223333:key/k"):
            ran.append(True)
    finally:
        module_logger.removeHandler(caplog.handler)

    # Then the work stands, nothing is raised, and only the unexpected error is logged
    stub.assert_no_pending_responses()
    assert ran == [True]
    assert ("lock_release_failed" in caplog.text) is logged


def test_failing_put_key_policy_reports_failed_raises_and_changes_nothing(
    world: World, state: DynamoState, inbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given KMS fails PutKeyPolicy (after botocore's own retries)
    from botocore.exceptions import ClientError

    from remediator.adapters.errors import translate
    from remediator.pipeline import RemediationFailed

    def fail(self: AwsAdapter, key_arn: str, text: str) -> None:
        error = {"Code": "KMSInternalException", "Message": "internal error"}
        raise translate(ClientError({"Error": error}, "PutKeyPolicy"), "kms:PutKeyPolicy")

    monkeypatch.setattr(AwsAdapter, "put_key_policy", fail)
    key = world.key()
    before = world.policy(key)
    config = allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key])

    # When the failure event arrives
    with pytest.raises(RemediationFailed) as raised:
        engine(state, config, inbox[0]).handle(user_event(world, key, "alice"))

    # Then it raises for the async retry and DLQ, reports failed, and nothing was written
    assert [r.outcome for r in raised.value.failed] == ["failed"]
    assert "KMSInternalException" in raised.value.failed[0].reason
    assert world.policy(key) == before
    assert state.history(key) == []
    assert [n["message"]["outcome"] for n in world.received(inbox[1])] == ["failed"]


def test_notification_failure_is_counted_and_retry_does_not_repeat_change(
    world: World,
    lambda_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the notification topic is gone, and PutKeyPolicy calls are counted at the emulator
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", f"arn:aws:sns:eu-west-1:{ACCOUNT}:deleted-topic")
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    puts: list[str] = []
    original = KmsBackend.put_key_policy
    monkeypatch.setattr(
        KmsBackend, "put_key_policy", lambda self, k, p: (puts.append(k), original(self, k, p))[1]
    )
    event = load_event(CASE5, {SAMPLE_KEY_ARN: lambda_env["key"]})

    # When the event is handled, and then delivered again (a retry)
    first = handler.handler(event, FakeContext())  # type: ignore[arg-type]
    again = handler.handler(event, FakeContext())  # type: ignore[arg-type]

    # Then the change stands once, the failed notification is counted, and the retry is a no-op
    assert first["outcome"] == again["outcome"] == "remediated"
    assert len(puts) == 1
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = [m["Name"] for blob in emitted for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names.count("NotificationFailed") == 1


@pytest.mark.parametrize(("with_table", "reads"), [(False, 2), (True, 3)])
def test_policy_is_reread_under_the_lock_only_when_there_is_a_lock(
    world: World, with_table: bool, reads: int
) -> None:
    # Given key-policy reads are counted
    calls: list[str] = []
    session = boto3.Session(region_name="eu-west-1")
    session.events.register("before-call.kms.GetKeyPolicy", lambda **_: calls.append("read"))
    if with_table:
        create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    state = (
        DynamoState(TABLE, client=boto3.client("dynamodb", region_name="eu-west-1"))
        if with_table
        else None
    )
    key = world.key()
    config = parse_config(allow([f"arn:aws:iam::{ACCOUNT}:user/*"], [key]))

    # When one change is made
    [report] = Remediator(AwsAdapter(session=session), config, state=state).handle(
        user_event(world, key, "alice")
    )

    # Then: read, (re-read once the lock is held: another writer may have landed,) verify
    assert report.outcome == "remediated"
    assert len(calls) == reads


@pytest.mark.parametrize(("with_table", "lists"), [(False, 2), (True, 3)])
def test_grants_are_relisted_under_the_lock_only_when_there_is_a_lock(
    world: World, with_table: bool, lists: int
) -> None:
    # Given grant listings are counted, and a cross-account key (case 3: a grant is made)
    calls: list[str] = []
    session = boto3.Session(region_name="eu-west-1")
    session.events.register("before-call.kms.ListGrants", lambda **_: calls.append("list"))
    if with_table:
        create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    state = (
        DynamoState(TABLE, client=boto3.client("dynamodb", region_name="eu-west-1"))
        if with_table
        else None
    )
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: key})
    config = parse_config(allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT)))

    # When the grant is made
    [report] = Remediator(AwsAdapter(session=session), config, state=state).handle(event)

    # Then: list, (list again once the lock is held,) verify
    assert report.outcome == "remediated"
    assert len(calls) == lists


def test_idempotency_knows_the_invocations_remaining_time(
    world: World, lambda_env: dict[str, str]
) -> None:
    # Given the handler with a state table (the context tells the remaining time)
    event = load_event(CASE5, {SAMPLE_KEY_ARN: lambda_env["key"]})

    # When it handles an event
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        handler.handler(event, FakeContext())  # type: ignore[arg-type]

    # Then powertools idempotency was given the context (so an in-progress record expires with
    # the invocation, and a retry after a timeout is not blocked)
    assert not [w for w in caught if "remaining time" in str(w.message)]
