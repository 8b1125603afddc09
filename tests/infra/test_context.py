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
from aws_cdk.assertions import Template

from infra.application import create_app
from infra.context import DEFAULTS, LOG_RETENTION, ContextError, load_settings
from remediator.config import Mode
from tests.infra.conftest import CDK_JSON, ROOT, cdk_json_context

KEY = "arn:aws:kms:eu-west-1:111122223333:key/*"


def _settings(**overrides: Any) -> Any:
    context = cdk_json_context()
    context.update(overrides)
    return load_settings(context.get)


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
    settings = load_settings({}.get)
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
    env = dict(os.environ, CDK_OUTDIR=str(tmp_path), CDK_CONTEXT_JSON=json.dumps({"mode": "yolo"}))
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    # When it runs
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    # Then it exits non-zero with one line naming the field
    assert result.returncode == 1
    assert "cdk synth: invalid CDK context mode: Input should be 'enforce' or 'dry-run'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


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
