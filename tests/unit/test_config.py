"""The configuration model: what is accepted, what is rejected (naming the field), and how the
allowlist globs match full ARNs."""

from __future__ import annotations

import json

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


@pytest.mark.xfail(
    strict=True,
    reason=(
        "BUG: a principal pattern without a resource type (role/ or user/) is accepted, "
        "although config.py says an entry must name the service AND the resource type; "
        "'arn:aws:iam::*:*' allows every principal of every account"
    ),
)
@pytest.mark.parametrize(
    "pattern",
    ["arn:aws:iam::*:*", "arn:*:iam::*:*", "arn:aws:iam::111122223333:*"],
    ids=["any-account-any-resource", "any-partition", "no-resource-type"],
)
def test_config_rejects_principal_pattern_without_resource_type(pattern: str) -> None:
    with pytest.raises(ConfigError, match=r"allow\.principals"):
        parse_config({"allow": {"principals": [pattern]}})


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
    with pytest.raises(ValueError, match="frozen"):
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
        (["arn:aws:iam::111122223333:*"], "arn:aws:iam::111122223333:root", False),
        (["arn:aws:iam::111122223333:roo?"], "arn:aws:iam::111122223333:root", False),
        (["arn:aws:iam::*:root"], "arn:aws:iam::111122223333:root", False),
        (["arn:aws:iam::111122223333:root"], "arn:aws:iam::444455556666:root", False),
        (
            ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:root"],
            "arn:aws:iam::111122223333:user/bob",
            True,
        ),
    ],
    ids=["literal", "star-glob", "question-glob", "any-account", "other-account", "second-entry"],
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


def test_config_settings_env_names_are_the_three_variables() -> None:
    assert Settings.env_names() == ("REMEDIATOR_CONFIG", "NOTIFY_TOPIC_ARN", "STATE_TABLE_NAME")


@pytest.mark.parametrize(
    "entry",
    [
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:user/ops-alice",
        "arn:aws-cn:iam::111122223333:role/Path/Name",
        "arn:*:iam::1111222233?3:role/*",
    ],
    ids=["root-literal", "user-literal", "china-partition-role-with-path", "globbed-partition"],
)
def test_config_accepts_iam_principal_patterns(entry: str) -> None:
    assert parse_config({"allow": {"principals": [entry]}}).allow.principals == (entry,)


def test_config_accepts_literal_federated_user_arn() -> None:
    entry = "arn:aws:sts::111122223333:federated-user/bob"
    assert parse_config({"allow": {"principals": [entry]}}).allow.names_principal_exactly(entry)
