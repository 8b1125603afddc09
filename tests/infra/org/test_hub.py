"""The hub stack: a bus only the organization may put on, the same detection rules feeding a
queue with a dead-letter queue, the remediator reading it in batches with partial failures and a
concurrency cap, and a role that may assume only the member role, only in the organization."""

from __future__ import annotations

from typing import Any

import pytest

from infra.org.hub import BATCH_SIZE, HUB_BUS_NAME, MAX_RECEIVE_COUNT
from infra.remediator import HUB_HANDLER
from remediator import permissions, recheck, state_schema
from remediator.config import Mode, Settings, load_config
from remediator.patterns import RULE_STATES, RULES
from tests.infra.conftest import as_list
from tests.infra.org.conftest import ORGANIZATION_ID, HubSynthesized, resources, synth_hub

MEMBER = "444455556666"
MEMBER_KEYS = f"arn:aws:kms:*:{MEMBER}:key/*"
MEMBER_USERS = f"arn:aws:iam::{MEMBER}:user/ops-*"


@pytest.fixture(scope="module")
def hub() -> HubSynthesized:
    return synth_hub()


def _partition_arn(suffix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, suffix]]}


def _function(synthesized: HubSynthesized) -> dict[str, Any]:
    logical_id = synthesized.logical_id(synthesized.hub.remediator.function.node.default_child)
    properties: dict[str, Any] = synthesized.json["Resources"][logical_id]["Properties"]
    return properties


def _statements(synthesized: HubSynthesized) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(synthesized.json, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_hub_bus_admits_put_events_only_from_the_organization(hub: HubSynthesized) -> None:
    # Given the hub's event bus
    [bus] = resources(hub.json, "AWS::Events::EventBus").values()
    # When reading its policy
    # Then its one statement lets any principal put events only from inside the organization
    assert bus["Properties"]["Name"] == HUB_BUS_NAME
    assert bus["Properties"]["Policy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutEventsFromTheOrganization",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":events:",
                            {"Ref": "AWS::Region"},
                            ":",
                            {"Ref": "AWS::AccountId"},
                            f":event-bus/{HUB_BUS_NAME}",
                        ],
                    ]
                },
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
            }
        ],
    }
    # And no separate bus policy resource widens it
    assert resources(hub.json, "AWS::Events::EventBusPolicy") == {}


def test_hub_rules_are_the_detection_patterns_on_the_hub_bus_feeding_the_queue(
    hub: HubSynthesized,
) -> None:
    # Given the hub's rules, bus, queue and dead-letter queue
    bus = hub.logical_id(hub.hub.bus.node.default_child)
    queue_arn = hub.resolve(hub.hub.queue.queue_arn)
    dlq_arn = hub.resolve(hub.hub.remediator.dlq.queue_arn)
    rules = resources(hub.json, "AWS::Events::Rule")
    # When reading each rule
    # Then the patterns are exactly RULES, on the hub's bus, sent to the queue with retries and
    # a dead-letter queue
    assert len(rules) == len(RULES)
    by_pattern = {
        r["Properties"]["Description"].removeprefix("KMS launch remediator: "): r["Properties"]
        for r in rules.values()
    }
    assert set(by_pattern) == set(RULES)
    for rule_id, properties in by_pattern.items():
        assert properties["EventPattern"] == RULES[rule_id]
        assert properties["EventBusName"] == {"Ref": bus}
        assert properties["State"] == RULE_STATES[rule_id]
        [target] = properties["Targets"]
        assert target["Arn"] == queue_arn
        assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert "RoleArn" not in target


def test_hub_queue_accepts_only_the_hub_rules(hub: HubSynthesized) -> None:
    # Given the queue's resource policy
    queue = hub.logical_id(hub.hub.queue.node.default_child)
    [policy] = [
        p
        for p in resources(hub.json, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    rule_arns = [hub.resolve(rule.attr_arn) for rule in hub.hub.detection.rules.values()]
    # When listing who may send
    senders = [s for s in statements if s["Effect"] == "Allow"]
    # Then only EventBridge, only SendMessage, only from each of the hub's rules
    assert sorted(
        (s["Principal"], s["Action"], s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0])
        for s in senders
    ) == sorted(
        ({"Service": "events.amazonaws.com"}, "sqs:SendMessage", arn["Fn::GetAtt"][0])
        for arn in rule_arns
    )


def test_hub_queue_retries_then_moves_to_the_dead_letter_queue(hub: HubSynthesized) -> None:
    # Given the queue the remediator reads and the dead-letter queue
    queues = hub.json["Resources"]
    queue = queues[hub.logical_id(hub.hub.queue.node.default_child)]["Properties"]
    dlq = queues[hub.logical_id(hub.hub.remediator.dlq.node.default_child)]["Properties"]
    # When reading their settings
    # Then a message is retried a few times and then kept in the DLQ longer than in the queue
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": hub.resolve(hub.hub.remediator.dlq.queue_arn),
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert MAX_RECEIVE_COUNT >= 5
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # And a batch in flight stays invisible for six function timeouts (Lambda's guidance)
    assert queue["VisibilityTimeout"] >= 6 * state_schema.FUNCTION_TIMEOUT_SECONDS
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("reserved", [2, 5, 12])
def test_hub_remediator_reads_the_queue_in_batches_reporting_failures_within_a_cap(
    reserved: int,
) -> None:
    # Given the hub with a reserved concurrency
    synthesized = synth_hub(reserved_concurrency=reserved)
    # When reading the function and its event source mapping
    function = _function(synthesized)
    [mapping] = resources(synthesized.json, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    # Then it reads the hub's queue with the hub handler, reporting failures per record
    assert function["Handler"] == HUB_HANDLER == "remediator.hub.handler"
    assert properties["EventSourceArn"] == synthesized.resolve(synthesized.hub.queue.queue_arn)
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BatchSize"] == BATCH_SIZE
    # And the poller never invokes more instances than the function's reserved concurrency
    assert properties["ScalingConfig"] == {"MaximumConcurrency": reserved}
    assert function["ReservedConcurrentExecutions"] == reserved


def test_hub_looks_again_through_its_own_queue(hub: HubSynthesized) -> None:
    # Given the hub's function and queue
    function = _function(hub)
    queue_arn = hub.resolve(hub.hub.queue.queue_arn)
    # Then the function sends a launch CloudTrail has not recorded yet back to the queue it reads
    assert function["Environment"]["Variables"][Settings.ENV_RECHECK_QUEUE] == hub.resolve(
        hub.hub.queue.queue_url
    )
    [sends] = [s for s in _statements(hub) if s.get("Sid") == "SendRechecks"]
    assert as_list(sends["Action"]) == list(permissions.RECHECK_SEND_ACTIONS)
    assert as_list(sends["Resource"]) == [queue_arn]
    # And the longest wait fits SQS's largest DelaySeconds (15 minutes)
    assert max(recheck.RECHECK_DELAYS_SECONDS) <= 900


def test_hub_remediator_is_not_configured_for_asynchronous_invocation(hub: HubSynthesized) -> None:
    # Given the hub (its function is invoked synchronously by the queue's poller)
    # When looking for Lambda's asynchronous retries and on-failure destination
    # Then there are none: the queue's redrive policy is what retries and dead-letters
    assert resources(hub.json, "AWS::Lambda::EventInvokeConfig") == {}
    granted = {a for s in _statements(hub) for a in as_list(s["Action"])}
    assert "lambda:InvokeFunction" not in granted
    assert resources(hub.json, "AWS::Lambda::Permission") == {}


def test_hub_role_may_assume_only_the_member_role_only_in_the_organization() -> None:
    # Given the hub with a custom member role name
    synthesized = synth_hub(member_role="OrgKmsRemediator")
    # When finding every statement that grants an STS action
    sts = [
        s
        for s in _statements(synthesized)
        if any(a.startswith("sts:") for a in as_list(s["Action"]))
    ]
    # Then one statement grants sts:AssumeRole, on that role name in any account, only for
    # roles of the organization
    assert sts == [
        {
            "Sid": "AssumeTheMemberRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": _partition_arn(":iam::*:role/OrgKmsRemediator"),
            "Condition": {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION_ID}},
        }
    ]
    assert list(permissions.ROLE_ASSUMPTION_ACTIONS) == ["sts:AssumeRole"]
    assert permissions.role_assumption_conditions(ORGANIZATION_ID) == sts[0]["Condition"]
    # And it is attached to the remediator's role, the hub role
    role = synthesized.logical_id(synthesized.hub.remediator.role.node.default_child)
    [policy] = [
        p
        for p in resources(synthesized.json, "AWS::IAM::Policy").values()
        if p["Properties"]["PolicyDocument"]["Statement"] == sts
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": role}]


def test_hub_configuration_carries_the_member_role_and_account_overrides() -> None:
    # Given member accounts with their own allowlist and mode
    accounts = {
        MEMBER: {"allow": {"principals": [MEMBER_USERS], "keys": [MEMBER_KEYS]}},
        "777788889999": {"mode": "dry-run"},
    }
    synthesized = synth_hub(member_accounts=accounts, mode="enforce")
    # When the Lambda parses its REMEDIATOR_CONFIG as it does at run time
    config = load_config(_function(synthesized)["Environment"]["Variables"][Settings.ENV_CONFIG])
    # Then the member role and each account's overrides are there
    assert config.member_role == "KmsLaunchRemediatorMember"
    assert config.for_account(MEMBER).allow.keys == (MEMBER_KEYS,)
    assert config.for_account("777788889999").mode is Mode.DRY_RUN
    assert config.for_account("123456789012").mode is Mode.ENFORCE


def test_hub_key_writes_cover_every_accounts_allowlist() -> None:
    # Given a top-level allowlist and a member account with its own keys and principals
    top_keys = "arn:aws:kms:*:111122223333:key/*"
    top_principals = "arn:aws:iam::111122223333:role/ops/*"
    synthesized = synth_hub(
        allowed_keys=[top_keys],
        allowed_principals=[top_principals],
        member_accounts={MEMBER: {"allow": {"principals": [MEMBER_USERS], "keys": [MEMBER_KEYS]}}},
    )
    # When finding the hub role's key writes
    statements = {s.get("Sid"): s for s in _statements(synthesized)}
    # Then they name every account's keys, and grants every account's principals
    assert statements["WriteAllowlistedKeyPolicies"]["Resource"] == [top_keys, MEMBER_KEYS]
    assert statements["GrantOnAllowlistedKeys"]["Resource"] == [top_keys, MEMBER_KEYS]
    assert statements["GrantOnAllowlistedKeys"]["Condition"] == (
        permissions.grant_write_conditions([top_principals, MEMBER_USERS])
    )


def test_hub_organization_trail_logs_every_member_account() -> None:
    # Given member_trail=organization (the default)
    synthesized = synth_hub()
    # When reading the trail
    [trail] = resources(synthesized.json, "AWS::CloudTrail::Trail").values()
    properties = trail["Properties"]
    # Then it is the organization's multi-region trail of write management events
    assert properties["IsOrganizationTrail"] is True
    assert properties["IsMultiRegionTrail"] is True
    assert properties["EventSelectors"] == [
        {"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}
    ]
    # And its bucket lets CloudTrail write the organization's logs
    bucket = properties["S3BucketName"]["Ref"]
    [policy] = [
        p
        for p in resources(synthesized.json, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    writes = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:PutObject" and s["Effect"] == "Allow"
    ]
    assert any(ORGANIZATION_ID in str(s["Resource"]) for s in writes)


@pytest.mark.parametrize("member_trail", ["per-account", "none"])
def test_hub_creates_no_trail_unless_the_organizations(member_trail: str) -> None:
    synthesized = synth_hub(member_trail=member_trail)
    assert resources(synthesized.json, "AWS::CloudTrail::Trail") == {}
    assert synthesized.hub.trail is None


def test_hub_outputs_name_what_an_operator_needs(hub: HubSynthesized) -> None:
    # Given the hub's Outputs
    outputs = hub.json["Outputs"]
    # When listing them
    # Then the engine's outputs are there, plus the bus, the queue and the StackSets
    assert set(outputs) == {
        "FunctionName",
        "StateTableName",
        "TopicArn",
        "DeadLetterQueueUrl",
        "RemediatorRoleArn",
        "EventBusArn",
        "QueueUrl",
        "MemberAccountStackSetName",
        "MemberRegionStackSetName",
    }
    assert outputs["EventBusArn"]["Value"] == hub.resolve(hub.hub.bus.event_bus_arn)
    assert outputs["QueueUrl"]["Value"] == hub.resolve(hub.hub.queue.queue_url)
    assert all(len(o["Description"]) > 20 for o in outputs.values())
