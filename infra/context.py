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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from aws_cdk import aws_logs as logs

from remediator.config import ConfigError, RemediatorConfig, parse_config

# Context key -> default. cdk.json carries the same values (a test keeps them equal).
DEFAULTS: dict[str, Any] = {
    "allowed_principals": [],
    "allowed_keys": [],
    "mode": "dry-run",
    "remedy": "auto",
    "max_changes_per_key_per_hour": 10,
    "incident_window_minutes": 15,
    "notification_emails": [],
    "create_trail": True,
    "trail_retention_days": 365,
    "log_retention_days": 90,
    "powertools_layer_version": 38,
    "reserved_concurrency": 5,
    # Organization mode (deployment=hub); the single-account stack takes none of these.
    "deployment": "single",
    "organization_id": "",
    "member_ous": [],
    "member_regions": [],
    "member_role": "KmsLaunchRemediatorMember",
    "member_accounts": {},
    "member_trail": "organization",
    "stacksets_call_as": "DELEGATED_ADMIN",
}
ORGANIZATION_KEYS = (
    "organization_id",
    "member_ous",
    "member_regions",
    "member_role",
    "member_accounts",
    "member_trail",
    "stacksets_call_as",
)

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
    "incident_window_minutes": "incident_window_minutes",
    "member_role": "member_role",
    "accounts": "member_accounts",
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


# AWS Organizations ids: an organization (o-), and the organization root (r-) or an
# organizational unit (ou-) a service-managed StackSet may target (OrganizationalUnitId,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetAutoDeploymentTargetSummary.html;
# Organization Id, https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html).
_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}\Z")
_OU_OR_ROOT_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})\Z")
# A region code such as eu-west-1 or us-gov-west-1.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]\Z")
# Lambda's SQS event source accepts a maximum concurrency of 2 to 1000
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
MIN_HUB_CONCURRENCY = 2


_Choice = TypeVar("_Choice", bound=StrEnum)


class ContextError(ValueError):
    """A CDK context value is wrong; the message names the context key."""


class Deployment(StrEnum):
    SINGLE = "single"  # one account and region: the stack in infra/stack.py
    HUB = "hub"  # an organization: the hub stack and its member StackSets (infra/org/)


class MemberTrail(StrEnum):
    """How CloudTrail events reach the member accounts' default buses."""

    ORGANIZATION = "organization"  # the hub creates the organization's trail
    PER_ACCOUNT = "per-account"  # the member StackSet creates a multi-region trail per account
    NONE = "none"  # an organization or account trail already logs management events


class StackSetsCallAs(StrEnum):
    """Who the hub's account is to StackSets (CloudFormation's CallAs)."""

    SELF = "SELF"  # the organization's management account
    DELEGATED_ADMIN = "DELEGATED_ADMIN"  # a delegated administrator for StackSets


@dataclass(frozen=True)
class OrganizationSettings:
    """The hub's view of the organization, validated."""

    organization_id: str
    member_ous: tuple[str, ...]
    member_regions: tuple[str, ...]
    member_role: str
    member_trail: MemberTrail
    stacksets_call_as: StackSetsCallAs


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
    deployment: Deployment = Deployment.SINGLE
    organization: OrganizationSettings | None = None

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
        "incident_window_minutes": _integer(
            value("incident_window_minutes"), "incident_window_minutes"
        ),
    }
    deployment = _choice(value("deployment"), "deployment", Deployment)
    if deployment is Deployment.HUB:
        config_input["member_role"] = _string(value("member_role"), "member_role")
        config_input["accounts"] = _object(value("member_accounts"), "member_accounts")
    else:
        _reject_organization_keys(context)
    try:
        remediator = parse_config(config_input)
    except ConfigError as err:
        raise ContextError(_name_context_keys(str(err))) from None
    _reject_iam_unsupported_globs(remediator)

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
        deployment=deployment,
        organization=(
            _organization(value, remediator, reserved_concurrency)
            if deployment is Deployment.HUB
            else None
        ),
    )


def _reject_iam_unsupported_globs(remediator: RemediatorConfig) -> None:
    """Every allowlist is rendered into IAM: keys as resources, principals as the
    kms:GranteePrincipal condition of CreateGrant."""
    allowlists = [("allowed_keys", "allowed_principals", remediator.allow)] + [
        (f"member_accounts.{account}", f"member_accounts.{account}", override.allow)
        for account, override in remediator.accounts.items()
        if override.allow is not None
    ]
    for keys_key, principals_key, allowlist in allowlists:
        for key, patterns in ((keys_key, allowlist.keys), (principals_key, allowlist.principals)):
            for pattern in patterns:
                if _IAM_UNSUPPORTED_GLOB.search(pattern):
                    raise ContextError(
                        f"invalid CDK context {key}: {pattern!r} uses '[...]', which IAM "
                        "does not support in ARNs or StringLike conditions; use '*' or '?'"
                    )


def _reject_organization_keys(context: Mapping[str, Any]) -> None:
    """A single-account deployment takes no organization key: one set by mistake (without
    deployment=hub) would otherwise be ignored silently."""
    for key in ORGANIZATION_KEYS:
        found = context.get(key)
        if found is not None and _decode(found) != DEFAULTS[key]:
            raise ContextError(
                f"invalid CDK context {key}: applies only to an organization hub; "
                "add -c deployment=hub, or leave it out"
            )


def _organization(
    value: Callable[[str], Any], remediator: RemediatorConfig, reserved_concurrency: int
) -> OrganizationSettings:
    organization_id = _string(value("organization_id"), "organization_id")
    if not _ORGANIZATION_ID.match(organization_id):
        raise ContextError(
            f"invalid CDK context organization_id: {organization_id!r} is not an organization "
            "id; expected o- and 10 to 32 lowercase letters or digits (aws organizations "
            "describe-organization --query Organization.Id)"
        )
    ous = _nonempty_unique(value("member_ous"), "member_ous", _OU_OR_ROOT_ID, "an OU or root id")
    regions = _nonempty_unique(value("member_regions"), "member_regions", _REGION, "a region")
    if reserved_concurrency < MIN_HUB_CONCURRENCY:
        raise ContextError(
            "invalid CDK context reserved_concurrency: must be at least 2 for a hub (it is "
            "also the maximum concurrency of the queue's event source, whose minimum is 2)"
        )
    assert remediator.member_role is not None  # set from context with deployment=hub
    return OrganizationSettings(
        organization_id=organization_id,
        member_ous=ous,
        member_regions=regions,
        member_role=remediator.member_role,
        member_trail=_choice(value("member_trail"), "member_trail", MemberTrail),
        stacksets_call_as=_choice(value("stacksets_call_as"), "stacksets_call_as", StackSetsCallAs),
    )


def _nonempty_unique(raw: Any, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items = _string_list(raw, key)
    if not items:
        raise ContextError(f"invalid CDK context {key}: a hub needs at least one")
    for item in items:
        if not pattern.match(item):
            raise ContextError(f"invalid CDK context {key}: {item!r} is not {what}")
    if len(set(items)) != len(items):
        raise ContextError(f"invalid CDK context {key}: lists an entry twice")
    return tuple(items)


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


def _object(raw: Any, key: str) -> dict[str, Any]:
    decoded = _decode(raw)
    if isinstance(decoded, dict):
        return decoded
    raise ContextError(
        f"invalid CDK context {key}: expected a JSON object (e.g. -c {key}='{{...}}'), got {raw!r}"
    )


def _choice(raw: Any, key: str, choices: type[_Choice]) -> _Choice:
    if isinstance(raw, str):
        for choice in choices:
            if raw == choice.value:
                return choice
    raise ContextError(
        f"invalid CDK context {key}: expected one of {', '.join(c.value for c in choices)}, "
        f"got {raw!r}"
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
