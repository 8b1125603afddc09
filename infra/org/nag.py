"""cdk-nag (AwsSolutions) suppressions of the hub and member stacks, on top of the shared ones
(``infra.nag``). Each is limited to the exact finding and says why it stands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_nag import NagPackSuppression, NagSuppressions

from infra.nag import engine_policy_suppressions, path_of, suppress_remediator_findings

if TYPE_CHECKING:
    from infra.org.hub import KmsLaunchRemediatorHubStack
    from infra.org.members import MemberAccountStack, MemberRegionStack


def suppress_hub_findings(stack: KmsLaunchRemediatorHubStack) -> None:
    suppress_remediator_findings(stack, stack.remediator, stack.settings.allowed_key_patterns)
    organization = stack.settings.organization
    assert organization is not None
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(stack.role_assumption.node.path) + "/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=[
                    f"Resource::arn:<AWS::Partition>:iam::*:role/{organization.member_role}"
                ],
                reason=(
                    "sts:AssumeRole on the member role's name in any account: the account is "
                    "the one an event concerns, known only then; the condition "
                    "aws:ResourceOrgID limits it to roles of the organization's accounts."
                ),
            )
        ],
    )


def suppress_member_account_findings(stack: MemberAccountStack) -> None:
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(stack.engine_policy.node.path) + "/Resource",
        engine_policy_suppressions(stack.allowed_key_patterns),
    )


def suppress_member_region_findings(stack: MemberRegionStack) -> None:
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(stack.dlq.node.path) + "/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is itself the dead-letter queue of the forwarding rules: events "
                    "EventBridge could not put on the hub's bus after its retries. cdk-nag only "
                    "recognises DLQs named in another queue's RedrivePolicy."
                ),
            )
        ],
    )
