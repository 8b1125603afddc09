"""The pipeline for one event, orchestration only:

    detect (events) -> identify -> [incident] -> assess -> decide -> remedy (vet, write,
    verify, record) -> report (one Report per target, one notification per Report) -> [incident]

With an incident store (a state table), each target first joins or opens the incident of its
(key, principal) pair: an event that joins one is reported ``folded`` and goes no further
(incidents.py); the event that decides records its outcome once reported.

The handler and the CLI both call ``Remediator.handle``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from remediator import incidents, recheck
from remediator.assess import Assessment, assess, with_grants
from remediator.config import RemediatorConfig
from remediator.cross_account import Prerequisite, grantor_prerequisite
from remediator.decision import (
    NO_CHANGE,
    Action,
    Decision,
    Facts,
    decide,
    has_equivalent_grant,
    manual_fix,
)
from remediator.events import EventMeta, Ignored, Trigger, launch_account, parse_event
from remediator.identify import Dismissal, Launch, Target, identify
from remediator.incident_steps import IncidentSteps
from remediator.incidents import IncidentStore, Joined
from remediator.notification import email_text
from remediator.outcomes import Outcome
from remediator.ports import AccessDenied, AwsError, AwsPort, NoState, Rejected, StatePort
from remediator.remedies import Remedies, no_change, planned_changes
from remediator.report import Report, Result, complete_undo

logger = logging.getLogger(__name__)


class RemediationFailed(RuntimeError):
    """A change was attempted and its post-condition does not hold. Raised so that the async
    retry, and then the dead-letter queue, take over."""

    def __init__(self, reports: list[Report]) -> None:
        self.reports = reports  # every report of the event, failed or not
        self.failed = [r for r in reports if r.outcome is Outcome.FAILED]
        super().__init__("; ".join(f"{r.key_arn}: {r.reason}" for r in self.failed))


def dismissal_result(dismissal: Dismissal) -> Result:
    """The result for an event whose launch could not be identified, or is no KMS failure."""
    fix = None
    if dismissal.outcome is Outcome.REFUSED:
        fix = manual_fix(dismissal.reason, dismissal.instance_id)
    return Result(dismissal.outcome, dismissal.reason, suggested_fix=fix)


class Remediator:
    def __init__(
        self,
        aws: AwsPort,
        config: RemediatorConfig,
        *,
        topic_arn: str | None = None,
        state: StatePort | None = None,
        on_notification_failure: Callable[[Report | None, Exception], None] | None = None,
        incidents: IncidentStore | None = None,
        state_table_name: str | None = None,
        recheck_queue_url: str | None = None,
    ) -> None:
        self.aws = aws
        self.recheck_queue_url = recheck_queue_url
        self.config = config
        self.topic_arn = topic_arn
        self.state: StatePort = state or NoState()
        self.on_notification_failure = on_notification_failure
        self.remedies = Remedies(aws, self.state, config)
        self.incidents = IncidentSteps(aws, incidents, config, self._publish)
        self.state_table_name = state_table_name  # for the rollback command in undo

    def handle(self, event: object) -> list[Report]:
        event, attempt = recheck.unwrap(event)
        trigger = parse_event(event)
        if isinstance(trigger, Ignored):
            event_id = trigger.meta.event_id if trigger.meta else "unknown"
            logger.info("event_ignored", extra={"reason": trigger.reason, "event_id": event_id})
            return [Report(Outcome.IGNORED, event_id, trigger.reason)]
        meta = trigger.meta
        account = launch_account(trigger)
        # Organization mode: the launch's account decides what may change, and where.
        config = self.config.for_account(account) if self.config.member_role else self.config
        with self.aws.acting_for(meta.event_id, account, meta.region):
            unreachable = self._unreachable(meta, account)
            if unreachable is not None:
                self._notify(unreachable)
                return [unreachable]
            return self._handle(event, attempt, trigger, config)

    def _unreachable(self, meta: EventMeta, account: str) -> Report | None:
        """Organization mode: a launch account whose member role cannot be assumed (no member
        stack there, or its trust refuses this role) is reported, not retried: nothing can be
        read or changed there until the member StackSet reaches it."""
        if not self.config.member_role:
            return None
        try:
            self.aws.in_account(account)
        except (AccessDenied, Rejected) as err:
            reason = (
                f"the member role {self.config.member_role} could not be assumed in account "
                f"{account} ({err}): deploy the member StackSet there, or check its trust"
            )
            fix = manual_fix(reason, None)
            return Report(Outcome.REFUSED, meta.event_id, reason, suggested_fix=fix)
        return None

    def _handle(
        self, event: object, attempt: int, trigger: Trigger, config: RemediatorConfig
    ) -> list[Report]:
        meta, kind = trigger.meta, type(trigger).__name__
        launch = identify(trigger, self.aws)
        if launch.awaiting:
            looked = self._look_again(event, attempt, meta, kind, launch)
            if isinstance(looked, list):
                return looked
            launch = looked
        if launch.dismissal is not None:
            d = launch.dismissal
            reports = [
                Report.of(
                    dismissal_result(d),
                    event_id=meta.event_id,
                    trigger=kind,
                    key_arn=None,
                    principal_arn=d.principal_arn,
                    instance_id=d.instance_id,
                    group_name=launch.group.name if launch.group else None,
                )
            ]
        else:
            reports = [
                self._target(meta, kind, launch, target, config) for target in launch.targets
            ]
        reports += self._recovered()
        for report in reports:
            logger.info(
                "event_handled",
                extra={
                    "outcome": report.outcome.value,
                    "reason": report.reason,
                    "key_arn": report.key_arn,
                    "principal_arn": report.principal_arn,
                },
            )
            if report.outcome not in (Outcome.IGNORED, Outcome.FOLDED):
                self._notify(report)
        if any(r.outcome is Outcome.FAILED for r in reports):
            raise RemediationFailed(reports)
        return reports

    def _look_again(
        self, event: object, attempt: int, meta: EventMeta, kind: str, launch: Launch
    ) -> list[Report] | Launch:
        """The launching call is not in CloudTrail yet. While looks remain (and a re-check queue
        is configured), send the event to the queue and report ``pending``, notifying only on
        the first look; once they are used up, the launch is refused as identified, saying so."""
        delay = recheck.next_delay(attempt)
        if delay is None or not self.recheck_queue_url:
            if attempt == 0:
                return launch
            note = f"looked again {attempt} times over {recheck.total_minutes()} minutes"
            targets = [
                replace(t, problem=f"{t.problem}; {note}") if t.problem else t
                for t in launch.targets
            ]
            d = launch.dismissal
            dismissal = replace(d, reason=f"{d.reason}; {note}") if d else None
            return replace(launch, targets=tuple(targets), dismissal=dismissal)
        self.aws.send_message(self.recheck_queue_url, recheck.message(event, attempt + 1), delay)
        looks = len(recheck.RECHECK_DELAYS_SECONDS) + 1
        reason = (
            f"{launch.awaiting} is not in CloudTrail yet (it can lag by minutes): looking again "
            f"in {delay // 60} minutes, look {attempt + 2} of {looks}"
        )
        key = next((t.key_reference for t in launch.targets if t.key_reference), None)
        instance_id = launch.instance.instance_id if launch.instance else None
        report = Report(
            Outcome.PENDING, meta.event_id, reason, kind, key_arn=key, instance_id=instance_id
        )
        logger.info("event_pending", extra={"reason": reason, "attempt": attempt + 1})
        if attempt == 0:
            self._notify(report)
        return [report]

    def assess(
        self,
        meta: EventMeta,
        target: Target,
        *,
        thorough: bool = False,
        config: RemediatorConfig | None = None,
    ) -> Assessment:
        """Re-read AWS for one target (``thorough``: whatever can be read, for diagnose)."""
        this_account = self.aws.account_id()
        return assess(
            self.aws,
            self.state,
            config or self.config,
            # The account these credentials act in (STS), not the one the event claims; in
            # organization mode, the launch's account, reached through its member role.
            this_account=this_account,
            event_account=this_account if self.config.member_role else meta.account,
            region=meta.region,
            target=target,
            thorough=thorough,
        )

    def _target(
        self, meta: EventMeta, kind: str, launch: Launch, target: Target, config: RemediatorConfig
    ) -> Report:
        opening = self.incidents.before(meta, kind, target)
        if isinstance(opening, Joined):
            joined = incidents.joined_result(opening.incident)
            return self._report(meta, kind, launch, target, joined, opening.incident.key_arn)
        try:
            assessment = self.assess(meta, target, config=config)
            result = self.result(meta, target, assessment, config)
        except BaseException:
            self.incidents.failed(opening)  # the next event of the pair decides instead
            raise
        key_arn = assessment.key.arn if assessment.key else target.key_reference
        result = complete_undo(result, key_arn, self.state_table_name, self.config.member_role)
        report = self._report(meta, kind, launch, target, result, key_arn)
        if opening is not None and self.incidents.after(opening, report, assessment.facts):
            note = "decided again since the key policy changed: it still allows the launch"
            joined = incidents.joined_result(opening.incident, note)
            return self._report(meta, kind, launch, target, joined, key_arn)
        return report

    @staticmethod
    def _report(
        meta: EventMeta,
        kind: str,
        launch: Launch,
        target: Target,
        result: Result,
        key_arn: str | None,
    ) -> Report:
        return Report.of(
            result,
            event_id=meta.event_id,
            trigger=kind,
            key_arn=key_arn,
            principal_arn=target.principal.arn if target.principal else None,
            instance_id=target.instance_id,
            group_name=launch.group.name if launch.group else None,
        )

    def _recovered(self) -> list[Report]:
        """Reports for changes an interrupted invocation made and this one audited."""
        recovered, self.remedies.recovered = self.remedies.recovered, []
        return [
            Report.of(
                r.result,
                event_id=r.intent["event_id"],
                trigger="Recovery",
                key_arn=r.intent.get("key_arn"),
                principal_arn=r.intent["principal_arn"],
                instance_id=None,
            )
            for r in recovered
        ]

    def result(
        self,
        meta: EventMeta,
        target: Target,
        assessment: Assessment,
        config: RemediatorConfig | None = None,
    ) -> Result:
        """Decide on an assessed target and act on the decision (or, in dry-run, say how)."""
        config = config or self.config
        if assessment.facts is None or assessment.problem:
            reason = assessment.problem or "the key could not be resolved"
            fix = assessment.suggested_fix or manual_fix(reason, target.instance_id)
            return Result(Outcome.REFUSED, reason, suggested_fix=fix)
        facts = assessment.facts
        if config.allow.allows_key(facts.key.arn):
            self.remedies.recover_pending(facts.key.arn)
        return self._act(meta, facts, decide(facts, config), config)

    def _act(
        self, meta: EventMeta, facts: Facts, decision: Decision, config: RemediatorConfig
    ) -> Result:
        if decision.action in NO_CHANGE:
            return no_change(decision)
        if decision.action is Action.CREATE_GRANT and facts.grants is None:
            # This account's own key: its grants were not needed until now.
            assert decision.grant is not None
            facts = with_grants(self.aws, facts)
            if facts.grants is not None and has_equivalent_grant(facts.grants, decision.grant):
                return Result(Outcome.ALREADY_ALLOWED, "an equivalent grant already exists")
        prerequisite = self._key_owners_half(facts, decision)
        if isinstance(prerequisite, Result):
            return prerequisite
        if config.dry_run or (prerequisite is not None and prerequisite.dry_run):
            changes = planned_changes(decision)
            if prerequisite is not None:
                changes["key_owner_statements"] = prerequisite.statements
            return Result(
                Outcome.DRY_RUN,
                f"dry-run: would apply: {decision.reason}",
                remedy=decision.action.value,
                changes=changes,
            )
        return self.remedies.apply(meta.event_id, facts, decision, config, prerequisite)

    def _key_owners_half(self, facts: Facts, decision: Decision) -> Prerequisite | Result | None:
        """Organization mode, a grant on another account's key: what the key's account must say
        first (its statement is made by this tool too), or why it may not be changed."""
        if not self.config.member_role or facts.key.account == facts.this_account:
            return None
        return grantor_prerequisite(self.config, facts, decision)

    # --- notifications -----------------------------------------------------------------------

    def _notify(self, report: Report) -> None:
        """Publish the report (its JSON, and its text for email); then a change it reports is
        closed in the audit trail (one that could not be notified stays open, and the next
        invocation on the key sends it)."""
        try:
            if self.topic_arn:
                self.aws.publish(
                    self.topic_arn,
                    report.subject(),
                    report.message_json(),
                    report.outcome.value,
                    email=email_text(report),
                )
            # Each change the report tells of is closed, the key owner's half of a cross-account
            # grant too when the grant itself was not made.
            changes = [report.change_id, report.extra.get("key_owner_change_id")]
            for change_id in filter(None, changes):
                if report.key_arn:
                    self.state.close_change(report.key_arn, str(change_id))
        except AwsError as err:
            self._notification_failed(report, err)

    def _publish(self, subject: str, message: str, outcome: str, email: str) -> None:
        """Publish a message that reports no change of its own (an incident's summary)."""
        if not self.topic_arn:
            return
        try:
            self.aws.publish(self.topic_arn, subject, message, outcome, email=email)
        except AwsError as err:
            self._notification_failed(None, err)

    def _notification_failed(self, report: Report | None, err: AwsError) -> None:
        # The change (if any) stands; a retry must not repeat it. Logged and counted.
        event_id = report.event_id if report else None
        logger.error("notification_failed", extra={"error": str(err), "event_id": event_id})
        if self.on_notification_failure:
            self.on_notification_failure(report, err)
