"""The re-check queue: how the remediator looks again at a launch CloudTrail has not recorded yet.

An SQS queue, not a one-shot EventBridge Scheduler schedule: the function sends the event with
``DelaySeconds`` (at most 900, enough for each of the bounded looks of
``remediator.recheck.RECHECK_DELAYS_SECONDS``) and the queue's event source mapping delivers it
back. That needs only ``sqs:SendMessage`` on this queue, while a schedule per look needs
``scheduler:CreateSchedule``, a role for the scheduler to invoke the function and
``iam:PassRole`` on it, plus cleaning up the schedules; and a failed re-check is retried by SQS
and then parked in the remediator's dead-letter queue like every other failure.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from remediator import permissions, state_schema
from remediator.config import Settings

# Lambda's advice for an SQS event source: a visibility timeout of at least six times the
# function's timeout (Lambda developer guide, "Using Lambda with Amazon SQS").
VISIBILITY_TIMEOUT = Duration.seconds(6 * state_schema.FUNCTION_TIMEOUT_SECONDS)
# A message waits at most 15 minutes; a day leaves room for retries.
RETENTION = Duration.days(1)
MAX_RECEIVE_COUNT = 3  # then the dead-letter queue
BATCH_SIZE = 1  # one event per invocation: each re-check fails or succeeds on its own
MAX_CONCURRENCY = 2  # the event source mapping's least; re-checks never crowd out live events


class RecheckQueue(Construct):
    """The queue, its event source mapping on ``function``, and the function's right to send."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )
        function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=BATCH_SIZE, max_concurrency=MAX_CONCURRENCY
            )
        )
        send_rechecks_to(function, self.queue)


def send_rechecks_to(function: lambda_.Function, queue: sqs.IQueue) -> None:
    """Let ``function`` send the launches it looks at again to ``queue``, and tell it the URL."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="SendRechecks",
            actions=list(permissions.RECHECK_SEND_ACTIONS),
            resources=[queue.queue_arn],
        )
    )
    function.add_environment(Settings.ENV_RECHECK_QUEUE, queue.queue_url)
