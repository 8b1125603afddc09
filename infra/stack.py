"""The single-account stack: composes the capabilities and wires the grants between them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.context import StackSettings
from infra.detection import Detection, FunctionTarget
from infra.engine import (
    add_outputs,
    compose_engine,
    engine_outputs,
    warn_about_an_enforce_mode_that_can_change_nothing,
)
from infra.monitoring import Monitoring
from infra.nag import suppress_justified_findings
from infra.recheck import RecheckQueue
from infra.trail import ManagementEventsTrail


class KmsLaunchRemediatorStack(Stack):
    """Detection -> remediator -> notifications, with state, alarms and (optionally) a trail."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        engine = compose_engine(self, settings)
        self.notifications = engine.notifications
        self.state = engine.state
        self.remediator = engine.remediator
        function = self.remediator.function

        self.detection = Detection(
            self, "Detection", target=FunctionTarget(function), dlq=self.remediator.dlq
        )
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
        add_outputs(self, engine_outputs(engine))
        warn_about_an_enforce_mode_that_can_change_nothing(self, settings.remediator)
        suppress_justified_findings(self)
