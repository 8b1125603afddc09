"""Detection: the EventBridge rules that select the events the remediator handles.

The patterns are ``remediator.patterns.RULES``, passed unchanged to ``events.CfnRule`` so the
deployed pattern is byte-for-byte the one the engine's tests load into the emulator. The same
rules serve every deployment, on a different bus and with a different target:

- single account: on the default bus, invoking the remediator Lambda (``FunctionTarget``);
- organization hub: on the hub's bus, feeding the remediator's queue (``QueueTarget``);
- organization member: on each region's default bus, forwarding to the hub's bus
  (``EventBusTarget``, through the forwarder role).
"""

from __future__ import annotations

from typing import Protocol

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from remediator.patterns import RULE_STATES, RULES

# EventBridge -> target delivery: retried for up to this long, then parked in the DLQ.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(2)
EVENTS_SERVICE = "events.amazonaws.com"


class RuleTarget(Protocol):
    """Where a rule sends what it selects, and how the target lets that rule in."""

    @property
    def target_id(self) -> str: ...

    @property
    def arn(self) -> str: ...

    @property
    def role_arn(self) -> str | None:
        """The role EventBridge assumes to deliver (None: the target's resource policy)."""
        ...

    def admit(self, rule_id: str, rule: events.CfnRule) -> None:
        """Let ``rule`` deliver to the target (a resource policy statement, a permission)."""
        ...


class FunctionTarget:
    """Invoke a Lambda function: a permission per rule, conditioned on the rule's ARN."""

    target_id = "Remediator"
    role_arn = None

    def __init__(self, function: lambda_.IFunction) -> None:
        self.function = function
        self.arn = function.function_arn

    def admit(self, rule_id: str, rule: events.CfnRule) -> None:
        self.function.add_permission(
            f"Invoke{rule_id}",
            principal=iam.ServicePrincipal(EVENTS_SERVICE),
            action="lambda:InvokeFunction",
            source_arn=rule.attr_arn,
        )


class QueueTarget:
    """Send to an SQS queue: a queue-policy statement per rule, conditioned on the rule's ARN."""

    target_id = "RemediatorQueue"
    role_arn = None

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue
        self.arn = queue.queue_arn

    def admit(self, rule_id: str, rule: events.CfnRule) -> None:
        allow_rule_to_send(self.queue, f"EventBridgeDelivery{rule_id}", rule)


class EventBusTarget:
    """Put on another account's event bus as ``role`` (whose policy allows events:PutEvents on
    that bus); the receiving bus's own policy decides who may put."""

    target_id = "HubEventBus"

    def __init__(self, bus_arn: str, role_arn: str) -> None:
        self.arn = bus_arn
        self.role_arn = role_arn

    def admit(self, rule_id: str, rule: events.CfnRule) -> None:
        """Nothing per rule: the role is granted once, the bus admits the organization."""


def allow_rule_to_send(queue: sqs.IQueue, sid: str, rule: events.CfnRule) -> None:
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(EVENTS_SERVICE)],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}},
        )
    )


class Detection(Construct):
    """One rule per pattern on ``event_bus`` (None: the default bus), each sending to
    ``target``; deliveries that fail after the retries go to ``dlq``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: RuleTarget,
        dlq: sqs.IQueue,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.CfnRule] = {}
        for rule_id, pattern in RULES.items():
            rule = events.CfnRule(
                self,
                rule_id,
                description=f"KMS launch remediator: {rule_id}",
                event_bus_name=event_bus.event_bus_name if event_bus else None,
                event_pattern=pattern,
                state=RULE_STATES[rule_id],
                targets=[
                    events.CfnRule.TargetProperty(
                        id=target.target_id,
                        arn=target.arn,
                        role_arn=target.role_arn,
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
            target.admit(rule_id, rule)
            allow_rule_to_send(dlq, f"EventBridgeDeadLetters{rule_id}", rule)
            self.rules[rule_id] = rule
