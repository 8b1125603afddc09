"""The pipeline for one event: parse -> identify (key, principal) pairs -> re-read -> decide ->
act -> verify -> report. The handler and the CLI both call ``Remediator.handle``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from remediator.arns import Principal, PrincipalKind, autoscaling_slr_arn, key_arn_parts, key_id_of
from remediator.aws import AwsAdapter, error_code
from remediator.config import RemediatorConfig
from remediator.decision import (
    Action,
    Decision,
    Facts,
    GrantPlan,
    decide,
    has_equivalent_grant,
    manual_fix,
    policy_diff,
    suggested_fix,
)
from remediator.events import (
    AsgLaunchFailed,
    CreateGrantDenied,
    EventMeta,
    Ignored,
    InstanceLaunchFailed,
    Trigger,
    parse_event,
    principal_from_identity,
)
from remediator.model import KeyInfo
from remediator.outcomes import Outcome
from remediator.policy import (
    ADMIN_ACTIONS,
    LAUNCH_ACTIONS,
    Access,
    PolicyError,
    admin_actions_granted,
    evaluate,
    non_tool_statements,
    parse_policy,
    render,
)
from remediator.report import Report

logger = logging.getLogger(__name__)

CLIENT_INTERNAL_ERROR = "Client.InternalError"
ASG_TAG = "aws:autoscaling:groupName"
LAUNCH_TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"


def kms_key_ids(value: object, depth: int = 0) -> list[str]:
    """Every ``kmsKeyId`` string in a CloudTrail request (RunInstances block device mappings)."""
    if depth > 8:
        return []
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "kmsKeyId" and isinstance(v, str)]
        return found + [i for v in value.values() for i in kms_key_ids(v, depth + 1)]
    if isinstance(value, list):
        return [i for v in value for i in kms_key_ids(v, depth + 1)]
    return []


class RemediationFailed(RuntimeError):
    """A change was attempted and its post-condition does not hold. Raised so that the async
    retry, and then the dead-letter queue, take over."""

    def __init__(self, reports: list[Report]) -> None:
        self.reports = reports  # every report of the event, failed or not
        self.failed = [r for r in reports if r.outcome is Outcome.FAILED]
        super().__init__("; ".join(f"{r.key_arn}: {r.reason}" for r in self.failed))


class State(Protocol):
    """Cross-invocation state (idempotency, locks, audit). See ``state.py``."""

    serializes_writes: bool  # whether lock() excludes other invocations

    def changes_in_last_hour(self, key_arn: str) -> int: ...

    def lock(self, key_arn: str) -> contextlib.AbstractContextManager[None]: ...

    def record_change(self, report: Report, before: Any, after: Any) -> str: ...


class NoState:
    """No state table: no cross-invocation lock or audit (single CLI runs, unit tests)."""

    serializes_writes = False

    def changes_in_last_hour(self, key_arn: str) -> int:
        return 0

    @contextlib.contextmanager
    def lock(self, key_arn: str) -> Iterator[None]:
        yield

    def record_change(self, report: Report, before: Any, after: Any) -> str:
        return ""


@dataclass(frozen=True)
class Target:
    """One (key, principal) pair to check, as identified from the event."""

    key_reference: str | None
    principal: Principal | None
    instance_id: str | None
    problem: str | None = None
    expected_key_arns: tuple[str, ...] = ()  # every key ARN the event names must agree


class Remediator:
    def __init__(
        self,
        aws: AwsAdapter,
        config: RemediatorConfig,
        *,
        topic_arn: str | None = None,
        state: State | None = None,
        on_notification_failure: Callable[[Report, Exception], None] | None = None,
    ) -> None:
        self.aws = aws
        self.config = config
        self.topic_arn = topic_arn
        self.state: State = state or NoState()
        self.on_notification_failure = on_notification_failure

    # --- entry point -----------------------------------------------------------------------

    def handle(self, event: object) -> list[Report]:
        trigger = parse_event(event)
        if isinstance(trigger, Ignored):
            event_id = trigger.meta.event_id if trigger.meta else "unknown"
            logger.info("event_ignored", extra={"reason": trigger.reason, "event_id": event_id})
            return [Report(Outcome.IGNORED, event_id, trigger.reason)]
        kind = type(trigger).__name__
        identified = self._identify(trigger)
        if isinstance(identified, Report):
            reports = [replace(identified, trigger=kind)]
        else:
            reports = [
                replace(self._handle_target(trigger.meta, t), trigger=kind) for t in identified
            ]
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
            if report.outcome is not Outcome.IGNORED:
                self._notify(report)
        if any(r.outcome is Outcome.FAILED for r in reports):
            raise RemediationFailed(reports)
        return reports

    # --- identification --------------------------------------------------------------------

    def _identify(self, trigger: Trigger) -> list[Target] | Report:
        if isinstance(trigger, CreateGrantDenied):
            expected = tuple(
                dict.fromkeys(
                    [*trigger.resource_key_arns, *filter(None, [trigger.message_key_arn])]
                )
            )
            reference = trigger.key_reference or (expected[0] if expected else None)
            return [
                Target(reference, trigger.principal, trigger.instance_id, trigger.problem, expected)
            ]
        if isinstance(trigger, InstanceLaunchFailed):
            return self._identify_instance(trigger)
        return self._identify_asg(trigger)

    def _identify_instance(self, trigger: InstanceLaunchFailed) -> list[Target] | Report:
        meta, instance_id = trigger.meta, trigger.instance_id
        instance = self.aws.describe_instance(instance_id)
        if instance is None:
            return Report(
                Outcome.IGNORED,
                meta.event_id,
                "the instance no longer exists",
                instance_id=instance_id,
            )
        if instance.state_reason_code != CLIENT_INTERNAL_ERROR:
            return Report(
                Outcome.IGNORED,
                meta.event_id,
                f"state reason {instance.state_reason_code or 'none'!r} is no KMS launch failure",
                instance_id=instance_id,
            )
        keys = self.aws.volume_keys(instance.volume_ids)
        template_id = instance.tags.get(LAUNCH_TEMPLATE_ID_TAG)
        image_id = instance.image_id
        if template_id:
            version = instance.tags.get(LAUNCH_TEMPLATE_VERSION_TAG, "$Default")
            template_keys, template_image = self.aws.launch_template_keys(
                {"LaunchTemplateId": template_id, "Version": version}
            )
            keys += template_keys
            image_id = image_id or template_image
        if image_id:
            keys += self.aws.image_keys(image_id)

        principal, problem = None, None
        group_name = instance.tags.get(ASG_TAG)
        if group_name:
            group = self.aws.autoscaling_group(group_name)
            principal, problem = self._group_principal(
                meta, group.service_linked_role_arn if group else None
            )
        else:
            record = self.aws.launch_record(instance_id)
            if record is None:
                problem = (
                    "no launching principal found: the instance is not in an Auto Scaling group "
                    "and CloudTrail LookupEvents returned no RunInstances/StartInstances call"
                )
            else:
                principal, problem = principal_from_identity(record.get("userIdentity"))
                keys += kms_key_ids(record.get("requestParameters"))
        return self._targets(meta, keys, principal, instance_id, problem)

    def _identify_asg(self, trigger: AsgLaunchFailed) -> list[Target] | Report:
        meta = trigger.meta
        group = self.aws.autoscaling_group(trigger.group_name)
        if group is None:
            return Report(
                Outcome.IGNORED,
                meta.event_id,
                f"Auto Scaling group {trigger.group_name!r} no longer exists",
            )
        keys: list[str] = []
        image_id = None
        if group.launch_template:
            keys, image_id = self.aws.launch_template_keys(group.launch_template)
        elif group.launch_configuration:
            keys, image_id = self.aws.launch_configuration(group.launch_configuration)
        if image_id:
            keys += self.aws.image_keys(image_id)
        if trigger.instance_id:
            instance = self.aws.describe_instance(trigger.instance_id)
            if instance:
                keys += self.aws.volume_keys(instance.volume_ids)
        principal, problem = self._group_principal(meta, group.service_linked_role_arn)
        return self._targets(meta, keys, principal, trigger.instance_id, problem)

    def _group_principal(
        self, meta: EventMeta, slr_arn: str | None
    ) -> tuple[Principal | None, str | None]:
        identity = {
            "type": "AssumedRole",
            "sessionContext": {
                "sessionIssuer": {"arn": slr_arn or autoscaling_slr_arn(meta.account)}
            },
        }
        return principal_from_identity(identity)

    def _targets(
        self,
        meta: EventMeta,
        keys: list[str],
        principal: Principal | None,
        instance_id: str | None,
        problem: str | None,
    ) -> list[Target] | Report:
        unique = list(dict.fromkeys(keys))
        if not unique:
            reason = "no KMS key found on the instance's volumes, launch template or AMI snapshots"
            return Report(
                Outcome.REFUSED,
                meta.event_id,
                reason,
                principal_arn=principal.arn if principal else None,
                instance_id=instance_id,
                suggested_fix=manual_fix(reason, instance_id),
            )
        return [Target(key, principal, instance_id, problem) for key in unique]

    # --- one (key, principal) pair ---------------------------------------------------------

    def _handle_target(self, meta: EventMeta, target: Target) -> Report:
        base = Report(
            Outcome.REFUSED,
            meta.event_id,
            "",
            key_arn=target.key_reference,
            principal_arn=target.principal.arn if target.principal else None,
            instance_id=target.instance_id,
        )
        if target.problem or target.principal is None or target.key_reference is None:
            reason = target.problem or "the event names no usable key or principal"
            return replace(
                base, reason=reason, suggested_fix=manual_fix(reason, target.instance_id)
            )

        key, problem = self._resolve_key(meta, target)
        if key is None:
            reason = problem or "the key could not be resolved"
            return replace(
                base, reason=reason, suggested_fix=manual_fix(reason, target.instance_id)
            )
        base = replace(base, key_arn=key.arn)
        if problem:
            return replace(
                base, reason=problem, suggested_fix=manual_fix(problem, target.instance_id)
            )

        facts = self._read_facts(meta, key, target.principal)
        decision = decide(facts, self.config)
        if decision.action is Action.CREATE_GRANT and facts.grants is None:
            facts = replace(facts, grants=self._grants(key.arn))
            decision = decide(facts, self.config)
        return self._act(base, facts, decision)

    def _resolve_key(self, meta: EventMeta, target: Target) -> tuple[KeyInfo | None, str | None]:
        reference = target.key_reference or ""
        named = {*target.expected_key_arns, *([reference] if key_arn_parts(reference) else [])}
        if len(named) > 1:
            return None, f"the event names different keys: {sorted(named)}"
        try:
            key = self.aws.describe_key(reference)
        except ClientError as err:
            if error_code(err) not in ("AccessDenied", "AccessDeniedException"):
                raise
            return None, (
                f"this account may not describe key {reference!r}: the key owner's policy must "
                "allow it (kms:DescribeKey, kms:CreateGrant) before a grant can be made"
            )
        if key is None:
            return None, f"key {reference!r} was not found"
        if named and key.arn not in named:
            return None, f"{reference!r} resolves to {key.arn}, not to the key the event names"
        direct_id = key_id_of(reference)
        if direct_id and key.arn.rsplit("/", 1)[-1] != direct_id:
            return None, f"{reference!r} resolves to a different key, {key.arn}"
        if key.region != meta.region:
            return key, f"the key is in {key.region}, not in the event's region {meta.region}"
        return key, None

    def _read_facts(self, meta: EventMeta, key: KeyInfo, principal: Principal) -> Facts:
        facts = Facts(meta.account, meta.region, principal, key, None, None, None)
        allow = self.config.allow
        if not (
            key.manager == "CUSTOMER"
            and allow.allows_key(key.arn)
            and allow.allows_principal(principal.arn)
        ):
            # decide() refuses before it needs more, and the Lambda's role may read policies
            # and grants of allowlisted keys only: reading here would fail with AccessDenied.
            return facts
        own_key = key.account == meta.account
        policy = None
        if own_key:
            try:
                policy = parse_policy(self.aws.get_key_policy(key.arn))
            except PolicyError as err:
                logger.warning(
                    "key_policy_unreadable", extra={"key_arn": key.arn, "error": str(err)}
                )
        checkable = principal.account == meta.account and principal.kind in (
            PrincipalKind.ROLE,
            PrincipalKind.USER,
            PrincipalKind.SERVICE_LINKED_ROLE,
        )
        return replace(
            facts,
            policy=policy,
            grants=None if own_key else self._grants(key.arn),
            principal_exists=self.aws.principal_exists(principal.arn) if checkable else None,
            changes_in_last_hour=self.state.changes_in_last_hour(key.arn),
        )

    def _grants(self, key_arn: str) -> list[Any] | None:
        try:
            return self.aws.list_grants(key_arn)
        except ClientError as err:
            if error_code(err) in ("AccessDenied", "AccessDeniedException"):
                return None
            raise

    # --- acting and verifying --------------------------------------------------------------

    def _act(self, base: Report, facts: Facts, decision: Decision) -> Report:
        remedy = (
            decision.action.value
            if decision.action in (Action.PUT_KEY_POLICY, Action.CREATE_GRANT)
            else None
        )
        report = replace(base, reason=decision.reason, remedy=remedy)
        if decision.action in (Action.NOTHING, Action.REFUSE):
            return self._no_change(report, decision)
        planned = self._planned_changes(decision)
        if self.config.dry_run:
            return replace(
                report,
                outcome=Outcome.DRY_RUN,
                changes=planned,
                reason=f"dry-run: would apply: {decision.reason}",
            )
        with self.state.lock(facts.key.arn):
            if decision.action is Action.PUT_KEY_POLICY:
                return self._put_policy(report, facts, decision)
            assert decision.grant is not None
            return self._create_grant(report, facts, decision.grant)

    @staticmethod
    def _no_change(report: Report, decision: Decision) -> Report:
        if decision.action is Action.NOTHING:
            return replace(
                report, outcome=Outcome.ALREADY_ALLOWED, reason=decision.reason, remedy=None
            )
        return replace(
            report,
            outcome=Outcome.REFUSED,
            reason=decision.reason,
            remedy=None,
            suggested_fix=decision.suggested_fix,
        )

    def _planned_changes(self, decision: Decision) -> dict[str, Any]:
        if decision.policy_change is not None:
            return {"statements": policy_diff(decision.policy_change)}
        assert decision.grant is not None
        return {
            "grant": {
                "name": decision.grant.name,
                "grantee": decision.grant.grantee,
                "operations": list(decision.grant.operations),
            }
        }

    def _put_policy(self, report: Report, facts: Facts, decision: Decision) -> Report:
        key, principal = facts.key, facts.principal
        if self.state.serializes_writes:
            # Read-modify-write under the lock: another invocation may have changed the policy
            # while this one waited. (Without a lock a re-read would close no race.)
            facts = replace(facts, policy=parse_policy(self.aws.get_key_policy(key.arn)))
            decision = decide(facts, self.config)
        assert facts.policy is not None  # decide() chose a policy change from a read policy
        current = facts.policy
        if decision.action is Action.CREATE_GRANT:
            assert decision.grant is not None
            return self._create_grant(
                replace(report, remedy=decision.action.value), facts, decision.grant
            )
        if decision.action is not Action.PUT_KEY_POLICY:
            return self._no_change(report, decision)
        assert decision.policy_change is not None
        change = decision.policy_change
        text = render(change.after)
        assert text is not None  # decide() refused or chose a grant otherwise
        problem = self._vet(text, policy_diff(change))
        if problem:
            return replace(
                report, outcome=Outcome.REFUSED, reason=problem, suggested_fix=suggested_fix(facts)
            )
        try:
            self.aws.put_key_policy(key.arn, text)
        except ClientError as err:
            if error_code(err) == "MalformedPolicyDocumentException":
                return replace(
                    report,
                    outcome=Outcome.REFUSED,
                    reason=f"KMS rejected the new policy: {err}",
                    suggested_fix=suggested_fix(facts),
                )
            return replace(report, outcome=Outcome.FAILED, reason=f"PutKeyPolicy failed: {err}")
        after = parse_policy(self.aws.get_key_policy(key.arn))
        verdict = evaluate(after, principal, LAUNCH_ACTIONS, key.region)
        untouched = non_tool_statements(after) == non_tool_statements(current)
        changes = {"statements": policy_diff(change)}
        if verdict.access is not Access.ALLOWED or not untouched:
            why = (
                verdict.detail
                if verdict.access is not Access.ALLOWED
                else "other statements changed"
            )
            return replace(
                report,
                outcome=Outcome.FAILED,
                changes=changes,
                reason=f"verification failed after PutKeyPolicy: {why}",
            )
        done = replace(report, outcome=Outcome.REMEDIATED, changes=changes)
        change_id = self.state.record_change(done, current, after)
        return replace(
            done,
            change_id=change_id or None,
            undo=self._policy_undo(key.arn, principal, current, change_id),
        )

    def _vet(self, policy_text: str, added: list[dict[str, Any]]) -> str | None:
        """Why the new policy must not be applied, or None. The local check always runs;
        Access Analyzer adds its own where it is available."""
        granted = admin_actions_granted(added)
        if granted:
            return f"the added statements would grant administrative actions {granted}"
        findings = self.aws.validate_policy(policy_text)
        errors = [f for f in findings or [] if f.get("findingType") == "ERROR"]
        if errors:
            details = "; ".join(f"{f.get('issueCode')}: {f.get('findingDetails')}" for f in errors)
            return f"Access Analyzer ValidatePolicy reported errors: {details}"
        added_text = json.dumps({"Version": "2012-10-17", "Statement": added})
        checked = self.aws.check_access_not_granted(added_text, ADMIN_ACTIONS)
        if checked is not None and checked[0] != "PASS":
            return f"Access Analyzer: the added statements may grant administrative access: {checked[1]}"
        return None

    def _create_grant(self, report: Report, facts: Facts, plan: GrantPlan) -> Report:
        if self.state.serializes_writes:
            # Another invocation may have made the grant while this one waited for the lock.
            # (decide() has checked the grants read before; without a lock, that is all.)
            grants = self._grants(plan.key_arn)
            if grants is not None and has_equivalent_grant(grants, plan):
                return replace(
                    report,
                    outcome=Outcome.ALREADY_ALLOWED,
                    reason="an equivalent grant already exists",
                )
        try:
            grant_id = self.aws.create_grant(plan.key_arn, plan.grantee, plan.operations, plan.name)
        except ClientError as err:
            if error_code(err) in ("AccessDenied", "AccessDeniedException"):
                return replace(
                    report,
                    outcome=Outcome.REFUSED,
                    reason=f"KMS denied CreateGrant from this account: {err}",
                    suggested_fix=suggested_fix(facts),
                )
            return replace(report, outcome=Outcome.FAILED, reason=f"CreateGrant failed: {err}")
        changes = {
            "grant_id": grant_id,
            "grant_name": plan.name,
            "grantee": plan.grantee,
            "operations": list(plan.operations),
        }
        after = self._grants(plan.key_arn)
        undo = {
            "description": "revoke the grant",
            "cli": f"aws kms revoke-grant --key-id {plan.key_arn} --grant-id {grant_id}",
        }
        if after is None:
            return replace(
                report,
                outcome=Outcome.REMEDIATED,
                changes=changes,
                undo=undo,
                extra={"verification": "ListGrants is not allowed on this key; grant id returned"},
            )
        if not any(
            g.grant_id == grant_id and set(plan.operations) <= set(g.operations) for g in after
        ):
            return replace(
                report,
                outcome=Outcome.FAILED,
                changes=changes,
                undo=undo,
                reason="verification failed: the new grant is not listed",
            )
        done = replace(report, outcome=Outcome.REMEDIATED, changes=changes, undo=undo)
        change_id = self.state.record_change(done, None, {"grant_id": grant_id})
        return replace(done, change_id=change_id or None)

    @staticmethod
    def _policy_undo(
        key_arn: str, principal: Principal, before: Any, change_id: str
    ) -> dict[str, Any]:
        undo: dict[str, Any] = {
            "description": f"restore the key policy as it was before {principal.arn} was added",
            "cli": f"aws kms put-key-policy --key-id {key_arn} --policy-name default "
            "--policy file://previous-policy.json",
            "previous_policy": before,
        }
        if change_id:
            undo["rollback"] = (
                f"python -m remediator rollback --key {key_arn} --change-id {change_id}"
            )
        return undo

    # --- notification ----------------------------------------------------------------------

    def _notify(self, report: Report) -> None:
        if not self.topic_arn:
            return
        try:
            self.aws.publish(
                self.topic_arn, report.subject(), report.message_json(), report.outcome.value
            )
        except ClientError as err:
            # The change (if any) stands; a retry must not repeat it. Logged and counted.
            logger.error(
                "notification_failed", extra={"error": str(err), "event_id": report.event_id}
            )
            if self.on_notification_failure:
                self.on_notification_failure(report, err)
