"""The CLI's contract: every error is one line on stderr, never a traceback; exit 2 for bad
input, configuration or usage, 3 for AWS unreachable, unauthenticated or denying, 1 only for an
outcome failed; --region, AWS_REGION and AWS_DEFAULT_REGION work the same on every command;
``state create-table`` is idempotent; the commands printed in ``undo`` work as pasted."""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator import cli
from remediator.adapters.dynamo import DynamoState
from remediator.cli.common import EXIT_AWS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from remediator.ports import AccessDenied
from tests.integration.conftest import allow
from tests.support.world import SAMPLE_KEY_ARN, World, load_event

REGION = "eu-central-1"  # not the tests' default region: a command that ignored it would miss
TABLE = "cli-state"
CASE5 = "case5_user_start_instances_create_grant.json"
KEY_ELSEWHERE = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def one_line_error(captured: Any) -> str:
    """The single stderr line of a failed command (stdout empty)."""
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return str(lines[0])


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region anywhere: neither variable, and no profile configuration."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture
def elsewhere(moto_aws: None, no_region: None) -> Iterator[World]:
    """A state table in REGION only, and a world there."""
    world = World(region=REGION)
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield world


def with_region(argv: list[str], source: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if source == "--region":
        return [*argv, "--region", REGION]
    monkeypatch.setenv(source, REGION)
    return argv


REGION_SOURCES = ["--region", "AWS_REGION", "AWS_DEFAULT_REGION"]
TABLE_COMMANDS = {
    "history": ["history", "--key", KEY_ELSEWHERE, "--state-table", TABLE],
    "rollback": ["rollback", "--key", KEY_ELSEWHERE, "--state-table", TABLE],
    "cleanup": ["cleanup", "--state-table", TABLE],
    "create-table": ["state", "create-table", TABLE],
}


@pytest.mark.parametrize("source", REGION_SOURCES)
@pytest.mark.parametrize("command", sorted(TABLE_COMMANDS))
def test_cli_every_table_command_finds_its_region_in_each_place(
    elsewhere: World,
    command: str,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the table exists in REGION only, When a command is told REGION in one way
    code = cli.main(with_region(TABLE_COMMANDS[command], source, monkeypatch))

    # Then it reached the table there: no "table not found" (rollback: no such change, 2)
    captured = capsys.readouterr()
    assert "not found in" not in captured.err
    if command == "rollback":
        assert code == EXIT_USAGE
        assert json.loads(captured.out)["outcome"] == "not_found"
    else:
        assert code == EXIT_OK, captured.err
    if command == "create-table":
        assert json.loads(captured.out) == {"exists": TABLE}


@pytest.mark.parametrize("source", REGION_SOURCES)
def test_cli_diagnose_finds_its_region_in_each_place(
    elsewhere: World,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a group in REGION only, When diagnose is told REGION in one way
    key = elsewhere.key()
    elsewhere.autoscaling_group(elsewhere.launch_template(key), "web-asg")
    code = cli.main(with_region(["diagnose", "--asg", "web-asg", "--json"], source, monkeypatch))

    # Then it read the group there
    assert code == EXIT_OK, capsys.readouterr().err
    assert key in capsys.readouterr().out


@pytest.mark.parametrize(("flag", "expected"), [(False, "eu-west-1"), (True, REGION)])
def test_cli_replay_calls_the_events_region_unless_told_another(
    moto_aws: None,
    flag: bool,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an alias naming one key in eu-west-1 (the event's region) and another in REGION,
    # an event that names the key by that alias only, and a shell whose AWS_REGION is REGION
    keys = {}
    for region in ("eu-west-1", REGION):
        keys[region] = World(region=region).key()
        kms = boto3.client("kms", region_name=region)
        kms.create_alias(AliasName="alias/ebs-launch", TargetKeyId=keys[region])
    event = load_event(CASE5)
    detail = event["detail"]
    detail["requestParameters"]["keyId"] = "alias/ebs-launch"
    detail["resources"] = []
    detail["errorMessage"] = detail["errorMessage"].split(" on resource")[0]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    monkeypatch.setenv("AWS_REGION", REGION)

    # When it is replayed, without --region or with --region REGION
    code = cli.main(["replay", str(path), "--dry-run", *(["--region", REGION] if flag else [])])

    # Then it resolved the alias in the event's region, or in the one --region named
    assert code == EXIT_OK, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["key_arn"] == keys[expected]


@pytest.mark.parametrize(
    "argv",
    [
        ["history", "--key", KEY_ELSEWHERE, "--state-table", TABLE],
        ["rollback", "--key", KEY_ELSEWHERE, "--state-table", TABLE],
        ["state", "create-table", TABLE],
        ["cleanup", "--state-table", TABLE],
        ["diagnose", "--instance-id", "i-0123456789abcdef0"],
    ],
    ids=lambda argv: argv[0],
)
def test_cli_without_any_region_exits_two_in_one_line(
    moto_aws: None, no_region: None, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == EXIT_USAGE
    assert "no AWS region" in one_line_error(capsys.readouterr())


def test_cli_create_table_twice_is_idempotent(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the table is created twice
    first = cli.main(["state", "create-table", TABLE])
    first_out = json.loads(capsys.readouterr().out)
    second = cli.main(["state", "create-table", TABLE])
    second_out = json.loads(capsys.readouterr().out)

    # Then both succeed: created, then kept; its TTL is on
    assert (first, first_out) == (EXIT_OK, {"created": TABLE})
    assert (second, second_out) == (EXIT_OK, {"exists": TABLE})
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=TABLE)
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_cli_create_table_over_another_schema_exits_two(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert cli.main(["state", "create-table", TABLE]) == EXIT_USAGE
    assert "another key schema" in one_line_error(capsys.readouterr())


@pytest.mark.parametrize("command", ["history", "rollback", "cleanup"])
def test_cli_missing_table_exits_two_saying_how_to_create_it(
    moto_aws: None, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        "history": ["history", "--key", SAMPLE_KEY_ARN, "--state-table", "nope"],
        "rollback": ["rollback", "--key", SAMPLE_KEY_ARN, "--state-table", "nope"],
        "cleanup": ["cleanup", "--state-table", "nope"],
    }[command]
    assert cli.main(argv) == EXIT_USAGE
    line = one_line_error(capsys.readouterr())
    assert "'nope' not found in eu-west-1" in line
    assert "state create-table nope" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["history", "--key", "alias/ebs", "--state-table", TABLE],
        ["history", "--key", "1234abcd-12ab-34cd-56ef-1234567890ab", "--state-table", TABLE],
        ["rollback", "--key", "arn:aws:kms:eu-west-1:111122223333:alias/x", "--state-table", TABLE],
        ["cleanup", "--key", "not-a-key"],
        ["history"],
        ["cleanup"],
        ["frobnicate"],
        [],
        ["replay"],
        ["state"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_cli_bad_usage_exits_two_in_one_line(
    moto_aws: None, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == EXIT_USAGE
    one_line_error(capsys.readouterr())


def test_cli_history_key_must_be_a_key_arn(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["history", "--key", "alias/ebs", "--state-table", TABLE]) == EXIT_USAGE
    assert "is not a KMS key ARN" in one_line_error(capsys.readouterr())


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def closed_port_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """An endpoint on loopback where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return endpoint


AWS_COMMANDS = [
    ["history", "--key", SAMPLE_KEY_ARN, "--state-table", TABLE],
    ["state", "create-table", TABLE],
    ["diagnose", "--instance-id", "i-0123456789abcdef0"],
]


@pytest.mark.parametrize("argv", AWS_COMMANDS, ids=lambda argv: argv[0])
def test_cli_without_credentials_exits_three_in_one_line(
    no_credentials: None, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == EXIT_AWS
    assert "credentials" in one_line_error(capsys.readouterr()).lower()


@pytest.mark.parametrize("argv", AWS_COMMANDS, ids=lambda argv: argv[0])
def test_cli_uses_the_credentials_of_its_environment_not_an_earlier_default_session(
    no_credentials: None,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given boto3's process-wide default session made earlier, with credentials of its own (as
    # any earlier boto3.client() call leaves it), and none in the environment now
    monkeypatch.setattr(
        boto3, "DEFAULT_SESSION", boto3.Session(aws_access_key_id="a", aws_secret_access_key="b")
    )
    # Then each command still finds no credentials, rather than calling AWS with those
    assert cli.main(argv) == EXIT_AWS
    assert "credentials" in one_line_error(capsys.readouterr()).lower()


@pytest.mark.parametrize("argv", AWS_COMMANDS, ids=lambda argv: argv[0])
def test_cli_unreachable_endpoint_exits_three_in_one_line(
    closed_port_endpoint: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == EXIT_AWS
    assert closed_port_endpoint in one_line_error(capsys.readouterr())


def test_cli_denied_call_exits_three_in_one_line(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the operator's credentials may not query the table
    def denied(self: DynamoState, key_arn: str) -> list[dict[str, Any]]:
        raise AccessDenied("dynamodb:Query", "AccessDeniedException", "not authorized")

    monkeypatch.setattr(DynamoState, "history", denied)
    assert cli.main(["history", "--key", SAMPLE_KEY_ARN, "--state-table", TABLE]) == EXIT_AWS
    assert "AccessDeniedException" in one_line_error(capsys.readouterr())


def test_cli_bug_is_one_line_with_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: Any) -> int:
        raise KeyError("surprise")

    monkeypatch.setitem(cli.COMMANDS, "history", broken)
    assert cli.main(["history", "--key", SAMPLE_KEY_ARN]) == EXIT_INTERNAL
    assert "internal error: KeyError" in one_line_error(capsys.readouterr())


@pytest.fixture
def remediated(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Case 5 replayed with a state table: the printed report, and the policy it replaced."""
    key, user = world.key(), world.user()
    before = world.policy(key)
    assert cli.main(["state", "create-table", TABLE]) == EXIT_OK
    event, config = tmp_path / "event.json", tmp_path / "config.json"
    event.write_text(json.dumps(load_event(CASE5, {SAMPLE_KEY_ARN: key})))
    config.write_text(json.dumps(allow([user], [key])))
    capsys.readouterr()
    argv = ["replay", str(event), "--config", str(config), "--state-table", TABLE]
    assert cli.main(argv) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "remediated"
    return {"key": key, "before": before, "report": report}


def test_cli_undo_rollback_command_works_as_pasted(
    world: World, remediated: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the rollback command the report printed
    command = shlex.split(remediated["report"]["undo"]["rollback"])
    assert command[:4] == ["PYTHONPATH=lambdas", "python", "-m", "remediator"]
    assert {"--state-table", "--region", "--change-id"} <= set(command)

    # When it is run as it is
    code = cli.main(command[4:])

    # Then the change is rolled back, and counted as the metric RolledBack
    assert code == EXIT_OK, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["outcome"] == "rolled_back"
    assert world.policy(remediated["key"]) == remediated["before"]
    metrics = boto3.client("cloudwatch").list_metrics(
        Namespace="KmsLaunchRemediator", MetricName="RolledBack"
    )["Metrics"]
    assert metrics == [
        {
            "Namespace": "KmsLaunchRemediator",
            "MetricName": "RolledBack",
            "Dimensions": [{"Name": "service", "Value": "kms-launch-remediator"}],
        }
    ]


def test_cli_undo_aws_cli_command_carries_the_previous_policy_and_region(
    remediated: dict[str, Any],
) -> None:
    command = shlex.split(remediated["report"]["undo"]["cli"])
    assert command[:3] == ["aws", "kms", "put-key-policy"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--key-id"] == remediated["key"]
    assert options["--region"] == "eu-west-1"
    assert options["--policy-name"] == "default"
    assert json.loads(options["--policy"]) == remediated["before"]


def test_cli_replay_takes_the_invocation_record_of_the_dead_letter_queue(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Lambda's on-failure record of an event that failed every attempt (the DLQ body)
    key, user = world.key(), world.user()
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key})
    record = {
        "version": "1.0",
        "timestamp": "2024-05-14T09:20:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4f0e-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:remediator:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "verification failed after PutKeyPolicy"},
    }
    body, config = tmp_path / "dlq-body.json", tmp_path / "config.json"
    body.write_text(json.dumps(record))
    config.write_text(json.dumps(allow([user], [key])))

    # When the body is replayed as it is
    code = cli.main(["replay", str(body), "--config", str(config)])

    # Then the event it carries is handled
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert (out["event_id"], out["outcome"]) == (event["id"], "remediated")


def test_cli_second_rollback_says_already_rolled_back_and_history_shows_it(
    world: World, remediated: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a change rolled back once
    key, change_id = remediated["key"], remediated["report"]["change_id"]
    argv = ["rollback", "--key", key, "--change-id", change_id, "--state-table", TABLE]
    assert cli.main(argv) == EXIT_OK
    capsys.readouterr()

    # When it is rolled back again
    code = cli.main(argv)

    # Then it says so, changes nothing, and exits 0
    again = json.loads(capsys.readouterr().out)
    assert (code, again["outcome"]) == (EXIT_OK, "already_rolled_back")
    assert world.policy(key) == remediated["before"]

    # And history shows the change rolled back, by the rollback's own record
    assert cli.main(["history", "--key", key, "--state-table", TABLE]) == EXIT_OK
    records = json.loads(capsys.readouterr().out)["records"]
    change = next(r for r in records if r["change_id"] == change_id)
    rollback = next(r for r in records if r["remedy"] == "rollback")
    assert change["status"] == "rolled back"
    assert change["rolled_back_by"] == rollback["change_id"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"id": ', "not valid JSON"),
        ("[]", "must be a JSON object"),
    ],
    ids=["nested-100000-deep", "truncated", "not-an-object"],
)
def test_cli_replay_bad_event_exits_two_in_one_line(
    moto_aws: None, tmp_path: Any, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(text)
    assert cli.main(["replay", str(event)]) == EXIT_USAGE
    assert message in one_line_error(capsys.readouterr())
