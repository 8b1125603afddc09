"""Context: cdk.json's defaults, command-line strings, and clear failures naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Annotations, Match, Template

from infra.application import STACK_NAME, create_app
from infra.context import DEFAULTS, LOG_RETENTION, ContextError, load_settings
from remediator.config import Mode
from tests.infra.conftest import CDK_JSON, ROOT, cdk_json_context, synth

KEY = "arn:aws:kms:eu-west-1:111122223333:key/*"
PRINCIPAL = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/*"


def _settings(**overrides: Any) -> Any:
    context = cdk_json_context()
    context.update(overrides)
    return load_settings(context)


def _run_app_py(tmp_path: Any, context: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """app.py run the way the CDK CLI runs it: the merged context in CDK_CONTEXT_JSON."""
    env = dict(os.environ, CDK_OUTDIR=str(tmp_path), CDK_CONTEXT_JSON=json.dumps(context))
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_context_cdk_json_defaults_equal_the_stacks_defaults() -> None:
    # Given cdk.json
    config = json.loads(CDK_JSON.read_text())
    # When comparing its context with the defaults the stack falls back on
    context = {key: value for key, value in config["context"].items() if key in DEFAULTS}
    # Then every key is there, with the same value, and the app is the venv's python
    assert context == DEFAULTS
    assert config["app"] == ".venv/bin/python app.py"


def test_context_defaults_are_safe() -> None:
    # Given no context at all
    settings = load_settings({})
    # When reading the validated settings
    # Then nothing may be changed until a team opts in, and a trail is created
    assert settings.remediator.mode is Mode.DRY_RUN
    assert settings.remediator.allow.keys == ()
    assert settings.remediator.allow.principals == ()
    assert settings.create_trail is True


def test_context_command_line_strings_are_decoded() -> None:
    # Given values as `cdk synth -c key=value` passes them (strings)
    settings = _settings(
        allowed_keys=json.dumps([KEY]),
        notification_emails='["secops@example.com"]',
        create_trail="False",
        max_changes_per_key_per_hour="5",
        incident_window_minutes="60",
        log_retention_days="30",
        reserved_concurrency="12",
        mode="enforce",
    )
    # When validated
    # Then they mean the same as the JSON values in cdk.json
    assert settings.remediator.allow.keys == (KEY,)
    assert settings.notification_emails == ("secops@example.com",)
    assert settings.create_trail is False
    assert settings.remediator.max_changes_per_key_per_hour == 5
    assert settings.remediator.incident_window_minutes == 60
    assert settings.log_retention_days == 30
    assert settings.reserved_concurrency == 12
    assert settings.remediator.mode is Mode.ENFORCE


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mode", "yolo"),
        ("mode", ["enforce"]),
        ("remedy", "everything"),
        ("allowed_keys", "*"),
        ("allowed_keys", '["*"]'),
        ("allowed_keys", ["arn:aws:kms:eu-west-1:111122223333:alias/ebs"]),
        ("allowed_keys", ["arn:aws:kms:eu-west-1:111122223333:key/[ab]*"]),
        ("allowed_principals", ["*"]),
        ("allowed_principals", "arn:aws:iam::111122223333:role/ops"),
        ("allowed_principals", ["arn:aws:iam::111122223333:role/ops-[ab]"]),
        ("max_changes_per_key_per_hour", "0"),
        ("max_changes_per_key_per_hour", "ten"),
        ("incident_window_minutes", "0"),
        ("incident_window_minutes", "1441"),
        ("incident_window_minutes", "quarter"),
        ("notification_emails", ["ops"]),
        ("notification_emails", "ops@example.com"),
        ("create_trail", "maybe"),
        ("log_retention_days", "91"),
        ("trail_retention_days", "0"),
        ("powertools_layer_version", "latest"),
        ("reserved_concurrency", "0"),
        ("reserved_concurrency", -1),
        ("reserved_concurrency", "five"),
    ],
)
def test_context_bad_value_fails_synth_naming_the_key(key: str, value: Any) -> None:
    # Given one bad context value on top of cdk.json's
    context = cdk_json_context()
    context[key] = value
    # When the app is built
    # Then it fails with a message that names the context key
    with pytest.raises(ContextError, match=rf"invalid CDK context {key}\b"):
        create_app(context)


def test_context_app_py_reports_a_bad_value_without_a_traceback(tmp_path: Any) -> None:
    # Given app.py run the way the CDK CLI runs it, with a bad mode
    # When it runs
    result = _run_app_py(tmp_path, {"mode": "yolo"})
    # Then it exits non-zero with one line naming the field
    assert result.returncode == 1
    assert "cdk synth: invalid CDK context mode: Input should be 'enforce' or 'dry-run'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key", ["mdoe", "allowed_key", "allowed-keys", "Mode"])
def test_context_unknown_key_fails_synth_listing_the_known_keys(key: str) -> None:
    # Given cdk.json's context plus a misspelt key, as `-c mdoe=enforce` would add it
    context = cdk_json_context()
    context[key] = "enforce"
    # When the app is built
    with pytest.raises(ContextError) as raised:
        create_app(context)
    # Then it fails naming the unknown key and listing every key this app knows
    message = str(raised.value)
    assert message.startswith(f"unknown CDK context key(s) {key}; this app's keys are ")
    assert message.endswith(", ".join(sorted(DEFAULTS)))


def test_context_cdk_own_keys_are_not_rejected() -> None:
    # Given cdk.json (its feature flags) plus the keys the CDK CLI and its caches add
    context = cdk_json_context()
    context.update(
        {
            "aws:cdk:bundling-stacks": [],
            "aws:cdk:enable-path-metadata": True,
            "aws:cdk:version-reporting": True,
            "acknowledged-issue-numbers": [32775],
            "cdk-migrate": True,
            "availability-zones:account=111122223333:region=eu-west-1": ["eu-west-1a"],
            "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver": True,
        }
    )
    # When the app is built
    app = create_app(context)
    # Then it is built: none of these is this app's to judge
    assert app.node.find_child(STACK_NAME) is not None


def test_context_app_py_rejects_a_misspelt_command_line_key(tmp_path: Any) -> None:
    # Given app.py run as the CDK CLI runs it for `cdk synth -c mdoe=enforce`
    context = cdk_json_context()
    context.update({"mdoe": "enforce", "aws:cdk:bundling-stacks": []})
    # When it runs
    result = _run_app_py(tmp_path, context)
    # Then it exits non-zero with one line naming the key and the known keys
    assert result.returncode == 1
    assert "cdk synth: unknown CDK context key(s) mdoe; this app's keys are allowed_keys, " in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("context", "empty"),
    [
        ({"allowed_keys": [KEY]}, "allowed_principals"),
        ({"allowed_principals": [PRINCIPAL]}, "allowed_keys"),
        ({}, "allowed_principals and allowed_keys"),
    ],
)
def test_context_enforce_with_an_empty_allowlist_warns_at_synth(
    context: dict[str, Any], empty: str
) -> None:
    # Given mode=enforce with one or both allowlists empty
    stack = synth(mode="enforce", **context).stack
    # When reading the synth warnings
    warnings = Annotations.from_stack(stack).find_warning(
        "/" + STACK_NAME, Match.string_like_regexp("mode=enforce.*")
    )
    # Then one warning says which allowlist is empty and that nothing can be changed
    assert [w.entry.data for w in warnings] == [
        f"mode=enforce with an empty {empty}: the remediator can change no key and will only "
        "report refusals. Set both allowlists, e.g. -c allowed_principals='[...]' "
        "-c allowed_keys='[...]'. [ack: kms-launch-remediator:enforceWithEmptyAllowlist]"
    ]


@pytest.mark.parametrize(
    "context",
    [
        {"mode": "dry-run"},
        {"mode": "enforce", "allowed_keys": [KEY], "allowed_principals": [PRINCIPAL]},
    ],
    ids=["dry-run", "enforce-with-allowlists"],
)
def test_context_no_allowlist_warning_when_it_would_be_noise(context: dict[str, Any]) -> None:
    # Given dry-run (changes nothing on purpose), or enforce with both allowlists set
    stack = synth(**context).stack
    # When reading the synth warnings
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("mode=enforce.*")
    )
    # Then there is none
    assert warnings == []


def test_context_log_retention_table_renders_each_period_as_its_days() -> None:
    # Given the one table of CloudWatch Logs' retention periods and their CDK enum members
    stack = Stack(App(), "Retention")
    for days, retention in LOG_RETENTION.items():
        logs.LogGroup(stack, f"Days{days}", retention=retention)
    # When synthesised
    rendered = sorted(
        resource["Properties"]["RetentionInDays"]
        for resource in Template.from_stack(stack).find_resources("AWS::Logs::LogGroup").values()
    )
    # Then every entry's enum member means exactly its number of days
    assert rendered == sorted(LOG_RETENTION)
