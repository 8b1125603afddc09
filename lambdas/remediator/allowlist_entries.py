"""The rules an allowlist entry must follow, so that no entry can mean "everyone".

A principal pattern names a resource type (role/... or user/...) in one account, and a key
pattern names key/... in one account. Globs never cross "/" or ":" (see globs.py), so role/*
means the roles at path "/" of that account, not every role. Each rule returns what is wrong
with an entry, or None; config.py names the field.
"""

from __future__ import annotations

import re

from remediator.arns import (
    SLR_PATH_PREFIX,
    PrincipalError,
    PrincipalKind,
    is_account_id,
    parse_arn,
    principal_from_arn,
)
from remediator.globs import has_glob

MAX_PATTERN_LENGTH = 2048

# What a rejected principal entry should look like instead.
_PRINCIPAL_EXPECTED = (
    "expected arn:aws:iam::ACCOUNT:role/NAME or arn:aws:iam::ACCOUNT:user/NAME "
    "(path segments allowed, * and ? only within a segment)"
)
_EXACT_EXPECTED = (
    "expected the exact ARN, without a glob: arn:aws:iam::ACCOUNT:root or "
    "arn:aws:sts::ACCOUNT:federated-user/NAME"
)
_PARTITION_PROBLEM = "has partition {!r}; expected aws, aws-cn, aws-us-gov or '*'"
_KEY_EXPECTED = "expected arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (REGION and KEY-ID may be globs)"
# A service principal as it appears in a service-linked role's path
# (role/aws-service-role/SERVICE/NAME): a dotted name such as autoscaling.amazonaws.com or
# spot.amazonaws.com, here without any glob. IAM API reference, CreateServiceLinkedRole:
# AWSServiceName is "the service principal for the AWS service to which this role is attached"
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html).
_SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+\Z")
# Globs are checked against the ARN rules of arns.py by standing in a character every IAM
# name may hold for each of them, and a valid account id for an account wildcard.
_GLOB_STAND_IN = "x"
_ACCOUNT_STAND_IN = "000000000000"
_EXACT_KINDS = (PrincipalKind.ROOT, PrincipalKind.FEDERATED)
_PATTERN_KINDS = (PrincipalKind.ROLE, PrincipalKind.USER, PrincipalKind.SERVICE_LINKED_ROLE)
_REGION_PATTERN = re.compile(r"^[a-z0-9*?-]+\Z")
# KMS key ids are lowercase: a UUID, or mrk- and 32 hex digits for multi-Region keys.
_KEY_RESOURCE_PATTERN = re.compile(r"^key/[a-z0-9*?-]+\Z")


def principal_pattern_problem(pattern: str) -> str | None:
    """What is wrong with an ``allow.principals`` entry, or None when it is valid."""
    parts = pattern.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts") or parts[3]:
        return f"is not an IAM principal ARN pattern; {_PRINCIPAL_EXPECTED}"
    _, partition, service, _, account, resource = parts
    if service == "sts" or resource == "root":
        # Roots and federated users stand for more than one identity, so decide() changes
        # them only when an entry is their very ARN.
        if has_glob(pattern) or _exact_kind(pattern) not in _EXACT_KINDS:
            return f"is an account root or an STS identity; {_EXACT_EXPECTED}"
        return None
    if not resource.startswith(("role/", "user/")):
        return f"names no resource type (role/ or user/) after the account; {_PRINCIPAL_EXPECTED}"
    if account == "*" and _is_service_linked_role_path(resource):
        # The one account wildcard: a service-linked role path with a literal service. Only
        # AWS creates roles under /aws-service-role/ (IAM CreateRole refuses the path:
        # "Path prefix '/aws-service-role/' can only be used for AWS Service linked Roles"),
        # so this names one service's own roles in every account, as a hub serving the
        # accounts of an organization needs.
        account = _ACCOUNT_STAND_IN
    elif not is_account_id(account):
        return (
            f"has account {account!r}; expected a 12-digit account id "
            "('*' only before a service-linked role path, role/aws-service-role/SERVICE/NAME "
            "with SERVICE spelled out)"
        )
    if not _is_partition_pattern(partition):
        return _PARTITION_PROBLEM.format(partition)
    stand_in = resource.replace("*", _GLOB_STAND_IN).replace("?", _GLOB_STAND_IN)
    if _exact_kind(f"arn:aws:iam::{account}:{stand_in}") not in _PATTERN_KINDS:
        return (
            "has a path or name IAM does not allow; expected letters, digits and +=,.@_- "
            "between single slashes, with * and ? as globs"
        )
    return None


def key_pattern_problem(pattern: str) -> str | None:
    """What is wrong with an ``allow.keys`` entry, or None when it is valid."""
    parts = pattern.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
        return f"is not a KMS key ARN pattern; {_KEY_EXPECTED}"
    _, partition, _, region, account, resource = parts
    if not _is_partition_pattern(partition):
        return _PARTITION_PROBLEM.format(partition)
    if not _REGION_PATTERN.match(region):
        return f"has region {region!r}; expected a region such as eu-west-1, or a glob (eu-*, *)"
    # No account wildcard for keys: an entry is also the resource of the Lambda's
    # kms:PutKeyPolicy and kms:CreateGrant permissions, and the keys a deployment may change
    # belong to accounts it knows by id (its own, or a key owner's for a cross-account grant).
    if not is_account_id(account):
        return f"has account {account!r}; expected a 12-digit account id"
    if not _KEY_RESOURCE_PATTERN.match(resource):
        return (
            f"has resource {resource!r}; expected key/KEY-ID, where KEY-ID has lowercase "
            "letters, digits, -, * and ? (an alias is not a key)"
        )
    return None


def _is_partition_pattern(partition: str) -> bool:
    """A partition arns.py knows, or "*" (an account id lives in exactly one partition)."""
    return partition == "*" or parse_arn(f"arn:{partition}:iam:::") is not None


def _exact_kind(arn: str) -> PrincipalKind | None:
    try:
        return principal_from_arn(arn).kind
    except PrincipalError:
        return None


def _is_service_linked_role_path(resource: str) -> bool:
    """``role/aws-service-role/SERVICE/NAME`` with a literal service principal."""
    if not resource.startswith(SLR_PATH_PREFIX):
        return False
    segments = resource.removeprefix(SLR_PATH_PREFIX).split("/")
    return len(segments) == 2 and bool(_SERVICE_PRINCIPAL.match(segments[0])) and bool(segments[1])
