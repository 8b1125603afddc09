"""ARNs of keys and principals: parsing, classification and the character rules they must meet."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_ARN_LENGTH = 2048

_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
_ACCOUNT = re.compile(r"^[0-9]{12}\Z")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]\Z")
# IAM names and paths: letters, digits and + = , . @ _ - (and / between path parts).
_IAM_RESOURCE = re.compile(r"^(role|user)(/[\w+=,.@-]+)*/[\w+=,.@-]{1,128}\Z", re.ASCII)
_KEY_ID = re.compile(
    r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\Z"
)
_FEDERATED_RESOURCE = re.compile(r"federated-user/[\w+=,.@-]{2,32}", re.ASCII)
_ALIAS_NAME = re.compile(r"^alias/[a-zA-Z0-9/_-]{1,250}\Z")

SLR_PATH_PREFIX = "role/aws-service-role/"
AUTOSCALING_SLR_PATH = "role/aws-service-role/autoscaling.amazonaws.com/"
AUTOSCALING_SLR_NAME = "AWSServiceRoleForAutoScaling"


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: object) -> Arn | None:
    """Split an ARN into its parts, or None when it is not a well-formed ARN."""
    if not isinstance(text, str) or len(text) > MAX_ARN_LENGTH:
        return None
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[1] not in _PARTITIONS:
        return None
    return Arn(*parts[1:])


# --- Keys ----------------------------------------------------------------------------------


def key_arn_parts(text: object) -> Arn | None:
    """A KMS key ARN (not an alias ARN), strictly formed, or None."""
    arn = parse_arn(text)
    if arn is None or arn.service != "kms":
        return None
    if not (_REGION.match(arn.region) and _ACCOUNT.match(arn.account)):
        return None
    kind, _, key_id = arn.resource.partition("/")
    if kind != "key" or not _KEY_ID.match(key_id):
        return None
    return arn


def is_key_reference(text: object) -> bool:
    """A key ARN, key id, alias name or alias ARN: what KMS accepts as ``KeyId``."""
    if not isinstance(text, str) or len(text) > MAX_ARN_LENGTH:
        return False
    if _KEY_ID.match(text) or _ALIAS_NAME.match(text):
        return True
    arn = parse_arn(text)
    if arn is None or arn.service != "kms" or not _ACCOUNT.match(arn.account):
        return False
    return key_arn_parts(text) is not None or bool(_ALIAS_NAME.match(arn.resource))


def key_id_of(text: str) -> str | None:
    """The key id a reference names directly (key id or key ARN); None for aliases."""
    if _KEY_ID.match(text):
        return text
    arn = key_arn_parts(text)
    return arn.resource.split("/", 1)[1] if arn else None


# --- Principals ----------------------------------------------------------------------------


class PrincipalKind(StrEnum):
    SERVICE_LINKED_ROLE = "service-linked-role"
    ROLE = "role"
    USER = "user"
    ROOT = "account-root"
    FEDERATED = "federated"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """The IAM identity a key policy or grant must name: a role or user ARN, never a session."""

    arn: str
    kind: PrincipalKind
    account: str

    @property
    def partition(self) -> str:
        return self.arn.split(":", 2)[1]

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


class PrincipalError(ValueError):
    """The event's identity cannot safely be named in a key policy or grant."""


def principal_from_arn(text: object) -> Principal:
    """Classify an IAM ARN; raise ``PrincipalError`` for anything that is not a safe, exact name."""
    if not isinstance(text, str) or not text:
        raise PrincipalError("no principal ARN")
    if len(text) > MAX_ARN_LENGTH:
        raise PrincipalError("principal ARN is longer than any IAM ARN can be")
    if "*" in text or "?" in text:
        raise PrincipalError(f"principal {text!r} contains a wildcard")
    arn = parse_arn(text)
    if arn is None or not _ACCOUNT.match(arn.account):
        raise PrincipalError(f"principal {text!r} is not a well-formed ARN")
    if arn.service == "sts":
        if _FEDERATED_RESOURCE.fullmatch(arn.resource):
            return Principal(text, PrincipalKind.FEDERATED, arn.account)
        raise PrincipalError(
            f"principal {text!r} is a session, not a role or user; policies must name the role ARN"
        )
    if arn.service != "iam" or arn.region:
        raise PrincipalError(f"principal {text!r} is not an IAM ARN")
    if arn.resource == "root":
        return Principal(text, PrincipalKind.ROOT, arn.account)
    if not _IAM_RESOURCE.match(arn.resource):
        raise PrincipalError(f"principal {text!r} has characters IAM does not allow in names")
    if arn.resource.startswith("user/"):
        return Principal(text, PrincipalKind.USER, arn.account)
    if arn.resource.startswith(SLR_PATH_PREFIX):
        return Principal(text, PrincipalKind.SERVICE_LINKED_ROLE, arn.account)
    return Principal(text, PrincipalKind.ROLE, arn.account)


def autoscaling_slr_arn(account: str, partition: str = "aws") -> str:
    """The default Auto Scaling service-linked role of an account."""
    return f"arn:{partition}:iam::{account}:{AUTOSCALING_SLR_PATH}{AUTOSCALING_SLR_NAME}"


def is_account_id(text: object) -> bool:
    return isinstance(text, str) and bool(_ACCOUNT.match(text))


def is_region(text: object) -> bool:
    """An AWS region name such as ``eu-west-1`` or ``us-gov-west-1``."""
    return isinstance(text, str) and bool(_REGION.match(text))
