"""The remediator Lambda: runtime, settings, failure handling, logs, tracing, layer, asset."""

from __future__ import annotations

from typing import Any

import pytest

from infra.remediator import HANDLER, POWERTOOLS_LAYER_ACCOUNT, POWERTOOLS_LAYER_NAME
from remediator import state_schema
from remediator.config import Settings, load_config, parse_config
from remediator.outcomes import METRICS_NAMESPACE, SERVICE_NAME
from tests.infra.conftest import Synthesized, cdk_json_context, synth

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
}
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/*"


@pytest.fixture(scope="module")
def deployed() -> Synthesized:
    return synth()


def _function(synthesized: Synthesized) -> dict[str, Any]:
    functions = synthesized.resources("AWS::Lambda::Function")
    assert len(functions) == 1
    return next(iter(functions.values()))["Properties"]


def test_function_runtime_arm64_handler_timeout_and_memory(deployed: Synthesized) -> None:
    # Given the synthesised template
    # When reading the function
    function = _function(deployed)
    # Then it runs the engine's handler on Python 3.12 / arm64 with explicit limits
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == HANDLER == "remediator.handler.handler"
    assert function["Timeout"] == 120
    assert function["MemorySize"] == 256


def test_function_timeout_is_outlived_by_the_lock_lease(deployed: Synthesized) -> None:
    # Given the deployed function's timeout and the lock's lease
    timeout = _function(deployed)["Timeout"]
    # When comparing them
    # Then a lock always outlives the invocation holding it, with the margin for its release
    assert timeout == 120
    assert timeout + state_schema.LOCK_MARGIN_SECONDS <= state_schema.LOCK_LEASE_SECONDS


@pytest.mark.parametrize(("value", "expected"), [(None, 5), ("12", 12)])
def test_function_reserved_concurrency_from_context(value: str | None, expected: int) -> None:
    # Given the default reserved concurrency, or one given on the command line
    synthesized = synth() if value is None else synth(reserved_concurrency=value)
    # When reading the function
    # Then at most that many invocations run at once; a storm queues behind them
    assert _function(synthesized)["ReservedConcurrentExecutions"] == expected
    assert cdk_json_context()["reserved_concurrency"] == 5


def test_function_env_var_names_equal_settings_plus_powertools(deployed: Synthesized) -> None:
    # Given the runtime's settings names
    expected = set(Settings.env_names()) | set(POWERTOOLS_ENV)
    # When reading the function's environment
    variables = _function(deployed)["Environment"]["Variables"]
    # Then it sets exactly those, and powertools gets the shared service name and namespace
    assert set(variables) == expected
    assert {name: variables[name] for name in POWERTOOLS_ENV} == POWERTOOLS_ENV


def test_function_env_points_at_the_stack_topic_and_table(deployed: Synthesized) -> None:
    # Given the stack's topic and state table
    topic = deployed.resolve(deployed.stack.notifications.topic.topic_arn)
    table = deployed.resolve(deployed.stack.state.table.table_name)
    # When reading the function's environment
    variables = _function(deployed)["Environment"]["Variables"]
    # Then the engine is told to use those
    assert variables[Settings.ENV_TOPIC] == topic
    assert variables[Settings.ENV_STATE_TABLE] == table


def test_function_config_defaults_to_dry_run_with_empty_allowlist(deployed: Synthesized) -> None:
    # Given cdk.json's defaults
    # When the Lambda parses its REMEDIATOR_CONFIG as it does at run time
    config = load_config(_function(deployed)["Environment"]["Variables"][Settings.ENV_CONFIG])
    # Then it changes nothing until a team opts in
    assert config.dry_run
    assert config.allow.keys == ()
    assert config.allow.principals == ()
    assert config.max_changes_per_key_per_hour == cdk_json_context()["max_changes_per_key_per_hour"]
    assert config.incident_window_minutes == cdk_json_context()["incident_window_minutes"]


def test_function_config_carries_context_values_through_the_model() -> None:
    # Given context as the command line passes it (strings)
    synthesized = synth(
        mode="enforce",
        remedy="grant",
        allowed_keys=f'["{KEY}"]',
        allowed_principals=f'["{ROLE}"]',
        max_changes_per_key_per_hour="3",
    )
    # When the Lambda parses its REMEDIATOR_CONFIG
    text = _function(synthesized)["Environment"]["Variables"][Settings.ENV_CONFIG]
    # Then it is the same validated model the context describes
    assert load_config(text) == parse_config(
        {
            "mode": "enforce",
            "remedy": "grant",
            "allow": {"keys": [KEY], "principals": [ROLE]},
            "max_changes_per_key_per_hour": 3,
        }
    )


def test_function_async_retries_and_failures_go_to_the_dlq(deployed: Synthesized) -> None:
    # Given the remediator's dead-letter queue
    dlq_arn = deployed.resolve(deployed.stack.remediator.dlq.queue_arn)
    # When reading the function's async invoke config
    configs = list(deployed.resources("AWS::Lambda::EventInvokeConfig").values())
    # Then failed async invocations are retried a bounded number of times, then parked
    assert len(configs) == 1
    props = configs[0]["Properties"]
    assert props["MaximumRetryAttempts"] == 2
    assert props["MaximumEventAgeInSeconds"] == 3600
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": dlq_arn}}


def test_dlq_is_encrypted_and_refuses_plain_http(deployed: Synthesized) -> None:
    # Given the dead-letter queue
    dlq_id = deployed.logical_id(deployed.stack.remediator.dlq.node.default_child)
    queue = deployed.resources("AWS::SQS::Queue")[dlq_id]["Properties"]
    # When reading its encryption and its queue policy
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in deployed.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
    ]
    # Then it is encrypted at rest and denies any request without TLS
    assert queue["SqsManagedSseEnabled"] is True
    assert len(policies) == 1
    assert any(
        s["Effect"] == "Deny"
        and s["Principal"] == {"AWS": "*"}
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policies[0]
    )


def test_dlq_accepts_dead_letters_only_from_the_detection_rules(deployed: Synthesized) -> None:
    # Given the dead-letter queue's policy
    dlq_id = deployed.logical_id(deployed.stack.remediator.dlq.node.default_child)
    statements = [
        s
        for p in deployed.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    rule_arns = [
        {"Fn::GetAtt": [deployed.logical_id(rule), "Arn"]}
        for rule in deployed.stack.detection.rules.values()
    ]
    # When reading who may send to it
    # Then only EventBridge may, and only on behalf of the detection rules
    assert [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in statements] == rule_arns
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in statements)
    assert all(s["Action"] == "sqs:SendMessage" for s in statements)


@pytest.mark.parametrize("days", [None, 30])
def test_function_log_group_has_retention(days: int | None) -> None:
    # Given the default retention or one set in context
    synthesized = synth() if days is None else synth(log_retention_days=str(days))
    expected = cdk_json_context()["log_retention_days"] if days is None else days
    # When reading the log group the function logs to
    log_group_ref = _function(synthesized)["LoggingConfig"]["LogGroup"]
    log_group = synthesized.resources("AWS::Logs::LogGroup")[log_group_ref["Ref"]]
    # Then it expires logs after that many days and is kept if the stack goes
    assert log_group["Properties"]["RetentionInDays"] == expected
    assert log_group["DeletionPolicy"] == "Retain"


def test_function_tracing_is_active(deployed: Synthesized) -> None:
    # Given the synthesised template
    # When reading the function's tracing config
    # Then X-Ray tracing is active
    assert _function(deployed)["TracingConfig"] == {"Mode": "Active"}


def test_function_uses_official_powertools_layer_in_stack_region() -> None:
    # Given a layer version from context
    synthesized = synth(powertools_layer_version="41")
    # When reading the function's layers
    layers = _function(synthesized)["Layers"]
    # Then it is AWS's public Powertools v3 layer, resolved in whichever region is deployed
    assert layers == [
        {
            "Fn::Sub": "arn:aws:lambda:${AWS::Region}:"
            f"{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:41"
        }
    ]
    assert POWERTOOLS_LAYER_NAME == "AWSLambdaPowertoolsPythonV3-python312-arm64"


def test_function_role_has_no_managed_policies(deployed: Synthesized) -> None:
    # Given the function's role
    role_id = deployed.logical_id(deployed.stack.remediator.role.node.default_child)
    role = deployed.resources("AWS::IAM::Role")[role_id]["Properties"]
    # When reading what is attached
    # Then only Lambda may assume it and nothing broad (AWSLambdaBasicExecutionRole) is attached
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]
