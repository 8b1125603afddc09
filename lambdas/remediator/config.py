"""Configuration: one validated model (frozen dataclasses, checked by ``parse_config``), parsed
once at the edge.

The same model validates the CDK context at synth time (``infra/``) and the Lambda's
``REMEDIATOR_CONFIG`` at run time, so a bad value fails ``cdk synth`` with the same message
the Lambda would log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from remediator.allowlist_entries import (
    MAX_PATTERN_LENGTH,
    key_pattern_problem,
    principal_pattern_problem,
)
from remediator.arns import is_account_id
from remediator.globs import glob_matches
from remediator.validation import Checker, at


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the field."""


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


class Remedy(StrEnum):
    AUTO = "auto"
    KEY_POLICY = "key-policy"
    GRANT = "grant"


@dataclass(frozen=True)
class Allowlist:
    """Globs matched against full ARNs (globs.py). Empty means nothing may be changed."""

    principals: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    def allows_key(self, key_arn: str) -> bool:
        return any(glob_matches(pattern, key_arn) for pattern in self.keys)

    def allows_principal(self, principal_arn: str) -> bool:
        return any(glob_matches(pattern, principal_arn) for pattern in self.principals)

    def names_principal_exactly(self, principal_arn: str) -> bool:
        """True when an entry is this very ARN, with no glob: needed for roots and federated ids."""
        return principal_arn in self.principals

    def as_json(self) -> dict[str, Any]:
        return {"principals": list(self.principals), "keys": list(self.keys)}


# An IAM role name: 1 to 64 of letters, digits and +=,.@_- (IAM API reference, CreateRole,
# RoleName: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)


@dataclass(frozen=True)
class AccountOverride:
    """What changes for one account of an organization: its own allowlist, its own mode."""

    allow: Allowlist | None = None
    mode: Mode | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "allow": self.allow.as_json() if self.allow else None,
            "mode": self.mode.value if self.mode else None,
        }


@dataclass(frozen=True)
class RemediatorConfig:
    """What the remediator may change, and how. See the README's configuration reference.
    Built by ``parse_config``, which validates; the constructor takes its values as they are."""

    mode: Mode = Mode.ENFORCE
    allow: Allowlist = Allowlist()
    remedy: Remedy = Remedy.AUTO
    # Anti-loop: beyond this many changes to one key within an hour, refuse and notify.
    max_changes_per_key_per_hour: int = 10
    # Incidents (with a state table): the events of one (key, principal) pair within this many
    # minutes of the first are one incident, decided and notified once (incidents.py).
    incident_window_minutes: int = 15
    # Organization mode: the role the engine assumes in every other account (by name; the
    # account comes from the event), and per-account overrides of allow and mode.
    member_role: str | None = None
    accounts: Mapping[str, AccountOverride] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN

    def for_account(self, account: str) -> RemediatorConfig:
        """The configuration in force for ``account``: its entry's allow and mode replace the
        top-level ones (each one it sets); an account without an entry gets the top level."""
        override = self.accounts.get(account)
        if override is None:
            return self
        return replace(
            self,
            allow=override.allow if override.allow is not None else self.allow,
            mode=override.mode if override.mode is not None else self.mode,
        )

    def dry_run_everywhere(self) -> RemediatorConfig:
        """This configuration in dry-run in every account: the top level, and each account's
        entry, whose own mode would otherwise replace the top level's (``--dry-run``)."""
        accounts = {a: replace(o, mode=Mode.DRY_RUN) for a, o in self.accounts.items()}
        return replace(self, mode=Mode.DRY_RUN, accounts=accounts)

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
        document: dict[str, Any] = {
            "mode": self.mode.value,
            "allow": self.allow.as_json(),
            "remedy": self.remedy.value,
            "max_changes_per_key_per_hour": self.max_changes_per_key_per_hour,
            "incident_window_minutes": self.incident_window_minutes,
        }
        if self.member_role:
            document["member_role"] = self.member_role
        if self.accounts:
            document["accounts"] = {a: o.as_json() for a, o in self.accounts.items()}
        return json.dumps(document, separators=(",", ":"))


# --- Parsing: every field checked, every problem named ----------------------------------------

_ALLOW_FIELDS = ("principals", "keys")
_OVERRIDE_FIELDS = ("allow", "mode")
_CONFIG_FIELDS = (
    "mode",
    "allow",
    "remedy",
    "max_changes_per_key_per_hour",
    "incident_window_minutes",
    "member_role",
    "accounts",
)
_BOUNDS = {"max_changes_per_key_per_hour": (1, 1000), "incident_window_minutes": (1, 1440)}


def _allowlist(check: Checker, value: object, path: str) -> Allowlist | None:
    data = check.mapping(value, path, _ALLOW_FIELDS)
    if data is None:
        return None
    lists = {
        name: check.strings(data[name], at(path, name), MAX_PATTERN_LENGTH, problem_of)
        for name, problem_of in (
            ("principals", principal_pattern_problem),
            ("keys", key_pattern_problem),
        )
        if name in data
    }
    if any(v is None for v in lists.values()):
        return None
    return Allowlist(**lists)  # type: ignore[arg-type]


def _override(check: Checker, value: object, path: str) -> AccountOverride | None:
    data = check.mapping(value, path, _OVERRIDE_FIELDS)
    if data is None:
        return None
    # Each may be null, as to_json writes an unset one.
    given_allow, given_mode = data.get("allow"), data.get("mode")
    allow = None if given_allow is None else _allowlist(check, given_allow, at(path, "allow"))
    mode = None if given_mode is None else check.choice(given_mode, at(path, "mode"), Mode)
    if given_allow is None and given_mode is None:
        check.problem(path, "an account entry must set allow, mode or both")
    return AccountOverride(allow=allow, mode=mode)


def _accounts(check: Checker, value: object) -> dict[str, AccountOverride] | None:
    data = check.mapping(value, "accounts")
    if data is None:
        return None
    before = len(check.problems)
    for account in data:
        if not isinstance(account, str):  # JSON's never are; a Python caller's might be
            check.problem(at("accounts", repr(account)), "an account id must be a string")
    entries = {str(a): _override(check, entry, at("accounts", str(a))) for a, entry in data.items()}
    if len(check.problems) > before:
        return None
    for account in entries:
        if not is_account_id(account):
            check.problem("accounts", f"{account!r} is not a 12-digit account id")
            return None
    return {a: o for a, o in entries.items() if o is not None}


def _member_role(check: Checker, value: object) -> str | None:
    if value is None:
        return None
    role = check.string(value, "member_role")
    if role is not None and not _ROLE_NAME.match(role):
        check.problem(
            "member_role",
            f"{role!r} is not an IAM role name; expected 1 to 64 letters, digits "
            "and +=,.@_- (a name, not an ARN)",
        )
    return role


def _checked(data: Mapping[str, Any]) -> RemediatorConfig:
    check = Checker()
    check.mapping(data, "", _CONFIG_FIELDS)
    values: dict[str, Any] = {}
    for name, choices in (("mode", Mode), ("remedy", Remedy)):
        if name in data:
            values[name] = check.choice(data[name], name, choices)
    if "allow" in data:
        values["allow"] = _allowlist(check, data["allow"], "allow")
    for name, (low, high) in _BOUNDS.items():
        if name in data:
            values[name] = check.integer(data[name], name, low, high)
    if "member_role" in data:
        values["member_role"] = _member_role(check, data["member_role"])
    if "accounts" in data:
        values["accounts"] = _accounts(check, data["accounts"])
    if check.problems:
        raise ConfigError("invalid configuration: " + "; ".join(check.problems))
    return RemediatorConfig(**values)


def parse_config(data: Mapping[str, Any] | None) -> RemediatorConfig:
    """Validate a configuration mapping; raise ``ConfigError`` naming every bad field."""
    if data is None:
        return RemediatorConfig()
    if not isinstance(data, Mapping):
        raise ConfigError(f"configuration must be a JSON object, got {type(data).__name__}")
    return _checked(data)


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
