"""The hub's edge: SQS batches of real-shaped EventBridge events from member accounts, each
record handed to the same pipeline, failures reported per record (partial batch response).

moto rewrites forwarded envelopes (id, account, region), so the events are fed to the handler
as the hub's queue would deliver them: the fixture events of tests/events as record bodies.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from remediator import handler, hub
from remediator.adapters.aws import AwsAdapter
from tests.integration.conftest import allow, default_policy
from tests.integration.test_cases import attach_statement, use_via_ec2_statement
from tests.integration.test_lag import CONFIG as LAG_CONFIG
from tests.integration.test_lag import user_launch
from tests.support import sqs as support_sqs
from tests.support.allowlists import every_principal_of
from tests.support.cloudtrail import EmulatedCloudTrail
from tests.support.lambda_context import FakeContext
from tests.support.world import (
    ACCOUNT,
    REGION,
    SAMPLE_INSTANCE_ID,
    SAMPLE_KEY_ARN,
    USER_ARN,
    World,
    load_event,
)

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:KmsLaunchRemediatorHub-Queue"


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    """One record of the hub queue's SQS event."""
    return support_sqs.sqs_record(message_id, body, queue_arn=QUEUE_ARN, region=REGION)


def sqs_batch(*records: tuple[str, str]) -> dict[str, Any]:
    return {"Records": [sqs_record(message_id, body) for message_id, body in records]}


@pytest.fixture
def environment(
    world: World, inbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Three keys, the principals of cases 1, 5 and 6, and the Lambda's environment allowing
    them, as the hub stack sets it (no state table: no lock, audit or idempotency)."""
    keys = {"case1": world.key(), "case5": world.key(), "case6": world.key()}
    world.autoscaling_slr()
    world.user()
    world.role("SaaSSchedulerRole")
    monkeypatch.setenv(
        "REMEDIATOR_CONFIG", json.dumps(allow(every_principal_of(ACCOUNT), list(keys.values())))
    )
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", inbox[0])
    monkeypatch.delenv("STATE_TABLE_NAME", raising=False)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    yield keys
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()


def _event(fixture: str, key: str) -> dict[str, Any]:
    return load_event(fixture, {SAMPLE_KEY_ARN: key})


CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE5 = "case5_user_start_instances_create_grant.json"
CASE6 = "case6_saas_scheduler_role_create_grant.json"


def test_hub_handler_reports_only_the_failing_record_and_processes_the_others(
    world: World,
    inbox: tuple[str, str],
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a batch of three records: cases 1 and 6, and case 5 on a key whose writes KMS
    # accepts but never applies (so the engine's verification fails and it raises)
    never_applied = environment["case5"]
    write = AwsAdapter.put_key_policy

    def put_key_policy(self: AwsAdapter, key_arn: str, policy_text: str) -> None:
        if key_arn != never_applied:
            write(self, key_arn, policy_text)

    monkeypatch.setattr(AwsAdapter, "put_key_policy", put_key_policy)
    before = world.policy(never_applied)
    batch = sqs_batch(
        ("m-case1", json.dumps(_event(CASE1, environment["case1"]))),
        ("m-case5", json.dumps(_event(CASE5, never_applied))),
        ("m-case6", json.dumps(_event(CASE6, environment["case6"]))),
    )

    # When Lambda's event source mapping invokes the hub handler with it
    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]

    # Then only the failed record goes back to the queue
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-case5"}]}
    # And the other records were processed: their keys fixed, everyone notified
    for case in ("case1", "case6"):
        assert len(world.policy(environment[case])["Statement"]) == 3, case
    assert world.policy(never_applied) == before
    outcomes = sorted(
        (n["message"]["key_arn"], n["message"]["outcome"]) for n in world.received(inbox[1])
    )
    assert outcomes == sorted(
        [
            (environment["case1"], "remediated"),
            (never_applied, "failed"),
            (environment["case6"], "remediated"),
        ]
    )


def test_hub_handler_reports_a_record_that_is_not_an_event(
    world: World, inbox: tuple[str, str], environment: dict[str, str]
) -> None:
    # Given a record whose body is not an event between two remediable ones
    batch = sqs_batch(
        ("m-case1", json.dumps(_event(CASE1, environment["case1"]))),
        ("m-garbled", "{not an event"),
        ("m-case6", json.dumps(_event(CASE6, environment["case6"]))),
    )
    # When the hub handler runs
    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]
    # Then that record is reported (it will reach the dead-letter queue), the others fixed
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-garbled"}]}
    for case in ("case1", "case6"):
        assert len(world.policy(environment[case])["Statement"]) == 3, case


def test_hub_handler_batch_without_failures_reports_none(
    world: World, inbox: tuple[str, str], environment: dict[str, str]
) -> None:
    # Given a batch of two remediable events and one the engine ignores (a running instance)
    batch = sqs_batch(
        ("m-case1", json.dumps(_event(CASE1, environment["case1"]))),
        ("m-running", json.dumps(load_event("ec2_state_change_running.json"))),
        ("m-case6", json.dumps(_event(CASE6, environment["case6"]))),
    )
    # When the hub handler runs
    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]
    # Then no record is reported failed (an ignored event is handled, not failed)
    assert response == {"batchItemFailures": []}
    assert [n["message"]["outcome"] for n in world.received(inbox[1])] == [
        "remediated",
        "remediated",
    ]


def test_hub_handler_logs_each_record_under_its_events_id(
    world: World, inbox: tuple[str, str], environment: dict[str, str]
) -> None:
    # Given two records whose events have different ids
    first, second = _event(CASE1, environment["case1"]), _event(CASE6, environment["case6"])
    assert first["id"] != second["id"]
    batch = sqs_batch(("m-1", json.dumps(first)), ("m-2", json.dumps(second)))
    log = io.StringIO()
    stream_handler = handler.logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    previous = stream_handler.setStream(log)
    # When the hub handler runs
    try:
        hub.handler(batch, FakeContext())  # type: ignore[arg-type]
    finally:
        stream_handler.setStream(previous)
    # Then each engine log line carries the id of the event it is about
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    handled = [
        (e["correlation_id"], e["key_arn"]) for e in logged if e["message"] == "event_handled"
    ]
    assert handled == [
        (first["id"], environment["case1"]),
        (second["id"], environment["case6"]),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [("{oops", "body is not JSON"), ("[1, 2]", "body is not a JSON object"), ('"x"', "object")],
    ids=["not-json", "list", "string"],
)
def test_hub_event_of_refuses_a_body_that_is_not_an_event(body: str, reason: str) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    with pytest.raises(hub.NotAnEvent, match=reason):
        hub.event_of(SQSRecord(sqs_record("m-1", body)))


def test_hub_looks_again_through_its_queue_and_remediates_once_cloudtrail_shows_the_launch(
    world: World, inbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the hub's function, whose queue is also where it sends a launch to look at again,
    # and an emulated CloudTrail that shows a user's launch only from its second lookup
    cloudtrail = EmulatedCloudTrail()
    key, instance = user_launch(world, cloudtrail, visible_from=2)
    queue = world.queue()
    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(LAG_CONFIG))
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", inbox[0])
    monkeypatch.setenv("RECHECK_QUEUE_URL", queue)
    monkeypatch.delenv("STATE_TABLE_NAME", raising=False)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    aws = handler.remediator().aws
    assert isinstance(aws, AwsAdapter)
    aws.clients["cloudtrail"] = cloudtrail.client()
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When the state change arrives in a batch of the hub's queue
    first = hub.handler(sqs_batch(("m-1", json.dumps(event))), FakeContext())  # type: ignore[arg-type]

    # Then the record is handled (not a failure), and the event went back to the queue, delayed
    assert first == {"batchItemFailures": []}
    [(delay, batch)] = world.release_delayed(queue)
    assert delay > 60
    assert world.policy(key) == default_policy(ACCOUNT)

    # When the queue delivers it again after its delay
    again = hub.handler(batch, FakeContext())  # type: ignore[arg-type]

    # Then the second look finds the launching user and fixes the key, and nothing is left
    assert again == {"batchItemFailures": []}
    assert world.policy(key)["Statement"][1:] == [
        use_via_ec2_statement(USER_ARN),
        attach_statement(USER_ARN),
    ]
    assert [n["attributes"]["outcome"] for n in world.received(inbox[1])] == [
        "pending",
        "remediated",
    ]
    assert world.release_delayed(queue) == []
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
