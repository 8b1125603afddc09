"""Outcomes of handling one event, and the metric each one is counted under."""

from enum import StrEnum

SERVICE_NAME = "kms-launch-remediator"
METRICS_NAMESPACE = "KmsLaunchRemediator"


class Outcome(StrEnum):
    REMEDIATED = "remediated"
    ALREADY_ALLOWED = "already_allowed"
    REFUSED = "refused"
    BLOCKED_ELSEWHERE = "blocked_elsewhere"  # what blocks the launch is outside the key
    IGNORED = "ignored"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    # The launching call is not in CloudTrail yet: identification looks again later, and the
    # event ends in one of the outcomes above (reported once more, then).
    PENDING = "pending"

    @property
    def metric_name(self) -> str:
        return "".join(part.capitalize() for part in self.value.split("_"))


# Counted apart from outcomes: a change succeeded but the notification could not be sent.
NOTIFICATION_FAILED_METRIC = "NotificationFailed"
