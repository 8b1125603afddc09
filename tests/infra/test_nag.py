"""cdk-nag AwsSolutions: nothing unsuppressed, and each suppression is narrow and explained."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import Synthesized, synth

WILDCARD_KEYS = "arn:aws:kms:eu-west-1:111122223333:key/*"
WILDCARD_PRINCIPALS = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/*"
CONTEXTS: list[dict[str, Any]] = [
    {},
    {
        "allowed_keys": [WILDCARD_KEYS],
        "allowed_principals": [WILDCARD_PRINCIPALS],
        "notification_emails": ["secops@example.com"],
    },
    {"create_trail": False, "mode": "enforce"},
]


def _suppressions(synthesized: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, rule)
        for logical_id, resource in synthesized.json["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


@pytest.mark.parametrize("context", CONTEXTS, ids=["defaults", "allowlist", "no-trail"])
def test_nag_no_unsuppressed_errors_or_warnings(context: dict[str, Any]) -> None:
    # Given the app synthesised with the AwsSolutions pack applied (as app.py does)
    annotations = Annotations.from_stack(synth(**context).stack)
    # When collecting cdk-nag findings
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    # Then there are none left
    assert [e.entry.data for e in errors] == []
    assert [w.entry.data for w in warnings] == []


def test_nag_suppressions_are_exactly_the_reviewed_ones() -> None:
    # Given the app with wildcard allowlist entries (the widest suppression set)
    synthesized = synth(allowed_keys=[WILDCARD_KEYS], allowed_principals=[WILDCARD_PRINCIPALS])
    remediator = synthesized.stack.remediator
    role_policy = synthesized.logical_id(
        remediator.role.node.find_child("DefaultPolicy").node.default_child
    )
    engine_policy = synthesized.logical_id(
        remediator.node.find_child("EnginePolicy").node.default_child
    )
    function = synthesized.logical_id(remediator.function.node.default_child)
    dlq = synthesized.logical_id(remediator.dlq.node.default_child)
    # When listing every suppression with the resource it sits on
    found = sorted(
        (logical_id, rule["id"], tuple(rule.get("applies_to", ())))
        for logical_id, rule in _suppressions(synthesized)
    )
    # Then they are these, each limited to the named finding
    assert found == sorted(
        [
            (role_policy, "AwsSolutions-IAM5", ("Resource::*",)),
            (role_policy, "AwsSolutions-IAM5", ("Action::kms:GenerateDataKey*",)),
            (engine_policy, "AwsSolutions-IAM5", ("Resource::*",)),
            (
                engine_policy,
                "AwsSolutions-IAM5",
                (
                    "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/*",
                    "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>::parameter/aws/service/*",
                ),
            ),
            (
                engine_policy,
                "AwsSolutions-IAM5",
                (
                    "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*",
                    "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*",
                    "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:group/*",
                    "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:policy/*",
                    "Resource::arn:<AWS::Partition>:iam::aws:policy/*",
                ),
            ),
            (engine_policy, "AwsSolutions-IAM5", (f"Resource::{WILDCARD_KEYS}",)),
            (function, "AwsSolutions-L1", ()),
            (dlq, "AwsSolutions-SQS3", ()),
        ]
    )


def test_nag_suppressions_give_specific_reasons() -> None:
    # Given every suppression in the widest configuration
    suppressions = _suppressions(
        synth(allowed_keys=[WILDCARD_KEYS], allowed_principals=[WILDCARD_PRINCIPALS])
    )
    # When reading the reasons
    reasons = [rule["reason"] for _, rule in suppressions]
    # Then each explains itself (no boilerplate, no duplicates)
    assert suppressions
    assert all(len(reason) >= 80 for reason in reasons)
    assert len(set(reasons)) == len(reasons)
