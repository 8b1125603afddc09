"""Notifications: SSL-only topic, encrypted with a rotating customer key CloudWatch may use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesized, as_list, synth

EMAILS = ["secops@example.com", "platform@example.org"]


@pytest.fixture(scope="module")
def default() -> Synthesized:
    return synth()


def _topic_policy_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    topic = synthesized.resolve(synthesized.stack.notifications.topic.topic_arn)
    return [
        statement
        for policy in synthesized.resources("AWS::SNS::TopicPolicy").values()
        if policy["Properties"]["Topics"] == [topic]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_topic_encrypted_with_rotating_customer_managed_key(default: Synthesized) -> None:
    # Given the topic and its key
    notifications = default.stack.notifications
    topic = default.resources("AWS::SNS::Topic")[
        default.logical_id(notifications.topic.node.default_child)
    ]
    key = default.resources("AWS::KMS::Key")[
        default.logical_id(notifications.key.node.default_child)
    ]
    # When reading the topic's encryption and the key's settings
    # Then the topic uses that key and the key rotates
    assert topic["Properties"]["KmsMasterKeyId"] == default.resolve(notifications.key.key_arn)
    assert key["Properties"]["EnableKeyRotation"] is True


def test_topic_key_deletion_is_scheduled_with_the_stack(default: Synthesized) -> None:
    # Given the topic's key
    notifications = default.stack.notifications
    key = default.resources("AWS::KMS::Key")[
        default.logical_id(notifications.key.node.default_child)
    ]
    # When reading what happens to it when the stack is deleted
    # Then it is not left behind: its deletion is scheduled, cancellable for 30 days
    assert key["DeletionPolicy"] == "Delete"
    assert key["Properties"]["PendingWindowInDays"] == 30


def test_topic_key_policy_lets_cloudwatch_alarms_use_it(default: Synthesized) -> None:
    # Given the topic key's policy
    notifications = default.stack.notifications
    key = default.resources("AWS::KMS::Key")[
        default.logical_id(notifications.key.node.default_child)
    ]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    # When finding what CloudWatch may do with it
    cloudwatch = [
        s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    # Then it may generate data keys and decrypt, which publishing to an encrypted topic needs
    assert len(cloudwatch) == 1
    assert set(as_list(cloudwatch[0]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch[0]["Effect"] == "Allow"


def test_topic_policy_denies_publishing_without_tls(default: Synthesized) -> None:
    # Given the topic's resource policy
    statements = _topic_policy_statements(default)
    # When finding the SSL enforcement
    denies = [s for s in statements if s["Effect"] == "Deny"]
    # Then any request without aws:SecureTransport is denied
    assert len(denies) == 1
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert denies[0]["Principal"] in ("*", {"AWS": "*"})
    assert "sns:Publish" in as_list(denies[0]["Action"])


def test_topic_policy_lets_only_this_accounts_alarms_publish(default: Synthesized) -> None:
    # Given the topic's resource policy
    statements = _topic_policy_statements(default)
    # When finding the Allow statements
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # Then CloudWatch may publish for alarms of this account and region only
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allows[0]["Action"] == "sns:Publish"
    assert allows[0]["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert "aws:SourceArn" in allows[0]["Condition"]["ArnLike"]


@pytest.mark.parametrize(("emails", "expected"), [(None, []), (EMAILS, EMAILS)])
def test_topic_email_subscriptions_come_from_context(
    emails: list[str] | None, expected: list[str]
) -> None:
    # Given notification_emails in context (or the default: none)
    synthesized = synth() if emails is None else synth(notification_emails=emails)
    topic = synthesized.resolve(synthesized.stack.notifications.topic.topic_arn)
    # When reading the topic's subscriptions
    subscriptions = [
        s["Properties"] for s in synthesized.resources("AWS::SNS::Subscription").values()
    ]
    # Then there is one email subscription per address
    assert sorted(s["Endpoint"] for s in subscriptions) == sorted(expected)
    assert all(s["Protocol"] == "email" and s["TopicArn"] == topic for s in subscriptions)
