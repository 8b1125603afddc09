"""The member templates: what every account, and every region of it, needs for the hub.

Both are stacks of a ``Stage`` of the app, synthesised to template bodies that the hub's
StackSets carry (``template_body``). They are environment-agnostic (one template for every
account), bootstrap-free (a member account is not CDK-bootstrapped, and they have no assets),
and take the hub's identifiers as CloudFormation parameters, filled in by the StackSets.

- ``MemberAccountStack`` (a single-region StackSet: IAM is global, and a named role in every
  region's instance would fail with EntityAlreadyExists): the member role, which only the hub
  role may assume, from inside the organization, and which holds the engine's permissions
  (``infra.remediator.engine_statements``, the same code as the single-account role); the
  forwarder role EventBridge uses to put events on the hub's bus; with ``member_trail=
  per-account``, a multi-region management-events trail.
- ``MemberRegionStack`` (one instance per member region): the detection rules on the region's
  default bus, forwarding to the hub's bus, with a dead-letter queue for failed deliveries.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, BootstraplessSynthesizer, CfnParameter, Stack, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.context import MemberTrail, OrganizationSettings, StackSettings
from infra.detection import Detection, EventBusTarget
from infra.org.nag import suppress_member_account_findings, suppress_member_region_findings
from infra.remediator import DLQ_RETENTION, engine_statements
from infra.trail import ManagementEventsTrail
from remediator import permissions

# Named roles, the same in every member account: the hub assumes the member role by name, and
# the regional rules name the forwarder role by ARN.
FORWARDER_ROLE_NAME = "KmsLaunchRemediatorEventForwarder"
STAGE_ID = "MemberTemplates"
ACCOUNT_STACK_ID = "MemberAccount"
REGION_STACK_ID = "MemberRegion"

# The parameters of the member templates, filled in by the hub's StackSets.
HUB_ACCOUNT_PARAMETER = "HubAccountId"
HUB_ROLE_PARAMETER = "HubRoleArn"
HUB_BUS_PARAMETER = "HubEventBusArn"
_ARN_PREFIX = "^arn:aws(-cn|-us-gov)?:"


def _parameter(stack: Stack, name: str, pattern: str, description: str) -> CfnParameter:
    return CfnParameter(
        stack, name, type="String", allowed_pattern=pattern, description=description
    )


class MemberAccountStack(Stack):
    """The member role, the forwarder role, and optionally the account's trail."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            synthesizer=BootstraplessSynthesizer(),
            analytics_reporting=False,
            description="KMS launch remediator, organization member: the roles the hub uses",
            **kwargs,
        )
        organization = _organization(settings)
        hub_account = _parameter(
            self, HUB_ACCOUNT_PARAMETER, "^[0-9]{12}$", "The hub's account id"
        ).value_as_string
        hub_role = _parameter(
            self,
            HUB_ROLE_PARAMETER,
            _ARN_PREFIX + r"iam::[0-9]{12}:role/.+$",
            "The hub remediator's role: the only principal that may assume the member role",
        ).value_as_string
        hub_bus = _parameter(
            self,
            HUB_BUS_PARAMETER,
            _ARN_PREFIX + r"events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$",
            "The hub's event bus, where the forwarder role may put events",
        ).value_as_string

        # Trust the hub's account root, narrowed by aws:PrincipalArn to the hub role, rather
        # than the role ARN as principal: IAM stores a role principal as the role's unique id,
        # so a hub role that is replaced (same ARN, new id) would silently lose the trust
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
        # #principal-roles). aws:PrincipalOrgID keeps it inside the organization even if the
        # hub account left it (https://docs.aws.amazon.com/IAM/latest/UserGuide/
        # reference_policies_condition-keys.html#condition-keys-principalorgid).
        self.member_role = iam.Role(
            self,
            "MemberRole",
            role_name=organization.member_role,
            assumed_by=iam.PrincipalWithConditions(
                iam.AccountPrincipal(hub_account),
                {
                    "ArnEquals": {"aws:PrincipalArn": hub_role},
                    "StringEquals": {"aws:PrincipalOrgID": organization.organization_id},
                },
            ),
            description="KMS launch remediator: the hub reads launch context and fixes "
            "allowlisted keys in this account",
        )
        allowlist = settings.remediator.widest_allowlist()
        self.allowed_key_patterns = allowlist.keys
        statements = engine_statements(self, allowlist.keys, allowlist.principals)
        if allowlist.keys and allowlist.principals:
            # The grants this account makes on other accounts' keys: rollback retires them
            # from here (remediator.permissions.GRANT_RETIRE_ACTIONS).
            statements.append(
                iam.PolicyStatement(
                    sid="RetireGrantsOnAllowlistedKeys",
                    actions=list(permissions.GRANT_RETIRE_ACTIONS),
                    resources=list(allowlist.keys),
                )
            )
        self.engine_policy = iam.Policy(
            self, "EnginePolicy", statements=statements, roles=[self.member_role]
        )

        # EventBridge assumes this role to put the rules' events on the hub's bus; only for
        # rules of this account (aws:SourceAccount, https://docs.aws.amazon.com/eventbridge/
        # latest/userguide/eb-use-conditions.html).
        self.forwarder_role = iam.Role(
            self,
            "ForwarderRole",
            role_name=FORWARDER_ROLE_NAME,
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal("events.amazonaws.com"),
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="KMS launch remediator: forwards detection events to the hub's bus",
        )
        self.forwarder_policy = iam.Policy(
            self,
            "ForwarderPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="PutOnTheHubBus", actions=["events:PutEvents"], resources=[hub_bus]
                )
            ],
            roles=[self.forwarder_role],
        )

        self.trail = (
            ManagementEventsTrail(
                self,
                "ManagementEventsTrail",
                retention_days=settings.trail_retention_days,
                multi_region=True,
            )
            if organization.member_trail is MemberTrail.PER_ACCOUNT
            else None
        )
        suppress_member_account_findings(self)


class MemberRegionStack(Stack):
    """The detection rules on this region's default bus, forwarding to the hub's bus."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            synthesizer=BootstraplessSynthesizer(),
            analytics_reporting=False,
            description="KMS launch remediator, organization member: forwards detection "
            "events of this region to the hub",
            **kwargs,
        )
        hub_bus = _parameter(
            self,
            HUB_BUS_PARAMETER,
            _ARN_PREFIX + r"events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$",
            "The hub's event bus, where the rules send what they select",
        ).value_as_string
        self.dlq = sqs.Queue(
            self,
            "ForwardingDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        forwarder = self.format_arn(
            service="iam", region="", resource="role", resource_name=FORWARDER_ROLE_NAME
        )
        self.forwarding = Detection(
            self,
            "Forwarding",
            target=EventBusTarget(bus_arn=hub_bus, role_arn=forwarder),
            dlq=self.dlq,
        )
        suppress_member_region_findings(self)


class MemberTemplates(Stage):
    """The stage holding both member stacks; ``template_body`` renders one for a StackSet."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self.account_stack = MemberAccountStack(self, ACCOUNT_STACK_ID, settings=settings)
        self.region_stack = MemberRegionStack(self, REGION_STACK_ID)

    def template(self, stack: Stack) -> dict[str, Any]:
        """The synthesised template of one of this stage's stacks (synthesised once)."""
        artifact = self.synth().get_stack_artifact(stack.artifact_id)
        template: dict[str, Any] = artifact.template
        return template

    def template_body(self, stack: Stack) -> str:
        """The template as a StackSet carries it: compact, without the resources' synth-time
        metadata (construct paths, cdk-nag suppressions), which members have no use for."""
        template = self.template(stack)
        resources = {
            logical_id: {k: v for k, v in resource.items() if k != "Metadata"}
            for logical_id, resource in template.get("Resources", {}).items()
        }
        return json.dumps(
            {**template, "Resources": resources}, separators=(",", ":"), sort_keys=True
        )


def _organization(settings: StackSettings) -> OrganizationSettings:
    if settings.organization is None:
        raise ValueError("member templates need deployment=hub settings")
    return settings.organization
