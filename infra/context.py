"""CDK context -> one validated settings object, read once at synth time.

Context from ``cdk.json`` arrives as real JSON values; ``-c key=value`` on the command line
arrives as a string. Each key accepts either form (JSON text for lists and numbers,
``true``/``false`` for booleans) and any other value fails ``cdk synth`` with a message that
names the key. The remediator's own part is validated by the model the Lambda uses
(``remediator.config.parse_config``), so synth and run time reject the same values.

The app sees one merged context (``node.get_all_context()``): cdk.json, ``~/.cdk.json``,
cdk.context.json, ``-c`` values and the keys the CDK CLI adds itself, all passed in
``CDK_CONTEXT_JSON``. So a misspelt key is caught by its shape: every key that is not CDK's
must be one of ``DEFAULTS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs

from remediator.config import ConfigError, RemediatorConfig, parse_config

# Context key -> default. cdk.json carries the same values (a test keeps them equal).
DEFAULTS: dict[str, Any] = {
    "allowed_principals": [],
    "allowed_keys": [],
    "mode": "dry-run",
    "remedy": "auto",
    "max_changes_per_key_per_hour": 10,
    "notification_emails": [],
    "create_trail": True,
    "trail_retention_days": 365,
    "log_retention_days": 90,
    "powertools_layer_version": 38,
    "reserved_concurrency": 5,
}

# Context keys that belong to the CDK, not to this app: feature flags ("@aws-cdk/...:flag"),
# the CLI's own settings ("aws:cdk:..."), context-lookup caches ("availability-zones:account=
# ...:region=..."), and the two plain keys the CLI writes into cdk.json ("cdk acknowledge",
# "cdk migrate").
_CDK_KEY_PREFIX = "@"
_CDK_KEY_SEPARATOR = ":"
_CDK_PLAIN_KEYS = frozenset({"acknowledged-issue-numbers", "cdk-migrate"})

# Where each field of RemediatorConfig comes from, to name the context key in errors.
_CONFIG_FIELD_TO_KEY = {
    "allow.principals": "allowed_principals",
    "allow.keys": "allowed_keys",
    "mode": "mode",
    "remedy": "remedy",
    "max_changes_per_key_per_hour": "max_changes_per_key_per_hour",
}

# The retention periods CloudWatch Logs accepts (days; "Possible values" of retentionInDays,
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)
# and the CDK enum member for each.
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

# Deliberately loose: SNS validates the address; this catches lists and typos like "ops".
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# IAM resource ARNs know only "*" and "?"; a shell-style "[...]" would be granted literally.
_IAM_UNSUPPORTED_GLOB = re.compile(r"[\[\]]")


class ContextError(ValueError):
    """A CDK context value is wrong; the message names the context key."""


@dataclass(frozen=True)
class StackSettings:
    """Everything the stack needs from context, validated."""

    remediator: RemediatorConfig
    notification_emails: tuple[str, ...]
    create_trail: bool
    trail_retention_days: int
    log_retention_days: int
    powertools_layer_version: int
    reserved_concurrency: int

    @property
    def allowed_key_patterns(self) -> tuple[str, ...]:
        """Every account's allowlisted keys: what the IAM policies name as resources."""
        return self.remediator.widest_allowlist().keys

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION[self.log_retention_days]


def load_settings(context: Mapping[str, Any]) -> StackSettings:
    """Validate the app's context (``node.get_all_context()``): no unknown key, every value."""
    _reject_unknown_keys(context)

    def value(key: str) -> Any:
        found = context.get(key)
        return DEFAULTS[key] if found is None else found

    config_input = {
        "mode": _string(value("mode"), "mode"),
        "remedy": _string(value("remedy"), "remedy"),
        "allow": {
            "principals": _string_list(value("allowed_principals"), "allowed_principals"),
            "keys": _string_list(value("allowed_keys"), "allowed_keys"),
        },
        "max_changes_per_key_per_hour": _integer(
            value("max_changes_per_key_per_hour"), "max_changes_per_key_per_hour"
        ),
    }
    try:
        remediator = parse_config(config_input)
    except ConfigError as err:
        raise ContextError(_name_context_keys(str(err))) from None

    # Both allowlists are rendered into IAM: keys as resources, principals as the
    # kms:GranteePrincipal condition of CreateGrant.
    for key, patterns in (
        ("allowed_keys", remediator.allow.keys),
        ("allowed_principals", remediator.allow.principals),
    ):
        for pattern in patterns:
            if _IAM_UNSUPPORTED_GLOB.search(pattern):
                raise ContextError(
                    f"invalid CDK context {key}: {pattern!r} uses '[...]', which IAM "
                    "does not support in ARNs or StringLike conditions; use '*' or '?'"
                )

    emails = _string_list(value("notification_emails"), "notification_emails")
    for email in emails:
        if not _EMAIL.match(email):
            raise ContextError(
                f"invalid CDK context notification_emails: {email!r} is not an email address"
            )

    log_retention_days = _integer(value("log_retention_days"), "log_retention_days")
    if log_retention_days not in LOG_RETENTION:
        raise ContextError(
            f"invalid CDK context log_retention_days: {log_retention_days} is not one of "
            f"CloudWatch Logs' retention periods {sorted(LOG_RETENTION)}"
        )

    trail_retention_days = _integer(value("trail_retention_days"), "trail_retention_days")
    if trail_retention_days < 1:
        raise ContextError("invalid CDK context trail_retention_days: must be at least 1")

    layer_version = _integer(value("powertools_layer_version"), "powertools_layer_version")
    if layer_version < 1:
        raise ContextError("invalid CDK context powertools_layer_version: must be at least 1")

    reserved_concurrency = _integer(value("reserved_concurrency"), "reserved_concurrency")
    if reserved_concurrency < 1:
        raise ContextError(
            "invalid CDK context reserved_concurrency: must be at least 1 (0 would stop every "
            "invocation; Lambda throttles events beyond this number and retries them later)"
        )

    return StackSettings(
        remediator=remediator,
        notification_emails=tuple(emails),
        create_trail=_boolean(value("create_trail"), "create_trail"),
        trail_retention_days=trail_retention_days,
        log_retention_days=log_retention_days,
        powertools_layer_version=layer_version,
        reserved_concurrency=reserved_concurrency,
    )


def _is_cdk_key(key: str) -> bool:
    return key.startswith(_CDK_KEY_PREFIX) or _CDK_KEY_SEPARATOR in key or key in _CDK_PLAIN_KEYS


def _reject_unknown_keys(context: Mapping[str, Any]) -> None:
    unknown = sorted(key for key in context if key not in DEFAULTS and not _is_cdk_key(key))
    if unknown:
        raise ContextError(
            f"unknown CDK context key(s) {', '.join(unknown)}; "
            f"this app's keys are {', '.join(sorted(DEFAULTS))}"
        )


def _name_context_keys(message: str) -> str:
    """Turn the model's field paths (``allow.keys.0: ...``) into context keys."""
    prefix = "invalid configuration: "
    problems = message.removeprefix(prefix).split("; ")
    renamed = []
    for problem in problems:
        named = problem
        for field, key in _CONFIG_FIELD_TO_KEY.items():
            if problem.startswith((f"{field}:", f"{field}.")):
                named = key + problem[len(field) :]
                break
        renamed.append(named)
    return "invalid CDK context " + "; ".join(renamed)


def _decode(raw: Any) -> Any:
    """Context given with -c is a string; decode it as JSON when it is JSON."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _string(raw: Any, key: str) -> str:
    if isinstance(raw, str):
        return raw
    raise ContextError(f"invalid CDK context {key}: expected a string, got {raw!r}")


def _string_list(raw: Any, key: str) -> list[str]:
    decoded = _decode(raw)
    if isinstance(decoded, list) and all(isinstance(item, str) for item in decoded):
        return list(decoded)
    raise ContextError(
        f"invalid CDK context {key}: expected a JSON list of strings "
        f"(e.g. -c {key}='[\"...\"]'), got {raw!r}"
    )


def _integer(raw: Any, key: str) -> int:
    decoded = _decode(raw)
    if isinstance(decoded, int) and not isinstance(decoded, bool):
        return decoded
    raise ContextError(f"invalid CDK context {key}: expected an integer, got {raw!r}")


def _boolean(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ContextError(f"invalid CDK context {key}: expected true or false, got {raw!r}")
