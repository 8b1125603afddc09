"""Cleanup: what this tool wrote that is still in place, and taking it out (before an uninstall,
or to start over).

The tool's own are the key-policy statements with its Sids (``policy.TOOL_SIDS``, and in
organization mode the statements for another account's member role, ``cross_account``) in the
shape it writes them, and the grants named ``decision.GRANT_NAME_PREFIX...``, on the keys given and
on every key its audit trail names. A statement that carries a tool Sid but was changed by
someone else is listed as edited and never removed.

``remove_tool_changes`` takes them out: under the key's lock, it re-reads the policy, drops the
tool's own statements, vets the new policy with Access Analyzer ``ValidatePolicy`` where it is
available (nothing is added, so ``CheckAccessNotGranted`` has nothing to check), writes it, reads
it back and verifies that no statement of the tool's is left and every other statement is as it
was, then revokes the tool's grants and verifies they are gone. Each write goes through the
write-ahead audit as the remediator's own do (intent, fence, write, verify, audit record; remedy
``cleanup``), so a process stopped midway is settled by the next invocation on the key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediator import cross_account, exact_json
from remediator.arns import autoscaling_slr_arn, parse_arn, principal_from_arn
from remediator.decision import GRANT_NAME_PREFIX
from remediator.model import Grant, PlannedChange
from remediator.policy import (
    TOOL_SIDS,
    PolicyError,
    as_list,
    parse_policy,
    render,
    statements,
    tool_statements,
)
from remediator.ports import (
    AccessDenied,
    AwsError,
    AwsPort,
    LockLost,
    NotFound,
    Rejected,
    StatePort,
)
from remediator.recovery import CLEANUP, recover

REMOVED, NOTHING, REFUSED, FAILED = "removed", "nothing to remove", "refused", "failed"


@dataclass(frozen=True)
class Found:
    """What the tool wrote on one key that is still in place."""

    key_arn: str
    statements: dict[str, list[str]] = field(default_factory=dict)  # Sid -> principals
    edited: tuple[str, ...] = ()  # Sids of tool statements someone changed: left alone
    grants: tuple[Grant, ...] = ()
    notes: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def empty(self) -> bool:
        return not self.statements and not self.grants

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_arn": self.key_arn,
            "statements": [{"sid": s, "principals": p} for s, p in self.statements.items()],
            "edited_statements": list(self.edited),
            "grants": [
                {"grant_id": g.grant_id, "name": g.name, "grantee": g.grantee} for g in self.grants
            ],
            "notes": list(self.notes),
        }


def shapes(key_arn: str) -> dict[str, dict[str, Any]]:
    """Each tool statement as the tool writes it on this key, without its Principal."""
    arn = parse_arn(key_arn)
    account, region = (arn.account, arn.region) if arn else ("000000000000", "")
    found: dict[str, dict[str, Any]] = {}
    for who in (autoscaling_slr_arn(account), f"arn:aws:iam::{account}:user/x"):
        for stmt in tool_statements(principal_from_arn(who), account, region):
            found[stmt["Sid"]] = {k: v for k, v in stmt.items() if k != "Principal"}
    return found


def _is_own(stmt: Mapping[str, Any], expected: Mapping[str, dict[str, Any]]) -> bool:
    """A statement with a tool Sid, exactly as the tool writes it but for its principals (or
    for its grantees, in organization mode's statements for another account's member role)."""
    grantor = cross_account.grantor_statement(stmt)
    if grantor is not None:
        return grantor
    principal = stmt.get("Principal")
    if not isinstance(principal, Mapping) or set(principal) != {"AWS"}:
        return False
    body = {k: v for k, v in stmt.items() if k != "Principal"}
    return body == expected.get(str(stmt.get("Sid")))


def tool_statements_in(
    policy: Mapping[str, Any], key_arn: str
) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """(Sid -> principals of the tool's own statements, Sids of edited ones) in a policy."""
    own: dict[str, list[str]] = {}
    edited: list[str] = []
    expected = shapes(key_arn)
    for stmt in statements(policy):
        sid = str(stmt.get("Sid"))
        if sid not in TOOL_SIDS and cross_account.grantor_statement(stmt) is None:
            continue
        if _is_own(stmt, expected):
            own[sid] = [str(n) for n in as_list(stmt["Principal"]["AWS"])]
        else:
            edited.append(sid)
    return own, tuple(edited)


def without_tool_statements(policy: Mapping[str, Any], key_arn: str) -> dict[str, Any]:
    """The policy without the tool's own statements, every other one (edited tool statements
    included) exactly as it was. Each own statement names only principals the tool added, so
    it goes whole (``policy.remove_principal`` takes one principal out of every tool
    statement, edited ones too, which cleanup must not touch)."""
    expected = shapes(key_arn)
    after = dict(policy)
    after["Statement"] = [s for s in statements(policy) if not _is_own(s, expected)]
    return after


def find(aws: AwsPort, key_arn: str) -> Found:
    """Read the key's policy and grants (either may be unreadable from this account)."""
    notes: list[str] = []
    own: dict[str, list[str]] = {}
    edited: tuple[str, ...] = ()
    try:
        own, edited = tool_statements_in(parse_policy(aws.get_key_policy(key_arn)), key_arn)
    except (AccessDenied, NotFound) as err:
        notes.append(f"key policy not read: {err}")
    try:
        grants = tuple(g for g in aws.list_grants(key_arn) if g.name.startswith(GRANT_NAME_PREFIX))
    except (AccessDenied, NotFound) as err:
        grants = ()
        notes.append(f"grants not listed: {err}")
    return Found(key_arn, own, edited, grants, tuple(notes))


def remove_tool_changes(aws: AwsPort, state: StatePort, found: Found) -> dict[str, Any]:
    """Take out what ``found`` lists, under the key's lock, through the write-ahead audit: each
    write is recorded as an intent, fenced, made, verified and audited (remedy ``cleanup``).
    The result's ``outcome`` says how it went."""
    result: dict[str, Any] = {"key_arn": found.key_arn, "outcome": NOTHING}
    if found.empty:
        return result
    with state.lock(found.key_arn):
        # A change a stopped process made but did not record would otherwise go unseen.
        recover(aws, state, found.key_arn)
        result["outcome"] = REMOVED
        if found.statements:
            result |= _remove_statements(aws, state, found.key_arn)
            if result["outcome"] != REMOVED:
                return result
        if found.grants:
            result |= _revoke_grants(aws, state, found.key_arn, found.grants)
    return result


def _begin(state: StatePort, planned: PlannedChange) -> str:
    """Record the intent, then prove the lock is still held, before a write."""
    change_id = state.begin_change(planned)
    try:
        state.fence(planned.key_arn)
    except LockLost:
        state.abandon_change(planned.key_arn, change_id)
        raise
    return change_id


def _audit(state: StatePort, key_arn: str, change_id: str, after: Any) -> None:
    """The change was made: its audit record, and the intent closed (nothing to notify)."""
    state.finish_change(key_arn, change_id, after)
    state.close_change(key_arn, change_id)


def _revoke_grants(
    aws: AwsPort, state: StatePort, key_arn: str, grants: tuple[Grant, ...]
) -> dict[str, Any]:
    revoked = []
    for grant in grants:
        planned = PlannedChange(
            key_arn, CLEANUP, grant.grantee, CLEANUP, None, {"revoke": grant.grant_id}
        )
        change_id = _begin(state, planned)
        with contextlib.suppress(NotFound):  # revoked meanwhile
            aws.revoke_grant(key_arn, grant.grant_id)
        if grant.grant_id in {g.grant_id for g in aws.list_grants(key_arn)}:
            # Left pending: the next invocation on the key reads the grants and settles it.
            return {"outcome": FAILED, "reason": f"grant {grant.grant_id} still listed"}
        _audit(state, key_arn, change_id, {"revoked": grant.grant_id})
        revoked.append(grant.grant_id)
    return {"revoked_grants": revoked}


def _remove_statements(aws: AwsPort, state: StatePort, key_arn: str) -> dict[str, Any]:
    try:
        before = parse_policy(aws.get_key_policy(key_arn))  # re-read under the lock
        after = without_tool_statements(before, key_arn)
        text = render(after)
    except PolicyError as err:
        return {"outcome": REFUSED, "reason": f"the key policy cannot be changed safely: {err}"}
    own, _ = tool_statements_in(before, key_arn)
    if not own:
        return {"outcome": REMOVED, "removed_statements": []}
    assert text is not None  # smaller than a policy KMS accepted
    findings = aws.validate_policy(text)
    errors = [f for f in findings or [] if f.get("findingType") == "ERROR"]
    if errors:
        details = "; ".join(f"{f.get('issueCode')}: {f.get('findingDetails')}" for f in errors)
        return {"outcome": REFUSED, "reason": f"Access Analyzer ValidatePolicy: {details}"}
    principals = ",".join(sorted({p for names in own.values() for p in names}))
    planned = PlannedChange(key_arn, CLEANUP, principals, CLEANUP, before, {"policy": after})
    change_id = _begin(state, planned)
    try:
        aws.put_key_policy(key_arn, text)
    except (Rejected, AccessDenied) as err:
        state.abandon_change(key_arn, change_id)
        return {"outcome": REFUSED, "reason": f"KMS refused the policy: {err}"}
    except AwsError as err:  # whether it was applied is unknown: the intent stays pending
        return {"outcome": FAILED, "reason": f"PutKeyPolicy failed: {err}"}
    read_back = parse_policy(aws.get_key_policy(key_arn))
    left, _ = tool_statements_in(read_back, key_arn)
    if left or not exact_json.same(statements(read_back), statements(after)):
        return {"outcome": FAILED, "reason": "verification failed after PutKeyPolicy"}
    _audit(state, key_arn, change_id, read_back)
    return {"outcome": REMOVED, "removed_statements": sorted(own), "change_id": change_id or None}
