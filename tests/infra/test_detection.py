"""Detection: the deployed EventBridge patterns are exactly ``RULES`` and select the right events.

The matching tests load the patterns *from the synthesised template* into moto's EventBridge
(one rule and one SQS target per pattern), put each event, and read which queues received it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.patterns import RULES
from tests.infra.conftest import EVENTS_DIR, Synthesized, synth

REGION = "eu-west-1"
KMS = "KmsCallDenied"
STATE = "InstanceStoppedOrTerminated"
ASG = "AsgLaunchUnsuccessful"

# Fixture file (tests/events) -> the rules that must select it. Every fixture must be listed.
FIXTURE_EXPECTATIONS: dict[str, set[str]] = {
    "case1_asg_slr_create_grant_access_denied.json": {KMS},
    "case2_asg_custom_slr_create_grant_access_denied_exception.json": {KMS},
    "case3_cross_account_asg_create_grant.json": {KMS},
    "case4_copied_ami_user_create_grant.json": {KMS},
    "case5_user_start_instances_create_grant.json": {KMS},
    "case6_saas_scheduler_role_create_grant.json": {KMS},
    "karpenter_controller_role_generate_data_key_without_plaintext.json": {KMS},
    "eks_node_group_asg_slr_generate_data_key_without_plaintext.json": {KMS},
    "asg_custom_slr_generate_data_key.json": {KMS},
    "user_run_instances_decrypt.json": {KMS},
    "copied_ami_user_reencrypt.json": {KMS},
    "saas_scheduler_role_describe_key.json": {KMS},
    "spot_slr_create_grant.json": {KMS},
    "ec2_fleet_slr_create_grant.json": {KMS},
    "spot_fleet_slr_create_grant.json": {KMS},
    # The rule selects every denied launch call; the parser ignores those AWS did not make.
    "laptop_user_create_grant_for_spot_slr.json": {KMS},
    "kms_decrypt_access_denied.json": {KMS},
    "ec2_state_change_stopped.json": {STATE},
    "ec2_state_change_terminated.json": {STATE},
    "ec2_state_change_running.json": set(),
    "asg_launch_unsuccessful_client_internal_error.json": {ASG},
    # The rule selects every unsuccessful launch; the engine decides it is not a KMS failure.
    "asg_launch_unsuccessful_other_error.json": {ASG},
    "kms_create_grant_success.json": set(),
}


def _kms_call(
    event_name: str,
    error_code: str | None,
    source: str = "aws.kms",
    event_source: str = "kms.amazonaws.com",
) -> dict[str, Any]:
    detail: dict[str, Any] = {"eventSource": event_source, "eventName": event_name}
    if error_code is not None:
        detail["errorCode"] = error_code
    return {"source": source, "detail-type": "AWS API Call via CloudTrail", "detail": detail}


# The denied calls EC2 makes for a launch, spelled out here (not read from the code under test).
LAUNCH_CALLS = (
    "CreateGrant",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKey",
    "Decrypt",
    "ReEncrypt",
    "DescribeKey",
)
DENIED_CODES = ("AccessDenied", "AccessDeniedException")

# Minimal inline events: positive controls and the near misses the fixtures do not cover.
INLINE_EVENTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    **{
        f"{name}_{code}": (_kms_call(name, code), {KMS})
        for name in LAUNCH_CALLS
        for code in DENIED_CODES
    },
    **{f"{name}_succeeded": (_kms_call(name, None), set()) for name in LAUNCH_CALLS},
    **{
        f"{name}_throttled": (_kms_call(name, "ThrottlingException"), set())
        for name in LAUNCH_CALLS
    },
    **{
        f"{name}_denied_from_other_source": (_kms_call(name, "AccessDenied", "aws.ec2"), set())
        for name in LAUNCH_CALLS
    },
    "grant_invalid_state": (_kms_call("CreateGrant", "KMSInvalidStateException"), set()),
    "decrypt_invalid_ciphertext": (_kms_call("Decrypt", "InvalidCiphertextException"), set()),
    "grant_error_code_not_a_prefix": (_kms_call("CreateGrant", "KMSAccessDenied"), set()),
    "grant_error_code_lowercase": (_kms_call("CreateGrant", "accessdenied"), set()),
    "describe_key_error_code_empty": (_kms_call("DescribeKey", ""), set()),
    "list_grants_denied": (_kms_call("ListGrants", "AccessDeniedException"), set()),
    "encrypt_denied": (_kms_call("Encrypt", "AccessDeniedException"), set()),
    "generate_data_key_pair_denied": (_kms_call("GenerateDataKeyPair", "AccessDenied"), set()),
    # ReEncryptFrom/ReEncryptTo are permissions; CloudTrail names the operation ReEncrypt.
    "reencrypt_from_as_event_name": (_kms_call("ReEncryptFrom", "AccessDenied"), set()),
    "event_name_lowercase": (_kms_call("decrypt", "AccessDenied"), set()),
    "grant_denied_other_event_source": (
        _kms_call("CreateGrant", "AccessDenied", event_source="ec2.amazonaws.com"),
        set(),
    ),
    "instance_shutting_down": (
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {"instance-id": "i-0123456789abcdef0", "state": "shutting-down"},
        },
        set(),
    ),
    "instance_pending": (
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {"instance-id": "i-0123456789abcdef0", "state": "pending"},
        },
        set(),
    ),
    "instance_stopped": (
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {"instance-id": "i-0123456789abcdef0", "state": "stopped"},
        },
        {STATE},
    ),
    "asg_launch_successful": (
        {
            "source": "aws.autoscaling",
            "detail-type": "EC2 Instance Launch Successful",
            "detail": {"StatusCode": "InProgress", "AutoScalingGroupName": "web-asg"},
        },
        set(),
    ),
    "asg_launch_unsuccessful": (
        {
            "source": "aws.autoscaling",
            "detail-type": "EC2 Instance Launch Unsuccessful",
            "detail": {"StatusCode": "Failed", "AutoScalingGroupName": "web-asg"},
        },
        {ASG},
    ),
    "asg_detail_type_from_other_source": (
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance Launch Unsuccessful",
            "detail": {"StatusCode": "Failed"},
        },
        set(),
    ),
}


@pytest.fixture(scope="module")
def deployed() -> Synthesized:
    return synth()


@pytest.fixture(scope="module")
def synthesized_patterns(deployed: Synthesized) -> dict[str, dict[str, Any]]:
    rules = deployed.resources("AWS::Events::Rule")
    return {
        rule_id: rules[deployed.logical_id(cfn_rule)]["Properties"]["EventPattern"]
        for rule_id, cfn_rule in deployed.stack.detection.rules.items()
    }


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def route(aws_credentials: None, synthesized_patterns: dict[str, dict[str, Any]]) -> Iterator[Any]:
    """Load the synthesised patterns into moto; return ``route(event) -> set of rule ids``."""
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queues: dict[str, str] = {}
        for rule_id, pattern in synthesized_patterns.items():
            queue_url = sqs.create_queue(QueueName=f"{rule_id}-target")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            events.put_rule(Name=rule_id, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=rule_id, Targets=[{"Id": "queue", "Arn": queue_arn}])
            queues[rule_id] = queue_url

        def route_event(event: dict[str, Any]) -> set[str]:
            result = events.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                    }
                ]
            )
            assert result["FailedEntryCount"] == 0, result
            return {
                rule_id
                for rule_id, queue_url in queues.items()
                if sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages")
            }

        yield route_event


def test_rules_event_patterns_equal_remediator_rules(
    synthesized_patterns: dict[str, dict[str, Any]], deployed: Synthesized
) -> None:
    # Given the synthesised template
    # When reading every EventBridge rule's pattern
    all_patterns = [
        r["Properties"]["EventPattern"] for r in deployed.resources("AWS::Events::Rule").values()
    ]
    # Then the rules are exactly RULES, pattern for pattern, and there are no others
    assert synthesized_patterns == RULES
    assert len(all_patterns) == len(RULES)


def test_rules_kms_rule_selects_exactly_the_denied_launch_calls(
    synthesized_patterns: dict[str, dict[str, Any]],
) -> None:
    # Given the deployed rule for denied KMS calls
    pattern = synthesized_patterns[KMS]
    # Then it selects exactly the launch calls, denied with either AccessDenied code
    assert pattern == {
        "source": ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["kms.amazonaws.com"],
            "eventName": list(LAUNCH_CALLS),
            "errorCode": [{"prefix": "AccessDenied"}],
        },
    }


def test_rules_target_the_remediator_with_retries_and_dead_letters(deployed: Synthesized) -> None:
    # Given the remediator function and its dead-letter queue
    function_arn = deployed.resolve(deployed.stack.remediator.function.function_arn)
    dlq_arn = deployed.resolve(deployed.stack.remediator.dlq.queue_arn)
    # When reading each rule's targets
    for rule in deployed.resources("AWS::Events::Rule").values():
        targets = rule["Properties"]["Targets"]
        # Then the only target is the function, with bounded retries and a DLQ
        assert [t["Arn"] for t in targets] == [function_arn]
        assert targets[0]["RetryPolicy"] == {
            "MaximumRetryAttempts": 8,
            "MaximumEventAgeInSeconds": 7200,
        }
        assert targets[0]["DeadLetterConfig"] == {"Arn": dlq_arn}
        assert "EventBusName" not in rule["Properties"]  # the default bus
    # And the KMS rule also receives read-only management events (a denied DescribeKey)
    states = {
        rule_id: deployed.resources("AWS::Events::Rule")[deployed.logical_id(cfn_rule)][
            "Properties"
        ]["State"]
        for rule_id, cfn_rule in deployed.stack.detection.rules.items()
    }
    assert states == {
        "KmsCallDenied": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        "InstanceStoppedOrTerminated": "ENABLED",
        "AsgLaunchUnsuccessful": "ENABLED",
    }


def test_rules_each_may_invoke_the_remediator_and_nothing_else(deployed: Synthesized) -> None:
    # Given the rules' ARNs
    rule_arns = [
        {"Fn::GetAtt": [deployed.logical_id(rule), "Arn"]}
        for rule in deployed.stack.detection.rules.values()
    ]
    # When reading the function's resource policy (Lambda permissions)
    permissions = list(deployed.resources("AWS::Lambda::Permission").values())
    # Then EventBridge may invoke it from exactly these rules
    assert sorted(map(json.dumps, (p["Properties"]["SourceArn"] for p in permissions))) == sorted(
        map(json.dumps, rule_arns)
    )
    for permission in permissions:
        assert permission["Properties"]["Principal"] == "events.amazonaws.com"
        assert permission["Properties"]["Action"] == "lambda:InvokeFunction"


def test_rules_every_event_fixture_has_an_expectation() -> None:
    # Given the real-shaped fixtures in tests/events
    fixtures = {path.name for path in EVENTS_DIR.glob("*.json")}
    # When comparing them with this module's expectation table
    # Then each fixture's routing is decided here (a new fixture must be added to the table)
    assert fixtures - FIXTURE_EXPECTATIONS.keys() == set(), "add these to FIXTURE_EXPECTATIONS"


@pytest.mark.parametrize("fixture_name", sorted(FIXTURE_EXPECTATIONS))
def test_rules_route_fixture_events_in_moto(fixture_name: str, route: Any) -> None:
    # Given a real-shaped event from tests/events
    path: Path = EVENTS_DIR / fixture_name
    if not path.exists():
        pytest.fail(f"fixture {fixture_name} is missing from {EVENTS_DIR}")
    event = json.loads(path.read_text())
    # When it is put on a bus carrying the synthesised rules
    matched = route(event)
    # Then exactly the expected rules select it
    assert matched == FIXTURE_EXPECTATIONS[fixture_name]


@pytest.mark.parametrize("name", sorted(INLINE_EVENTS))
def test_rules_route_inline_events_in_moto(name: str, route: Any) -> None:
    # Given a minimal event (a positive control or a near miss)
    event, expected = INLINE_EVENTS[name]
    # When it is put on a bus carrying the synthesised rules
    matched = route(event)
    # Then exactly the expected rules select it
    assert matched == expected
