"""The stack: composes the capabilities and wires the grants between them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from infra.context import StackSettings
from infra.detection import Detection
from infra.monitoring import Monitoring
from infra.nag import suppress_justified_findings
from infra.notifications import Notifications
from infra.recheck import RecheckQueue
from infra.remediator import Remediator
from infra.state import StateTable
from infra.trail import ManagementEventsTrail
from remediator.config import Mode, Settings

ENFORCE_WITHOUT_ALLOWLIST = "kms-launch-remediator:enforceWithEmptyAllowlist"


class KmsLaunchRemediatorStack(Stack):
    """Detection -> remediator -> notifications, with state, alarms and (optionally) a trail."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        self.notifications = Notifications(
            self, "Notifications", emails=settings.notification_emails
        )
        self.state = StateTable(self, "State")
        self.remediator = Remediator(
            self,
            "Remediator",
            config=settings.remediator,
            log_retention=settings.log_retention,
            powertools_layer_version=settings.powertools_layer_version,
            reserved_concurrency=settings.reserved_concurrency,
        )
        function = self.remediator.function

        function.add_environment(Settings.ENV_TOPIC, self.notifications.topic.topic_arn)
        function.add_environment(Settings.ENV_STATE_TABLE, self.state.table.table_name)
        self.notifications.topic.grant_publish(function)
        self.state.grant_engine_access(function)

        self.detection = Detection(self, "Detection", function=function, dlq=self.remediator.dlq)
        self.recheck = RecheckQueue(self, "Recheck", function=function, dlq=self.remediator.dlq)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=function,
            dlq=self.remediator.dlq,
            topic=self.notifications.topic,
        )
        self.trail = (
            ManagementEventsTrail(
                self, "ManagementEventsTrail", retention_days=settings.trail_retention_days
            )
            if settings.create_trail
            else None
        )
        self._outputs()
        self._warn_about_an_enforce_mode_that_can_change_nothing()
        suppress_justified_findings(self)

    def _outputs(self) -> None:
        """What an operator needs after a deploy: ids are stable, so scripts may rely on them."""
        remediator = self.remediator
        outputs = {
            "FunctionName": (
                remediator.function.function_name,
                "The remediator Lambda function (its logs, metrics and configuration)",
            ),
            "StateTableName": (
                self.state.table.table_name,
                "The state table: pass it as --state-table to history, rollback and replay",
            ),
            "TopicArn": (
                self.notifications.topic.topic_arn,
                "The notification topic: one message per outcome, and the alarms",
            ),
            "DeadLetterQueueUrl": (
                remediator.dlq.queue_url,
                "The dead-letter queue: events that failed delivery or every retry",
            ),
            "RemediatorRoleArn": (
                remediator.role.role_arn,
                "The remediator's IAM role: name it in a key owner's policy for cross-account grants",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

    def _warn_about_an_enforce_mode_that_can_change_nothing(self) -> None:
        config = self.settings.remediator
        if config.mode is not Mode.ENFORCE:
            return
        empty = [
            key
            for key, patterns in (
                ("allowed_principals", config.allow.principals),
                ("allowed_keys", config.allow.keys),
            )
            if not patterns
        ]
        if empty:
            Annotations.of(self).add_warning_v2(
                ENFORCE_WITHOUT_ALLOWLIST,
                f"mode=enforce with an empty {' and '.join(empty)}: the remediator can change "
                "no key and will only report refusals. Set both allowlists, e.g. "
                "-c allowed_principals='[...]' -c allowed_keys='[...]'.",
            )
