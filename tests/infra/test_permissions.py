"""Least privilege: the Lambda's identity policies grant exactly ``remediator.permissions``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediator import permissions, state_schema
from remediator.policy import GRANT_OPERATIONS
from tests.infra.conftest import Synthesized, allow_statements, as_list, identity_statements, synth

OWN_KEYS = "arn:aws:kms:eu-west-1:111122223333:key/*"
OTHER_KEY = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ALLOWLIST = [OWN_KEYS, OTHER_KEY]
SLR = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
OPS_ROLE = "arn:aws:iam::444455556666:role/ops/launcher"
PRINCIPALS = [SLR, OPS_ROLE]
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
KEY_SCOPED = set(permissions.KEY_WRITE_ACTIONS) | set(permissions.KEY_READ_ACTIONS)
UNCONDITIONED_KEY_SCOPED = set(permissions.KEY_POLICY_WRITE_ACTIONS) | set(
    permissions.KEY_READ_ACTIONS
)


@pytest.fixture(scope="module")
def default() -> Synthesized:
    return synth()


@pytest.fixture(scope="module")
def allowlisted() -> Synthesized:
    return synth(allowed_keys=ALLOWLIST, allowed_principals=PRINCIPALS)


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def _canonical(statement: dict[str, Any]) -> str:
    return json.dumps(statement, sort_keys=True)


def _granting(synthesized: Synthesized, action: str) -> list[dict[str, Any]]:
    return [s for s in allow_statements(synthesized) if action in _actions(s)]


@pytest.mark.parametrize(
    "context", [{}, {"allowed_keys": ALLOWLIST, "allowed_principals": PRINCIPALS}]
)
def test_identity_policies_have_no_wildcard_or_iam_write_actions(context: dict[str, Any]) -> None:
    # Given the app with or without an allowlist
    synthesized = synth(**context)
    # When collecting every action of every identity policy
    actions = {a for s in identity_statements(synthesized) for a in _actions(s)}
    # Then none is a service wildcard, and none can change IAM
    assert not {a for a in actions if a == "*" or a.endswith(":*")}
    assert not [a for a in actions if a.startswith(("iam:Put", "iam:Attach", "iam:Create"))]
    assert not [a for a in actions if a.startswith(("iam:Update", "iam:Delete", "iam:PassRole"))]


def test_key_policy_writes_and_key_reads_only_on_allowlisted_patterns(
    allowlisted: Synthesized,
) -> None:
    # Given allowed_keys with a same-account glob and a cross-account key
    # When finding the statements that grant each key-scoped action but CreateGrant
    for action in sorted(UNCONDITIONED_KEY_SCOPED):
        statements = _granting(allowlisted, action)
        # Then exactly one statement grants it, on exactly the allowlisted patterns
        assert len(statements) == 1, action
        assert as_list(statements[0]["Resource"]) == ALLOWLIST
        assert "Condition" not in statements[0]


def test_create_grant_only_for_grant_operations_and_allowlisted_grantees(
    allowlisted: Synthesized,
) -> None:
    # Given allowed_keys and allowed_principals
    # When finding the statements that grant kms:CreateGrant
    statements = _granting(allowlisted, "kms:CreateGrant")
    # Then one statement grants it on the allowlisted keys, only for the grant remedy's
    # operations and only to an allowlisted principal
    assert statements == [
        {
            "Sid": "GrantOnAllowlistedKeys",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": ALLOWLIST,
            "Condition": {
                "ForAllValues:StringEquals": {
                    "kms:GrantOperations": [
                        "Decrypt",
                        "GenerateDataKeyWithoutPlaintext",
                        "ReEncryptFrom",
                        "ReEncryptTo",
                        "CreateGrant",
                    ]
                },
                "StringLike": {"kms:GranteePrincipal": PRINCIPALS},
            },
        }
    ]
    # And those operations are the ones the grant remedy asks for
    assert statements[0]["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"] == (
        list(GRANT_OPERATIONS)
    )


def test_create_grant_absent_without_a_principal_allowlist() -> None:
    # Given allowed_keys but no allowed_principals
    synthesized = synth(allowed_keys=ALLOWLIST)
    # When collecting the granted KMS writes
    granted = {a for s in allow_statements(synthesized) for a in _actions(s)}
    # Then no grant can be created (there is no principal to create it for)
    assert "kms:CreateGrant" not in granted
    assert set(permissions.KEY_POLICY_WRITE_ACTIONS) <= granted


def test_key_writes_absent_without_an_allowlist(default: Synthesized) -> None:
    # Given the default context (empty allowlist)
    # When looking for any statement granting key-scoped actions
    granted = [a for s in allow_statements(default) for a in _actions(s) if a in KEY_SCOPED]
    # Then there is none: nothing can be changed
    assert granted == []


def test_wildcard_resources_only_for_reads_that_cannot_be_scoped(allowlisted: Synthesized) -> None:
    # Given the app with an allowlist
    # When collecting the actions granted on "*"
    on_star = {
        a
        for s in allow_statements(allowlisted)
        if "*" in as_list(s["Resource"])
        for a in _actions(s)
    }
    # Then they are exactly the declared unscoped reads, DescribeKey, and X-Ray's writes
    assert on_star == (
        set(permissions.UNSCOPED_READ_ACTIONS)
        | set(permissions.KEY_DESCRIBE_ACTIONS)
        | XRAY_ACTIONS
    )


def test_principal_reads_scoped_to_this_accounts_roles_and_users(default: Synthesized) -> None:
    # Given this account's role and user ARN patterns
    stack = default.stack
    expected = [
        default.resolve(
            stack.format_arn(service="iam", region="", resource=kind, resource_name="*")
        )
        for kind in ("role", "user")
    ]
    # When finding the statements that grant principal reads
    for action in permissions.PRINCIPAL_READ_ACTIONS:
        statements = _granting(default, action)
        # Then they are granted only there
        assert len(statements) == 1
        assert as_list(statements[0]["Resource"]) == expected


def test_identity_policy_reads_scoped_to_this_accounts_groups_and_managed_policies(
    default: Synthesized,
) -> None:
    # Given this account's group ARNs, and managed policy ARNs of this account and of AWS
    stack = default.stack

    def arn(resource: str, account: str | None = None) -> Any:
        return default.resolve(
            stack.format_arn(
                service="iam", region="", account=account, resource=resource, resource_name="*"
            )
        )

    # When finding the statements that grant the group and managed-policy reads
    for actions, expected in (
        (permissions.GROUP_READ_ACTIONS, [arn("group")]),
        (permissions.MANAGED_POLICY_READ_ACTIONS, [arn("policy"), arn("policy", "aws")]),
    ):
        for action in actions:
            statements = _granting(default, action)
            # Then each is granted once, there only
            assert len(statements) == 1, action
            assert as_list(statements[0]["Resource"]) == expected, action


def test_every_declared_engine_action_is_granted(allowlisted: Synthesized) -> None:
    # Given every action the engine's adapter declares
    declared = (
        set(permissions.KEY_WRITE_ACTIONS)
        | set(permissions.KEY_READ_ACTIONS)
        | set(permissions.KEY_DESCRIBE_ACTIONS)
        | set(permissions.UNSCOPED_READ_ACTIONS)
        | set(permissions.PRINCIPAL_READ_ACTIONS)
        | set(permissions.GROUP_READ_ACTIONS)
        | set(permissions.MANAGED_POLICY_READ_ACTIONS)
        | set(permissions.PARAMETER_READ_ACTIONS)
        | set(permissions.RECHECK_SEND_ACTIONS)
        | set(permissions.STATE_TABLE_ACTIONS)
    )
    # When collecting the granted actions (with both allowlists)
    granted = {a for s in allow_statements(allowlisted) for a in _actions(s)}
    # Then none is missing
    assert declared - granted == set()


def test_denies_are_the_lockout_bypass_and_audit_item_changes(default: Synthesized) -> None:
    # Given the state table
    table = default.resolve(default.stack.state.table.table_arn)
    # When reading every Deny statement of the function's policies
    denies = sorted(
        (s for s in identity_statements(default) if s["Effect"] == "Deny"), key=lambda s: s["Sid"]
    )
    # Then PutKeyPolicy with BypassPolicyLockoutSafetyCheck=true is refused on every key, and
    # no audit item (partition key audit#...) can be updated or deleted
    assert denies == [
        {
            "Sid": "DenyAuditItemChanges",
            "Effect": "Deny",
            "Action": ["dynamodb:DeleteItem", "dynamodb:UpdateItem"],
            "Resource": table,
            "Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["audit#*"]}},
        },
        {
            "Sid": "DenyPolicyLockoutBypass",
            "Effect": "Deny",
            "Action": "kms:PutKeyPolicy",
            "Resource": "*",
            "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
        },
    ]
    assert state_schema.AUDIT_PREFIX == "audit#"


def test_publish_only_to_the_notification_topic(default: Synthesized) -> None:
    # Given the notification topic
    topic = default.resolve(default.stack.notifications.topic.topic_arn)
    # When finding the statements that grant sns actions
    sns = [s for s in allow_statements(default) if any(a.startswith("sns:") for a in _actions(s))]
    # Then only sns:Publish, only on that topic
    assert [(s["Action"], s["Resource"]) for s in sns] == [("sns:Publish", topic)]


def test_dynamodb_item_calls_only_on_the_state_table(default: Synthesized) -> None:
    # Given the state table
    table = default.resolve(default.stack.state.table.table_arn)
    # When finding the statements that allow dynamodb actions
    ddb = [
        s for s in allow_statements(default) if any(a.startswith("dynamodb:") for a in _actions(s))
    ]
    # Then one statement allows the item calls of the state code and powertools idempotency,
    # on that table only (it has no indexes): no Scan, no Batch*, no DescribeTable
    assert ddb == [
        {
            "Sid": "StateTableItems",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
            "Resource": table,
        }
    ]


def test_sqs_access_is_sending_to_the_dlq_and_the_recheck_queue_and_reading_rechecks(
    default: Synthesized,
) -> None:
    # Given the remediator's dead-letter queue and its re-check queue
    dlq = default.resolve(default.stack.remediator.dlq.queue_arn)
    recheck = default.resolve(default.stack.recheck.queue.queue_arn)
    # When finding the statements that allow sqs actions
    sqs = [s for s in allow_statements(default) if any(a.startswith("sqs:") for a in _actions(s))]
    # Then the function may only send to the DLQ (Lambda's on-failure destination), send its
    # re-checks, and read the re-check queue through its event source mapping
    assert sorted(sqs, key=_canonical) == sorted(
        [
            {
                "Sid": "SendFailedInvocationsToTheDlq",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": dlq,
            },
            {
                "Sid": "SendRechecks",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": recheck,
            },
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                ],
                "Resource": recheck,
            },
        ],
        key=_canonical,
    )
    assert permissions.RECHECK_SEND_ACTIONS == ("sqs:SendMessage",)


def test_ami_parameters_read_only_in_this_account_and_awss_public_ones(
    default: Synthesized,
) -> None:
    # Given this account's parameters and AWS's public ones (resolve:ssm: AMIs)
    stack = default.stack
    expected = [
        default.resolve(stack.format_arn(service="ssm", resource="parameter", resource_name="*")),
        default.resolve(
            stack.format_arn(
                service="ssm", account="", resource="parameter", resource_name="aws/service/*"
            )
        ),
    ]
    # When finding the statements that grant ssm actions
    ssm = [s for s in allow_statements(default) if any(a.startswith("ssm:") for a in _actions(s))]
    # Then one statement grants exactly GetParameter, there only
    assert [(s["Action"], as_list(s["Resource"])) for s in ssm] == [("ssm:GetParameter", expected)]


def test_kms_use_of_the_topic_key_only(default: Synthesized) -> None:
    # Given the topic's key
    key = default.resolve(default.stack.notifications.key.key_arn)
    # When finding the KMS statements that are not the engine's own key reads
    engine = set(permissions.KEY_DESCRIBE_ACTIONS)
    other = [
        s
        for s in allow_statements(default)
        if any(a.startswith("kms:") for a in _actions(s)) and not _actions(s) <= engine
    ]
    # Then the only other KMS use is encrypting notifications with that key
    assert [as_list(s["Resource"]) for s in other] == [[key]]
