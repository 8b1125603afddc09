"""The stack: composes the capabilities and wires the grants between them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.context import StackSettings
from infra.detection import Detection
from infra.monitoring import Monitoring
from infra.nag import suppress_justified_findings
from infra.notifications import Notifications
from infra.remediator import Remediator
from infra.state import StateTable
from infra.trail import ManagementEventsTrail
from remediator.config import Settings


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
        suppress_justified_findings(self)
