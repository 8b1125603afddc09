"""The member StackSets: service-managed, targeting the OUs from context, auto-deploying to
accounts that join them, the member templates inline, the hub's identifiers as parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.org.members import HUB_ACCOUNT_PARAMETER, HUB_BUS_PARAMETER, HUB_ROLE_PARAMETER
from infra.org.stacksets import (
    ACCOUNT_STACK_SET_NAME,
    MAX_TEMPLATE_BODY_BYTES,
    REGION_STACK_SET_NAME,
)
from tests.infra.org.conftest import OUS, REGIONS, HubSynthesized, resources, synth_hub

NAMES = (ACCOUNT_STACK_SET_NAME, REGION_STACK_SET_NAME)


@pytest.fixture(scope="module")
def hub() -> HubSynthesized:
    return synth_hub()


def _without_metadata(template: dict[str, Any]) -> dict[str, Any]:
    return {
        **template,
        "Resources": {
            logical_id: {k: v for k, v in resource.items() if k != "Metadata"}
            for logical_id, resource in template["Resources"].items()
        },
    }


@pytest.mark.parametrize("name", NAMES)
def test_stacksets_are_service_managed_auto_deploying_to_the_ous(
    hub: HubSynthesized, name: str
) -> None:
    # Given each member StackSet
    stack_set = hub.stack_set(name)
    # When reading how and where it deploys
    # Then Organizations manages its permissions, it targets exactly the OUs from context, and
    # it deploys to accounts that join them and removes the stacks of accounts that leave
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    [group] = stack_set["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": OUS}
    assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert stack_set["CallAs"] == "DELEGATED_ADMIN"


def test_stacksets_account_roles_in_one_region_rules_in_every_member_region(
    hub: HubSynthesized,
) -> None:
    # Given both StackSets
    [account_group] = hub.stack_set(ACCOUNT_STACK_SET_NAME)["StackInstancesGroup"]
    [region_group] = hub.stack_set(REGION_STACK_SET_NAME)["StackInstancesGroup"]
    # When reading their regions
    # Then the named roles are deployed once per account, in the hub's region (a second
    # region's instance would fail on the existing role), and the rules in each member region
    assert account_group["Regions"] == [{"Ref": "AWS::Region"}]
    assert region_group["Regions"] == REGIONS


def test_stacksets_rules_wait_for_the_roles(hub: HubSynthesized) -> None:
    # Given the two StackSet resources
    by_name = {
        r["Properties"]["StackSetName"]: (logical_id, r)
        for logical_id, r in resources(hub.json, "AWS::CloudFormation::StackSet").items()
    }
    account_id, _ = by_name[ACCOUNT_STACK_SET_NAME]
    _, region = by_name[REGION_STACK_SET_NAME]
    # Then the rules' StackSet (which names the forwarder role) is created after the roles'
    assert account_id in region["DependsOn"]


def test_stacksets_pass_the_hub_role_account_and_bus_as_parameters(hub: HubSynthesized) -> None:
    # Given the hub's role, account and bus
    role = hub.resolve(hub.hub.remediator.role.role_arn)
    bus = hub.resolve(hub.hub.bus.event_bus_arn)

    def parameters(name: str) -> dict[str, Any]:
        return {p["ParameterKey"]: p["ParameterValue"] for p in hub.stack_set(name)["Parameters"]}

    # When reading the StackSets' parameters
    # Then they carry exactly what the member templates ask for
    assert parameters(ACCOUNT_STACK_SET_NAME) == {
        HUB_ACCOUNT_PARAMETER: {"Ref": "AWS::AccountId"},
        HUB_ROLE_PARAMETER: role,
        HUB_BUS_PARAMETER: bus,
    }
    assert parameters(REGION_STACK_SET_NAME) == {HUB_BUS_PARAMETER: bus}
    assert set(hub.account_body["Parameters"]) == set(parameters(ACCOUNT_STACK_SET_NAME))
    assert set(hub.region_body["Parameters"]) == set(parameters(REGION_STACK_SET_NAME))


def test_stacksets_carry_the_synthesised_member_templates(hub: HubSynthesized) -> None:
    # Given the member stacks as synthesised in the stage, and the StackSets' bodies
    # When comparing them (the resources' synth-time metadata left out)
    # Then each StackSet deploys exactly its member stack
    assert hub.account_body == _without_metadata(hub.account)
    assert hub.region_body == _without_metadata(hub.region)
    for body in (hub.account_body, hub.region_body):
        assert all("Metadata" not in r for r in body["Resources"].values())


def test_stacksets_template_bodies_fit_stacksets_limit() -> None:
    # Given the widest member templates: a per-account trail and long allowlists
    keys = [f"arn:aws:kms:*:{n:012d}:key/*" for n in range(40)]
    principals = [f"arn:aws:iam::{n:012d}:role/ops/*" for n in range(40)]
    synthesized = synth_hub(
        member_trail="per-account", allowed_keys=keys, allowed_principals=principals
    )
    # When measuring the template bodies
    sizes = {name: len(synthesized.stack_set(name)["TemplateBody"].encode()) for name in NAMES}
    # Then each fits in a TemplateBody
    assert all(size < MAX_TEMPLATE_BODY_BYTES for size in sizes.values()), sizes


def test_stacksets_call_as_self_from_the_management_account() -> None:
    synthesized = synth_hub(stacksets_call_as="SELF")
    assert {synthesized.stack_set(name)["CallAs"] for name in NAMES} == {"SELF"}


def test_stacksets_bodies_are_json_documents(hub: HubSynthesized) -> None:
    for name in NAMES:
        body = hub.stack_set(name)["TemplateBody"]
        assert isinstance(body, str)
        assert json.loads(body)["Resources"]
