"""State: the DynamoDB table for idempotency records, per-key locks and the audit trail."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from remediator import permissions, state_schema

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key_type: str) -> dynamodb.Attribute:
    name = next(k["AttributeName"] for k in state_schema.KEY_SCHEMA if k["KeyType"] == key_type)
    kind = next(
        a["AttributeType"] for a in state_schema.ATTRIBUTE_DEFINITIONS if a["AttributeName"] == name
    )
    return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[kind])


class StateTable(Construct):
    """On-demand, point-in-time recovery, TTL; retained on stack deletion (audit trail)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_attribute("HASH"),
            sort_key=_attribute("RANGE"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=state_schema.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_engine_access(self, grantee: iam.IGrantable) -> None:
        """The item calls the engine makes (``permissions.STATE_TABLE_ACTIONS``) on this table,
        and an explicit Deny of updating or deleting an audit item, so that no code path, not
        even a bug, can rewrite the audit trail."""
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StateTableItems",
                actions=list(permissions.STATE_TABLE_ACTIONS),
                resources=[self.table.table_arn],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DenyAuditItemChanges",
                effect=iam.Effect.DENY,
                actions=list(permissions.AUDIT_PROTECTED_ACTIONS),
                resources=[self.table.table_arn],
                conditions=permissions.audit_protection_conditions(),
            )
        )
