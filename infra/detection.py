"""Detection: the EventBridge rules on the default bus that trigger the remediator.

The patterns are ``remediator.patterns.RULES``, passed unchanged to ``events.CfnRule`` so the
deployed pattern is byte-for-byte the one the engine's tests load into the emulator.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from remediator.patterns import RULES

# EventBridge -> Lambda delivery: retried for up to this long, then parked in the DLQ.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(2)


class Detection(Construct):
    """One rule per pattern, each targeting the remediator; failed deliveries go to ``dlq``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.CfnRule] = {}
        for rule_id, pattern in RULES.items():
            rule = events.CfnRule(
                self,
                rule_id,
                description=f"KMS launch remediator: {rule_id}",
                event_pattern=pattern,
                state="ENABLED",
                targets=[
                    events.CfnRule.TargetProperty(
                        id="Remediator",
                        arn=function.function_arn,
                        retry_policy=events.CfnRule.RetryPolicyProperty(
                            maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
                            maximum_event_age_in_seconds=TARGET_MAX_EVENT_AGE.to_seconds(),
                        ),
                        dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                            arn=dlq.queue_arn
                        ),
                    )
                ],
            )
            function.add_permission(
                f"Invoke{rule_id}",
                principal=iam.ServicePrincipal("events.amazonaws.com"),
                action="lambda:InvokeFunction",
                source_arn=rule.attr_arn,
            )
            dlq.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"EventBridgeDeadLetters{rule_id}",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[dlq.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}},
                )
            )
            self.rules[rule_id] = rule
