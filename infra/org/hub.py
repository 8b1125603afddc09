"""The organization hub: one remediator for every member account and region.

Member accounts' rules forward the detection events to the hub's bus, whose policy admits
``events:PutEvents`` only from principals of the organization. The same rules on the hub's bus
feed a queue; the remediator reads it in batches (``remediator.hub.handler``) and reports the
records that failed, which the queue retries and then moves to the dead-letter queue. The
function's role is the hub role: beside the engine's own permissions (for the hub's own
account) it may assume the member role, by name, in accounts of the organization only. The
member StackSets deploy that role and the forwarding rules; an organization trail (or one per
account) makes CloudTrail's events reach the members' buses.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.context import MemberTrail, OrganizationSettings, StackSettings
from infra.detection import Detection, QueueTarget
from infra.engine import (
    add_outputs,
    compose_engine,
    engine_outputs,
    warn_about_an_enforce_mode_that_can_change_nothing,
)
from infra.monitoring import Monitoring
from infra.org.members import MemberTemplates
from infra.org.nag import suppress_hub_findings
from infra.org.stacksets import MemberStackSets
from infra.recheck import send_rechecks_to
from infra.remediator import HUB_HANDLER, TIMEOUT
from infra.trail import ManagementEventsTrail
from remediator import permissions

# Lambda's SQS event source (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html):
# the queue's visibility timeout at least six times the function's timeout, so that a batch
# retried after a throttle is not yet visible again; a message moves to the dead-letter queue
# after this many receives.
VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION = Duration.days(4)
HUB_BUS_NAME = "KmsLaunchRemediatorHub"
# A batch's records are handled one after another within one invocation: a small batch keeps a
# batch inside the function's timeout even when some of its records wait for a key's lock (a
# timed-out batch returns to the queue whole; idempotency answers the records already done).
BATCH_SIZE = 5


class KmsLaunchRemediatorHubStack(Stack):
    """Bus -> rules -> queue -> remediator, with state, notifications, alarms, the member
    StackSets and (optionally) the organization's trail."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        member_templates: MemberTemplates,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if settings.organization is None:
            raise ValueError("the hub stack needs deployment=hub settings")
        self.settings = settings
        organization: OrganizationSettings = settings.organization

        engine = compose_engine(self, settings, handler=HUB_HANDLER, asynchronous=False)
        self.notifications = engine.notifications
        self.state = engine.state
        self.remediator = engine.remediator
        function, dlq = self.remediator.function, self.remediator.dlq

        self.bus = events.EventBus(
            self,
            "EventBus",
            event_bus_name=HUB_BUS_NAME,
            description="KMS launch remediator: detection events of the organization's members",
        )
        # A bus every account of the organization may put on: principal "*" conditioned on the
        # organization's id (PutPermission, https://docs.aws.amazon.com/eventbridge/latest/
        # APIReference/API_PutPermission.html); the members' rules put as their forwarder role.
        # Set as the bus's own Policy property rather than an AWS::Events::EventBusPolicy
        # resource, so the bus never exists without it.
        bus_resource = cast(events.CfnEventBus, self.bus.node.default_child)
        bus_resource.policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PutEventsFromTheOrganization",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "events:PutEvents",
                    "Resource": self.format_arn(
                        service="events", resource="event-bus", resource_name=HUB_BUS_NAME
                    ),
                    "Condition": {
                        "StringEquals": {"aws:PrincipalOrgID": organization.organization_id}
                    },
                }
            ],
        }

        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVE_COUNT, queue=dlq),
        )
        self.detection = Detection(
            self, "Detection", target=QueueTarget(self.queue), dlq=dlq, event_bus=self.bus
        )
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                # The function's reserved concurrency: the poller never invokes it into a
                # throttle (which would count as a receive towards the dead-letter queue).
                max_concurrency=settings.reserved_concurrency,
            )
        )

        # A launch CloudTrail has not recorded yet is looked at again: the function sends its
        # event back to this queue with a delay (remediator.recheck; SQS's DelaySeconds, at most
        # 15 minutes), and reads it like any other record, retried and dead-lettered alike.
        send_rechecks_to(function, self.queue)

        self.role_assumption = iam.Policy(
            self,
            "AssumeMemberRolePolicy",
            statements=[
                iam.PolicyStatement(
                    sid="AssumeTheMemberRole",
                    actions=list(permissions.ROLE_ASSUMPTION_ACTIONS),
                    resources=[self.member_role_arn_pattern(organization.member_role)],
                    conditions=permissions.role_assumption_conditions(organization.organization_id),
                )
            ],
            roles=[self.remediator.role],
        )

        self.monitoring = Monitoring(
            self, "Monitoring", function=function, dlq=dlq, topic=self.notifications.topic
        )
        self.trail = (
            ManagementEventsTrail(
                self,
                "OrganizationTrail",
                retention_days=settings.trail_retention_days,
                multi_region=True,
                organization_id=organization.organization_id,
            )
            if organization.member_trail is MemberTrail.ORGANIZATION
            else None
        )
        self.members = MemberStackSets(
            self,
            "Members",
            organization=organization,
            templates=member_templates,
            hub_role_arn=self.remediator.role.role_arn,
            hub_bus_arn=self.bus.event_bus_arn,
        )
        add_outputs(self, self._outputs(engine_outputs(engine)))
        warn_about_an_enforce_mode_that_can_change_nothing(self, settings.remediator)
        suppress_hub_findings(self)

    def member_role_arn_pattern(self, role_name: str) -> str:
        """The member role in any account (``*``): which account is known only per event."""
        return self.format_arn(
            service="iam", region="", account="*", resource="role", resource_name=role_name
        )

    def _outputs(self, outputs: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        return {
            **outputs,
            "RemediatorRoleArn": (
                self.remediator.role.role_arn,
                "The hub role: the only principal the member roles trust",
            ),
            "EventBusArn": (
                self.bus.event_bus_arn,
                "The hub's event bus: member accounts' rules forward detection events here",
            ),
            "QueueUrl": (
                self.queue.queue_url,
                "The queue the remediator reads: events waiting or being retried",
            ),
            "MemberAccountStackSetName": (
                self.members.account.stack_set_name or "",
                "The StackSet of the member and forwarder roles (one region per account)",
            ),
            "MemberRegionStackSetName": (
                self.members.region.stack_set_name or "",
                "The StackSet of the forwarding rules (every member region)",
            ),
        }
