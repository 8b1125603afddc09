"""Would AWS let this launch use this key? An answer from an evaluator written elsewhere.

The emulator enforces no key policy, IAM policy or grant, so a test that only reads back what the
remediator wrote proves nothing about the launch. This module asks NCC Group's principalmapper
(``local_check_authorization_full``: explicit denies everywhere, SCPs, the key policy with KMS's
"the key policy must allow" rule, the cross-account rule, permissions boundaries, identity
policies) about each KMS call EC2 makes for a launch, fed with the emulator's state: the key
policy, the launching principal's identity policies and the key's grants.

What principalmapper does not model is added here, each with its source, and kept small:
the launch's request context (``LAUNCH_CALLS``), the Auto Scaling service-linked role's
AWS-managed policy (``SERVICE_LINKED_ROLE_POLICIES``) and grants (``_grant_authorizes``).
Where principalmapper itself departs from AWS, tests/unit/test_oracle.py says so in a row.

Two entry points: ``evaluate_launch`` / ``evaluate_call`` take the documents (pure, for unit
tests); ``check_launch`` / ``launch_allowed`` read them from the emulator with the clients given.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import copy
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# principalmapper 1.1.5 does `from collections import Mapping, MutableMapping`, removed in
# Python 3.10; the names moved to collections.abc. Alias them before the first import.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common import Group, Node, Policy  # noqa: E402
from principalmapper.querying.query_interface import (  # noqa: E402
    local_check_authorization_full,
)

Document = Mapping[str, Any]
ScpGroups = Sequence[Sequence[Document]]  # one list per level of the OU tree, root first
ClientsFor = Callable[[str], contextlib.AbstractContextManager[Callable[[str], Any]]]

CREATE_GRANT = "kms:CreateGrant"

# The KMS calls EC2/EBS make with the launcher's identity, per kind of launch.
# - "run" (a user or role calling RunInstances) and "asg" (an Auto Scaling service-linked role):
#   the operations of the grant AWS documents as what an Auto Scaling launch needs from a key in
#   another account ("Required AWS KMS key policy for use with encrypted volumes", example 2:
#   https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html).
#   GenerateDataKeyWithoutPlaintext creates the volume's data key, CreateGrant lets EC2 decrypt it
#   at attach (https://docs.aws.amazon.com/kms/latest/developerguide/ct-ec2two.html), Decrypt and
#   ReEncryptFrom/To serve volumes made from encrypted snapshots under the same or another key
#   (https://docs.aws.amazon.com/ebs/latest/userguide/how-ebs-encryption-works.html).
#   kms:DescribeKey, listed for console users on the EBS requirements page
#   (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html), is left
#   out: the documented grant that makes Auto Scaling launches work does not include it.
# - "start" (StartInstances of an instance whose volumes exist): only the CreateGrant for the
#   instance: "The IAM principal that calls the StartInstances API action must have
#   kms:CreateGrant permissions" (https://repost.aws/knowledge-center/kms-iam-ec2-permission,
#   seed 003).
LAUNCH_OPERATIONS = (
    "CreateGrant",
    "Decrypt",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
)
LAUNCH_CALLS: dict[str, tuple[str, ...]] = {
    "run": tuple(f"kms:{op}" for op in LAUNCH_OPERATIONS),
    "asg": tuple(f"kms:{op}" for op in LAUNCH_OPERATIONS),
    "start": (CREATE_GRANT,),
}

# DNS suffix of service principals per partition, for kms:ViaService
# (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
PARTITION_DNS = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
}

# The identity policy of a service-linked role is AWS-managed and cannot be changed. The emulator
# does not hold AutoScalingServiceRolePolicy; AWS says it "include[s] access to your AWS managed
# keys. However, they do not include access to your customer managed keys" (the Auto Scaling page
# above; domain.md "Cross account"). Modelled as no identity policy at all: for the KMS calls asked
# here that is the same answer, and nothing in IAM's copy (if any) can make it allow.
SERVICE_LINKED_ROLE_POLICIES: tuple[Document, ...] = ()

_ALLOW_EVERYTHING: Document = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Identity:
    """An IAM user or role as IAM holds it (role ARN for roles, never a session ARN)."""

    arn: str
    policies: tuple[Document, ...] = ()  # inline and attached managed policies
    groups: tuple[tuple[str, tuple[Document, ...]], ...] = ()  # (group ARN, its policies)
    boundary: Document | None = None
    unique_id: str = ""
    trust_policy: Document | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def service_linked(self) -> bool:
        return ":role/aws-service-role/" in self.arn


@dataclass(frozen=True)
class Grant:
    """A grant on the key. ``issuer`` is who created it; without it the grant counts for nothing,
    because the emulator creates grants that AWS would have refused."""

    grantee: str
    operations: frozenset[str]
    issuer: Identity | None = None
    constrained: bool = False  # has encryption-context constraints


# --- pure evaluation ---------------------------------------------------------------------------


def request_context(action: str, launcher_account: str, key_arn: str) -> dict[str, Any]:
    """The request context of a KMS call EC2 makes for a launch (domain.md, "Request context of
    EC2/EBS calls for a launch"): ViaService of EC2 in the key's region and partition, the
    launcher's account, and GrantIsForAWSResource on the grant EBS creates
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html).
    Keys not set here are absent to principalmapper, which adds only aws:PrincipalArn,
    aws:PrincipalAccount, aws:userid, aws:username, aws:PrincipalTag/*, aws:SecureTransport and
    the time: a condition on aws:PrincipalOrgID, aws:ViaAWSService, kms:EncryptionContext:*, or
    on the grantee and operations of EBS's own grant, is judged as on a missing key."""
    partition, region = key_arn.split(":")[1], key_arn.split(":")[3]
    context: dict[str, Any] = {
        "kms:ViaService": f"ec2.{region}.{PARTITION_DNS.get(partition, 'amazonaws.com')}",
        "kms:CallerAccount": launcher_account,
    }
    if action == CREATE_GRANT:
        context["kms:GrantIsForAWSResource"] = "true"
    return context


def evaluate_launch(
    identity: Identity,
    key_arn: str,
    key_policy: Document,
    kind: str,
    *,
    grants: Sequence[Grant] = (),
    scps: Mapping[str, ScpGroups] | None = None,
) -> dict[str, bool]:
    """For each KMS call of a launch of ``kind`` by ``identity``: would AWS authorize it?"""
    return {
        action: evaluate_call(
            identity,
            action,
            key_arn,
            key_policy,
            request_context(action, identity.account, key_arn),
            grants=grants,
            scps=scps,
        )
        for action in LAUNCH_CALLS[kind]
    }


def evaluate_call(
    identity: Identity,
    action: str,
    key_arn: str,
    key_policy: Document,
    context: Mapping[str, Any],
    *,
    grants: Sequence[Grant] = (),
    scps: Mapping[str, ScpGroups] | None = None,
) -> bool:
    """One KMS call on ``key_arn``: allowed by the policies, or by a grant nothing denies."""
    effective = _as_aws_holds_it(identity)
    if _ask(effective, action, key_arn, key_policy, context, scps):
        return True
    return any(
        _grant_authorizes(g, effective, action, key_arn, key_policy, context, scps) for g in grants
    )


def grant_creatable(
    grant: Grant,
    key_arn: str,
    key_policy: Document,
    scps: Mapping[str, ScpGroups] | None = None,
) -> bool:
    """Would AWS have let the grant's issuer create it? A direct CreateGrant (not made by an AWS
    service, so kms:GrantIsForAWSResource is not in the context) carrying kms:GranteePrincipal
    and kms:GrantOperations (https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html).
    The issuer's own grants are not considered: only its policies."""
    if grant.issuer is None:
        return False
    context = {
        "kms:CallerAccount": grant.issuer.account,
        "kms:GranteePrincipal": grant.grantee,
        "kms:GrantOperations": sorted(grant.operations),
    }
    issuer = _as_aws_holds_it(grant.issuer)
    return _ask(issuer, CREATE_GRANT, key_arn, key_policy, context, scps)


def _grant_authorizes(
    grant: Grant,
    identity: Identity,
    action: str,
    key_arn: str,
    key_policy: Document,
    context: Mapping[str, Any],
    scps: Mapping[str, ScpGroups] | None,
) -> bool:
    """Grants only allow: "You can use them to allow access, but not deny it"
    (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html), and no principal has a
    permission to a KMS key "unless that permission is provided explicitly and never denied"
    (https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html). So a grant to
    the principal for the operation authorizes the call unless an explicit Deny in the key
    policy, an identity policy, the permissions boundary or an SCP applies (or the SCPs allow
    nothing: they cap every request of the account's principals, IAM policy evaluation logic).
    A grantee needs no IAM policy. A grant to the account, a grant with encryption-context
    constraints (EBS's context names one volume) and one whose creation AWS would have refused
    are not counted."""
    operation = action.split(":", 1)[1]
    if grant.grantee != identity.arn or operation not in grant.operations or grant.constrained:
        return False
    if not grant_creatable(grant, key_arn, key_policy, scps):
        return False
    return not _blocked_whatever_allows(identity, action, key_arn, key_policy, context, scps)


def _blocked_whatever_allows(
    identity: Identity,
    action: str,
    key_arn: str,
    key_policy: Document,
    context: Mapping[str, Any],
    scps: Mapping[str, ScpGroups] | None,
) -> bool:
    """True when the call is refused even with every permission granted: an explicit Deny
    somewhere, or SCPs that allow nothing. Asked of principalmapper itself, by adding an allow
    of everything to the identity policies, the boundary and the key policy."""
    statements = _statements(key_policy)
    allow_principal = {
        "Effect": "Allow",
        "Principal": {"AWS": identity.arn},
        "Action": "*",
        "Resource": "*",
    }
    probe_policy = {**key_policy, "Statement": [*statements, allow_principal]}
    boundary = identity.boundary
    probe_boundary = (
        None
        if boundary is None
        else {**boundary, "Statement": [*_statements(boundary), *_ALLOW_EVERYTHING["Statement"]]}
    )
    probe = replace(
        identity, policies=(*identity.policies, _ALLOW_EVERYTHING), boundary=probe_boundary
    )
    return not _ask(probe, action, key_arn, probe_policy, context, scps)


def _as_aws_holds_it(identity: Identity) -> Identity:
    """A service-linked role's identity policies are AWS's, not what the emulator holds."""
    if identity.service_linked:
        return replace(identity, policies=SERVICE_LINKED_ROLE_POLICIES, groups=(), boundary=None)
    return identity


def _ask(
    identity: Identity,
    action: str,
    key_arn: str,
    key_policy: Document,
    context: Mapping[str, Any],
    scps: Mapping[str, ScpGroups] | None,
) -> bool:
    scp_groups = (scps or {}).get(identity.account)
    scp_policies = (
        None
        if scp_groups is None
        else [
            [Policy(f"scp-{i}-{j}", f"scp-{i}-{j}", normalise(doc)) for j, doc in enumerate(level)]
            for i, level in enumerate(scp_groups)
        ]
    )
    allowed: bool = local_check_authorization_full(
        _node(identity),
        action,
        key_arn,
        dict(context),
        normalise(key_policy),
        key_arn.split(":")[4],
        scp_policies,
        None,
    )
    return allowed


def _node(identity: Identity) -> Node:
    """A principalmapper Node built from documents alone, no AWS graph."""
    arn = identity.arn
    is_role = ":role/" in arn
    return Node(
        arn,
        identity.unique_id or arn,
        [Policy(arn, f"policy-{i}", normalise(doc)) for i, doc in enumerate(identity.policies)],
        [
            Group(
                group_arn,
                [Policy(group_arn, f"policy-{i}", normalise(d)) for i, d in enumerate(docs)],
            )
            for group_arn, docs in identity.groups
        ],
        dict(identity.trust_policy or {}) if is_role else None,
        None,
        0,
        False,
        False,  # is_admin: only used by graph searches, not by local_check_authorization_full
        None
        if identity.boundary is None
        else Policy(arn, "boundary", normalise(identity.boundary)),
        False,
        dict(identity.tags),
    )


def normalise(document: Document) -> dict[str, Any]:
    """A copy whose condition values are strings: principalmapper compares ``Bool`` values with
    the string "true" (a JSON ``true`` never matches) and parses ``Numeric`` values from strings.
    IAM treats both forms alike."""
    result: dict[str, Any] = copy.deepcopy(dict(document))
    for statement in _statements(result):
        for operator, tests in (statement.get("Condition") or {}).items():
            statement["Condition"][operator] = {
                key: [_text(v) for v in value] if isinstance(value, list) else _text(value)
                for key, value in tests.items()
            }
    return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statements(document: Document) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


# --- reading the emulator ----------------------------------------------------------------------


def check_launch(
    clients_for_account: ClientsFor,
    principal_arn: str,
    key_arn: str,
    kind: str,
    *,
    grant_issuer: str | None = None,
    scps: Mapping[str, ScpGroups] | None = None,
) -> dict[str, bool]:
    """Each KMS call of the launch, judged on the emulator's current state.

    ``clients_for_account(account)`` is a context manager yielding ``service -> client`` that
    makes calls as that account. The key policy and grants are read in the key's account, the
    principal's policies in its own. ``grant_issuer`` is the user or role whose CreateGrant made
    the key's grants (the emulator does not record it); its policies are read too, and a grant
    counts only if that principal could have created it."""
    identity = read_identity(clients_for_account, principal_arn)
    issuer = None if grant_issuer is None else read_identity(clients_for_account, grant_issuer)
    key_policy, grants = read_key(clients_for_account, key_arn, issuer)
    return evaluate_launch(identity, key_arn, key_policy, kind, grants=grants, scps=scps)


def launch_allowed(
    clients_for_account: ClientsFor,
    principal_arn: str,
    key_arn: str,
    kind: str,
    *,
    grant_issuer: str | None = None,
    scps: Mapping[str, ScpGroups] | None = None,
) -> bool:
    verdicts = check_launch(
        clients_for_account, principal_arn, key_arn, kind, grant_issuer=grant_issuer, scps=scps
    )
    return all(verdicts.values())


def read_key(
    clients_for_account: ClientsFor, key_arn: str, issuer: Identity | None
) -> tuple[Document, list[Grant]]:
    with clients_for_account(key_arn.split(":")[4]) as client:
        kms = client("kms")
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        grants = [
            Grant(
                grantee=raw["GranteePrincipal"],
                operations=frozenset(raw.get("Operations", [])),
                issuer=issuer,
                constrained=bool(raw.get("Constraints")),
            )
            for raw in _list_grants(kms, key_arn)
        ]
    return policy, grants


def read_identity(clients_for_account: ClientsFor, arn: str) -> Identity:
    """A user's or role's policies as IAM's Get/List calls return them, in its own account.

    moto 5.2.5 returns a role's permissions boundary but not a user's (GetUser omits it and
    PutUserPermissionsBoundary is not implemented), so in the emulator users have none."""
    resource = arn.split(":", 5)[5]
    kind, name = resource.split("/", 1)[0], resource.rsplit("/", 1)[-1]
    with clients_for_account(arn.split(":")[4]) as client:
        iam = client("iam")
        if kind == "role":
            return _read_role(iam, arn, name)
        if kind == "user":
            return _read_user(iam, arn, name)
    raise ValueError(f"not an IAM user or role ARN: {arn}")


def _read_role(iam: Any, arn: str, name: str) -> Identity:
    role = iam.get_role(RoleName=name)["Role"]
    base = Identity(
        arn=arn,
        unique_id=role["RoleId"],
        trust_policy=_document(role["AssumeRolePolicyDocument"]),
        boundary=_boundary(iam, role),
        tags=_tags(iam.list_role_tags(RoleName=name)),
    )
    if base.service_linked:
        return base  # its policies are AWS's: see SERVICE_LINKED_ROLE_POLICIES
    inline = [
        _document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
        for p in _pages(iam, "list_role_policies", "PolicyNames", RoleName=name)
    ]
    attached = [
        _managed(iam, a["PolicyArn"])
        for a in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
    ]
    return replace(base, policies=(*inline, *attached))


def _read_user(iam: Any, arn: str, name: str) -> Identity:
    user = iam.get_user(UserName=name)["User"]
    inline = [
        _document(iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"])
        for p in _pages(iam, "list_user_policies", "PolicyNames", UserName=name)
    ]
    attached = [
        _managed(iam, a["PolicyArn"])
        for a in _pages(iam, "list_attached_user_policies", "AttachedPolicies", UserName=name)
    ]
    groups = []
    for group in _pages(iam, "list_groups_for_user", "Groups", UserName=name):
        group_name = group["GroupName"]
        group_inline = [
            _document(iam.get_group_policy(GroupName=group_name, PolicyName=p)["PolicyDocument"])
            for p in _pages(iam, "list_group_policies", "PolicyNames", GroupName=group_name)
        ]
        group_attached = [
            _managed(iam, a["PolicyArn"])
            for a in _pages(
                iam, "list_attached_group_policies", "AttachedPolicies", GroupName=group_name
            )
        ]
        groups.append((group["Arn"], (*group_inline, *group_attached)))
    return Identity(
        arn=arn,
        policies=(*inline, *attached),
        groups=tuple(groups),
        boundary=_boundary(iam, user),
        unique_id=user["UserId"],
        tags=_tags(iam.list_user_tags(UserName=name)),
    )


def _boundary(iam: Any, entity: Mapping[str, Any]) -> Document | None:
    boundary = entity.get("PermissionsBoundary")
    return None if not boundary else _managed(iam, boundary["PermissionsBoundaryArn"])


def _managed(iam: Any, policy_arn: str) -> Document:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)
    return _document(document["PolicyVersion"]["Document"])


def _document(value: Any) -> Document:
    """IAM returns policy documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, str):
        decoded: Document = json.loads(urllib.parse.unquote(value))
        return decoded
    return dict(value)


def _tags(response: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in response.get("Tags", [])}


def _pages(client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(result_key, [])


def _list_grants(kms: Any, key_arn: str) -> Iterator[Mapping[str, Any]]:
    marker: str | None = None
    while True:
        page = kms.list_grants(KeyId=key_arn, **({"Marker": marker} if marker else {}))
        yield from page.get("Grants", [])
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return
