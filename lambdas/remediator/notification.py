"""What subscribers of the topic read: one SNS message with ``MessageStructure=json``.

- ``default`` (SQS, Lambda, HTTPS and every protocol not named): the report's JSON message,
  unchanged in meaning (``Report.message_json``);
- ``email``: a text a person reads: what failed, who and which key, what changed as a compact
  diff, how to undo it with a complete command, and links to the console pages of the key,
  the instance and the group.

SNS Publish, MessageStructure: "If you set MessageStructure to json, the value of the Message
parameter must: be a syntactically valid JSON object; and contain at least a top-level JSON key
of "default" with a value that is a string. You can define other top-level keys that define the
message you want to send to a specific transport protocol (e.g., "http")."
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html). Email subscriptions are protocol
``email``; ``email-json`` subscribers get ``default``, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from remediator.arns import parse_arn
from remediator.outcomes import SERVICE_NAME, Outcome
from remediator.policy import as_list, statements
from remediator.report import Report

EMAIL_PROTOCOL = "email"  # the key of the email subscribers' text in the structured message

HEADLINES = {
    Outcome.REMEDIATED: "An EC2 launch failed on a KMS key, and the remediator fixed the key.",
    Outcome.ALREADY_ALLOWED: (
        "An EC2 launch failed on a KMS key that already allows the launching principal: "
        "nothing was changed."
    ),
    Outcome.REFUSED: "An EC2 launch failed on a KMS key, and the remediator did not fix it.",
    Outcome.DRY_RUN: (
        "An EC2 launch failed on a KMS key. The remediator runs in dry-run mode: it changed "
        "nothing and says what it would change."
    ),
    Outcome.FAILED: (
        "The remediator changed a KMS key for a failed EC2 launch, and the change does not hold. "
        "The event is retried, then goes to the dead-letter queue."
    ),
    Outcome.BLOCKED_ELSEWHERE: (
        "An EC2 launch failed, and what blocks it is outside the KMS key: the remediator "
        "changed nothing."
    ),
    Outcome.IGNORED: "An event was ignored.",
    Outcome.FOLDED: "An event joined an open incident.",
    Outcome.PENDING: (
        "An EC2 launch failed, and the call that launched it is not in CloudTrail yet: the "
        "remediator looks again later."
    ),
}
TRIGGERS = {
    "KmsCallDenied": "KMS denied a call EC2 made for the launch (CloudTrail)",
    "InstanceLaunchFailed": "an instance stopped or terminated with Client.InternalError",
    "AsgLaunchFailed": "Auto Scaling reported a launch unsuccessful with Client.InternalError",
}
# The console's host per partition (the region is a query parameter everywhere).
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def email_text(report: Report) -> str:
    sections = [
        [HEADLINES[report.outcome], "", f"Why: {report.reason}"],
        _what_failed(report),
        _diff(report),
        _undo(report.undo or {}),
        _fix(report.suggested_fix or {}),
        _links(report),
        [
            f"Event {report.event_id}"
            + (f", change {report.change_id}" if report.change_id else "")
            + f". Sent by {SERVICE_NAME}; SQS, Lambda and HTTPS subscribers get this as JSON."
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def _what_failed(report: Report) -> list[str]:
    rows = [
        ("what", TRIGGERS.get(report.trigger, report.trigger or "-")),
        ("principal", report.principal_arn or "not identified"),
        ("key", report.key_arn or "not identified"),
        ("instance", report.instance_id),
        ("group", report.group_name),
    ]
    return ["What failed"] + [f"  {name:<10} {value}" for name, value in rows if value]


def _diff(report: Report) -> list[str]:
    changes = report.changes or {}
    verb = "Would change" if report.outcome is Outcome.DRY_RUN else "What changed"
    lines = []
    previous = (report.undo or {}).get("previous_policy")
    for stmt in changes.get("statements", []):
        lines += _statement_diff(stmt, previous)
    grant = changes.get("grant") or (changes if "grant_id" in changes else None)
    if grant:
        ident = f" (id {grant['grant_id']})" if grant.get("grant_id") else ""
        name = grant.get("grant_name") or grant.get("name")
        lines.append(f"  + grant {name}{ident} to {grant['grantee']}")
        lines.append(f"      operations {', '.join(grant['operations'])}")
    if not lines:
        return []
    where = f"the key policy of {report.key_arn}" if changes.get("statements") else "the key"
    return [f"{verb} ({where})", *lines]


def _statement_diff(stmt: Mapping[str, Any], previous: Any) -> list[str]:
    """``+`` a new statement with what it allows, or ``~`` the principals added to one."""
    sid = stmt.get("Sid", "?")
    after = [str(p) for p in as_list((stmt.get("Principal") or {}).get("AWS"))]
    before_stmt = _find(previous, sid)
    if before_stmt is None:
        actions = ", ".join(str(a) for a in as_list(stmt.get("Action")))
        lines = [f"  + statement {sid}: Allow {actions}"]
        condition = _condition_text(stmt.get("Condition"))
        if condition:
            lines.append(f"      only when {condition}")
        return lines + [f"      for {p}" for p in after]
    before = {str(p) for p in as_list((before_stmt.get("Principal") or {}).get("AWS"))}
    added = [p for p in after if p not in before]
    return [f"  ~ statement {sid}: principal added {p}" for p in added]


def _find(policy: Any, sid: str) -> Mapping[str, Any] | None:
    if not isinstance(policy, Mapping):
        return None
    try:
        return next((s for s in statements(policy) if s.get("Sid") == sid), None)
    except ValueError:
        return None


def _condition_text(condition: Any) -> str:
    if not isinstance(condition, Mapping):
        return ""
    parts = [
        f"{key} = {', '.join(str(v) for v in as_list(value))}"
        for operator in condition.values()
        if isinstance(operator, Mapping)
        for key, value in operator.items()
    ]
    return " and ".join(parts)


def _undo(undo: Mapping[str, Any]) -> list[str]:
    commands = [undo[name] for name in ("rollback", "cli") if undo.get(name)]
    if not commands:
        return []
    lines = ["How to undo (from the repository root, in its virtualenv, for rollback)"]
    lines.append(f"  {commands[0]}")
    if len(commands) > 1:
        lines += ["  or by hand:", f"  {commands[1]}"]
    return lines


def _fix(fix: Mapping[str, Any]) -> list[str]:
    if not fix:
        return []
    lines = ["What a person can do"]
    if fix.get("manual_review"):
        lines.append(f"  {fix['manual_review']}")
    if fix.get("diagnose"):
        lines.append(f"  Explain it: PYTHONPATH=lambdas {fix['diagnose']}")
    if fix.get("key_policy_statements"):
        lines.append(f"  {fix.get('key_policy_note', 'Add these key-policy statements:')}")
        text = json.dumps(fix["key_policy_statements"], indent=2)
        lines += [f"    {line}" for line in text.splitlines()]
    if fix.get("grant_cli"):
        lines += [
            f"  Or make a grant. {fix.get('grant_note', '')}".rstrip(),
            f"  {fix['grant_cli']}",
        ]
    return lines


def console_links(report: Report) -> list[tuple[str, str]]:
    """(what, URL) of the console pages of the key, the instance and the group."""
    arn = parse_arn(report.key_arn)
    if arn is None or arn.partition not in CONSOLE_HOSTS:
        return []
    region = arn.region
    base = f"https://{region}.{CONSOLE_HOSTS[arn.partition]}"
    links = [
        ("key", f"{base}/kms/home?region={region}#/kms/keys/{arn.resource.rsplit('/', 1)[-1]}")
    ]
    ec2 = f"{base}/ec2/home?region={region}"
    if report.instance_id:
        links.append(("instance", f"{ec2}#InstanceDetails:instanceId={report.instance_id}"))
    if report.group_name:
        links.append(
            ("group", f"{ec2}#AutoScalingGroupDetails:id={report.group_name};view=details")
        )
    return links


def _links(report: Report) -> list[str]:
    links = console_links(report)
    if not links:
        return []
    return ["Console"] + [f"  {name:<10} {url}" for name, url in links]


def rollback_text(result: Mapping[str, Any]) -> str:
    """The email text of a rollback's notification."""
    lines = [
        f"Rollback {result.get('outcome')}: {result.get('reason', '')}".rstrip(": "),
        "",
        f"  key        {result.get('key_arn')}",
        f"  change     {result.get('change_id')} ({result.get('remedy')})",
    ]
    if result.get("revoked_grant_id"):
        lines.append(f"  revoked    grant {result['revoked_grant_id']}")
    links = console_links(Report(Outcome.IGNORED, "", "", key_arn=result.get("key_arn")))
    lines += ["", "Console"] + [f"  {name:<10} {url}" for name, url in links] if links else []
    return "\n".join(lines) + "\n"
