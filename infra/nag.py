"""cdk-nag (AwsSolutions) suppressions that remain after fixing what could be fixed.

Each suppression is attached by resource path, limited with ``appliesTo`` to the exact finding,
and says why the finding stands. A path that no longer exists fails ``cdk synth``. The pieces
shared by the stacks (the remediator function and its role, the engine's policy wherever it is
attached) are written once here; each stack adds its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions

from remediator import permissions

if TYPE_CHECKING:
    from infra.remediator import Remediator
    from infra.stack import KmsLaunchRemediatorStack


def path_of(node_path: str) -> str:
    return "/" + node_path


def engine_policy_suppressions(allowed_keys: Iterable[str]) -> list[NagPackSuppression]:
    """The findings of ``infra.remediator.engine_statements``, wherever that policy is attached
    (the remediator's role, an organization member's role)."""
    wildcard_keys = [f"Resource::{pattern}" for pattern in allowed_keys if "*" in pattern]
    suppressions = [
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=["Resource::*"],
            reason=(
                "Only reads that IAM cannot scope use '*': "
                + ", ".join(permissions.KEY_DESCRIBE_ACTIONS + permissions.UNSCOPED_READ_ACTIONS)
                + " (DescribeKey runs before the allowlist can be checked: it resolves aliases "
                "and tells AWS-managed keys apart); the Deny on PutKeyPolicy with "
                "BypassPolicyLockoutSafetyCheck is also on '*'."
            ),
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=[
                "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/*",
                "Resource::arn:<AWS::Partition>:ssm:<AWS::Region>::parameter/"
                + permissions.PUBLIC_PARAMETER_PATH,
            ],
            reason=(
                "ssm:GetParameter on this account's parameters and AWS's public ones "
                "(/aws/service/...) only: launch templates may name their AMI as "
                "resolve:ssm:PARAMETER, and which parameter is not known until the event "
                "arrives."
            ),
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=[
                "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*",
                "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*",
                "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:group/*",
                "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:policy/*",
                "Resource::arn:<AWS::Partition>:iam::aws:policy/*",
            ],
            reason=(
                "IAM reads (Get*/List*, no write) of this account's roles, users and groups and "
                "of managed policies (this account's and AWS's): the engine checks that the "
                "principal from an event exists and reads its identity policies and boundary, "
                "on which AWS decides the launch as much as on the key policy; which principal "
                "is not known until the event arrives."
            ),
        ),
    ]
    if wildcard_keys:
        suppressions.append(
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=wildcard_keys,
                reason=(
                    "These are the operator's allowlisted key ARN patterns (context "
                    "allowed_keys), granted exactly as configured: the keys the remediator may "
                    "read and change. No other key is writable."
                ),
            )
        )
    return suppressions


def suppress_remediator_findings(
    stack: Stack, remediator: Remediator, allowed_keys: Iterable[str]
) -> None:
    """The remediator function, its role's default policy and its engine policy."""
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(remediator.role.node.path) + "/DefaultPolicy/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Resource::*"],
                reason=(
                    "Only xray:PutTraceSegments and xray:PutTelemetryRecords (added by active "
                    "tracing) use '*': X-Ray does not support resource-level permissions for them."
                ),
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Action::kms:GenerateDataKey*"],
                reason=(
                    "Added by topic.grant_publish for the topic's SSE key only (resource is that "
                    "key's ARN): publishing to an encrypted topic needs GenerateDataKey*/Decrypt."
                ),
            ),
        ],
    )
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(remediator.node.path) + "/EnginePolicy/Resource",
        engine_policy_suppressions(allowed_keys),
    )
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(remediator.function.node.path) + "/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason=(
                    "Pinned to python3.12 on purpose: the official Powertools layer used here is "
                    "built for python3.12/arm64 (its pydantic-core is compiled for it). Move "
                    "runtime and layer name together."
                ),
            )
        ],
    )


def suppress_justified_findings(stack: KmsLaunchRemediatorStack) -> None:
    remediator = stack.remediator
    suppress_remediator_findings(stack, remediator, stack.settings.allowed_key_patterns)
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        path_of(remediator.dlq.node.path) + "/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is itself the dead-letter queue: the Lambda's async on-failure "
                    "destination and the EventBridge targets' DLQ. cdk-nag only recognises DLQs "
                    "named in another queue's RedrivePolicy."
                ),
            )
        ],
    )
