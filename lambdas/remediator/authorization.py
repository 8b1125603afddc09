"""Would AWS authorize each KMS call of a launch? The key policy, the principal's identity policies
and permissions boundary, and the key's grants, combined as AWS combines them. Pure.

The rules, per call (IAM user guide, policy evaluation logic and its cross-account page; KMS
developer guide, key policies, "Allowing users in other accounts to use a KMS key", grants):

1. An explicit Deny in the key policy, an identity policy or the permissions boundary wins; one
   that may apply counts as applying. Where the identity side could not be read, nothing can be
   proven.
2. A grant to the principal for the operation allows it; a grantee needs no IAM policy.
3. Otherwise the key policy must allow: a statement naming the principal suffices in the key's
   own account (for a role, within its permissions boundary, whose implicit deny limits a policy
   that names a role); a statement naming its account (the root) leaves it to the principal's
   identity policies, which must allow (and its boundary, if it has one). For a principal of
   another account, the key policy and its identity policies must both allow.

Service control policies, resource control policies and session policies are not read: a Deny
there is invisible to this evaluator (README, "Limitations").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from remediator.access import ACCOUNT, DIRECT, Access, DocumentVerdict, evaluate_document
from remediator.arns import Principal, PrincipalKind
from remediator.launch_model import KmsCall, LaunchKind, launch_calls
from remediator.model import Grant, IdentityPolicies, NamedPolicy

EVALUATION = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
)
CROSS_ACCOUNT = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"


class Blocker(StrEnum):
    """Where the decision lies, when the call is not (proven) allowed."""

    NOTHING = "nothing"
    KEY_POLICY = "key-policy"
    IDENTITY_POLICY = "identity-policy"
    PERMISSIONS_BOUNDARY = "permissions-boundary"
    IDENTITY_UNREADABLE = "identity-unreadable"  # this account's IAM could not be read
    OTHER_ACCOUNT_IDENTITY = "other-account-identity"  # the principal's IAM is another account's
    OTHER_ACCOUNT_KEY_POLICY = "other-account-key-policy"  # the key policy is another account's
    CONDITION = "condition"  # a condition this tool cannot decide


ELSEWHERE = frozenset(
    {
        Blocker.IDENTITY_POLICY,
        Blocker.PERMISSIONS_BOUNDARY,
        Blocker.IDENTITY_UNREADABLE,
        Blocker.OTHER_ACCOUNT_IDENTITY,
    }
)


class IdentityState(StrEnum):
    READ = "read"
    UNREADABLE = "unreadable"
    NOT_FOUND = "not-found"  # IAM has no principal with exactly that ARN
    OTHER_ACCOUNT = "other-account"
    AWS_MANAGED = "aws-managed"  # another account's service-linked role: AWS's policy


@dataclass(frozen=True)
class IdentitySide:
    """The principal's identity policies as far as they could be read, and why not."""

    state: IdentityState
    policies: IdentityPolicies | None = None
    note: str = ""

    @classmethod
    def read(cls, policies: IdentityPolicies) -> IdentitySide:
        return cls(IdentityState.READ, policies)

    @classmethod
    def unreadable(cls, note: str) -> IdentitySide:
        return cls(IdentityState.UNREADABLE, note=note)

    @property
    def documents(self) -> tuple[NamedPolicy, ...]:
        return self.policies.policies if self.policies else ()

    @property
    def boundary(self) -> NamedPolicy | None:
        return self.policies.boundary if self.policies else None

    @property
    def tags(self) -> dict[str, str] | None:
        return self.policies.tags if self.policies else None


@dataclass(frozen=True)
class Sources:
    key_policy: Mapping[str, Any] | None  # None: another account's key, unreadable here
    identity: IdentitySide
    grants: Sequence[Grant] | None = None  # None: not listable


@dataclass(frozen=True)
class CallVerdict:
    action: str
    access: Access
    blocker: Blocker = Blocker.NOTHING
    detail: str = ""
    via: str = ""  # what allows it


@dataclass(frozen=True)
class LaunchVerdict:
    kind: LaunchKind
    access: Access
    blocker: Blocker
    detail: str
    calls: tuple[CallVerdict, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return self.access is Access.ALLOWED


_RANK = {Access.DENIED: 0, Access.NOT_ALLOWED: 1, Access.UNKNOWN: 2, Access.ALLOWED: 3}


def authorize(
    sources: Sources, principal: Principal, key_arn: str, kind: LaunchKind
) -> LaunchVerdict:
    """Each KMS call of a ``kind`` launch by ``principal`` on ``key_arn``, and the launch's
    verdict: the first call that is denied, else not allowed, else undecided, else allowed."""
    tags = sources.identity.tags
    # A user's tags are all its tags; a role session may add session tags (GLOBAL_KEYS,
    # aws:PrincipalTag), except a service-linked role's, which AWS assumes without any.
    complete = principal.kind in (PrincipalKind.USER, PrincipalKind.SERVICE_LINKED_ROLE)
    calls = launch_calls(
        kind, principal, key_arn, principal_tags=tags, tags_complete=complete and tags is not None
    )
    verdicts = tuple(authorize_call(sources, principal, key_arn, call) for call in calls)
    worst = min(verdicts, key=lambda v: _RANK[v.access])
    return LaunchVerdict(kind, worst.access, worst.blocker, worst.detail, verdicts)


def grant_allows(
    grants: Sequence[Grant] | None, principal: Principal, call: KmsCall
) -> Grant | None:
    """A grant that lets ``principal`` make ``call`` (launch_model.GRANT_HOLDER_SOURCE): its
    grantee, the operation among its operations, no encryption-context constraint (EBS's context
    names one volume), and for CreateGrant the requested operations within its own."""
    operation = call.action.split(":", 1)[1]
    requested = call.context.lookup("kms:grantoperations")
    for grant in grants or ():
        if grant.grantee != principal.arn or grant.constrained:
            continue
        if operation not in grant.operations:
            continue
        if isinstance(requested, tuple) and not set(requested) <= set(grant.operations):
            continue
        return grant
    return None


@dataclass(frozen=True)
class _Documents:
    key: DocumentVerdict | None
    identity: tuple[tuple[NamedPolicy, DocumentVerdict], ...]
    boundary: tuple[NamedPolicy, DocumentVerdict] | None


def authorize_call(
    sources: Sources, principal: Principal, key_arn: str, call: KmsCall
) -> CallVerdict:
    """One KMS call (see the module's rules)."""
    identity = sources.identity
    has_boundary = identity.boundary is not None

    def judge(document: Mapping[str, Any], resource_policy: bool) -> DocumentVerdict:
        return evaluate_document(
            document,
            call,
            principal,
            key_arn=key_arn,
            resource_policy=resource_policy,
            has_boundary=has_boundary,
        )

    boundary = identity.boundary
    docs = _Documents(
        judge(sources.key_policy, True) if sources.key_policy is not None else None,
        tuple((p, judge(p.document, False)) for p in identity.documents),
        (boundary, judge(boundary.document, False)) if boundary else None,
    )
    denied = _explicit_deny(docs, call.action)
    if denied is not None:
        return denied
    if identity.state in (IdentityState.UNREADABLE, IdentityState.NOT_FOUND):
        return CallVerdict(call.action, Access.UNKNOWN, Blocker.IDENTITY_UNREADABLE, identity.note)
    grant = grant_allows(sources.grants, principal, call)
    if grant is not None:
        return CallVerdict(call.action, Access.ALLOWED, via=f"grant {grant.name or grant.grant_id}")
    return _policies(docs, identity, principal, key_arn, call.action)


def _explicit_deny(docs: _Documents, action: str) -> CallVerdict | None:
    found: list[tuple[Blocker, str, DocumentVerdict]] = []
    if docs.key is not None:
        found.append((Blocker.KEY_POLICY, "the key policy", docs.key))
    found += [(Blocker.IDENTITY_POLICY, p.name, v) for p, v in docs.identity]
    if docs.boundary is not None:
        found.append((Blocker.PERMISSIONS_BOUNDARY, docs.boundary[0].name, docs.boundary[1]))
    for blocker, where, verdict in found:
        deny = verdict.deny
        if deny is not None:
            detail = f"Deny statement {deny.sid!r} of {where} applies to {action}"
            if not deny.certain:
                detail = (
                    f"Deny statement {deny.sid!r} of {where} may apply to {action}: "
                    f"{deny.undecided}"
                )
            return CallVerdict(action, Access.DENIED, blocker, detail)
    return None


def _policies(
    docs: _Documents, identity: IdentitySide, principal: Principal, key_arn: str, action: str
) -> CallVerdict:
    if docs.key is None:
        key_account = key_arn.split(":")[4]
        detail = (
            f"the key policy is in account {key_account} and cannot be read from here; only a "
            "grant is visible from here"
        )
        return CallVerdict(action, Access.UNKNOWN, Blocker.OTHER_ACCOUNT_KEY_POLICY, detail)
    same_account = principal.account == key_arn.split(":")[4]
    direct, account = docs.key.allow(DIRECT), docs.key.allow(ACCOUNT)
    if direct is not None and same_account:
        via = f"key policy statement {direct.sid!r}"
        role = principal.kind in (PrincipalKind.ROLE, PrincipalKind.SERVICE_LINKED_ROLE)
        if role and docs.boundary is not None:
            return _within_boundary(docs.boundary, action, via)
        return CallVerdict(action, Access.ALLOWED, via=via)
    named = direct or account
    through_iam = _identity_allows(docs, identity, principal, action, named.sid) if named else None
    if through_iam is not None and through_iam.access is Access.ALLOWED:
        return through_iam
    undecided = docs.key.undecided_allow
    if undecided is not None:
        detail = (
            f"key policy statement {undecided.sid!r} allows {action} only on a condition this tool "
            f"cannot decide: {undecided.undecided}"
        )
        return CallVerdict(action, Access.UNKNOWN, Blocker.CONDITION, detail)
    if through_iam is not None:
        return through_iam
    detail = f"no statement of the key policy allows {action} for {principal.arn}"
    return CallVerdict(action, Access.NOT_ALLOWED, Blocker.KEY_POLICY, detail)


def _identity_allows(
    docs: _Documents, identity: IdentitySide, principal: Principal, action: str, sid: str
) -> CallVerdict:
    """The key policy names the principal (cross-account) or its account: IAM decides too."""
    why = (
        f"the key policy allows {action} to it (statement {sid!r}) only with its identity policies"
    )
    if identity.state is IdentityState.OTHER_ACCOUNT:
        detail = (
            f"{why}, which are in account {principal.account} and cannot be read from here: an "
            f"identity policy of {principal.arn} must allow {action} on the key"
        )
        return CallVerdict(action, Access.UNKNOWN, Blocker.OTHER_ACCOUNT_IDENTITY, detail)
    for policy, verdict in docs.identity:
        allow = verdict.allow()
        if allow is not None:
            via = f"{policy.name} (statement {allow.sid!r})"
            if docs.boundary is not None:
                return _within_boundary(docs.boundary, action, via)
            return CallVerdict(action, Access.ALLOWED, via=via)
    for policy, verdict in docs.identity:
        undecided = verdict.undecided_allow
        if undecided is not None:
            detail = (
                f"{policy.name} allows {action} only on a condition this tool cannot decide: "
                f"{undecided.undecided}"
            )
            return CallVerdict(action, Access.UNKNOWN, Blocker.CONDITION, detail)
    lacks = (
        "its identity policy is AWS-managed and allows no use of customer managed keys"
        if identity.state is IdentityState.AWS_MANAGED
        or principal.kind is PrincipalKind.SERVICE_LINKED_ROLE
        else f"no identity policy of {principal.arn} allows it"
    )
    return CallVerdict(action, Access.NOT_ALLOWED, Blocker.IDENTITY_POLICY, f"{why}, and {lacks}")


def _within_boundary(
    boundary: tuple[NamedPolicy, DocumentVerdict], action: str, via: str
) -> CallVerdict:
    policy, verdict = boundary
    if verdict.allow() is not None:
        return CallVerdict(action, Access.ALLOWED, via=via)
    undecided = verdict.undecided_allow
    if undecided is not None:
        detail = f"{policy.name} allows {action} only if {undecided.undecided}"
        return CallVerdict(action, Access.UNKNOWN, Blocker.CONDITION, detail)
    detail = f"{policy.name} does not allow {action}, and it caps what any policy allows"
    return CallVerdict(action, Access.NOT_ALLOWED, Blocker.PERMISSIONS_BOUNDARY, detail)
