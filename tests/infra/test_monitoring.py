"""Monitoring: alarms on errors, throttles and dead letters go to the topic; outcomes dashboard."""

from __future__ import annotations

import json

import pytest

from remediator.outcomes import METRICS_NAMESPACE, NOTIFICATION_FAILED_METRIC, SERVICE_NAME, Outcome
from tests.infra.conftest import Synthesized, synth


@pytest.fixture(scope="module")
def deployed() -> Synthesized:
    return synth()


def test_alarms_on_errors_throttles_and_dead_letters(deployed: Synthesized) -> None:
    # Given the function and its dead-letter queue
    function = deployed.resolve(deployed.stack.remediator.function.function_name)
    queue = deployed.resolve(deployed.stack.remediator.dlq.queue_name)
    # When reading every alarm's metric and threshold
    alarms = {
        (
            a["Properties"]["Namespace"],
            a["Properties"]["MetricName"],
            json.dumps(a["Properties"]["Dimensions"], sort_keys=True),
            a["Properties"]["ComparisonOperator"],
            a["Properties"]["Threshold"],
        )
        for a in deployed.resources("AWS::CloudWatch::Alarm").values()
    }
    # Then there is one alarm for each, firing on anything above zero
    function_dim = json.dumps([{"Name": "FunctionName", "Value": function}], sort_keys=True)
    queue_dim = json.dumps([{"Name": "QueueName", "Value": queue}], sort_keys=True)
    assert alarms == {
        ("AWS/Lambda", "Errors", function_dim, "GreaterThanThreshold", 0),
        ("AWS/Lambda", "Throttles", function_dim, "GreaterThanThreshold", 0),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue_dim, "GreaterThanThreshold", 0),
    }


def test_alarms_notify_the_topic(deployed: Synthesized) -> None:
    # Given the notification topic
    topic = deployed.resolve(deployed.stack.notifications.topic.topic_arn)
    # When reading the alarms' actions
    actions = [
        a["Properties"]["AlarmActions"]
        for a in deployed.resources("AWS::CloudWatch::Alarm").values()
    ]
    # Then every alarm notifies it
    assert actions == [[topic]] * 3


def test_dashboard_shows_every_outcome_metric(deployed: Synthesized) -> None:
    # Given the dashboard
    dashboards = list(deployed.resources("AWS::CloudWatch::Dashboard").values())
    assert len(dashboards) == 1
    body = json.dumps(dashboards[0]["Properties"]["DashboardBody"])
    # When looking for each powertools metric the engine emits
    # Then each is graphed with the engine's namespace and service dimension
    for metric_name in [o.metric_name for o in Outcome] + [NOTIFICATION_FAILED_METRIC]:
        expected = json.dumps(f'["{METRICS_NAMESPACE}","{metric_name}","service","{SERVICE_NAME}"')
        assert expected.strip('"') in body, metric_name
