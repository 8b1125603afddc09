"""One policy document against one KMS call of a launch: which of its statements allow the call,
which deny it, and which may, because a condition cannot be decided. Pure.

A statement applies when its ``Effect`` is exactly ``Allow`` or ``Deny``, its ``Action`` (or
``NotAction``) and ``Resource`` (or ``NotResource``) match with IAM's wildcards
(``wildcards.py``), its ``Condition`` holds (``conditions.py``) and, in a key policy, its
``Principal`` names the caller (or ``NotPrincipal`` does not exempt it). Combining documents into
AWS's decision is ``authorization.py``'s job; ``evaluate`` below is the key policy's view alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from remediator.arns import Principal, PrincipalKind
from remediator.conditions import RequestContext, Undecided, conditions_hold
from remediator.launch_model import KmsCall, call_context
from remediator.policy import action_matches, as_list, statements
from remediator.wildcards import resource_like

NOT_PRINCIPAL = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
)


class Access(StrEnum):
    ALLOWED = "allowed"  # allowed, as far as the documents read can tell
    DENIED = "denied"  # an explicit Deny applies, or may apply
    UNKNOWN = "unknown"  # it depends on something this tool cannot read or decide
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class Verdict:
    """The key policy's view of some actions (for ``diagnose``)."""

    access: Access
    detail: str = ""
    sid: str | None = None  # the statement that decided it, where one did
    delegated: bool = False  # UNKNOWN because the statement leaves the action to IAM policies


# How an Allow in a key policy names the caller: the caller itself (or "*"), or its account.
DIRECT = "direct"
ACCOUNT = "account"


@dataclass(frozen=True)
class Match:
    """A statement that applies to the call, or may (``undecided`` says why it may)."""

    sid: str
    how: str = DIRECT
    undecided: Undecided | None = None

    @property
    def certain(self) -> bool:
        return self.undecided is None


@dataclass(frozen=True)
class DocumentVerdict:
    denies: tuple[Match, ...] = ()
    allows: tuple[Match, ...] = ()

    @property
    def deny(self) -> Match | None:
        """The Deny that decides: one that applies, else one that may."""
        return next((m for m in self.denies if m.certain), None) or next(iter(self.denies), None)

    def allow(self, how: str | None = None) -> Match | None:
        """An Allow that applies for certain (naming the caller as ``how`` says, if given)."""
        return next((m for m in self.allows if m.certain and how in (None, m.how)), None)

    @property
    def undecided_allow(self) -> Match | None:
        return next((m for m in self.allows if not m.certain), None)


def evaluate_document(
    document: Mapping[str, Any],
    call: KmsCall,
    principal: Principal,
    *,
    key_arn: str | None,
    resource_policy: bool,
    has_boundary: bool = False,
) -> DocumentVerdict:
    """Every statement of ``document`` that applies, or may apply, to ``call`` by ``principal``.
    ``key_arn`` None: the key is not known, so a ``Resource`` naming one cannot be decided."""
    denies: list[Match] = []
    allows: list[Match] = []
    for index, stmt in enumerate(statements(document)):
        effect = stmt.get("Effect")
        if effect not in ("Allow", "Deny") or not action_matches(stmt, call.action):
            continue
        parts: list[bool | str | Undecided] = [_resource_matches(stmt, key_arn)]
        if resource_policy:
            parts.append(_principal_part(stmt, principal, effect, has_boundary))
        parts.append(conditions_hold(stmt.get("Condition"), call.context))
        if any(p is False for p in parts):
            continue
        undecided = next((p for p in parts if isinstance(p, Undecided)), None)
        how = next((p for p in parts if p in (DIRECT, ACCOUNT)), DIRECT)
        match = Match(str(stmt.get("Sid", f"#{index}")), str(how), undecided)
        (denies if effect == "Deny" else allows).append(match)
    return DocumentVerdict(tuple(denies), tuple(allows))


def _resource_matches(stmt: Mapping[str, Any], key_arn: str | None) -> bool | Undecided:
    negated = "NotResource" in stmt
    patterns = [str(p) for p in as_list(stmt.get("NotResource" if negated else "Resource", "*"))]
    if key_arn is None:
        if all(p == "*" for p in patterns):
            return not negated
        return Undecided("Resource", "names a resource, and the key's ARN is not known here")
    matched = any(resource_like(p, key_arn) for p in patterns)
    return matched is not negated


def _principal_part(
    stmt: Mapping[str, Any], principal: Principal, effect: str, has_boundary: bool
) -> bool | str | Undecided:
    if "NotPrincipal" in stmt:
        if effect == "Deny":
            return not_principal_applies(stmt["NotPrincipal"], principal, has_boundary)
        named = principal_named(stmt["NotPrincipal"], principal)
        return DIRECT if named is False else False
    return principal_named(stmt.get("Principal"), principal)


def principal_named(value: object, principal: Principal) -> bool | str | Undecided:
    """How a ``Principal`` element names the caller: DIRECT (itself, or everyone), ACCOUNT (its
    account's root or id), False, or Undecided when it names only some sessions of the role."""
    if value == "*":
        return DIRECT
    if not isinstance(value, Mapping):
        return False
    found: bool | str | Undecided = False
    for entry in as_list(value.get("AWS")):
        if entry in ("*", principal.arn):
            return DIRECT
        if entry in _account_names(principal):
            found = DIRECT if principal.kind is PrincipalKind.ROOT else ACCOUNT
        elif isinstance(entry, str) and entry.startswith(_session_prefix(principal)):
            found = found or Undecided("Principal", f"names only the session {entry}")
    return found


def not_principal_applies(
    value: object, principal: Principal, has_boundary: bool
) -> bool | Undecided:
    """Whether a Deny with ``NotPrincipal`` applies to the caller (NOT_PRINCIPAL):

    - "you must also specify the account ARN of the not-denied principal. Otherwise, the policy
      might deny access to the entire account": a user is exempt only when both the user and its
      account are listed; with only the account listed the Deny applies to the user.
    - An assumed-role user is validated as "the account first, then the role, and then the
      assumed-role user": a role's launches run in sessions, so listing the role and its account
      does not exempt them; only the sessions named are, and a launch's sessions are not known.
    - "The NotPrincipal element with a Deny effect will always deny any IAM principal that has
      a permissions boundary policy attached".
    """
    listed = (
        {e for e in as_list(value.get("AWS")) if isinstance(e, str)}
        if isinstance(value, Mapping)
        else set()
    )
    if "*" in listed and principal.kind is not PrincipalKind.ROOT:
        return False
    account_listed = bool(listed & set(_account_names(principal)))
    if principal.kind is PrincipalKind.ROOT:
        return not account_listed
    if has_boundary:
        return True
    if principal.kind is PrincipalKind.USER:
        if principal.arn not in listed:
            return True
        if account_listed:
            return False
        return Undecided(
            "NotPrincipal", "lists the user but not its account, which AWS may deny first"
        )
    sessions = [e for e in listed if e.startswith(_session_prefix(principal))]
    if sessions and account_listed and principal.arn in listed:
        return Undecided("NotPrincipal", "exempts only the role sessions it names")
    return True


def _account_names(principal: Principal) -> tuple[str, str]:
    return f"arn:{principal.partition}:iam::{principal.account}:root", principal.account


def _session_prefix(principal: Principal) -> str:
    """The start of the ARN of every session of a role (never a match for a user)."""
    if principal.kind not in (PrincipalKind.ROLE, PrincipalKind.SERVICE_LINKED_ROLE):
        return "\0"
    return f"arn:{principal.partition}:sts::{principal.account}:assumed-role/{principal.name}/"


# --- the key policy's view, for diagnose ------------------------------------------------------


def evaluate(
    policy: Mapping[str, Any],
    principal: Principal,
    actions: Iterable[str],
    key_region: str,
    key_arn: str | None = None,
) -> Verdict:
    """What the key policy alone says of ``actions`` for ``principal`` in an EC2 launch: whether
    it names the principal, leaves the action to IAM (its account's root), denies, or cannot be
    decided. It ignores identity policies and grants, so ALLOWED here is not the launch's verdict
    (``authorization.authorize`` is)."""
    context_arn = key_arn or f"arn:{principal.partition}:kms:{key_region}:{principal.account}:key/-"
    worst = Verdict(Access.ALLOWED)
    for action in actions:
        call = KmsCall(action, RequestContext(call_context(action, principal, context_arn)))
        found = evaluate_document(policy, call, principal, key_arn=key_arn, resource_policy=True)
        verdict = _key_policy_verdict(found, action)
        if verdict.access is Access.DENIED:
            return verdict
        if (
            verdict.access is not Access.ALLOWED and worst.access is Access.ALLOWED
        ) or verdict.access is Access.NOT_ALLOWED:
            worst = verdict
    return worst


def _key_policy_verdict(found: DocumentVerdict, action: str) -> Verdict:
    deny = found.deny
    if deny is not None:
        detail = f"Deny statement {deny.sid!r} applies to {action}"
        if not deny.certain:
            detail = f"Deny statement {deny.sid!r} may apply to {action}: {deny.undecided}"
        return Verdict(Access.DENIED, detail, deny.sid)
    if found.allow(DIRECT):
        return Verdict(Access.ALLOWED)
    account = found.allow(ACCOUNT)
    if account is not None:
        detail = f"statement {account.sid!r} delegates {action} to IAM policies"
        return Verdict(Access.UNKNOWN, detail, account.sid, delegated=True)
    undecided = found.undecided_allow
    if undecided is not None:
        detail = (
            f"statement {undecided.sid!r} has conditions this tool cannot evaluate: "
            f"{undecided.undecided}"
        )
        return Verdict(Access.UNKNOWN, detail, undecided.sid)
    return Verdict(Access.NOT_ALLOWED, f"no statement allows {action}")
