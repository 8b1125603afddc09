"""The member templates: a member role only the hub role may assume, from inside the
organization, holding the engine's declared permissions; a forwarder role that may only put on
the hub's bus; forwarding rules with the detection patterns on each region's default bus."""

from __future__ import annotations

from typing import Any

import pytest

from infra.org.members import (
    FORWARDER_ROLE_NAME,
    HUB_ACCOUNT_PARAMETER,
    HUB_BUS_PARAMETER,
    HUB_ROLE_PARAMETER,
)
from remediator import permissions
from remediator.patterns import RULES
from tests.infra.conftest import as_list
from tests.infra.org.conftest import ORGANIZATION_ID, HubSynthesized, resources, synth_hub

MEMBER = "444455556666"
TOP_KEYS = "arn:aws:kms:*:111122223333:key/*"
TOP_PRINCIPALS = (
    "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
)
MEMBER_KEYS = f"arn:aws:kms:eu-west-1:{MEMBER}:key/*"
MEMBER_USERS = f"arn:aws:iam::{MEMBER}:user/ops-*"
ALLOWLISTED: dict[str, Any] = {
    "allowed_keys": [TOP_KEYS],
    "allowed_principals": [TOP_PRINCIPALS],
    "member_accounts": {MEMBER: {"allow": {"principals": [MEMBER_USERS], "keys": [MEMBER_KEYS]}}},
}
OWN_ACCOUNT = {"Ref": "AWS::AccountId"}


@pytest.fixture(scope="module")
def allowlisted() -> HubSynthesized:
    return synth_hub(**ALLOWLISTED)


def _partition_arn(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, *parts]]}


def _role(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, role)] = [
        (logical_id, r)
        for logical_id, r in resources(template, "AWS::IAM::Role").items()
        if r["Properties"]["RoleName"] == name
    ]
    return logical_id, role["Properties"]


def _statements_of_role(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


# --- the member role -----------------------------------------------------------------------


@pytest.mark.parametrize("role_name", ["KmsLaunchRemediatorMember", "OrgKmsRemediator"])
def test_member_role_trusts_only_the_hub_role_from_inside_the_organization(
    role_name: str,
) -> None:
    # Given the member account template, with the default or a custom member role name
    synthesized = synth_hub(member_role=role_name)
    # When reading the member role's trust policy
    _, role = _role(synthesized.account, role_name)
    # Then its one statement lets the hub's account assume it only as the hub role
    # (aws:PrincipalArn) and only from inside the organization (aws:PrincipalOrgID)
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": _partition_arn(":iam::", {"Ref": HUB_ACCOUNT_PARAMETER}, ":root")},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": {"Ref": HUB_ROLE_PARAMETER}},
                "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
            },
        }
    ]
    # And the hub's role and account reach the template as parameters the StackSet fills in
    parameters = synthesized.account["Parameters"]
    assert parameters[HUB_ACCOUNT_PARAMETER]["AllowedPattern"] == "^[0-9]{12}$"
    assert parameters[HUB_ROLE_PARAMETER]["AllowedPattern"].startswith("^arn:aws")


def test_member_role_holds_the_engines_declared_reads(allowlisted: HubSynthesized) -> None:
    # Given the member role's policies
    logical_id, _ = _role(allowlisted.account, "KmsLaunchRemediatorMember")
    statements = _statements_of_role(allowlisted.account, logical_id)
    allows = [s for s in statements if s["Effect"] == "Allow"]

    def resources_of(action: str) -> list[Any]:
        return [r for s in allows if action in _actions(s) for r in as_list(s["Resource"])]

    # When reading which resources each declared read is granted on
    # Then reads IAM cannot scope are on "*", principal reads on this account's roles and
    # users, and key reads on the allowlisted keys of every account
    for action in permissions.UNSCOPED_READ_ACTIONS + permissions.KEY_DESCRIBE_ACTIONS:
        assert resources_of(action) == ["*"], action
    for action in permissions.PRINCIPAL_READ_ACTIONS:
        assert resources_of(action) == [
            _partition_arn(":iam::", OWN_ACCOUNT, ":role/*"),
            _partition_arn(":iam::", OWN_ACCOUNT, ":user/*"),
        ], action
    for action in permissions.KEY_READ_ACTIONS:
        assert resources_of(action) == [TOP_KEYS, MEMBER_KEYS], action


def test_member_role_writes_only_allowlisted_keys_with_the_grant_conditions(
    allowlisted: HubSynthesized,
) -> None:
    # Given the member role's policies
    logical_id, _ = _role(allowlisted.account, "KmsLaunchRemediatorMember")
    statements = _statements_of_role(allowlisted.account, logical_id)
    # When finding the statements that grant the KMS writes
    policy_writes = [s for s in statements if "kms:PutKeyPolicy" in _actions(s)]
    grants = [s for s in statements if "kms:CreateGrant" in _actions(s)]
    # Then PutKeyPolicy is allowed only on the allowlisted keys, and its lockout bypass denied
    assert sorted((s["Effect"], str(s["Resource"]), "Condition" in s) for s in policy_writes) == [
        ("Allow", str([TOP_KEYS, MEMBER_KEYS]), False),
        ("Deny", "*", True),
    ]
    # And CreateGrant only on those keys, for the grant remedy's operations and allowlisted
    # grantees, as the single-account stack conditions it
    assert grants == [
        {
            "Sid": "GrantOnAllowlistedKeys",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": [TOP_KEYS, MEMBER_KEYS],
            "Condition": permissions.grant_write_conditions([TOP_PRINCIPALS, MEMBER_USERS]),
        }
    ]


def test_member_role_has_nothing_the_hub_keeps_for_itself(allowlisted: HubSynthesized) -> None:
    # Given every action granted to the member role
    logical_id, _ = _role(allowlisted.account, "KmsLaunchRemediatorMember")
    granted = {
        a
        for s in _statements_of_role(allowlisted.account, logical_id)
        if s["Effect"] == "Allow"
        for a in _actions(s)
    }
    # When comparing them with what the engine declares for AWS calls in an account
    declared = {
        *permissions.KEY_WRITE_ACTIONS,
        *permissions.KEY_READ_ACTIONS,
        *permissions.KEY_DESCRIBE_ACTIONS,
        *permissions.UNSCOPED_READ_ACTIONS,
        *permissions.PRINCIPAL_READ_ACTIONS,
        *permissions.GROUP_READ_ACTIONS,
        *permissions.MANAGED_POLICY_READ_ACTIONS,
        *permissions.PARAMETER_READ_ACTIONS,  # resolve:ssm: AMIs are the member's parameters
        *permissions.GRANT_RETIRE_ACTIONS,  # rollback of a grant this account made
    }
    # Then they are exactly those: no state table, no topic, no role assumption, no wildcard
    assert granted == declared
    assert not {a for a in granted if a == "*" or a.endswith(":*")}


def test_member_role_without_allowlist_can_write_nothing() -> None:
    synthesized = synth_hub()
    logical_id, _ = _role(synthesized.account, "KmsLaunchRemediatorMember")
    granted = {
        a
        for s in _statements_of_role(synthesized.account, logical_id)
        if s["Effect"] == "Allow"
        for a in _actions(s)
    }
    assert granted & set(permissions.KEY_WRITE_ACTIONS) == set()
    assert granted & set(permissions.KEY_READ_ACTIONS) == set()
    assert granted & set(permissions.GRANT_RETIRE_ACTIONS) == set()


def test_member_role_retires_grants_only_on_allowlisted_keys(allowlisted: HubSynthesized) -> None:
    # Given the member role's policies
    logical_id, _ = _role(allowlisted.account, "KmsLaunchRemediatorMember")
    statements = _statements_of_role(allowlisted.account, logical_id)
    # When finding the statements that allow retiring grants
    retire = [s for s in statements if "kms:RetireGrant" in _actions(s)]
    # Then only on the allowlisted keys (rollback retires the grants this account made there)
    assert retire == [
        {
            "Sid": "RetireGrantsOnAllowlistedKeys",
            "Effect": "Allow",
            "Action": "kms:RetireGrant",
            "Resource": [TOP_KEYS, MEMBER_KEYS],
        }
    ]


# --- the forwarder role and the forwarding rules -------------------------------------------


def test_member_forwarder_role_may_only_put_on_the_hub_bus_for_this_accounts_rules(
    allowlisted: HubSynthesized,
) -> None:
    # Given the forwarder role
    logical_id, role = _role(allowlisted.account, FORWARDER_ROLE_NAME)
    # When reading its trust and its policies
    # Then only EventBridge, for rules of this account, may assume it
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": OWN_ACCOUNT}},
        }
    ]
    # And it may do one thing: put events on the hub's bus
    assert _statements_of_role(allowlisted.account, logical_id) == [
        {
            "Sid": "PutOnTheHubBus",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": {"Ref": HUB_BUS_PARAMETER},
        }
    ]


def test_member_rules_forward_the_detection_patterns_to_the_hub_bus(
    allowlisted: HubSynthesized,
) -> None:
    # Given the member region template
    template = allowlisted.region
    rules = resources(template, "AWS::Events::Rule")
    dlq = allowlisted.logical_id(
        allowlisted.templates.region_stack.dlq.node.default_child,
        allowlisted.templates.region_stack,
    )
    # When reading each rule
    by_id = {
        r["Properties"]["Description"].removeprefix("KMS launch remediator: "): r["Properties"]
        for r in rules.values()
    }
    # Then they are exactly RULES, on the default bus, sent to the hub's bus as the forwarder
    # role, with retries and a dead-letter queue
    assert set(by_id) == set(RULES) and len(rules) == len(RULES)
    for rule_id, properties in by_id.items():
        assert properties["EventPattern"] == RULES[rule_id]
        assert "EventBusName" not in properties
        [target] = properties["Targets"]
        assert target["Arn"] == {"Ref": HUB_BUS_PARAMETER}
        assert target["RoleArn"] == _partition_arn(
            ":iam::", OWN_ACCOUNT, f":role/{FORWARDER_ROLE_NAME}"
        )
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert set(template["Parameters"]) == {HUB_BUS_PARAMETER}


def test_member_forwarding_dead_letter_queue_accepts_only_the_rules(
    allowlisted: HubSynthesized,
) -> None:
    template = allowlisted.region
    [policy] = resources(template, "AWS::SQS::QueuePolicy").values()
    senders = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    rule_ids = sorted(resources(template, "AWS::Events::Rule"))
    assert sorted(
        s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in senders
    ) == (rule_ids)
    assert {(str(s["Principal"]), s["Action"]) for s in senders} == {
        (str({"Service": "events.amazonaws.com"}), "sqs:SendMessage")
    }


# --- the templates themselves --------------------------------------------------------------


@pytest.mark.parametrize("member_trail", ["organization", "per-account", "none"])
def test_member_templates_need_no_bootstrap_and_no_asset(member_trail: str) -> None:
    # Given both member templates
    synthesized = synth_hub(member_trail=member_trail)
    for template in (synthesized.account, synthesized.region):
        # Then a member account without the CDK's bootstrap stack can deploy them
        assert "BootstrapVersion" not in template.get("Parameters", {})
        assert "Rules" not in template
        assert resources(template, "AWS::CDK::Metadata") == {}
        assert resources(template, "AWS::Lambda::Function") == {}


def test_member_per_account_trail_logs_every_region_of_the_account() -> None:
    # Given member_trail=per-account
    synthesized = synth_hub(member_trail="per-account")
    # When reading the member account template's trail
    [trail] = resources(synthesized.account, "AWS::CloudTrail::Trail").values()
    # Then one multi-region trail of write management events per account
    assert trail["Properties"]["IsMultiRegionTrail"] is True
    assert trail["Properties"]["IncludeGlobalServiceEvents"] is True
    assert trail["Properties"]["EventSelectors"] == [
        {"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}
    ]
    assert "IsOrganizationTrail" not in trail["Properties"]


@pytest.mark.parametrize("member_trail", ["organization", "none"])
def test_member_template_has_no_trail_otherwise(member_trail: str) -> None:
    synthesized = synth_hub(member_trail=member_trail)
    assert resources(synthesized.account, "AWS::CloudTrail::Trail") == {}
    assert resources(synthesized.region, "AWS::CloudTrail::Trail") == {}
