"""Why did this launch fail? A read-only explanation, for a person or as JSON.

    PYTHONPATH=lambdas python -m remediator diagnose --instance-id i-0123456789abcdef0
    PYTHONPATH=lambdas python -m remediator diagnose --asg web-asg [--config FILE] [--json]

It runs the remediator's own pipeline (identify the keys and the principal, re-read them,
decide) on a synthetic event for the instance or the group, with the configuration forced to
dry-run, no notification topic and no state table, so the decision is exactly the one the
Lambda would take under that configuration. Every AWS call goes through an adapter whose clients
refuse any operation that is not a Describe/Get/List/Lookup: nothing can be written.

For each key found it then reads what a person needs to see: the key's manager and state, what
the key policy says for each action of a launch (``policy.evaluate``), the grants naming the
principal, and the fix: the change the remediator would make, or the fix it suggests when it
would refuse.

Exit codes (as the rest of the CLI): 0 diagnosed (whatever the finding), 1 an AWS call failed,
2 bad input (malformed or unknown instance id or group name, bad configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediator.arns import (
    AUTOSCALING_SLR_NAME,
    Principal,
    PrincipalError,
    PrincipalKind,
    principal_from_arn,
)
from remediator.aws import AwsAdapter, error_code
from remediator.config import Mode, RemediatorConfig
from remediator.engine import ASG_TAG, CLIENT_INTERNAL_ERROR, NoState, Remediator
from remediator.model import Grant, KeyInfo
from remediator.outcomes import Outcome
from remediator.policy import (
    GRANT_OPERATIONS,
    LAUNCH_ACTIONS,
    Access,
    PolicyError,
    add_principal,
    evaluate,
    parse_policy,
)
from remediator.report import Report

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_GROUP_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")
# Operations a read-only client may call: AWS names every read this way.
_READ_PREFIXES = ("describe_", "get_", "list_", "lookup_")
_CLIENT_HELPERS = frozenset({"meta", "exceptions", "can_paginate", "get_paginator", "waiter_names"})


class DiagnoseError(ValueError):
    """Bad input: a malformed or unknown instance or group. Exit 2."""


class ReadOnlyViolation(RuntimeError):
    """Something tried to call a write API during a diagnosis: a bug, never tolerated."""


# --- read-only access ----------------------------------------------------------------------


class _ReadOnlyClient:
    """A boto3 client that forwards only read operations."""

    def __init__(self, service: str, client: Any) -> None:
        self._service = service
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name in _CLIENT_HELPERS:
            attribute = getattr(self._client, name)
            if name == "get_paginator":
                return self._paginator(attribute)
            return attribute
        if not name.startswith(_READ_PREFIXES):
            raise ReadOnlyViolation(f"diagnose is read-only: refused {self._service}:{name}")
        return getattr(self._client, name)

    def _paginator(self, get_paginator: Callable[[str], Any]) -> Callable[[str], Any]:
        def checked(operation: str) -> Any:
            if not operation.startswith(_READ_PREFIXES):
                raise ReadOnlyViolation(
                    f"diagnose is read-only: refused {self._service}:{operation}"
                )
            return get_paginator(operation)

        return checked


@dataclass
class ReadOnlyAwsAdapter(AwsAdapter):
    """The engine's adapter, with read-only clients, and the launch record kept for the report."""

    records: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return _ReadOnlyClient(service, super().client(service))

    def launch_record(self, instance_id: str) -> dict[str, Any] | None:
        if instance_id not in self.records:
            self.records[instance_id] = super().launch_record(instance_id)
        return self.records[instance_id]


# --- the diagnosis, as data ----------------------------------------------------------------


@dataclass(frozen=True)
class ActionCheck:
    action: str
    access: str  # an Access value
    detail: str


@dataclass
class KeyFinding:
    """One (key, principal) pair: the facts read now, and what the remediator would do."""

    key_arn: str | None
    principal_arn: str | None
    outcome: str  # the remediator's outcome in dry-run: dry_run, refused, already_allowed, ...
    reason: str
    manager: str | None = None
    state: str | None = None
    key_account: str | None = None
    key_region: str | None = None
    policy: str = ""  # what could be read of the key policy, in words
    checks: list[ActionCheck] = field(default_factory=list)
    grants: list[dict[str, Any]] | None = None  # grants naming the principal; None: not listable
    grants_note: str = ""
    lacks: str = ""  # what the key policy and the grants lack, in words
    fix: dict[str, Any] = field(default_factory=dict)


@dataclass
class Diagnosis:
    target: str  # "instance i-..." or "Auto Scaling group NAME"
    account: str
    region: str
    mode: str  # the configuration's mode: what "would apply" means
    launch: dict[str, Any]
    principal: dict[str, Any] | None
    findings: list[KeyFinding]
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        return _render(self)


# --- diagnosing ----------------------------------------------------------------------------


def diagnose(
    aws: AwsAdapter,
    config: RemediatorConfig,
    *,
    instance_id: str | None = None,
    group: str | None = None,
) -> Diagnosis:
    """Explain why ``instance_id`` (or the launches of ``group``) failed. Never writes."""
    if (instance_id is None) == (group is None):
        raise DiagnoseError("give exactly one of an instance id or an Auto Scaling group name")
    reader = ReadOnlyAwsAdapter(session=aws.session, clients=dict(aws.clients), region=aws.region)
    sts = reader.client("sts")
    region = str(sts.meta.region_name)
    if not _REGION.match(region):
        raise DiagnoseError(
            f"no AWS region to look in (got {region!r}): use --region or AWS_REGION"
        )
    account = str(sts.get_caller_identity()["Account"])

    if instance_id is not None:
        target, launch, event = _instance_launch(reader, instance_id, account, region)
    else:
        assert group is not None
        target, launch, event = _group_launch(reader, group, account, region)

    dry_run = config.model_copy(update={"mode": Mode.DRY_RUN})
    engine = Remediator(reader, dry_run, topic_arn=None, state=NoState())
    reports = engine.handle(event)

    principal = _principal_source(reader, reports, instance_id, launch)
    findings = [_finding(reader, account, report) for report in reports]
    return Diagnosis(
        target=target,
        account=account,
        region=region,
        mode=config.mode.value,
        launch=launch,
        principal=principal,
        findings=findings,
        summary=_summary(findings, config.mode),
    )


def _event(account: str, region: str, source: str, detail_type: str, detail: Any) -> Any:
    return {
        "version": "0",
        "id": f"diagnose-{uuid.uuid4()}",
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "",
        "region": region,
        "resources": [],
        "detail": detail,
    }


def _instance_launch(
    reader: ReadOnlyAwsAdapter, instance_id: str, account: str, region: str
) -> tuple[str, dict[str, Any], Any]:
    if not _INSTANCE_ID.match(instance_id):
        raise DiagnoseError(
            f"{instance_id!r} is not an EC2 instance id (i- and 8 to 17 hex digits)"
        )
    try:
        reservations = reader.client("ec2").describe_instances(InstanceIds=[instance_id])[
            "Reservations"
        ]
    except ClientError as err:
        if error_code(err).startswith("InvalidInstanceID"):
            reservations = []
        else:
            raise
    items = [i for r in reservations for i in r.get("Instances", [])]
    if not items:
        raise DiagnoseError(
            f"instance {instance_id} was not found in {region} (account {account}); check the "
            "id, the region (--region or AWS_REGION) and the credentials' account"
        )
    item = items[0]
    reason = item.get("StateReason") or {}
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    launch = {
        "instance_id": instance_id,
        "state": (item.get("State") or {}).get("Name"),
        "state_reason_code": reason.get("Code"),
        "state_reason_message": reason.get("Message"),
        "auto_scaling_group": tags.get(ASG_TAG),
        "kms_launch_failure": reason.get("Code") == CLIENT_INTERNAL_ERROR,
    }
    state = "stopped" if launch["state"] != "terminated" else "terminated"
    event = _event(
        account,
        region,
        "aws.ec2",
        "EC2 Instance State-change Notification",
        {"instance-id": instance_id, "state": state},
    )
    return f"instance {instance_id}", launch, event


def _group_launch(
    reader: ReadOnlyAwsAdapter, name: str, account: str, region: str
) -> tuple[str, dict[str, Any], Any]:
    if not _GROUP_NAME.match(name):
        raise DiagnoseError(f"{name!r} is not an Auto Scaling group name")
    if reader.autoscaling_group(name) is None:
        raise DiagnoseError(
            f"Auto Scaling group {name!r} was not found in {region} (account {account}); check "
            "the name, the region (--region or AWS_REGION) and the credentials' account"
        )
    activity = _failed_activity(reader, name)
    launch: dict[str, Any] = {
        "auto_scaling_group": name,
        "failed_activity": activity,
        "kms_launch_failure": activity is not None,
    }
    message = (activity or {}).get("status_message") or (
        f"diagnose: checking the group's launch as if it had failed with {CLIENT_INTERNAL_ERROR}"
    )
    event = _event(
        account,
        region,
        "aws.autoscaling",
        "EC2 Instance Launch Unsuccessful",
        {
            "StatusCode": "Failed",
            "StatusMessage": message,
            "AutoScalingGroupName": name,
            "EC2InstanceId": (activity or {}).get("instance_id") or "",
        },
    )
    return f"Auto Scaling group {name}", launch, event


def _failed_activity(reader: ReadOnlyAwsAdapter, name: str) -> dict[str, Any] | None:
    """The group's latest scaling activity that failed with Client.InternalError, if any."""
    try:
        activities = reader.client("autoscaling").describe_scaling_activities(
            AutoScalingGroupName=name, MaxRecords=50
        )["Activities"]
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException", "ValidationError"):
            return None
        raise
    for activity in activities:
        message = activity.get("StatusMessage") or ""
        if CLIENT_INTERNAL_ERROR in message:
            found = re.search(r"\b(i-[0-9a-f]{8,17})\b", activity.get("Description") or "")
            return {
                "start_time": str(activity.get("StartTime", "")),
                "status_message": message,
                "description": activity.get("Description"),
                "instance_id": found.group(1) if found else None,
            }
    return None


def _principal_source(
    reader: ReadOnlyAwsAdapter,
    reports: list[Report],
    instance_id: str | None,
    launch: dict[str, Any],
) -> dict[str, Any] | None:
    arn = next((r.principal_arn for r in reports if r.principal_arn), None)
    group = launch.get("auto_scaling_group")
    if group:
        found = reader.autoscaling_group(group)
        custom = found.service_linked_role_arn if found else None
        if custom is None:
            source = (
                f"Auto Scaling group {group}, which names no role: the account's default Auto "
                "Scaling service-linked role"
            )
        elif custom.endswith(f"/{AUTOSCALING_SLR_NAME}"):
            source = f"the service-linked role of Auto Scaling group {group} (the default one)"
        else:
            source = f"the custom-suffix service-linked role of Auto Scaling group {group}"
    elif instance_id is not None:
        record = reader.records.get(instance_id)
        if record is None:
            source = "not found: CloudTrail LookupEvents has no RunInstances/StartInstances call"
        else:
            source = (
                f"CloudTrail: {record.get('eventName', 'the launch call')} at "
                f"{record.get('eventTime', '?')}"
            )
    else:
        source = "unknown"
    if arn is None:
        return {"arn": None, "kind": None, "source": source}
    try:
        kind: str | None = principal_from_arn(arn).kind.value
    except PrincipalError:
        kind = None
    return {"arn": arn, "kind": kind, "source": source}


def _finding(reader: ReadOnlyAwsAdapter, account: str, report: Report) -> KeyFinding:
    finding = KeyFinding(
        key_arn=report.key_arn,
        principal_arn=report.principal_arn,
        outcome=report.outcome.value,
        reason=report.reason,
    )
    key = reader.describe_key(report.key_arn) if report.key_arn else None
    principal = _principal(report.principal_arn)
    if key is not None:
        finding.manager, finding.state = key.manager, key.state
        finding.key_account, finding.key_region = key.account, key.region
        policy = _read_policy(reader, account, key, finding)
        if principal is not None:
            if policy is not None:
                finding.checks = [
                    ActionCheck(action, verdict.access.value, verdict.detail)
                    for action in LAUNCH_ACTIONS
                    for verdict in [evaluate(policy, principal, (action,), key.region)]
                ]
            _read_grants(reader, key, principal, finding)
            finding.lacks = _lacks(key, principal, finding)
        finding.fix = _fix(report, key, principal, policy)
    else:
        finding.fix = _fix(report, None, principal, None)
    return finding


def _principal(arn: str | None) -> Principal | None:
    if not arn:
        return None
    try:
        return principal_from_arn(arn)
    except PrincipalError:
        return None


def _read_policy(
    reader: ReadOnlyAwsAdapter, account: str, key: KeyInfo, finding: KeyFinding
) -> dict[str, Any] | None:
    if key.manager == "AWS":
        finding.policy = (
            "AWS-managed key: its policy is fixed by AWS and lets every principal of the account "
            "use the key through EC2"
        )
        return None
    if key.account != account:
        finding.policy = (
            f"the key belongs to account {key.account}: its policy can be read only there "
            "(GetKeyPolicy works in the key's own account)"
        )
        return None
    try:
        policy = parse_policy(reader.get_key_policy(key.arn))
    except PolicyError as err:
        finding.policy = f"unreadable: {err}"
        return None
    except ClientError as err:
        finding.policy = f"could not be read: {error_code(err)}"
        return None
    finding.policy = "read"
    return policy


def _read_grants(
    reader: ReadOnlyAwsAdapter, key: KeyInfo, principal: Principal, finding: KeyFinding
) -> None:
    try:
        grants: list[Grant] = reader.list_grants(key.arn)
    except ClientError as err:
        if error_code(err) not in ("AccessDenied", "AccessDeniedException"):
            raise
        finding.grants_note = f"cannot be listed from here ({error_code(err)})"
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


def _lacks(key: KeyInfo, principal: Principal, finding: KeyFinding) -> str:
    """What the key policy and the grants lack for this principal, in a sentence or two."""
    if key.manager == "AWS":
        return (
            "nothing on the key's side: an AWS-managed key cannot cause this failure; look at "
            "the other keys of the instance, its AMI's snapshots, or the launch itself"
        )
    if key.state != "Enabled":
        return f"the key is {key.state}: no principal can use it until it is enabled"
    parts = []
    by_access: dict[str, list[ActionCheck]] = {}
    for check in finding.checks:
        by_access.setdefault(check.access, []).append(check)
    if Access.DENIED.value in by_access:
        parts.append(f"an explicit Deny applies: {by_access[Access.DENIED.value][0].detail}")
    if Access.NOT_ALLOWED.value in by_access:
        actions = _actions(by_access[Access.NOT_ALLOWED.value])
        parts.append(f"no statement allows {principal.name} {actions}")
    delegated = by_access.get(Access.UNKNOWN.value, [])
    via_iam = [c for c in delegated if "delegates" in c.detail]
    if via_iam:
        sids = sorted({m for c in via_iam for m in re.findall(r"statement ('[^']*')", c.detail)})
        iam = (
            "a service-linked role's IAM policy is fixed by AWS and gives no use of customer "
            "keys, so only the key policy or a grant can allow it"
            if principal.kind is PrincipalKind.SERVICE_LINKED_ROLE
            else "its IAM policy evidently does not allow them, since the launch was denied"
        )
        parts.append(
            f"the key policy does not name {principal.name} for {_actions(via_iam)}: only "
            f"{', '.join(sids)} covers them, by leaving them to IAM policies; {iam}"
        )
    undecided = [c for c in delegated if c not in via_iam]
    if undecided:
        parts.append(f"{undecided[0].detail} ({_actions(undecided)})")
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


def _actions(checks: list[ActionCheck]) -> str:
    if len(checks) == len(LAUNCH_ACTIONS):
        return f"any of the {len(checks)} actions a launch needs"
    return ", ".join(c.action for c in checks)


def _fix(
    report: Report,
    key: KeyInfo | None,
    principal: Principal | None,
    policy: dict[str, Any] | None,
) -> dict[str, Any]:
    """The remediator's plan under the configuration, or the fix it suggests when it refuses."""
    changes = report.changes or {}
    if report.outcome is Outcome.DRY_RUN and "grant" in changes:
        grant = changes["grant"]
        cli = (
            f"aws kms create-grant --key-id {report.key_arn} --grantee-principal "
            f"{grant['grantee']} --operations {' '.join(grant['operations'])} "
            f"--name {grant['name']}"
        )
        return {"action": "create-grant", "grant": grant, "cli": cli}
    if report.outcome is Outcome.DRY_RUN and "statements" in changes:
        fix: dict[str, Any] = {"action": "put-key-policy", "statements": changes["statements"]}
        if policy is not None and key is not None and principal is not None:
            fix["policy_after"] = add_principal(policy, principal, key.account, key.region).after
        return fix
    if report.outcome is Outcome.REFUSED:
        if key is not None and key.manager == "AWS":
            return {
                "action": "none",
                "note": "AWS-managed keys cannot be changed, and need no change: the cause lies "
                "elsewhere",
            }
        return {"action": "refused", "suggested_fix": report.suggested_fix or {}}
    if report.outcome is Outcome.ALREADY_ALLOWED:
        return {
            "action": "none",
            "note": "already allowed now: the fix was applied after the failure, or the launch "
            "failed for another reason",
        }
    return {"action": "none", "note": report.reason}


def _summary(findings: list[KeyFinding], mode: Mode) -> str:
    if not findings:
        return "nothing to diagnose"
    if all(f.outcome == Outcome.IGNORED.value for f in findings):
        return f"not a KMS launch failure: {findings[0].reason}"
    enforce = mode is Mode.ENFORCE
    lines = []
    for f in findings:
        who = (f.principal_arn or "the principal").rsplit("/", 1)[-1]
        what = (
            "a grant"
            if f.fix.get("action") == "create-grant"
            else f"a key-policy change ({len(f.fix.get('statements', []))} statements)"
        )
        if f.outcome == Outcome.DRY_RUN.value:
            verdict = (
                f"{who} may not use it; the remediator would fix that with {what}"
                if enforce
                else f"{who} may not use it; with mode enforce the remediator would fix that "
                f"with {what} (the configuration is dry-run)"
            )
        elif f.outcome == Outcome.REFUSED.value:
            verdict = f"the remediator would refuse: {f.reason}"
        elif f.outcome == Outcome.ALREADY_ALLOWED.value:
            verdict = f"{who} may use it now: {f.reason}"
        else:
            verdict = f.reason
        lines.append(f"{_short(f.key_arn)}: {verdict}")
    return "; ".join(lines)


# --- text ----------------------------------------------------------------------------------


def _short(arn: str | None) -> str:
    return f"key {arn.rsplit('/', 1)[-1]}" if arn else "no key"


def _render(d: Diagnosis) -> str:
    out = [f"Diagnosis of {d.target} (account {d.account}, {d.region})", ""]
    launch = d.launch
    if "instance_id" in launch:
        reason = launch.get("state_reason_message") or launch.get("state_reason_code") or "none"
        out.append(f"  Launch       {launch.get('state')}; state reason: {reason}")
    else:
        activity = launch.get("failed_activity")
        out.append(
            "  Launch       "
            + (
                f"failed at {activity['start_time']}: {activity['status_message']}"
                if activity
                else "no recent scaling activity failed with Client.InternalError; checking "
                "the group's keys as if its next launch did"
            )
        )
    if launch.get("auto_scaling_group") and "instance_id" in launch:
        out.append(f"  Group        {launch['auto_scaling_group']}")
    if d.principal:
        who = d.principal.get("arn") or "unknown"
        kind = f" ({d.principal['kind']})" if d.principal.get("kind") else ""
        out.append(f"  Launched by  {who}{kind}")
        out.append(f"               from {d.principal['source']}")
    for index, f in enumerate(d.findings, 1):
        out += ["", *_render_finding(f, index, len(d.findings), d.mode)]
    out += ["", f"In short: {d.summary}"]
    return "\n".join(out)


def _render_finding(f: KeyFinding, index: int, total: int, mode: str) -> list[str]:
    if f.outcome == Outcome.IGNORED.value:
        return [f"Not a KMS launch failure: {f.reason}."]
    out = [f"Key {index} of {total}: {f.key_arn or 'not identified'}"]
    if f.manager:
        where = f"account {f.key_account}, {f.key_region}"
        out.append(f"  Manager      {f.manager}; state {f.state}; {where}")
    if f.policy and f.policy != "read":
        out.append(f"  Key policy   {f.policy}")
    if f.checks:
        out.append("  Key policy   for each action a launch needs:")
        width = max(len(c.action) for c in f.checks)
        for c in f.checks:
            out.append(f"    {c.action.ljust(width)}  {_access_words(c)}")
    if f.grants_note:
        out.append(f"  Grants       {f.grants_note}")
        for g in f.grants or []:
            missing = f"; missing {', '.join(g['missing'])}" if g["missing"] else ""
            out.append(
                f"               {g['name'] or g['grant_id']}: {', '.join(g['operations'])}{missing}"
            )
    if f.lacks:
        out.append(f"  What lacks   {f.lacks}")
    decision = _DECISION_WORDS.get(f.outcome, f.outcome)
    out.append(f"  Decision     {decision}: {f.reason.removeprefix(DRY_RUN_PREFIX)}")
    out += _render_fix(f, mode)
    return out


def _access_words(check: ActionCheck) -> str:
    if check.access == Access.ALLOWED.value:
        return "allowed"
    if check.access == Access.NOT_ALLOWED.value:
        return "NOT allowed: no statement names the principal"
    if check.access == Access.DENIED.value:
        return f"DENIED: {check.detail}"
    sid = re.search(r"statement ('[^']*') delegates", check.detail)
    if sid:
        return f"not named: {sid.group(1)} leaves it to IAM policies"
    return f"undecided: {check.detail}"


_DECISION_WORDS = {
    Outcome.DRY_RUN.value: "would fix",
    Outcome.REFUSED.value: "would refuse",
    Outcome.ALREADY_ALLOWED.value: "nothing to do",
}
DRY_RUN_PREFIX = "dry-run: would apply: "


def _render_fix(f: KeyFinding, mode: str) -> list[str]:
    fix, action = f.fix, f.fix.get("action")
    when = (
        "Under the current configuration (mode enforce) the remediator would"
        if mode == Mode.ENFORCE.value
        else "The configuration is dry-run: the remediator would only report it; with mode "
        "enforce it would"
    )
    if action == "create-grant":
        return [f"  Fix          {when} create a grant from this account:", f"    {fix['cli']}"]
    if action == "put-key-policy":
        out = [f"  Fix          {when} add to the key policy (PutKeyPolicy):"]
        out += [f"    {line}" for line in json.dumps(fix["statements"], indent=2).splitlines()]
        return out
    if action == "refused":
        suggested = fix.get("suggested_fix") or {}
        out = ["  Fix          the remediator would not apply it; to fix it by hand:"]
        if "key_policy_statements" in suggested:
            out.append(f"    {suggested.get('key_policy_note', '')}")
            out += [
                f"    {line}"
                for line in json.dumps(suggested["key_policy_statements"], indent=2).splitlines()
            ]
        if "grant_cli" in suggested:
            out += [f"    or: {suggested['grant_cli']}", f"    ({suggested.get('grant_note', '')})"]
        if "manual_review" in suggested:
            out.append(f"    {suggested['manual_review']}")
        return out
    return [f"  Fix          none: {fix.get('note', '')}"]


# --- CLI -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, config: RemediatorConfig) -> int:
    """``python -m remediator diagnose``: print the diagnosis (text, or one JSON object)."""
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    aws = AwsAdapter(region=region or None)
    try:
        result = diagnose(aws, config, instance_id=args.instance_id, group=args.asg)
    except DiagnoseError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as err:
        print(f"error: an AWS call failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(result.text())
    return EXIT_OK
