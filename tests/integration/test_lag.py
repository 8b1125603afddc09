"""CloudTrail's lag: the launching call is not in LookupEvents when EC2 reports the failure. The
engine reports ``pending`` once, sends the event to its re-check queue (an SQS delay queue on
the emulator), and when the queue delivers it looks again; bounded to about 15 minutes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediator import handler
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import create_table
from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.integration.conftest import allow, default_policy
from tests.integration.test_cases import attach_statement, use_via_ec2_statement
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.cloudtrail import EmulatedCloudTrail, load_record
from tests.support.lambda_context import FakeContext
from tests.support.world import (
    ACCOUNT,
    SAMPLE_INSTANCE_ID,
    SAMPLE_KEY_ARN,
    USER_ARN,
    World,
    load_event,
)

CONFIG = allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT))
TABLE = "remediator-state"


def user_launch(world: World, cloudtrail: EmulatedCloudTrail, visible_from: int) -> tuple[str, str]:
    """(key, instance): a user's terminated instance, whose RunInstances record CloudTrail
    shows from its ``visible_from``-th lookup on (never, if 0)."""
    key = world.key()
    world.user()
    instance = world.launched_instance()
    if visible_from:
        record = load_record(
            "run_instances_user.json", {SAMPLE_INSTANCE_ID: instance, SAMPLE_KEY_ARN: key}
        )
        cloudtrail.add(record, [instance], visible_from=visible_from)
    return key, instance


def engine(world: World, cloudtrail: EmulatedCloudTrail, topic: str, queue: str) -> Remediator:
    aws = AwsAdapter(region=world.region, clients={"cloudtrail": cloudtrail.client()})
    return Remediator(aws, parse_config(CONFIG), topic_arn=topic, recheck_queue_url=queue)


def only_body(batch: dict[str, Any]) -> dict[str, Any]:
    [record] = batch["Records"]
    body: dict[str, Any] = json.loads(record["body"])
    return body


def test_lag_state_change_resolved_on_the_second_look_ends_remediated(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a user's failed launch whose RunInstances call CloudTrail shows only on a second look
    cloudtrail = EmulatedCloudTrail()
    key, instance = user_launch(world, cloudtrail, visible_from=2)
    queue = world.queue()
    remediator = engine(world, cloudtrail, inbox[0], queue)
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports the instance terminated
    [first] = remediator.handle(event)

    # Then the outcome is pending, the key is untouched, the operator is told once, and the
    # event waits two minutes on the re-check queue
    assert first.outcome == "pending"
    assert (first.instance_id, first.key_arn) == (instance, None)
    assert "not in CloudTrail yet" in first.reason
    assert world.policy(key) == default_policy(ACCOUNT)
    [pending] = world.received(inbox[1])
    assert pending["attributes"] == {"outcome": "pending"}
    assert pending["message"]["instance_id"] == instance
    [(delay, batch)] = world.release_delayed(queue)
    assert delay == 120

    # When the queue delivers it and CloudTrail now has the call
    [second] = remediator.handle(only_body(batch))

    # Then the launch ends remediated for the user, with one more notification
    assert second.outcome == "remediated", second.reason
    assert (second.event_id, second.principal_arn) == (event["id"], USER_ARN)
    expected = default_policy(ACCOUNT)
    expected["Statement"] += [use_via_ec2_statement(USER_ARN), attach_statement(USER_ARN)]
    assert world.policy(key) == expected
    [resolved] = world.received(inbox[1])
    assert resolved["attributes"] == {"outcome": "remediated"}
    assert world.release_delayed(queue) == []
    assert cloudtrail.lookups[instance] == 2


def test_lag_looks_are_bounded_then_the_launch_is_refused_with_why(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a failed launch CloudTrail never shows
    cloudtrail = EmulatedCloudTrail()
    key, instance = user_launch(world, cloudtrail, visible_from=0)
    queue = world.queue()
    remediator = engine(world, cloudtrail, inbox[0], queue)
    event: dict[str, Any] = load_event(
        "ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance}
    )

    # When it is looked at, and the queue delivers each re-check as it falls due
    outcomes, delays = [], []
    for _ in range(4):
        [report] = remediator.handle(event)
        outcomes.append(report.outcome.value)
        released = world.release_delayed(queue)
        if released:
            [(delay, batch)] = released
            delays.append(delay)
            event = only_body(batch)

    # Then it is pending for 2 + 5 + 8 minutes, then refused saying it looked again, and the
    # operator heard of it twice: pending, and the refusal
    assert outcomes == ["pending", "pending", "pending", "refused"]
    assert delays == [120, 300, 480]
    assert report.reason.startswith("no launching principal found")
    assert report.reason.endswith("looked again 3 times over 15 minutes")
    notes = world.received(inbox[1])
    assert [n["attributes"]["outcome"] for n in notes] == ["pending", "refused"]
    assert world.policy(key) == default_policy(ACCOUNT)
    assert cloudtrail.lookups[instance] == 4


def test_lag_without_a_recheck_queue_refuses_at_once(world: World, inbox: tuple[str, str]) -> None:
    # Given no re-check queue (a CLI replay), and a launch CloudTrail does not show yet
    cloudtrail = EmulatedCloudTrail()
    key, instance = user_launch(world, cloudtrail, visible_from=2)
    aws = AwsAdapter(region=world.region, clients={"cloudtrail": cloudtrail.client()})
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports the instance terminated
    [report] = Remediator(aws, parse_config(CONFIG), topic_arn=inbox[0]).handle(event)

    # Then it is refused now, saying what is missing
    assert report.outcome == "refused"
    assert report.reason.startswith("no launching principal found")
    assert "CloudTrail LookupEvents returned no RunInstances" in report.reason
    assert world.policy(key) == default_policy(ACCOUNT)


@pytest.fixture
def lambda_env(
    world: World, inbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The Lambda's environment with a state table and a re-check queue: its URL."""
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), TABLE)
    queue = world.queue()
    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(CONFIG))
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", inbox[0])
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    monkeypatch.setenv("RECHECK_QUEUE_URL", queue)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    yield queue
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()


def test_lag_handler_consumes_its_recheck_queue_with_its_own_idempotency_keys(
    world: World, inbox: tuple[str, str], lambda_env: str
) -> None:
    # Given the Lambda, with an emulated CloudTrail that shows the launch on the second look
    cloudtrail = EmulatedCloudTrail()
    key, instance = user_launch(world, cloudtrail, visible_from=2)
    aws = handler.remediator().aws
    assert isinstance(aws, AwsAdapter)
    aws.clients["cloudtrail"] = cloudtrail.client()
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When the state change arrives twice (EventBridge delivers at least once)
    first = handler.handler(event, FakeContext())  # type: ignore[arg-type]
    again = handler.handler(event, FakeContext())  # type: ignore[arg-type]

    # Then the copy is answered from the idempotency record: one re-check was sent, not two
    assert first["outcome"] == again["outcome"] == "pending"
    [(_, batch)] = world.release_delayed(lambda_env)

    # When the queue delivers the re-check as an SQS batch, twice (SQS is at least once too)
    result = handler.handler(batch, FakeContext())  # type: ignore[arg-type]
    repeat = handler.handler(batch, FakeContext())  # type: ignore[arg-type]

    # Then it acts once, ending remediated, and the operator got two notifications in all
    assert [r["outcome"] for r in result["rechecks"]] == ["remediated"]
    assert repeat == result
    assert [n["attributes"]["outcome"] for n in world.received(inbox[1])] == [
        "pending",
        "remediated",
    ]
    assert world.release_delayed(lambda_env) == []
    assert world.policy(key)["Statement"][1:] == [
        use_via_ec2_statement(USER_ARN),
        attach_statement(USER_ARN),
    ]


def test_lag_denied_lookup_is_refused_at_once_not_looked_at_again(
    world: World, inbox: tuple[str, str]
) -> None:
    # Given a re-check queue, and CloudTrail LookupEvents denied to the remediator's role
    key, instance = user_launch(world, EmulatedCloudTrail(), visible_from=0)
    queue = world.queue()
    cloudtrail = boto3.client("cloudtrail", region_name=world.region)
    stub = Stubber(cloudtrail)
    stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized")
    aws = AwsAdapter(region=world.region, clients={"cloudtrail": cloudtrail})
    remediator = Remediator(aws, parse_config(CONFIG), topic_arn=inbox[0], recheck_queue_url=queue)
    event = load_event("ec2_state_change_terminated.json", {SAMPLE_INSTANCE_ID: instance})

    # When EC2 reports the instance terminated
    with stub:
        [report] = remediator.handle(event)

    # Then waiting would not help: it is refused now, saying LookupEvents is denied
    assert report.outcome == "refused"
    assert "CloudTrail LookupEvents is denied (AccessDeniedException)" in report.reason
    assert world.release_delayed(queue) == []
    assert world.policy(key) == default_policy(ACCOUNT)
