"""The configuration model: what is accepted, what is rejected (naming the field), and how the
allowlist globs match full ARNs."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest

from remediator.config import (
    Allowlist,
    ConfigError,
    Mode,
    RemediatorConfig,
    Remedy,
    Settings,
    load_config,
    parse_config,
)

SLR_GLOB = (
    "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/"
    "AWSServiceRoleForAutoScaling*"
)
KEYS_GLOB = "arn:aws:kms:*:111122223333:key/*"
ISSUE_EXAMPLE = {
    "mode": "enforce",
    "allow": {"principals": [SLR_GLOB], "keys": [KEYS_GLOB]},
    "remedy": "auto",
}
SLR = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# --- valid documents -----------------------------------------------------------------------


def test_config_issue_example_is_accepted() -> None:
    # Given the example document from the engine issue
    # When it is loaded from its JSON text
    config = load_config(json.dumps(ISSUE_EXAMPLE))
    # Then every field carries the given value
    assert config.mode is Mode.ENFORCE
    assert config.remedy is Remedy.AUTO
    assert config.allow.principals == (SLR_GLOB,)
    assert config.allow.keys == (KEYS_GLOB,)
    assert config.max_changes_per_key_per_hour == 10
    assert config.dry_run is False


def test_config_defaults_change_nothing() -> None:
    config = parse_config({})
    assert config.mode is Mode.ENFORCE
    assert config.remedy is Remedy.AUTO
    assert config.allow.principals == ()
    assert config.allow.keys == ()
    assert config.max_changes_per_key_per_hour == 10
    assert config.incident_window_minutes == 15
    assert config.allow.allows_key(KEY) is False
    assert config.allow.allows_principal(SLR) is False


@pytest.mark.parametrize(
    ("document", "mode", "remedy", "limit"),
    [
        ({"mode": "dry-run"}, Mode.DRY_RUN, Remedy.AUTO, 10),
        ({"remedy": "key-policy"}, Mode.ENFORCE, Remedy.KEY_POLICY, 10),
        ({"remedy": "grant"}, Mode.ENFORCE, Remedy.GRANT, 10),
        ({"max_changes_per_key_per_hour": 1}, Mode.ENFORCE, Remedy.AUTO, 1),
        ({"max_changes_per_key_per_hour": 1000}, Mode.ENFORCE, Remedy.AUTO, 1000),
    ],
    ids=["dry-run", "remedy-key-policy", "remedy-grant", "limit-min-1", "limit-max-1000"],
)
def test_config_accepts_each_valid_value(
    document: dict[str, object], mode: Mode, remedy: Remedy, limit: int
) -> None:
    config = parse_config(document)
    assert (config.mode, config.remedy, config.max_changes_per_key_per_hour) == (
        mode,
        remedy,
        limit,
    )


def test_config_dry_run_property_follows_mode() -> None:
    assert parse_config({"mode": "dry-run"}).dry_run is True
    assert parse_config({"mode": "enforce"}).dry_run is False


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"], ids=["none", "empty", "spaces", "ws"])
def test_config_empty_text_gives_defaults(text: str | None) -> None:
    assert load_config(text) == RemediatorConfig()


def test_config_parse_none_gives_defaults() -> None:
    assert parse_config(None) == RemediatorConfig()


# --- rejected documents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"mode": "enforce", "colour": "blue"}, "colour: unknown field"),
        ({"allow": {"principals": [], "roles": []}}, "allow.roles: unknown field"),
        ({"mode": "fix-everything"}, "mode:"),
        ({"mode": "ENFORCE"}, "mode:"),
        ({"mode": None}, "mode:"),
        ({"remedy": "both"}, "remedy:"),
        ({"allow": {"principals": SLR}}, "allow.principals:"),
        ({"allow": {"principals": {"a": SLR}}}, "allow.principals:"),
        ({"allow": {"keys": KEY}}, "allow.keys:"),
        ({"allow": {"principals": ["*"]}}, "allow.principals:"),
        ({"allow": {"principals": ["arn:aws:s3:::x"]}}, "allow.principals:"),
        ({"allow": {"principals": ["arn:aws:iam::*"]}}, "allow.principals:"),
        ({"allow": {"principals": ["arn:aws:sts::111122223333:*"]}}, "allow.principals:"),
        (
            {"allow": {"principals": ["arn:aws:iam:eu-west-1:111122223333:role/x"]}},
            "allow.principals:",
        ),
        ({"allow": {"principals": [""]}}, "allow.principals"),
        ({"allow": {"principals": [SLR, "arn:aws:s3:::x"]}}, "allow.principals:"),
        ({"allow": {"keys": ["*"]}}, "allow.keys:"),
        ({"allow": {"keys": ["arn:aws:kms:*:111122223333:alias/*"]}}, "allow.keys:"),
        ({"allow": {"keys": ["arn:aws:iam::111122223333:role/*"]}}, "allow.keys:"),
        ({"allow": {"keys": [""]}}, "allow.keys"),
        ({"allow": []}, "allow:"),
        ({"max_changes_per_key_per_hour": 0}, "max_changes_per_key_per_hour:"),
        ({"max_changes_per_key_per_hour": -1}, "max_changes_per_key_per_hour:"),
        ({"max_changes_per_key_per_hour": 1001}, "max_changes_per_key_per_hour:"),
        ({"max_changes_per_key_per_hour": "ten"}, "max_changes_per_key_per_hour:"),
        ({"max_changes_per_key_per_hour": 1.5}, "max_changes_per_key_per_hour:"),
        ({"incident_window_minutes": 0}, "incident_window_minutes:"),
        ({"incident_window_minutes": 1441}, "incident_window_minutes:"),
        ({"incident_window_minutes": "15"}, "incident_window_minutes:"),
    ],
    ids=[
        "unknown-top-level-field",
        "unknown-field-in-allow",
        "bad-mode",
        "mode-wrong-case",
        "mode-null",
        "bad-remedy",
        "principals-is-string",
        "principals-is-object",
        "keys-is-string",
        "principal-bare-star",
        "principal-s3-arn",
        "principal-truncated-arn",
        "principal-sts",
        "principal-iam-with-region",
        "principal-empty",
        "principal-one-bad-of-two",
        "key-bare-star",
        "key-alias-pattern",
        "key-iam-arn",
        "key-empty",
        "allow-is-list",
        "limit-zero",
        "limit-negative",
        "limit-over-1000",
        "limit-text",
        "limit-fraction",
        "window-zero",
        "window-over-a-day",
        "window-text",
    ],
)
def test_config_rejects_bad_value_naming_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert field in str(raised.value)


def test_config_rejection_names_every_bad_field() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"mode": "x", "remedy": "y", "extra": 1})
    message = str(raised.value)
    assert "mode:" in message
    assert "remedy:" in message
    assert "extra: unknown field" in message


def test_config_rejects_boolean_change_limit() -> None:
    with pytest.raises(ConfigError, match="max_changes_per_key_per_hour"):
        parse_config({"max_changes_per_key_per_hour": True})


@pytest.mark.parametrize(
    "text",
    ["{", '{"mode": "enforce",}', "{'mode': 'enforce'}", "mode=enforce"],
    ids=["truncated", "trailing-comma", "single-quotes", "not-json"],
)
def test_config_rejects_invalid_json_text(text: str) -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(text)


@pytest.mark.parametrize(
    ("text", "type_name"),
    [("[]", "list"), ("5", "int"), ('"enforce"', "str"), ("true", "bool")],
    ids=["list", "number", "string", "bool"],
)
def test_config_rejects_non_object_json(text: str, type_name: str) -> None:
    with pytest.raises(ConfigError, match=f"must be a JSON object, got {type_name}"):
        load_config(text)


def test_config_rejects_json_null() -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        load_config("null")


def test_config_models_are_frozen() -> None:
    config = parse_config(ISSUE_EXAMPLE)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'mode'"):
        config.mode = Mode.DRY_RUN  # type: ignore[misc]


# --- glob matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (KEY, True),
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef", True),
        ("arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321", False),
        ("arn:aws:kms:eu-west-1:111122223333:alias/ebs", False),
        ("arn:aws:kms:eu-west-1:1111222233334:key/x", False),
        ("ARN:AWS:KMS:eu-west-1:111122223333:key/x", False),
    ],
    ids=["same-account", "other-region", "other-account", "alias", "longer-account", "upper"],
)
def test_config_allows_key_matches_glob_against_full_arn(arn: str, expected: bool) -> None:
    allow = parse_config(ISSUE_EXAMPLE).allow
    assert allow.allows_key(arn) is expected


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (SLR, True),
        (SLR + "_web", True),
        (SLR.replace("111122223333", "444455556666"), False),
        ("arn:aws:iam::111122223333:role/AWSServiceRoleForAutoScaling", False),
        ("arn:aws:iam::111122223333:user/ops-alice", False),
        ("arn:aws:iam::111122223333:root", False),
    ],
    ids=["default-slr", "custom-suffix-slr", "other-account-slr", "no-path", "user", "root"],
)
def test_config_allows_principal_matches_glob_against_full_arn(arn: str, expected: bool) -> None:
    allow = parse_config(ISSUE_EXAMPLE).allow
    assert allow.allows_principal(arn) is expected


def test_config_allows_nothing_with_empty_allowlist() -> None:
    allow = Allowlist()
    assert allow.allows_key(KEY) is False
    assert allow.allows_principal(SLR) is False
    assert allow.names_principal_exactly(SLR) is False


@pytest.mark.parametrize(
    ("entries", "arn", "exact"),
    [
        (["arn:aws:iam::111122223333:root"], "arn:aws:iam::111122223333:root", True),
        (["arn:aws:iam::111122223333:user/*"], "arn:aws:iam::111122223333:user/bob", False),
        (["arn:aws:iam::111122223333:user/bo?"], "arn:aws:iam::111122223333:user/bob", False),
        (["arn:aws:iam::111122223333:root"], "arn:aws:iam::444455556666:root", False),
        (
            ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:root"],
            "arn:aws:iam::111122223333:user/bob",
            True,
        ),
    ],
    ids=["literal", "star-glob", "question-glob", "other-account", "second-entry"],
)
def test_config_names_principal_exactly_only_for_literal_entries(
    entries: list[str], arn: str, exact: bool
) -> None:
    allow = parse_config({"allow": {"principals": entries}}).allow
    assert allow.names_principal_exactly(arn) is exact


def test_config_glob_matches_are_case_sensitive() -> None:
    allow = parse_config({"allow": {"principals": ["arn:aws:iam::111122223333:user/Ops-*"]}}).allow
    assert allow.allows_principal("arn:aws:iam::111122223333:user/Ops-alice") is True
    assert allow.allows_principal("arn:aws:iam::111122223333:user/ops-alice") is False


# --- Settings from the environment ---------------------------------------------------------


def test_config_settings_from_env_reads_every_variable() -> None:
    environ = {
        "REMEDIATOR_CONFIG": json.dumps(ISSUE_EXAMPLE),
        "NOTIFY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:remediator",
        "STATE_TABLE_NAME": "remediator-state",
        "UNRELATED": "ignored",
    }
    settings = Settings.from_env(environ)
    assert settings.config.allow.principals == (SLR_GLOB,)
    assert settings.notify_topic_arn == "arn:aws:sns:eu-west-1:111122223333:remediator"
    assert settings.state_table_name == "remediator-state"


@pytest.mark.parametrize(
    "environ",
    [{}, {"REMEDIATOR_CONFIG": "", "NOTIFY_TOPIC_ARN": "", "STATE_TABLE_NAME": ""}],
    ids=["unset", "empty-strings"],
)
def test_config_settings_from_env_defaults_when_unset_or_empty(environ: dict[str, str]) -> None:
    settings = Settings.from_env(environ)
    assert settings.config == RemediatorConfig()
    assert settings.notify_topic_arn is None
    assert settings.state_table_name is None


def test_config_settings_from_env_rejects_bad_config() -> None:
    with pytest.raises(ConfigError, match="mode"):
        Settings.from_env({"REMEDIATOR_CONFIG": '{"mode": "yolo"}'})


def test_config_settings_env_names_are_the_four_variables() -> None:
    assert Settings.env_names() == (
        "REMEDIATOR_CONFIG",
        "NOTIFY_TOPIC_ARN",
        "STATE_TABLE_NAME",
        "RECHECK_QUEUE_URL",
    )


@pytest.mark.parametrize(
    "entry",
    [
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:user/ops-alice",
        "arn:aws-cn:iam::111122223333:role/Path/Name",
        "arn:*:iam::111122223333:role/*",
    ],
    ids=["root-literal", "user-literal", "china-partition-role-with-path", "globbed-partition"],
)
def test_config_accepts_iam_principal_patterns(entry: str) -> None:
    assert parse_config({"allow": {"principals": [entry]}}).allow.principals == (entry,)


def test_config_accepts_literal_federated_user_arn() -> None:
    entry = "arn:aws:sts::111122223333:federated-user/bob"
    assert parse_config({"allow": {"principals": [entry]}}).allow.names_principal_exactly(entry)


# --- allowlist entries: each rule, accepted and rejected --------------------------------------

ANY_ACCOUNT_SLR = (
    "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
)
SLR_OTHER_ACCOUNT = SLR.replace("111122223333", "444455556666")


@pytest.mark.parametrize(
    ("entry", "matching", "not_matching"),
    [
        (
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::444455556666:root",
        ),
        (
            "arn:aws:iam::111122223333:user/ops-*",
            "arn:aws:iam::111122223333:user/ops-alice",
            "arn:aws:iam::111122223333:user/ops-x/../admin",
        ),
        (
            "arn:aws:iam::111122223333:user/ops-*",
            "arn:aws:iam::111122223333:user/ops-",
            "arn:aws:iam::111122223333:user/ops-team/alice",
        ),
        ("arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:role/Deployer", SLR),
        (
            "arn:aws:iam::111122223333:role/teams/*/Deployer",
            "arn:aws:iam::111122223333:role/teams/web/Deployer",
            "arn:aws:iam::111122223333:role/teams/web/x/Deployer",
        ),
        (
            "arn:aws:iam::111122223333:user/al?ce",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:user/al/ce",
        ),
        (
            "arn:aws-cn:iam::111122223333:role/Path/*",
            "arn:aws-cn:iam::111122223333:role/Path/Name",
            "arn:aws-cn:iam::111122223333:role/Path/Sub/Name",
        ),
        (
            "arn:*:iam::111122223333:role/*",
            "arn:aws-us-gov:iam::111122223333:role/gov",
            "arn:aws:x:iam::111122223333:role/gov",
        ),
        (
            "arn:aws:iam::111122223333:role/name+with=all,.@_-*",
            "arn:aws:iam::111122223333:role/name+with=all,.@_-",
            "arn:aws:iam::111122223333:role/name+with=all,.@_-/x",
        ),
        (SLR_GLOB, SLR + "_web", SLR + "/x"),
        (
            "arn:aws:iam::111122223333:role/aws-service-role/*/*",
            SLR,
            "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/x/Admin",
        ),
        (
            ANY_ACCOUNT_SLR,
            SLR_OTHER_ACCOUNT,
            "arn:aws:iam::111122223333:role/Admin:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling",
        ),
        (
            "arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
            "arn:aws:iam::444455556666:role/aws-service-role/spot.amazonaws.com/"
            "AWSServiceRoleForEC2Spot",
            "arn:aws:iam::444455556666:x:role/aws-service-role/spot.amazonaws.com/"
            "AWSServiceRoleForEC2Spot",
        ),
        (
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws:sts::111122223333:federated-user/bobby",
        ),
    ],
    ids=[
        "root-literal",
        "user-glob-does-not-climb-a-path",
        "user-glob-stays-in-its-segment",
        "roles-at-root-path-only",
        "glob-as-one-path-segment",
        "question-mark-is-not-a-slash",
        "china-partition-role-with-path",
        "globbed-partition-is-one-field",
        "iam-name-characters",
        "slr-glob-literal-account",
        "slr-any-service-literal-account",
        "slr-any-account",
        "slr-any-account-other-service",
        "federated-literal",
    ],
)
def test_config_accepts_principal_entry_meaning_what_it_says(
    entry: str, matching: str, not_matching: str
) -> None:
    # Given a valid principal entry
    # When it is parsed
    allow = parse_config({"allow": {"principals": [entry]}}).allow
    # Then it is kept as given, and its globs match within one field or path segment only
    assert allow.principals == (entry,)
    assert allow.allows_principal(matching) is True
    assert allow.allows_principal(not_matching) is False


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        # A principal pattern must name a resource type.
        ("arn:aws:iam::*:*", "names no resource type (role/ or user/)"),
        ("arn:*:iam::*:*", "names no resource type (role/ or user/)"),
        ("arn:aws:iam::111122223333:*", "names no resource type (role/ or user/)"),
        ("arn:aws:iam::111122223333:r*", "names no resource type (role/ or user/)"),
        ("arn:aws:iam::111122223333:roo?", "names no resource type (role/ or user/)"),
        ("arn:aws:iam::111122223333:role", "names no resource type (role/ or user/)"),
        ("arn:aws:iam::111122223333:group/admins", "names no resource type (role/ or user/)"),
        # Its account must be a literal 12-digit id ...
        ("arn:aws:iam::*:role/*", "has account '*'; expected a 12-digit account id"),
        ("arn:aws:iam::*:user/ops-alice", "has account '*'; expected a 12-digit account id"),
        ("arn:aws:iam::1111222233?3:role/*", "has account '1111222233?3'; expected a 12-digit"),
        ("arn:aws:iam::11112222333*:role/x", "has account '11112222333*'; expected a 12-digit"),
        ("arn:aws:iam::11112222333:role/x", "has account '11112222333'; expected a 12-digit"),
        # ... except before a service-linked role path that spells its service out.
        (
            "arn:aws:iam::*:role/aws-service-role/*/AWSServiceRoleForAutoScaling",
            "has account '*'; expected a 12-digit account id",
        ),
        (
            "arn:aws:iam::*:role/aws-service-role/autoscaling.*.com/AWSServiceRoleForAutoScaling",
            "has account '*'; expected a 12-digit account id",
        ),
        (
            "arn:aws:iam::*:role/aws-service-rol?/autoscaling.amazonaws.com/AWSServiceRole",
            "has account '*'; expected a 12-digit account id",
        ),
        (
            "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/x/AdminRole",
            "has account '*'; expected a 12-digit account id",
        ),
        (
            "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/",
            "has account '*'; expected a 12-digit account id",
        ),
        # Roots and federated users are named exactly.
        ("arn:aws:iam::*:root", "expected the exact ARN, without a glob"),
        ("arn:*:iam::111122223333:root", "expected the exact ARN, without a glob"),
        ("arn:aws:iam::11112222333?:root", "expected the exact ARN, without a glob"),
        ("arn:aws:sts::111122223333:*", "expected the exact ARN, without a glob"),
        ("arn:aws:sts::111122223333:federated-user/*", "expected the exact ARN, without a glob"),
        ("arn:aws:sts::111122223333:assumed-role/R/s", "expected the exact ARN, without a glob"),
        # A partition is one IAM knows, or "*".
        ("arn:aws-eu:iam::111122223333:role/x", "has partition 'aws-eu'"),
        ("arn:a*:iam::111122223333:role/x", "has partition 'a*'"),
        # Paths and names hold what IAM allows, between single slashes; no character classes.
        ("arn:aws:iam::111122223333:role//x", "has a path or name IAM does not allow"),
        ("arn:aws:iam::111122223333:role/", "has a path or name IAM does not allow"),
        ("arn:aws:iam::111122223333:user/a b", "has a path or name IAM does not allow"),
        ("arn:aws:iam::111122223333:role/[ab]*", "has a path or name IAM does not allow"),
    ],
    ids=[
        "any-account-any-resource",
        "any-partition",
        "no-resource-type",
        "resource-type-globbed",
        "root-globbed",
        "type-without-name",
        "group",
        "any-account-role",
        "any-account-user",
        "account-with-question-mark",
        "account-with-trailing-star",
        "account-11-digits",
        "any-account-slr-any-service",
        "any-account-slr-globbed-service",
        "any-account-slr-path-globbed",
        "any-account-slr-deeper-path",
        "any-account-slr-no-name",
        "root-any-account",
        "root-any-partition",
        "root-account-globbed",
        "sts-glob",
        "federated-glob",
        "sts-session",
        "unknown-partition",
        "globbed-partition-prefix",
        "empty-path-segment",
        "empty-name",
        "space-in-name",
        "character-class",
    ],
)
def test_config_rejects_principal_entry_saying_what_is_expected(entry: str, problem: str) -> None:
    # Given an allowlist entry that breaks one rule
    # When it is parsed
    with pytest.raises(ConfigError) as raised:
        parse_config({"allow": {"principals": [SLR_GLOB, entry]}})
    # Then one line names the field, the entry, and what was expected instead
    message = str(raised.value)
    assert message.startswith(f"invalid configuration: allow.principals: {entry!r} ")
    assert problem in message
    assert "expected" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("entry", "matching", "not_matching"),
    [
        (KEYS_GLOB, KEY, "arn:aws:kms:eu-west-1:111122223333:key/x/" + KEY.rsplit("/", 1)[1]),
        (KEY, KEY, KEY.replace("111122223333", "444455556666")),
        (
            "arn:aws:kms:eu-*:111122223333:key/*",
            KEY,
            "arn:aws:kms:eu-west-1:x:111122223333:key/" + KEY.rsplit("/", 1)[1],
        ),
        (
            "arn:*:kms:*:111122223333:key/mrk-*",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-0/123456789abcdef0123456789abcdef",
        ),
    ],
    ids=["readme-example-any-region", "literal", "region-glob", "globbed-partition-mrk"],
)
def test_config_accepts_key_entry_meaning_what_it_says(
    entry: str, matching: str, not_matching: str
) -> None:
    allow = parse_config({"allow": {"keys": [entry]}}).allow
    assert allow.keys == (entry,)
    assert allow.allows_key(matching) is True
    assert allow.allows_key(not_matching) is False


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("arn:aws:kms:*:*:key/*", "has account '*'; expected a 12-digit account id"),
        ("arn:aws:kms:eu-west-1:*:key/*", "has account '*'; expected a 12-digit account id"),
        ("arn:aws:kms:*:1111222233?3:key/*", "has account '1111222233?3'"),
        ("arn:aws:kms:*:111122223333:alias/*", "has resource 'alias/*'; expected key/KEY-ID"),
        ("arn:aws:kms:*:111122223333:*", "has resource '*'; expected key/KEY-ID"),
        ("arn:aws:kms:*:111122223333:key/[ab]*", "has resource 'key/[ab]*'"),
        ("arn:aws:kms:*:111122223333:key/ABCD*", "has resource 'key/ABCD*'"),
        ("arn:aws:kms:*:111122223333:key/a/b", "has resource 'key/a/b'"),
        ("arn:aws:kms::111122223333:key/*", "has region ''; expected a region"),
        ("arn:aws:kms:EU-WEST-1:111122223333:key/*", "has region 'EU-WEST-1'"),
        ("arn:aws-eu:kms:*:111122223333:key/*", "has partition 'aws-eu'"),
    ],
    ids=[
        "any-account",
        "any-account-one-region",
        "account-with-question-mark",
        "alias",
        "no-resource-type",
        "character-class",
        "uppercase-key-id",
        "key-id-with-slash",
        "empty-region",
        "uppercase-region",
        "unknown-partition",
    ],
)
def test_config_rejects_key_entry_saying_what_is_expected(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"allow": {"keys": [KEYS_GLOB, entry]}})
    message = str(raised.value)
    assert message.startswith(f"invalid configuration: allow.keys: {entry!r} ")
    assert problem in message
    assert "expected" in message
    assert "\n" not in message


# --- organization mode: member_role and per-account overrides ------------------------------

MEMBER_ACCOUNT = "444455556666"
MEMBER_KEYS = f"arn:aws:kms:*:{MEMBER_ACCOUNT}:key/*"
MEMBER_USERS = f"arn:aws:iam::{MEMBER_ACCOUNT}:user/ops-*"
ORGANIZATION_EXAMPLE = {
    **ISSUE_EXAMPLE,
    "member_role": "KmsLaunchRemediatorMember",
    "accounts": {
        MEMBER_ACCOUNT: {"allow": {"principals": [MEMBER_USERS], "keys": [MEMBER_KEYS]}},
        "777788889999": {"mode": "dry-run"},
    },
}


def test_config_organization_fields_default_to_single_account() -> None:
    # Given a configuration without organization fields
    config = parse_config(ISSUE_EXAMPLE)
    # When reading them
    # Then no member role is assumed and no account has its own settings
    assert config.member_role is None
    assert config.accounts == {}
    assert config.for_account(MEMBER_ACCOUNT) == config


def test_config_for_account_replaces_allow_or_mode_with_the_accounts_entry() -> None:
    # Given a top-level allowlist, one account with its own allowlist, one in dry-run
    config = parse_config(ORGANIZATION_EXAMPLE)
    # When asking for each account's effective configuration
    member = config.for_account(MEMBER_ACCOUNT)
    watched = config.for_account("777788889999")
    other = config.for_account("123456789012")
    # Then an entry's allow replaces the top-level one (not merged) and keeps the top mode
    assert member.allow.keys == (MEMBER_KEYS,)
    assert member.allow.principals == (MEMBER_USERS,)
    assert member.allow.allows_key(KEY) is False
    assert member.mode is Mode.ENFORCE
    # And an entry's mode replaces the top-level mode and keeps the top allowlist
    assert watched.mode is Mode.DRY_RUN
    assert watched.allow == config.allow
    # And an account without an entry gets the top level, unchanged
    assert other == config
    assert member.remedy is config.remedy
    assert member.max_changes_per_key_per_hour == config.max_changes_per_key_per_hour


def test_config_widest_allowlist_is_every_accounts_entries_without_repeats() -> None:
    # Given a top-level allowlist and an account whose allowlist repeats one of its keys
    document = {
        **ORGANIZATION_EXAMPLE,
        "accounts": {
            MEMBER_ACCOUNT: {"allow": {"principals": [MEMBER_USERS], "keys": [MEMBER_KEYS]}},
            "777788889999": {"allow": {"keys": [KEYS_GLOB, MEMBER_KEYS]}},
        },
    }
    # When asking for what IAM must permit at least
    widest = parse_config(document).widest_allowlist()
    # Then it holds every entry once, the top level first
    assert widest.principals == (SLR_GLOB, MEMBER_USERS)
    assert widest.keys == (KEYS_GLOB, MEMBER_KEYS)


def test_config_widest_allowlist_of_a_single_account_config_is_its_allowlist() -> None:
    config = parse_config(ISSUE_EXAMPLE)
    assert config.widest_allowlist() == config.allow


def test_config_to_json_leaves_unset_organization_fields_out_and_round_trips() -> None:
    # Given a single-account and an organization configuration
    single, organization = parse_config(ISSUE_EXAMPLE), parse_config(ORGANIZATION_EXAMPLE)
    # When rendering them as the Lambda's REMEDIATOR_CONFIG
    single_json, organization_json = json.loads(single.to_json()), organization.to_json()
    # Then the single-account one has exactly its own fields, none of the organization's
    assert set(single_json) == {
        "mode",
        "allow",
        "remedy",
        "max_changes_per_key_per_hour",
        "incident_window_minutes",
    }
    # And both parse back to the same configuration
    assert load_config(single.to_json()) == single
    assert load_config(organization_json) == organization


@pytest.mark.parametrize(
    "role",
    ["KmsLaunchRemediatorMember", "a", "x" * 64, "ops+remediator=1,v.2@team_a-b"],
    ids=["plain", "one-character", "64-characters", "every-allowed-symbol"],
)
def test_config_member_role_accepts_iam_role_names(role: str) -> None:
    assert parse_config({"member_role": role}).member_role == role


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"member_role": ""}, "member_role: '' is not an IAM role name"),
        ({"member_role": "x" * 65}, "member_role: 'xxxx"),
        ({"member_role": "arn:aws:iam::111122223333:role/Member"}, "(a name, not an ARN)"),
        ({"member_role": "path/Member"}, "member_role: 'path/Member' is not"),
        ({"member_role": "Member Role"}, "member_role: 'Member Role' is not"),
        ({"member_role": "Membér"}, "member_role: 'Membér' is not"),
        ({"member_role": 7}, "member_role: Input should be a valid string"),
        ({"accounts": []}, "accounts: Input should be a valid dictionary"),
        ({"accounts": {123456789012: {"mode": "enforce"}}}, "an account id must be a string"),
        ({"accounts": {"44445555666": {"mode": "enforce"}}}, "accounts: '44445555666'"),
        ({"accounts": {"*": {"mode": "enforce"}}}, "accounts: '*'"),
        ({"accounts": {MEMBER_ACCOUNT: {}}}, f"accounts.{MEMBER_ACCOUNT}: an account entry"),
        ({"accounts": {MEMBER_ACCOUNT: {"mode": "yolo"}}}, f"accounts.{MEMBER_ACCOUNT}.mode:"),
        (
            {"accounts": {MEMBER_ACCOUNT: {"allow": {"keys": ["*"]}}}},
            f"accounts.{MEMBER_ACCOUNT}.allow.keys:",
        ),
        (
            {"accounts": {MEMBER_ACCOUNT: {"allow": {"principals": ["arn:aws:iam::*:role/*"]}}}},
            f"accounts.{MEMBER_ACCOUNT}.allow.principals:",
        ),
        (
            {"accounts": {MEMBER_ACCOUNT: {"remedy": "grant"}}},
            f"accounts.{MEMBER_ACCOUNT}.remedy: unknown field",
        ),
    ],
    ids=[
        "role-empty",
        "role-65-characters",
        "role-arn",
        "role-with-path",
        "role-with-space",
        "role-non-ascii",
        "role-number",
        "accounts-is-list",
        "account-id-not-a-string",
        "account-11-digits",
        "account-wildcard",
        "account-entry-empty",
        "account-bad-mode",
        "account-bad-key-entry",
        "account-bad-principal-entry",
        "account-unknown-field",
    ],
)
def test_config_rejects_bad_organization_value_naming_the_field(
    document: dict[str, object], field: str
) -> None:
    # Given an organization field with a bad value
    # When it is parsed
    # Then it is rejected like the top-level fields, naming the field (and the account)
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert field in str(raised.value)


def test_config_dry_run_everywhere_holds_in_every_account_whatever_its_entry_says() -> None:
    # Given an organization in dry-run whose member's entry says enforce, and another member
    config = parse_config(
        {
            "mode": "enforce",
            "member_role": "KmsLaunchRemediatorMember",
            "accounts": {
                MEMBER_ACCOUNT: {"mode": "enforce"},
                "777788889999": {"allow": {"keys": [MEMBER_KEYS]}},
            },
        }
    )
    # When the CLI's --dry-run asks for it
    dry = config.dry_run_everywhere()
    # Then no account may be changed, the one whose entry said enforce included
    for account in (MEMBER_ACCOUNT, "777788889999", "123456789012"):
        assert dry.for_account(account).dry_run, account
    # And nothing else changed
    assert dry.for_account("777788889999").allow == config.for_account("777788889999").allow
