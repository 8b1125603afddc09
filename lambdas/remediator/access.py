"""Whether a key policy lets a principal make the KMS calls of an EC2 launch. Pure.

The evaluator is deliberately small and conservative. It answers for the EC2 launch request
context only, and says ``UNKNOWN`` for anything it cannot decide (an unknown condition key, an
allow that delegates to IAM). Unknown never counts as allowed, and an explicit Deny that may
apply blocks any change: a human must look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from remediator.arns import Principal, PrincipalKind
from remediator.policy import action_matches, as_list, statements

_GRANT_ACTIONS = frozenset({"kms:creategrant", "kms:listgrants", "kms:revokegrant"})


class Access(StrEnum):
    ALLOWED = "allowed"  # an Allow names the principal (or "*") and its conditions hold
    DENIED = "denied"  # an explicit Deny applies, or may apply
    UNKNOWN = "unknown"  # only allows that delegate to IAM, or conditions this cannot decide
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class Verdict:
    access: Access
    detail: str = ""
    sid: str | None = None  # the statement that decided it, where one did
    delegated: bool = False  # UNKNOWN because the statement leaves the action to IAM policies


def launch_context(principal: Principal, key_region: str) -> dict[str, str]:
    """The request context EBS presents to KMS when it acts for ``principal`` during a launch."""
    return {
        "kms:viaservice": f"ec2.{key_region}.amazonaws.com",
        "kms:grantisforawsresource": "true",
        "kms:calleraccount": principal.account,
        "aws:principalarn": principal.arn,
        "aws:principalaccount": principal.account,
    }


def evaluate(
    policy: Mapping[str, Any], principal: Principal, actions: Iterable[str], key_region: str
) -> Verdict:
    """Does the key policy let ``principal`` perform every action of an EC2 launch?"""
    context = launch_context(principal, key_region)
    worst = Verdict(Access.ALLOWED)
    for action in actions:
        verdict = _evaluate_action(statements(policy), principal, action, context)
        if verdict.access is Access.DENIED:
            return verdict
        if (
            verdict.access is not Access.ALLOWED and worst.access is Access.ALLOWED
        ) or verdict.access is Access.NOT_ALLOWED:
            worst = verdict
    return worst


def _evaluate_action(
    items: list[dict[str, Any]], principal: Principal, action: str, context: dict[str, str]
) -> Verdict:
    action_context = dict(context)
    if action.lower() not in _GRANT_ACTIONS:
        action_context.pop("kms:grantisforawsresource")
    allowed, unknown = False, None
    for index, stmt in enumerate(items):
        sid = stmt.get("Sid", f"#{index}")
        if not action_matches(stmt, action):
            continue
        principal_match = _principal_matches(stmt, principal)
        conditions = _conditions_hold(stmt.get("Condition"), action_context)
        effect = stmt.get("Effect")
        if effect == "Deny":
            if principal_match is not False and conditions is not False:
                certainty = "applies" if conditions and principal_match else "may apply"
                detail = f"Deny statement {sid!r} {certainty} to {action}"
                return Verdict(Access.DENIED, detail, sid=sid)
        elif effect == "Allow" and principal_match and conditions is not False:
            if principal_match == "direct" and conditions:
                allowed = True
            else:
                unknown = unknown or _undecided(sid, action, principal_match == "account")
    if allowed:
        return Verdict(Access.ALLOWED)
    if unknown:
        return unknown
    return Verdict(Access.NOT_ALLOWED, f"no statement allows {action}")


def _undecided(sid: str, action: str, delegated: bool) -> Verdict:
    detail = (
        f"statement {sid!r} delegates {action} to IAM policies"
        if delegated
        else f"statement {sid!r} has conditions this tool cannot evaluate"
    )
    return Verdict(Access.UNKNOWN, detail, sid=sid, delegated=delegated)


def _principal_matches(stmt: Mapping[str, Any], principal: Principal) -> str | bool | None:
    """'direct' when named (or "*"), 'account' when its account root is named, else False."""
    if "NotPrincipal" in stmt:
        named = _principal_matches({"Principal": stmt["NotPrincipal"]}, principal)
        return False if named else "direct"
    value = stmt.get("Principal")
    if value == "*":
        return "direct"
    if not isinstance(value, Mapping):
        return False
    result: str | bool = False
    for entry in as_list(value.get("AWS")):
        if entry in ("*", principal.arn):
            return "direct"
        if entry in (f"arn:{principal.partition}:iam::{principal.account}:root", principal.account):
            result = "direct" if principal.kind is PrincipalKind.ROOT else "account"
    return result


_STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringNotEquals": lambda actual, expected: actual != expected,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": fnmatchcase,
    "StringNotLike": lambda actual, expected: not fnmatchcase(actual, expected),
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": fnmatchcase,
    "ArnNotEquals": lambda actual, expected: actual != expected,
    "ArnNotLike": lambda actual, expected: not fnmatchcase(actual, expected),
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _conditions_hold(condition: object, context: Mapping[str, str]) -> bool | None:
    """True, False, or None when a condition cannot be decided from the launch context."""
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return None
    result: bool | None = True
    for operator, clauses in condition.items():
        if not isinstance(operator, str) or not isinstance(clauses, Mapping):
            return None
        for key, expected in clauses.items():
            outcome = _clause(operator, str(key).lower(), as_list(expected), context)
            if outcome is False:
                return False
            if outcome is None:
                result = None
    return result


def _clause(
    operator: str, key: str, expected: list[Any], context: Mapping[str, str]
) -> bool | None:
    base = operator.removeprefix("ForAnyValue:").removeprefix("ForAllValues:")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if key not in context:
        # A key absent from the launch context: only these are decidable.
        if base == "Null":
            return any(str(value).lower() == "true" for value in expected)
        if key.startswith(("kms:", "aws:")) and key in _ABSENT_AT_LAUNCH:
            return bool(if_exists or base in _NEGATED)
        return None
    actual = context[key]
    if base == "Null":
        return any(str(value).lower() == "false" for value in expected)
    compare = _STRING_OPERATORS.get(base)
    if compare is None or not all(isinstance(value, (str, bool)) for value in expected):
        return None
    values = [str(value).lower() if isinstance(value, bool) else value for value in expected]
    if base in _NEGATED:
        return all(compare(actual, value) for value in values)
    return any(compare(actual, value) for value in values)


# Condition keys that EBS's launch requests never carry, so the evaluator may decide them.
_ABSENT_AT_LAUNCH = frozenset({"kms:grantisforawsresource"})
