"""Reading a user's or role's identity policies with IAM's Get/List calls, as plain data.

A role: GetRole (its permissions boundary and tags), ListRolePolicies + GetRolePolicy (inline),
ListAttachedRolePolicies + GetPolicy + GetPolicyVersion (attached managed policies, AWS-managed
ones included: a service-linked role's policy is read the same way). A user: the same with the
User calls, plus ListGroupsForUser and each group's inline and attached policies. Every action is
declared in ``permissions.py``; errors leave as the domain errors of ``remediator.ports``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from remediator.adapters.errors import call, pages
from remediator.model import IdentityPolicies, NamedPolicy
from remediator.ports import NotFound


class IdentityReads:
    """The IAM identity reads of ``AwsAdapter`` (``ports.AwsPort.identity_policies``)."""

    def client(self, service: str) -> Any:
        raise NotImplementedError  # AwsAdapter's lazily made clients

    def identity_policies(self, principal_arn: str) -> IdentityPolicies | None:
        """A role's or user's identity policies; None when it does not exist."""
        return read_identity(self.client("iam"), principal_arn)


def read_identity(iam: Any, principal_arn: str) -> IdentityPolicies | None:
    """The identity policies of a role or user of the caller's account; None when IAM has no
    principal with exactly that ARN (its path included)."""
    resource = principal_arn.split(":", 5)[5]
    kind, name = resource.split("/", 1)[0], resource.rsplit("/", 1)[-1]
    try:
        if kind == "role":
            entity = call("iam:GetRole", iam.get_role, RoleName=name)["Role"]
        else:
            entity = call("iam:GetUser", iam.get_user, UserName=name)["User"]
    except NotFound:
        return None
    if entity.get("Arn") != principal_arn:
        return None
    policies = _policies(iam, kind, name) + (_groups(iam, name) if kind == "user" else [])
    boundary_arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    boundary = (
        NamedPolicy(f"permissions boundary {boundary_arn}", _managed(iam, boundary_arn))
        if boundary_arn
        else None
    )
    tags = {t["Key"]: t["Value"] for t in entity.get("Tags", [])}
    return IdentityPolicies(principal_arn, tuple(policies), boundary, tags)


def _policies(iam: Any, kind: str, name: str) -> list[NamedPolicy]:
    """The inline and attached managed policies of a role, user or group (``kind``), read with
    that kind's List*/Get* calls (ListRolePolicies + GetRolePolicy, ...)."""
    entity = kind.capitalize()  # Role, User, Group: the word in the API's names
    owner = {f"{entity}Name": name}
    inline = [
        NamedPolicy(
            f"inline policy {policy} of {kind} {name}",
            _document(
                call(
                    f"iam:Get{entity}Policy",
                    getattr(iam, f"get_{kind}_policy"),
                    **owner,
                    PolicyName=policy,
                )["PolicyDocument"]
            ),
        )
        for policy in _listed(
            iam, f"iam:List{entity}Policies", f"list_{kind}_policies", "PolicyNames", **owner
        )
    ]
    return inline + _attached(
        iam, f"iam:ListAttached{entity}Policies", f"list_attached_{kind}_policies", **owner
    )


def _groups(iam: Any, user: str) -> list[NamedPolicy]:
    groups = _listed(iam, "iam:ListGroupsForUser", "list_groups_for_user", "Groups", UserName=user)
    return [policy for group in groups for policy in _policies(iam, "group", group["GroupName"])]


def _attached(iam: Any, operation: str, method: str, **owner: str) -> list[NamedPolicy]:
    who = " ".join(f"{k.removesuffix('Name').lower()} {v}" for k, v in owner.items())
    return [
        NamedPolicy(
            f"managed policy {a['PolicyArn']} attached to {who}", _managed(iam, a["PolicyArn"])
        )
        for a in _listed(iam, operation, method, "AttachedPolicies", **owner)
    ]


def _managed(iam: Any, policy_arn: str) -> dict[str, Any]:
    version = call("iam:GetPolicy", iam.get_policy, PolicyArn=policy_arn)["Policy"][
        "DefaultVersionId"
    ]
    response = call(
        "iam:GetPolicyVersion", iam.get_policy_version, PolicyArn=policy_arn, VersionId=version
    )
    return _document(response["PolicyVersion"]["Document"])


def _listed(iam: Any, operation: str, method: str, key: str, **kwargs: str) -> Iterator[Any]:
    for page in pages(operation, iam.get_paginator(method).paginate(**kwargs)):
        yield from page.get(key, [])


def _document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, str):
        decoded = json.loads(urllib.parse.unquote(value))
        return decoded if isinstance(decoded, dict) else {}
    return dict(value)
