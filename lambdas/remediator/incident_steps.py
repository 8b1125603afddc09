"""The pipeline's two incident steps (incidents.py): before deciding, join the pair's open
incident or open one; after reporting, record the decision and the key policy it left."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from remediator import incidents
from remediator.arns import key_arn_parts
from remediator.config import RemediatorConfig
from remediator.decision import Action, Facts
from remediator.identify import Target
from remediator.incidents import IncidentStore, Joined, Opened, Status
from remediator.outcomes import Outcome
from remediator.ports import AwsError, AwsPort
from remediator.report import Report
from remediator.state_schema import LOCK_LEASE_SECONDS
from remediator.triggers import EventMeta

logger = logging.getLogger(__name__)

# (subject, JSON message, outcome, email text): how a summary is published
Publish = Callable[[str, str, str, str], None]


class IncidentSteps:
    """Over an incident store, or none (then every step is a no-op and every event decides)."""

    def __init__(
        self,
        aws: AwsPort,
        store: IncidentStore | None,
        config: RemediatorConfig,
        publish: Publish,
    ) -> None:
        self.aws = aws
        self.store = store
        self.window_seconds = config.incident_window_minutes * 60
        self.publish = publish

    def before(self, meta: EventMeta, kind: str, target: Target) -> Opened | Joined | None:
        """Join the pair's open incident, or open one (and publish the summary of the closed
        one it replaces). None: decide as ever (no store, no identified pair, or the store
        cannot answer: deciding is safe, only the notification may repeat)."""
        if self.store is None or target.principal is None or target.problem:
            return None
        try:
            key_arn = self._key_arn(target.key_reference)
            if key_arn is None:
                return None
            opening = self.store.open(
                key_arn,
                target.principal.arn,
                event_id=meta.event_id,
                trigger=kind,
                window_seconds=self.window_seconds,
                lease_seconds=LOCK_LEASE_SECONDS,
            )
        except AwsError as err:
            logger.warning("incident_unavailable", extra={"error": str(err)})
            return None
        if isinstance(opening, Joined):
            return self._decide_again(meta, opening) or opening
        closed = incidents.summary(opening.closed)
        if closed is not None:
            self.publish(closed.subject, json.dumps(closed.message), closed.outcome, closed.text)
        return opening

    def after(self, opening: Opened, report: Report, facts: Facts | None) -> bool:
        """Record the decision and the digest of the key policy it left. True when it was a
        re-decision with nothing new to say (then it is reported folded, not notified)."""
        if self.store is None:
            return False
        digest = None
        if facts is not None and facts.policy is not None:
            written = (
                report.outcome is Outcome.REMEDIATED and report.remedy == Action.PUT_KEY_POLICY
            )
            try:
                text = (
                    self.aws.get_key_policy(facts.key.arn) if written else json.dumps(facts.policy)
                )
                digest = incidents.policy_digest(text)
            except AwsError as err:  # no digest: joining events will not decide again
                logger.warning("incident_policy_unread", extra={"error": str(err)})
        self.store.settle(
            opening.incident,
            status=incidents.settled_status(report.outcome),
            outcome=report.outcome.value,
            policy_digest=digest,
            change_id=report.change_id or opening.incident.change_id,
        )
        return incidents.quiet_again(opening, report.outcome, opening.incident.outcome)

    def failed(self, opening: Opened | Joined | None) -> None:
        """The deciding event raised: mark the incident failed, so that the next event decides."""
        if isinstance(opening, Opened) and self.store is not None:
            self.store.settle(
                opening.incident,
                status=Status.FAILED,
                outcome=Outcome.FAILED.value,
                policy_digest=None,
                change_id=None,
            )

    def _key_arn(self, reference: str | None) -> str | None:
        if reference is None or key_arn_parts(reference):
            return reference
        key = self.aws.describe_key(reference)  # an alias or a key id: the incident is the key's
        return key.arn if key else None

    def _decide_again(self, meta: EventMeta, joined: Joined) -> Opened | None:
        """A joining event decides again only if the key policy changed (one GetKeyPolicy)."""
        incident = joined.incident
        if incident.status is not Status.DECIDED or incident.policy_digest is None:
            return None
        try:
            current = incidents.policy_digest(self.aws.get_key_policy(incident.key_arn))
        except AwsError as err:  # unread: the incident stands as decided
            logger.warning("incident_policy_unread", extra={"error": str(err)})
            return None
        if not incidents.needs_decision_again(incident, current) or self.store is None:
            return None
        return self.store.decide_again(
            incident, event_id=meta.event_id, lease_seconds=LOCK_LEASE_SECONDS
        )
