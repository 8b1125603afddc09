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
    # A later event of an open incident (same key and principal, within its window): nothing
    # decided, written or notified again (incidents.py).
    FOLDED = "folded"
    # The launching call is not in CloudTrail yet: identification looks again later, and the
    # event ends in one of the outcomes above (reported once more, then).
    PENDING = "pending"

    @property
    def metric_name(self) -> str:
        return "".join(part.capitalize() for part in self.value.split("_"))


# Counted apart from outcomes: a change succeeded but the notification could not be sent.
NOTIFICATION_FAILED_METRIC = "NotificationFailed"

# Counted by the ``rollback`` command: a recorded change was undone (the outcome
# ``rolled_back`` of ``remediator.rollback``), in the same namespace and dimension.
ROLLED_BACK_METRIC = "RolledBack"


class RollbackOutcome(StrEnum):
    """What ``rollback`` reports (``remediator.rollback``), and the CLI's exit code for it."""

    ROLLED_BACK = "rolled_back"  # restored as recorded, or the grant revoked (metric RolledBack)
    ALREADY_ROLLED_BACK = "already_rolled_back"  # a rollback of this change is in the audit trail
    REFUSED = "refused"  # the key policy changed since the change (without --force)
    FAILED = "failed"  # the rollback did not verify
    NOT_FOUND = "not_found"  # no such recorded change
