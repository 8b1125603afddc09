"""The re-check queue: the delay mechanism for launches CloudTrail has not recorded yet."""

from __future__ import annotations

from typing import Any

import pytest

from remediator import recheck, state_schema
from remediator.config import Settings
from tests.infra.conftest import Synthesized, synth


@pytest.fixture(scope="module")
def deployed() -> Synthesized:
    return synth()


def _queue(deployed: Synthesized) -> dict[str, Any]:
    logical_id = deployed.logical_id(deployed.stack.recheck.queue.node.default_child)
    return deployed.resources("AWS::SQS::Queue")[logical_id]["Properties"]


def test_recheck_queue_is_encrypted_ssl_only_and_short_lived(deployed: Synthesized) -> None:
    # Given the synthesised re-check queue
    properties = _queue(deployed)
    # Then it is encrypted at rest, keeps messages a day, and hides a message being handled for
    # six function timeouts (Lambda's advice for SQS event sources)
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 86400
    assert properties["VisibilityTimeout"] == 6 * state_schema.FUNCTION_TIMEOUT_SECONDS
    # And its policy refuses any request that is not over TLS
    policies = deployed.resources("AWS::SQS::QueuePolicy").values()
    queue_ref = {"Ref": deployed.logical_id(deployed.stack.recheck.queue.node.default_child)}
    statements = [
        s
        for p in policies
        if queue_ref in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert [s["Condition"] for s in statements if s["Effect"] == "Deny"] == [
        {"Bool": {"aws:SecureTransport": "false"}}
    ]


def test_recheck_queue_failures_go_to_the_remediator_dlq_after_three_receives(
    deployed: Synthesized,
) -> None:
    # Given the re-check queue and the remediator's dead-letter queue
    dlq = deployed.resolve(deployed.stack.remediator.dlq.queue_arn)
    # Then a message that fails three times is moved to that dead-letter queue
    assert _queue(deployed)["RedrivePolicy"] == {"deadLetterTargetArn": dlq, "maxReceiveCount": 3}


def test_recheck_queue_feeds_the_function_one_message_at_a_time(deployed: Synthesized) -> None:
    # Given the function and the re-check queue
    function = {"Ref": deployed.logical_id(deployed.stack.remediator.function.node.default_child)}
    queue = deployed.resolve(deployed.stack.recheck.queue.queue_arn)
    # When reading the event source mappings
    mappings = [
        m["Properties"] for m in deployed.resources("AWS::Lambda::EventSourceMapping").values()
    ]
    # Then exactly one reads the re-check queue into the function, one message per invocation,
    # with at most two concurrent pollers so re-checks never crowd out live events
    assert mappings == [
        {
            "BatchSize": 1,
            "EventSourceArn": queue,
            "FunctionName": function,
            "ScalingConfig": {"MaximumConcurrency": 2},
        }
    ]


def test_recheck_queue_url_is_the_functions_recheck_setting(deployed: Synthesized) -> None:
    # Given the function's environment
    logical_id = deployed.logical_id(deployed.stack.remediator.function.node.default_child)
    variables = deployed.resources("AWS::Lambda::Function")[logical_id]["Properties"][
        "Environment"
    ]["Variables"]
    # Then the re-check queue's URL is under the name the runtime reads
    assert variables[Settings.ENV_RECHECK_QUEUE] == deployed.resolve(
        deployed.stack.recheck.queue.queue_url
    )


def test_recheck_delays_fit_sqs_and_add_up_to_about_fifteen_minutes() -> None:
    # Given the schedule of looks again
    delays = recheck.RECHECK_DELAYS_SECONDS
    # Then each delay is one SQS DelaySeconds can hold (at most 900), and all together are
    # about a quarter of an hour: bounded, and longer than CloudTrail's usual lag
    assert all(0 < delay <= 900 for delay in delays)
    assert sum(delays) == 900
    assert recheck.total_minutes() == 15
