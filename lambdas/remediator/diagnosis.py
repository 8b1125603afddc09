"""A diagnosis, as data and as text: what ``diagnose`` found for an instance or a group, the
remediator's decision for each key, and the fix."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from remediator.access import Access
from remediator.config import Mode
from remediator.outcomes import Outcome


@dataclass(frozen=True)
class ActionCheck:
    action: str
    access: str  # an Access value
    detail: str
    sid: str | None = None  # the statement that decided it
    delegated: bool = False  # left to IAM policies by that statement


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
        return render(self)


def summarize(findings: list[KeyFinding], mode: Mode) -> str:
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


def render(d: Diagnosis) -> str:
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
    if check.delegated:
        return f"not named: {check.sid!r} leaves it to IAM policies"
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
