"""Why did this launch fail? A read-only explanation, built from the pipeline's own stages.

It runs identify -> assess (thorough) -> decide, with the configuration forced to dry-run and
no state table, so the decision is exactly the one the remediator would take under that
configuration; then it explains, from the facts already read, what the key policy says for
each action of a launch, the grants naming the principal, and the fix. Nothing is read
twice, and every call goes through a read-only view of the AWS port: nothing can be written.
"""

from __future__ import annotations

import uuid
from typing import Any

from remediator.access import evaluate
from remediator.arns import Principal, PrincipalError, PrincipalKind, is_region, principal_from_arn
from remediator.assess import Assessment
from remediator.config import RemediatorConfig
from remediator.decision import GrantPlan
from remediator.diagnosis import ActionCheck, Diagnosis, KeyFinding, summarize
from remediator.events import (
    CLIENT_INTERNAL_ERROR,
    AsgLaunchFailed,
    EventMeta,
    InstanceLaunchFailed,
    is_group_name,
    is_instance_id,
)
from remediator.identify import ASG_TAG, Launch, Target, identify
from remediator.launch_model import LaunchKind
from remediator.model import KeyInfo
from remediator.outcomes import Outcome
from remediator.pipeline import Remediator, dismissal_result
from remediator.policy import GRANT_OPERATIONS, LAUNCH_ACTIONS, add_principal
from remediator.ports import AwsPort, NoState
from remediator.report import Result


class DiagnoseError(ValueError):
    """Bad input: a malformed or unknown instance or group. Exit 2."""


def diagnose(
    aws: AwsPort,
    config: RemediatorConfig,
    *,
    region: str,
    instance_id: str | None = None,
    group: str | None = None,
) -> Diagnosis:
    """Explain why ``instance_id`` (or the launches of ``group``) failed. Never writes."""
    if (instance_id is None) == (group is None):
        raise DiagnoseError("give exactly one of an instance id or an Auto Scaling group name")
    if not is_region(region):
        raise DiagnoseError(
            f"no AWS region to look in (got {region!r}): use --region or AWS_REGION"
        )
    reader = aws.read_only()
    account = reader.account_id()
    meta = EventMeta(f"diagnose-{uuid.uuid4()}", "", account, region)
    where = (
        f"in {region} (account {account}); check the {{}}, the region (--region or "
        "AWS_REGION) and the credentials' account"
    )
    if instance_id is not None:
        if not is_instance_id(instance_id):
            raise DiagnoseError(
                f"{instance_id!r} is not an EC2 instance id (i- and 8 to 17 hex digits)"
            )
        launch = identify(InstanceLaunchFailed(meta, instance_id, "stopped"), reader)
        if launch.instance is None:
            raise DiagnoseError(f"instance {instance_id} was not found {where.format('id')}")
        subject, facts = f"instance {instance_id}", _instance_facts(launch)
    else:
        assert group is not None
        if not is_group_name(group):
            raise DiagnoseError(f"{group!r} is not an Auto Scaling group name")
        activity = reader.failed_scaling_activity(group)
        message = (activity or {}).get("status_message") or CLIENT_INTERNAL_ERROR
        instance = (activity or {}).get("instance_id")
        launch = identify(AsgLaunchFailed(meta, group, instance, message), reader)
        if launch.group is None:
            raise DiagnoseError(
                f"Auto Scaling group {group!r} was not found {where.format('name')}"
            )
        subject = f"Auto Scaling group {group}"
        facts = {
            "auto_scaling_group": group,
            "failed_activity": activity,
            "kms_launch_failure": activity is not None,
        }

    dry_run = config.dry_run_everywhere()
    engine = Remediator(reader, dry_run, state=NoState())
    findings = _findings(engine, meta, launch)
    return Diagnosis(
        target=subject,
        account=account,
        region=region,
        mode=config.mode.value,
        launch=facts,
        principal=_principal_source(launch, findings),
        findings=findings,
        summary=summarize(findings, config.mode),
    )


def _instance_facts(launch: Launch) -> dict[str, Any]:
    instance = launch.instance
    assert instance is not None
    return {
        "instance_id": instance.instance_id,
        "state": instance.state,
        "state_reason_code": instance.state_reason_code or None,
        "state_reason_message": instance.state_reason_message or None,
        "auto_scaling_group": instance.tags.get(ASG_TAG),
        "kms_launch_failure": instance.state_reason_code == CLIENT_INTERNAL_ERROR,
    }


def _findings(engine: Remediator, meta: EventMeta, launch: Launch) -> list[KeyFinding]:
    if launch.dismissal is not None:
        d = launch.dismissal
        result = dismissal_result(d)
        finding = KeyFinding(None, d.principal_arn, result.outcome.value, result.reason)
        finding.fix = _fix(result, None, None, None, None)
        return [finding]
    findings = []
    for target in launch.targets:
        assessment = engine.assess(meta, target, thorough=True)
        result = engine.result(meta, target, assessment)
        findings.append(_finding(target, assessment, result))
    return findings


def _finding(target: Target, assessment: Assessment, result: Result) -> KeyFinding:
    key = assessment.key
    principal = target.principal
    finding = KeyFinding(
        key_arn=key.arn if key else target.key_reference,
        principal_arn=principal.arn if principal else None,
        outcome=result.outcome.value,
        reason=result.reason,
    )
    facts = assessment.facts
    policy = facts.policy if facts else None
    if key is not None:
        finding.manager, finding.state = key.manager, key.state
        finding.key_account, finding.key_region = key.account, key.region
        finding.policy = "read" if policy is not None else assessment.policy_note
        if principal is not None:
            if policy is not None:
                finding.checks = [
                    ActionCheck(action, v.access.value, v.detail, v.sid, v.delegated)
                    for action in LAUNCH_ACTIONS
                    for v in [evaluate(policy, principal, (action,), key.region)]
                ]
            _grants(facts.grants if facts else None, assessment.grants_note, principal, finding)
            finding.lacks = _lacks(key, principal, finding)
    kind = facts.kind if facts else LaunchKind.RUN_INSTANCES
    finding.fix = _fix(result, finding.key_arn, key, principal, policy, kind)
    return finding


def _grants(grants: list[Any] | None, note: str, principal: Principal, finding: KeyFinding) -> None:
    if grants is None:
        finding.grants_note = note
        return
    mine = [g for g in grants if g.grantee == principal.arn]
    finding.grants = [
        {
            "grant_id": g.grant_id,
            "name": g.name,
            "operations": list(g.operations),
            "missing": [op for op in GRANT_OPERATIONS if op not in g.operations],
        }
        for g in mine
    ]
    if not grants:
        finding.grants_note = "the key has no grants"
    elif mine:
        finding.grants_note = f"{len(mine)} of the key's {len(grants)} grants name the principal"
    else:
        finding.grants_note = f"none of the key's {len(grants)} grants names the principal"


def _principal_source(launch: Launch, findings: list[KeyFinding]) -> dict[str, Any] | None:
    arn = next((f.principal_arn for f in findings if f.principal_arn), None)
    source = launch.principal_source or "unknown"
    if arn is None:
        return {"arn": None, "kind": None, "source": source}
    try:
        kind: str | None = principal_from_arn(arn).kind.value
    except PrincipalError:
        kind = None
    return {"arn": arn, "kind": kind, "source": source}


def _lacks(key: KeyInfo, principal: Principal, finding: KeyFinding) -> str:
    """What the key policy and the grants lack for this principal, in a sentence or two."""
    if key.manager == "AWS":
        return (
            "nothing on the key's side: an AWS-managed key cannot cause this failure; look at "
            "the other keys of the instance, its AMI's snapshots, or the launch itself"
        )
    if key.state != "Enabled":
        return f"the key is {key.state}: no principal can use it until it is enabled"
    parts = _policy_lacks(principal, finding.checks)
    if finding.checks and not parts:
        parts.append("nothing: the key policy allows every action of a launch")
    if not finding.checks and key.account != principal.account:
        parts.append(
            f"the key policy (in account {key.account}, not readable from here) must allow "
            f"account {principal.account} (arn:aws:iam::{principal.account}:root) the launch "
            "actions and kms:CreateGrant"
        )
    if finding.grants is not None:
        full = any(not g["missing"] for g in finding.grants)
        parts.append(
            "a grant already gives the principal the launch operations"
            if full
            else "no grant gives the principal the launch operations"
        )
    return "; ".join(parts)


def _policy_lacks(principal: Principal, checks: list[ActionCheck]) -> list[str]:
    by_access: dict[str, list[ActionCheck]] = {}
    for check in checks:
        by_access.setdefault(check.access, []).append(check)
    parts = []
    if "denied" in by_access:
        parts.append(f"an explicit Deny applies: {by_access['denied'][0].detail}")
    if "not_allowed" in by_access:
        parts.append(f"no statement allows {principal.name} {_actions(by_access['not_allowed'])}")
    undecided = by_access.get("unknown", [])
    via_iam = [c for c in undecided if c.delegated]
    if via_iam:
        sids = ", ".join(sorted({repr(c.sid) for c in via_iam}))
        iam = (
            "a service-linked role's IAM policy is fixed by AWS and gives no use of customer "
            "keys, so only the key policy or a grant can allow it"
            if principal.kind is PrincipalKind.SERVICE_LINKED_ROLE
            else "its IAM policy evidently does not allow them, since the launch was denied"
        )
        parts.append(
            f"the key policy does not name {principal.name} for {_actions(via_iam)}: only "
            f"{sids} covers them, by leaving them to IAM policies; {iam}"
        )
    conditional = [c for c in undecided if not c.delegated]
    if conditional:
        parts.append(f"{conditional[0].detail} ({_actions(conditional)})")
    return parts


def _actions(checks: list[ActionCheck]) -> str:
    if len(checks) == len(LAUNCH_ACTIONS):
        return f"any of the {len(checks)} actions a launch needs"
    return ", ".join(c.action for c in checks)


def _fix(
    result: Result,
    key_arn: str | None,
    key: KeyInfo | None,
    principal: Principal | None,
    policy: dict[str, Any] | None,
    kind: LaunchKind = LaunchKind.RUN_INSTANCES,
) -> dict[str, Any]:
    """The remediator's plan under the configuration, or the fix it suggests when it refuses."""
    changes = result.changes or {}
    if result.outcome is Outcome.DRY_RUN and "grant" in changes and key_arn:
        grant = changes["grant"]
        plan = GrantPlan(key_arn, grant["grantee"], tuple(grant["operations"]), grant["name"])
        return {"action": "create-grant", "grant": grant, "cli": plan.cli()}
    if result.outcome is Outcome.DRY_RUN and "statements" in changes:
        fix: dict[str, Any] = {"action": "put-key-policy", "statements": changes["statements"]}
        if policy is not None and key is not None and principal is not None:
            after = add_principal(policy, principal, key.account, key.region, kind).after
            fix["policy_after"] = after
        return fix
    if result.outcome is Outcome.REFUSED:
        if key is not None and key.manager == "AWS":
            return {
                "action": "none",
                "note": "AWS-managed keys cannot be changed, and need no change: the cause lies "
                "elsewhere",
            }
        return {"action": "refused", "suggested_fix": result.suggested_fix or {}}
    if result.outcome is Outcome.ALREADY_ALLOWED:
        return {
            "action": "none",
            "note": "already allowed now: the fix was applied after the failure, or the launch "
            "failed for another reason",
        }
    return {"action": "none", "note": result.reason}
