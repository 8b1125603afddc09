"""Monitoring: alarms on the remediator's failures, sent to the topic, and a small dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from remediator.outcomes import (
    METRICS_NAMESPACE,
    NOTIFICATION_FAILED_METRIC,
    SERVICE_NAME,
    Outcome,
)

PERIOD = Duration.minutes(5)


def outcome_metric(metric_name: str) -> cloudwatch.Metric:
    """A powertools EMF metric of the remediator (dimension ``service``)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=cloudwatch.Stats.SUM,
        period=PERIOD,
    )


class Monitoring(Construct):
    """Errors, throttles and dead letters alarm to ``topic``; outcomes by type on a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        dlq: sqs.Queue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)

        dead_letters = dlq.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {
            name: metric.create_alarm(
                self,
                f"{name}Alarm",
                alarm_description=description,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for name, metric, description in (
                (
                    "Errors",
                    function.metric_errors(period=PERIOD),
                    "The remediator Lambda failed (see its log group)",
                ),
                (
                    "Throttles",
                    function.metric_throttles(period=PERIOD),
                    "The remediator Lambda was throttled",
                ),
                (
                    "DeadLetters",
                    dead_letters,
                    "Events the remediator could not handle are in its DLQ",
                ),
            )
        }
        for alarm in self.alarms.values():
            alarm.add_alarm_action(notify)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Outcomes by type",
                left=[outcome_metric(outcome.metric_name) for outcome in Outcome],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Notifications that could not be sent",
                left=[outcome_metric(NOTIFICATION_FAILED_METRIC)],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Remediator invocations, errors, throttles",
                left=[
                    function.metric_invocations(period=PERIOD),
                    function.metric_errors(period=PERIOD),
                    function.metric_throttles(period=PERIOD),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=12
            ),
        )
