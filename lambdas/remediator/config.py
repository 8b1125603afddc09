"""Configuration: one validated model, parsed once at the edge.

The same model validates the CDK context at synth time (``infra/``) and the Lambda's
``REMEDIATOR_CONFIG`` at run time, so a bad value fails ``cdk synth`` with the same message
the Lambda would log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from remediator.arns import (
    SLR_PATH_PREFIX,
    PrincipalError,
    PrincipalKind,
    is_account_id,
    parse_arn,
    principal_from_arn,
)
from remediator.globs import glob_matches, has_glob

MAX_PATTERN_LENGTH = 2048

# --- Allowlist entries ------------------------------------------------------------------------
#
# An entry must say which principals or keys it means, so that no entry can mean "everyone":
# a principal pattern names a resource type (role/... or user/...) in one account, and a key
# pattern names key/... in one account. Globs never cross "/" or ":" (see globs.py), so
# role/* means the roles at path "/" of that account, not every role.

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


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the field."""


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


class Remedy(StrEnum):
    AUTO = "auto"
    KEY_POLICY = "key-policy"
    GRANT = "grant"


Pattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_LENGTH)]


class Allowlist(BaseModel):
    """Globs matched against full ARNs (globs.py). Empty means nothing may be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: tuple[Pattern, ...] = ()
    keys: tuple[Pattern, ...] = ()

    @field_validator("principals")
    @classmethod
    def _principal_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_each(value, principal_pattern_problem)

    @field_validator("keys")
    @classmethod
    def _key_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_each(value, key_pattern_problem)

    def allows_key(self, key_arn: str) -> bool:
        return any(glob_matches(pattern, key_arn) for pattern in self.keys)

    def allows_principal(self, principal_arn: str) -> bool:
        return any(glob_matches(pattern, principal_arn) for pattern in self.principals)

    def names_principal_exactly(self, principal_arn: str) -> bool:
        """True when an entry is this very ARN, with no glob: needed for roots and federated ids."""
        return principal_arn in self.principals


def _check_each(
    patterns: tuple[str, ...], problem_of: Callable[[str], str | None]
) -> tuple[str, ...]:
    for pattern in patterns:
        problem = problem_of(pattern)
        if problem:
            raise ValueError(f"{pattern!r} {problem}")
    return patterns


# An IAM role name: 1 to 64 of letters, digits and +=,.@_- (IAM API reference, CreateRole,
# RoleName: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)


class AccountOverride(BaseModel):
    """What changes for one account of an organization: its own allowlist, its own mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: Allowlist | None = None
    mode: Mode | None = None

    @model_validator(mode="after")
    def _overrides_something(self) -> AccountOverride:
        if self.allow is None and self.mode is None:
            raise ValueError("an account entry must set allow, mode or both")
        return self


class RemediatorConfig(BaseModel):
    """What the remediator may change, and how. See the README's configuration reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Mode.ENFORCE
    allow: Allowlist = Allowlist()
    remedy: Remedy = Remedy.AUTO
    # Anti-loop: beyond this many changes to one key within an hour, refuse and notify.
    max_changes_per_key_per_hour: int = Field(default=10, ge=1, le=1000, strict=True)
    # Incidents (with a state table): the events of one (key, principal) pair within this many
    # minutes of the first are one incident, decided and notified once (incidents.py).
    incident_window_minutes: int = Field(default=15, ge=1, le=1440, strict=True)
    # Organization mode: the role the engine assumes in every other account (by name; the
    # account comes from the event), and per-account overrides of allow and mode.
    member_role: str | None = None
    accounts: dict[str, AccountOverride] = Field(default_factory=dict)

    @field_validator("member_role")
    @classmethod
    def _role_name(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role name; expected 1 to 64 letters, digits "
                "and +=,.@_- (a name, not an ARN)"
            )
        return value

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, value: dict[str, AccountOverride]) -> dict[str, AccountOverride]:
        for account in value:
            if not is_account_id(account):
                raise ValueError(f"{account!r} is not a 12-digit account id")
        return value

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN

    def for_account(self, account: str) -> RemediatorConfig:
        """The configuration in force for ``account``: its entry's allow and mode replace the
        top-level ones (each one it sets); an account without an entry gets the top level."""
        override = self.accounts.get(account)
        if override is None:
            return self
        replaced = {
            name: value
            for name, value in (("allow", override.allow), ("mode", override.mode))
            if value is not None
        }
        return self.model_copy(update=replaced)

    def widest_allowlist(self) -> Allowlist:
        """Every key and principal some account may have changed: the top-level allowlist and
        each account's, in order, without repeats. What IAM must permit at least."""
        allowlists = [self.allow, *(o.allow for o in self.accounts.values() if o.allow)]
        return Allowlist(
            principals=tuple(dict.fromkeys(p for a in allowlists for p in a.principals)),
            keys=tuple(dict.fromkeys(k for a in allowlists for k in a.keys)),
        )

    def to_json(self) -> str:
        """The JSON the Lambda parses back. The organization fields are written only when set,
        so a single-account configuration reads as it did before they existed."""
        unset = {name for name in ("member_role", "accounts") if not getattr(self, name)}
        return self.model_dump_json(exclude=unset)


def parse_config(data: Mapping[str, Any] | None) -> RemediatorConfig:
    """Validate a configuration mapping; raise ``ConfigError`` naming every bad field."""
    if data is None:
        return RemediatorConfig()
    if not isinstance(data, Mapping):
        raise ConfigError(f"configuration must be a JSON object, got {type(data).__name__}")
    try:
        return RemediatorConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def load_config(text: str | None) -> RemediatorConfig:
    """Parse the JSON text of ``REMEDIATOR_CONFIG`` (or a ``--config`` file)."""
    if text is None or not text.strip():
        return RemediatorConfig()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"configuration is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration must be a JSON object, got {type(data).__name__}")
    return parse_config(data)


def _describe(err: ValidationError) -> str:
    problems = []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(root)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{field}: {message}")
    return "invalid configuration: " + "; ".join(problems)


# --- Runtime settings: the Lambda's environment, read once at the edge ---------------------


@dataclass(frozen=True)
class Settings:
    """Names of the environment variables the Lambda reads; the stack sets exactly these."""

    config: RemediatorConfig
    notify_topic_arn: str | None = None
    state_table_name: str | None = None
    recheck_queue_url: str | None = None

    ENV_CONFIG = "REMEDIATOR_CONFIG"
    ENV_TOPIC = "NOTIFY_TOPIC_ARN"
    ENV_STATE_TABLE = "STATE_TABLE_NAME"
    ENV_RECHECK_QUEUE = "RECHECK_QUEUE_URL"

    @classmethod
    def env_names(cls) -> tuple[str, ...]:
        return (cls.ENV_CONFIG, cls.ENV_TOPIC, cls.ENV_STATE_TABLE, cls.ENV_RECHECK_QUEUE)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            config=load_config(environ.get(cls.ENV_CONFIG)),
            notify_topic_arn=environ.get(cls.ENV_TOPIC) or None,
            state_table_name=environ.get(cls.ENV_STATE_TABLE) or None,
            recheck_queue_url=environ.get(cls.ENV_RECHECK_QUEUE) or None,
        )
