"""Configuration: one validated model, parsed once at the edge.

The same model validates the CDK context at synth time (``infra/``) and the Lambda's
``REMEDIATOR_CONFIG`` at run time, so a bad value fails ``cdk synth`` with the same message
the Lambda would log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_PATTERN_LENGTH = 2048

# An allowlist entry must be an IAM (or STS federated-user) ARN pattern, so that a bare "*" is
# rejected. A pattern such as arn:aws:iam::ACCOUNT:* (every role and user of one account) is
# allowed: it is explicit, and roots and federated users still need an exact entry.
_PRINCIPAL_PATTERN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|\*):(iam::[0-9*?]+:[!-~]+|sts::[0-9]{12}:federated-user/[!-~]+)\Z"
)
_KEY_PATTERN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|\*):kms:[a-z0-9*?-]*:[0-9*?]+:key/[!-~]+\Z")


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
    """Shell-style globs matched against full ARNs. Empty means nothing may be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: tuple[Pattern, ...] = ()
    keys: tuple[Pattern, ...] = ()

    @field_validator("principals")
    @classmethod
    def _principal_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not _PRINCIPAL_PATTERN.match(pattern):
                raise ValueError(
                    f"{pattern!r} is not an IAM principal ARN pattern "
                    "(expected arn:aws:iam::ACCOUNT:role/... or :user/...)"
                )
        return value

    @field_validator("keys")
    @classmethod
    def _key_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not _KEY_PATTERN.match(pattern):
                raise ValueError(
                    f"{pattern!r} is not a KMS key ARN pattern "
                    "(expected arn:aws:kms:REGION:ACCOUNT:key/...)"
                )
        return value

    def allows_key(self, key_arn: str) -> bool:
        return any(fnmatchcase(key_arn, pattern) for pattern in self.keys)

    def allows_principal(self, principal_arn: str) -> bool:
        return any(fnmatchcase(principal_arn, pattern) for pattern in self.principals)

    def names_principal_exactly(self, principal_arn: str) -> bool:
        """True when an entry is this very ARN, with no glob: needed for roots and federated ids."""
        return principal_arn in self.principals


class RemediatorConfig(BaseModel):
    """What the remediator may change, and how. See the README's configuration reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Mode.ENFORCE
    allow: Allowlist = Allowlist()
    remedy: Remedy = Remedy.AUTO
    # Anti-loop: beyond this many changes to one key within an hour, refuse and notify.
    max_changes_per_key_per_hour: int = Field(default=10, ge=1, le=1000, strict=True)

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN


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

    ENV_CONFIG = "REMEDIATOR_CONFIG"
    ENV_TOPIC = "NOTIFY_TOPIC_ARN"
    ENV_STATE_TABLE = "STATE_TABLE_NAME"

    @classmethod
    def env_names(cls) -> tuple[str, ...]:
        return (cls.ENV_CONFIG, cls.ENV_TOPIC, cls.ENV_STATE_TABLE)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            config=load_config(environ.get(cls.ENV_CONFIG)),
            notify_topic_arn=environ.get(cls.ENV_TOPIC) or None,
            state_table_name=environ.get(cls.ENV_STATE_TABLE) or None,
        )
