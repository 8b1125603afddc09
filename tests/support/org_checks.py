"""What an organization's events justify writing, and every write that no event justifies.

Pure: snapshots of every key's policy and grants before and after, the calls the emulator
received, and what each event justifies, in; the mistakes out. The organization demo and the
benchmark both judge the hub with these.

A *cross-account mistake* is a write in an account the event does not justify, or outside that
account's allowlist (an event whose principal or key that account does not allow justifies
nothing). What each kind of event justifies:

- a same-account case (launcher and key in account X, both allowed for X): statements on that
  key naming the launcher, written in X; or a grant on it to the launcher, created from X;
- a cross-account case (launcher in A, key in K, both allowed for both accounts): on K's key,
  statements naming A's member role, written in K; and a grant on the key to the launcher,
  created from A (never from K: a grant made from K would let K's role, not A's, be the one the
  launch relies on, and the domain's fix is made from the launcher's account);
- a refusal, and another copy of a call already handled: nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.emulator_calls import Call

# Calls that change nothing, which the hub may make in any member account.
READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Validate", "Check", "Simulate")
ROLE_ASSUMPTION = "sts:AssumeRole"
# The condition keys of a statement that lets another account create one grant (AWS KMS
# condition keys, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html:
# kms:GranteePrincipal is single-valued, kms:GrantOperations multi-valued, hence ForAllValues).
GRANTEE_CONDITION = ("StringEquals", "kms:GranteePrincipal")
OPERATIONS_CONDITION = ("ForAllValues:StringEquals", "kms:GrantOperations")
AWS_RESOURCE_CONDITION = "kms:GrantIsForAWSResource"


@dataclass(frozen=True)
class KeyState:
    """A key's policy document and its grants (grantee, operations)."""

    policy: Mapping[str, Any]
    grants: frozenset[tuple[str, frozenset[str]]]


Snapshot = Mapping[str, KeyState]  # key ARN -> state


@dataclass(frozen=True)
class Change:
    """One difference between two snapshots of a key."""

    key_arn: str
    what: str  # "statement", "statement removed", "grant", "grant removed"
    principals: tuple[str, ...]
    statement: Mapping[str, Any] | None = None
    operations: frozenset[str] = frozenset()

    def text(self) -> str:
        named = ", ".join(self.principals)
        if self.what == "grant":
            return f"grant on {self.key_arn} to {named} ({', '.join(sorted(self.operations))})"
        sid = f" {self.statement.get('Sid')!r}" if self.statement else ""
        return f"{self.what}{sid} on {self.key_arn} naming {named}"


@dataclass(frozen=True)
class Justification:
    """What one event lets the hub write on ``key_arn``."""

    key_arn: str
    policy_principal: str  # who a statement added to the key's policy may name
    grantee: str  # who a grant on the key may be for
    grant_account: str  # the account a grant may be created from


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = policy.get("Statement", [])
    return list(found) if isinstance(found, list) else [found]


def principals_of(statement: Mapping[str, Any]) -> tuple[str, ...]:
    """The AWS principals a statement names (``Principal`` or ``NotPrincipal``)."""
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if principal == "*":
        return ("*",)
    value = principal.get("AWS", ()) if isinstance(principal, Mapping) else ()
    return (value,) if isinstance(value, str) else tuple(value)


def changes(before: Snapshot, after: Snapshot) -> list[Change]:
    """Statements and grants that appeared or disappeared on any key, in key order."""
    found: list[Change] = []
    for key_arn in sorted(set(before) | set(after)):
        old, new = before.get(key_arn), after.get(key_arn)
        old_statements = statements(old.policy) if old else []
        new_statements = statements(new.policy) if new else []
        for statement in new_statements:
            if statement not in old_statements:
                found.append(Change(key_arn, "statement", principals_of(statement), statement))
        new_sids = {s.get("Sid") for s in new_statements}
        for statement in old_statements:
            if statement not in new_statements and statement.get("Sid") not in new_sids:
                found.append(Change(key_arn, "statement removed", principals_of(statement)))
        old_grants = old.grants if old else frozenset()
        new_grants = new.grants if new else frozenset()
        for grantee, operations in sorted(new_grants - old_grants, key=str):
            found.append(Change(key_arn, "grant", (grantee,), operations=operations))
        for grantee, operations in sorted(old_grants - new_grants, key=str):
            found.append(Change(key_arn, "grant removed", (grantee,), operations=operations))
    return found


def mistakes(
    seen: Iterable[Change],
    calls: Iterable[Call],
    justified: Iterable[Justification],
    *,
    hub_account: str,
    operations: frozenset[str],
) -> list[str]:
    """Every change and every call that the justifications do not cover, described.

    ``operations`` are the grant operations a justified grant may carry."""
    allowed = list(justified)
    problems = [c.text() for c in seen if not _change_justified(c, allowed, operations)]
    for call in calls:
        if call.account == hub_account and not call.is_kms_write:
            continue  # the hub's own state table, topic and queues
        if not _call_justified(call, allowed):
            problems.append(
                f"{call.name} in account {call.account} by {call.caller}"
                + (f" on {call.key_id}" if call.key_id else "")
            )
    return problems


def _change_justified(
    change: Change, allowed: Sequence[Justification], operations: frozenset[str]
) -> bool:
    on_key = [j for j in allowed if j.key_arn == change.key_arn]
    if change.what == "statement":
        names = {j.policy_principal for j in on_key}
        return bool(change.principals) and set(change.principals) <= names
    if change.what == "grant":
        return change.operations <= operations and any(
            j.grantee == change.principals[0] for j in on_key
        )
    return False  # the hub removes nothing


def _call_justified(call: Call, allowed: Sequence[Justification]) -> bool:
    if not call.is_kms_write:
        return call.name == ROLE_ASSUMPTION or call.operation.startswith(READ_PREFIXES)
    on_key = [j for j in allowed if _same_key(call, j.key_arn)]
    if call.operation == "PutKeyPolicy":
        # A key policy is written only in the key's own account (moto, like KMS, could not
        # write another account's); the key must be one an event justifies.
        return bool(on_key) and call.account == on_key[0].key_arn.split(":")[4]
    if call.operation == "CreateGrant":
        return any(j.grantee == call.grantee and j.grant_account == call.account for j in on_key)
    return False


def _same_key(call: Call, key_arn: str) -> bool:
    """A call names a key by ARN, or by id in the caller's account and region."""
    if not call.key_id:
        return False
    if call.key_id.startswith("arn:"):
        return call.key_id == key_arn
    _, _, _, region, account, resource = key_arn.split(":", 5)
    return (call.account, call.region, f"key/{call.key_id}") == (account, region, resource)


def cross_account_statement_problems(
    added: Iterable[Mapping[str, Any]],
    *,
    member_role_arn: str,
    launcher_arn: str,
    operations: frozenset[str],
) -> list[str]:
    """What is wrong with the statements added to K's key for A's grant: each must name only
    A's member role and allow only kms:CreateGrant or kms:DescribeKey; a CreateGrant must be
    conditioned on the launcher as grantee and on operations within ``operations`` (and not
    on kms:GrantIsForAWSResource, which a grant for a role never carries); both actions must
    be there."""
    problems: list[str] = []
    actions_seen: set[str] = set()
    for statement in added:
        sid = statement.get("Sid", "?")
        if principals_of(statement) != (member_role_arn,) or statement.get("Effect") != "Allow":
            problems.append(f"{sid}: names {principals_of(statement)}, not only the member role")
        actions = statement.get("Action", ())
        actions = {actions} if isinstance(actions, str) else set(actions)
        actions_seen |= actions
        if not actions <= {"kms:CreateGrant", "kms:DescribeKey"}:
            problems.append(f"{sid}: allows {sorted(actions)}")
        if "kms:CreateGrant" in actions:
            problems += _grant_condition_problems(sid, statement, launcher_arn, operations)
    for action in ("kms:CreateGrant", "kms:DescribeKey"):
        if action not in actions_seen:
            problems.append(f"no statement allows {action}")
    return problems


def _grant_condition_problems(
    sid: str, statement: Mapping[str, Any], launcher_arn: str, operations: frozenset[str]
) -> list[str]:
    condition = statement.get("Condition", {})
    problems = []
    grantee = condition.get(GRANTEE_CONDITION[0], {}).get(GRANTEE_CONDITION[1])
    if grantee not in (launcher_arn, [launcher_arn]):
        problems.append(f"{sid}: kms:GranteePrincipal is {grantee!r}, not the launcher")
    granted = condition.get(OPERATIONS_CONDITION[0], {}).get(OPERATIONS_CONDITION[1])
    granted = [granted] if isinstance(granted, str) else granted
    if not granted or not set(granted) <= operations:
        problems.append(f"{sid}: kms:GrantOperations {granted!r} not within {sorted(operations)}")
    if any(AWS_RESOURCE_CONDITION in block for block in condition.values()):
        problems.append(f"{sid}: conditioned on {AWS_RESOURCE_CONDITION}")
    return problems
