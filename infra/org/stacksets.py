"""The member StackSets: service-managed, targeting the organizational units, auto-deploying.

``aws_cloudformation.CfnStackSet`` with the member templates synthesised in this app and carried
inline (``TemplateBody``), rather than the experimental ``cdk-stacksets`` library: see the README
("Organization mode") for why. With service-managed permissions, AWS Organizations lets
StackSets deploy to every account of the target OUs (their child OUs included) and, with
auto-deployment, to every account that joins them later, and removes the instances of an
account that leaves (the member role goes with it). StackSets never deploy to the
organization's management account.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_cloudformation as cloudformation
from constructs import Construct

from infra.context import OrganizationSettings
from infra.org.members import (
    HUB_ACCOUNT_PARAMETER,
    HUB_BUS_PARAMETER,
    HUB_ROLE_PARAMETER,
    MemberTemplates,
)

ACCOUNT_STACK_SET_NAME = "KmsLaunchRemediatorMemberAccount"
REGION_STACK_SET_NAME = "KmsLaunchRemediatorMemberRegion"
# CreateStackSet's TemplateBody holds at most 51,200 bytes
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html).
MAX_TEMPLATE_BODY_BYTES = 51_200
# Deploy to a quarter of the accounts of a region at once, all regions in parallel, and keep
# going while at most a tenth fail; SOFT_FAILURE_TOLERANCE keeps the concurrency from falling to
# the failure tolerance + 1 (StackSetOperationPreferences, https://docs.aws.amazon.com/
# AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html). They do not
# apply to auto-deployments, which StackSets runs by itself.
OPERATION_PREFERENCES = cloudformation.CfnStackSet.OperationPreferencesProperty(
    concurrency_mode="SOFT_FAILURE_TOLERANCE",
    max_concurrent_percentage=25,
    failure_tolerance_percentage=10,
    region_concurrency_type="PARALLEL",
)


class MemberStackSets(Construct):
    """The per-account StackSet (one region: the hub's) and the per-region StackSet."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization: OrganizationSettings,
        templates: MemberTemplates,
        hub_role_arn: str,
        hub_bus_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        hub = Stack.of(self)
        self.account = self._stack_set(
            "MemberAccountStackSet",
            name=ACCOUNT_STACK_SET_NAME,
            description="KMS launch remediator: the member role and the event forwarder role",
            body=templates.template_body(templates.account_stack),
            parameters={
                HUB_ACCOUNT_PARAMETER: hub.account,
                HUB_ROLE_PARAMETER: hub_role_arn,
                HUB_BUS_PARAMETER: hub_bus_arn,
            },
            regions=[hub.region],
            organization=organization,
        )
        self.region = self._stack_set(
            "MemberRegionStackSet",
            name=REGION_STACK_SET_NAME,
            description="KMS launch remediator: rules forwarding detection events to the hub",
            body=templates.template_body(templates.region_stack),
            parameters={HUB_BUS_PARAMETER: hub_bus_arn},
            regions=list(organization.member_regions),
            organization=organization,
        )
        # The rules name the forwarder role the account StackSet creates.
        self.region.node.add_dependency(self.account)

    def _stack_set(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        body: str,
        parameters: dict[str, str],
        regions: list[str],
        organization: OrganizationSettings,
    ) -> cloudformation.CfnStackSet:
        if len(body.encode()) > MAX_TEMPLATE_BODY_BYTES:
            raise ValueError(
                f"the {name} template is {len(body.encode())} bytes, over StackSets' "
                f"{MAX_TEMPLATE_BODY_BYTES} for a TemplateBody"
            )
        return cloudformation.CfnStackSet(
            self,
            construct_id,
            stack_set_name=name,
            description=description,
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=organization.stacksets_call_as.value,
            capabilities=["CAPABILITY_NAMED_IAM"],
            operation_preferences=OPERATION_PREFERENCES,
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=key, parameter_value=value
                )
                for key, value in parameters.items()
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organization.member_ous)
                    ),
                    regions=regions,
                )
            ],
            template_body=body,
        )
