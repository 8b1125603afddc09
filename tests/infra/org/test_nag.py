"""cdk-nag AwsSolutions on the hub and both member stacks: nothing unsuppressed, and the hub's
own suppression is the one reviewed."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.org.conftest import synth_hub

WILDCARD_KEYS = "arn:aws:kms:*:444455556666:key/*"
SLR_EVERYWHERE = (
    "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
)
CONTEXTS: list[dict[str, Any]] = [
    {},
    {
        "allowed_keys": [WILDCARD_KEYS],
        "allowed_principals": [SLR_EVERYWHERE],
        "notification_emails": ["secops@example.com"],
        "mode": "enforce",
        "member_accounts": {
            "111122223333": {"allow": {"keys": ["arn:aws:kms:*:111122223333:key/*"]}}
        },
    },
    {"member_trail": "per-account"},
    {"member_trail": "none", "stacksets_call_as": "SELF"},
]


@pytest.mark.parametrize(
    "context", CONTEXTS, ids=["defaults", "allowlists", "per-account-trail", "no-trail"]
)
def test_nag_hub_and_members_have_no_unsuppressed_errors_or_warnings(
    context: dict[str, Any],
) -> None:
    # Given the organization app, the AwsSolutions pack applied to the hub and the member stage
    synthesized = synth_hub(**context)
    stacks = (
        synthesized.hub,
        synthesized.templates.account_stack,
        synthesized.templates.region_stack,
    )
    for stack in stacks:
        annotations = Annotations.from_stack(stack)
        # When collecting cdk-nag findings
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        # Then there are none left
        assert [e.entry.data for e in errors] == [], stack.stack_name
        assert [w.entry.data for w in warnings] == [], stack.stack_name


def test_nag_hub_role_assumption_suppression_is_limited_to_the_member_role() -> None:
    # Given the hub with a custom member role name
    synthesized = synth_hub(member_role="OrgKmsRemediator")
    policy = synthesized.logical_id(synthesized.hub.role_assumption.node.default_child)
    # When reading the suppressions on the role-assumption policy
    rules = synthesized.json["Resources"][policy]["Metadata"]["cdk_nag"]["rules_to_suppress"]
    # Then the one suppression covers only that role name, in any account, and says why
    assert [(r["id"], r["applies_to"]) for r in rules] == [
        ("AwsSolutions-IAM5", ["Resource::arn:<AWS::Partition>:iam::*:role/OrgKmsRemediator"])
    ]
    assert "aws:ResourceOrgID" in rules[0]["reason"]


def test_nag_pack_runs_on_the_hub_and_both_member_stacks() -> None:
    # Given the organization app synthesised
    synthesized = synth_hub()
    reports = {p.name: p.read_text() for p in synthesized.outdir.glob("AwsSolutions-*.csv")}
    stacks = (
        synthesized.hub,
        synthesized.templates.account_stack,
        synthesized.templates.region_stack,
    )
    for stack in stacks:
        # When finding the pack's report for each stack
        [report] = [
            text
            for name, text in reports.items()
            if name.endswith(f"-{stack.stack_name}-NagReport.csv")
        ]
        # Then the pack checked that stack's resources (so "no finding" above means something)
        assert f'"{stack.node.path}/' in report, stack.stack_name
        assert '"Compliant"' in report
