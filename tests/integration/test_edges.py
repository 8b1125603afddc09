"""The two edges, the replay CLI and the Lambda handler, over the same engine under moto."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from remediator import cli, handler
from remediator.adapters.aws import AwsAdapter
from tests.integration.conftest import allow
from tests.support.lambda_context import FakeContext
from tests.support.world import SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"


@pytest.fixture
def case5(world: World, tmp_path: Path) -> dict[str, Any]:
    """A key, a user, the event file and a config file allowing both."""
    key, user = world.key(), world.user()
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(load_event(CASE5, {SAMPLE_KEY_ARN: key})))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(allow([user], [key])))
    return {"key": key, "user": user, "event": str(event_file), "config": str(config_file)}


def test_cli_replay_prints_report_and_exits_zero(
    world: World, case5: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # When the event is replayed with a config file
    code = cli.main(["replay", case5["event"], "--config", case5["config"]])

    # Then one JSON object with the notification's fields is printed, and the key is fixed
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["outcome"] == "remediated"
    assert out["key_arn"] == case5["key"]
    assert out["principal_arn"] == case5["user"]
    assert {"remedy", "reason", "event_id", "changes", "undo", "instance_id"} <= set(out)
    assert len(world.policy(case5["key"])["Statement"]) == 3


def test_cli_dry_run_flag_overrides_enforce(
    world: World, case5: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.policy(case5["key"])
    code = cli.main(["replay", case5["event"], "--config", case5["config"], "--dry-run"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "dry_run"
    assert world.policy(case5["key"]) == before


def test_cli_config_from_environment(
    world: World,
    case5: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMEDIATOR_CONFIG", Path(case5["config"]).read_text())
    assert cli.main(["replay", case5["event"]]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "remediated"


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ('{"mode": "yolo"}', "mode:"),
        ('{"allow": {"principals": ["*"]}}', "allow.principals"),
        ('{"remedy": "auto", "surprise": 1}', "surprise: unknown field"),
        ("{not json", "not valid JSON"),
    ],
)
def test_cli_bad_config_exits_two_naming_the_field(
    world: World,
    case5: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config_text: str,
    message: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(config_text)
    before = world.policy(case5["key"])

    code = cli.main(["replay", case5["event"], "--config", str(bad)])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""
    assert world.policy(case5["key"]) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read event file"),
        ("{oops", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_cli_bad_event_exits_two(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["replay", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_cli_failed_verification_exits_one(
    world: World,
    case5: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given KMS accepts PutKeyPolicy but the policy read back does not contain the change
    monkeypatch.setattr(AwsAdapter, "put_key_policy", lambda self, key_arn, text: None)

    # When the event is replayed
    code = cli.main(["replay", case5["event"], "--config", case5["config"]])

    # Then the post-condition check reports failed, and the exit code is 1
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["outcome"] == "failed"
    assert "verification failed" in out["reason"]


def test_handler_remediates_and_counts_outcome(
    world: World,
    inbox: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the Lambda's environment as the stack sets it
    key, user = world.key(), world.user()
    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(allow([user], [key])))
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", inbox[0])
    monkeypatch.delenv("STATE_TABLE_NAME", raising=False)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key})

    log = io.StringIO()
    stream_handler = handler.logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    previous = stream_handler.setStream(log)

    # When EventBridge invokes it
    try:
        result = handler.handler(event, FakeContext())  # type: ignore[arg-type]
    finally:
        stream_handler.setStream(previous)
        handler.remediator.cache_clear()
    handler.pipeline.cache_clear()

    # Then it returns the report, notifies, and emits the outcome metric (EMF on stdout)
    assert result["outcome"] == "remediated"
    assert world.received(inbox[1])[0]["message"]["outcome"] == "remediated"
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    metrics = [m for blob in emitted for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert {"Name": "Remediated", "Unit": "Count"} in metrics
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    handled = [entry for entry in logged if entry.get("message") == "event_handled"]
    assert handled, "the engine's log line goes through powertools' JSON logger"
    assert handled[0]["correlation_id"] == event["id"]
    assert handled[0]["outcome"] == "remediated"


def test_handler_rejects_bad_configuration(monkeypatch: pytest.MonkeyPatch, moto_aws: None) -> None:
    from remediator.config import ConfigError

    monkeypatch.setenv("REMEDIATOR_CONFIG", '{"mode": "sometimes"}')
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    with pytest.raises(ConfigError, match="mode"):
        handler.handler(load_event(CASE5), FakeContext())  # type: ignore[arg-type]
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
