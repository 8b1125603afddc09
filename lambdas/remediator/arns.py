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
# A service-linked role lives at /aws-service-role/<service principal>/ (as the Auto Scaling
# role's ARN role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling
# shows): one path segment, the service principal IAM's CreateServiceLinkedRole takes as
# AWSServiceName ("the service principal for the AWS service to which this role is attached",
# "unique and case-sensitive", e.g. elasticbeanstalk.amazonaws.com; IAM API reference,
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html). Role
# names are at most 64 characters (CreateRole). A role under aws-service-role/ at any other
# path is no service-linked role: it is classified, and checked in IAM, as an ordinary role.
_SLR_RESOURCE = re.compile(
    r"^role/aws-service-role/([a-z0-9-]+(?:\.[a-z0-9-]+)+)/[\w+=,.@-]{1,64}\Z", re.ASCII
)
# The services that launch EC2 instances with their own service-linked role, so that the
# role itself makes the KMS calls of the launch (the domain's launcher table). Each one is also
# in denied_calls.AWS_LAUNCH_CALLERS, the callers whose denied KMS calls count as launches.
# - autoscaling: AWSServiceRoleForAutoScaling[_suffix] (EC2 Auto Scaling user guide,
#   "Service-linked roles for Amazon EC2 Auto Scaling"; also EKS managed node groups);
# - spot: AWSServiceRoleForEC2Spot (EC2 user guide, "Service-linked role for Spot Instance
#   requests");
# - spotfleet: AWSServiceRoleForEC2SpotFleet (EC2 user guide, "Spot Fleet permissions");
# - ec2fleet: AWSServiceRoleForEC2Fleet (EC2 user guide, "EC2 Fleet prerequisites",
#   service-linked role for EC2 Fleet).
LAUNCHER_SLR_SERVICES = (
    "autoscaling.amazonaws.com",
    "spot.amazonaws.com",
    "spotfleet.amazonaws.com",
    "ec2fleet.amazonaws.com",
)


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

    @property
    def service(self) -> str | None:
        """The service principal a service-linked role is linked to (from its path), else None."""
        if self.kind is not PrincipalKind.SERVICE_LINKED_ROLE:
            return None
        return service_linked_role_service(self.arn.split(":", 5)[5])


def service_linked_role_service(resource: str) -> str | None:
    """The service principal of ``role/aws-service-role/<service>/<name>``, else None."""
    match = _SLR_RESOURCE.match(resource)
    return match.group(1) if match else None


def launches_for_its_service(principal: Principal) -> bool:
    """A service-linked role of a service that launches instances with it
    (``LAUNCHER_SLR_SERVICES``), at that service's path."""
    return principal.service in LAUNCHER_SLR_SERVICES


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
    if service_linked_role_service(arn.resource) is not None:
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
