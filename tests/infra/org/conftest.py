"""Synthesise the app in organization mode (cdk.json's context, deployment=hub, an organization
and its OUs and regions, plus overrides), once per distinct context, with readers over the hub
template, the StackSets and the member templates they carry."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra.application import HUB_STACK_NAME, create_app
from infra.org.hub import KmsLaunchRemediatorHubStack
from infra.org.members import STAGE_ID, MemberTemplates
from infra.org.stacksets import ACCOUNT_STACK_SET_NAME, REGION_STACK_SET_NAME
from tests.infra.conftest import cdk_json_context

ORGANIZATION_ID = "o-a1b2c3d4e5"
OUS = ["ou-ab12-cdef3456", "ou-ab12-7890ghij"]
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
HUB_CONTEXT: dict[str, Any] = {
    "deployment": "hub",
    "organization_id": ORGANIZATION_ID,
    "member_ous": OUS,
    "member_regions": REGIONS,
}


@dataclass(frozen=True)
class HubSynthesized:
    app: App
    hub: KmsLaunchRemediatorHubStack
    templates: MemberTemplates
    outdir: Path

    @property
    def template(self) -> Template:
        return Template.from_stack(self.hub)

    @property
    def json(self) -> dict[str, Any]:
        return self.template.to_json()  # type: ignore[no-any-return]

    @property
    def account(self) -> dict[str, Any]:
        """The member account template, as synthesised in the stage."""
        return Template.from_stack(self.templates.account_stack).to_json()  # type: ignore[no-any-return]

    @property
    def region(self) -> dict[str, Any]:
        """The member region template, as synthesised in the stage."""
        return Template.from_stack(self.templates.region_stack).to_json()  # type: ignore[no-any-return]

    def resolve(self, value: Any, stack: Stack | None = None) -> Any:
        return (stack or self.hub).resolve(value)

    def logical_id(self, construct: Any, stack: Stack | None = None) -> str:
        stack = stack or self.hub
        return str(stack.resolve(stack.get_logical_id(construct)))

    def stack_set(self, name: str) -> dict[str, Any]:
        """The properties of the StackSet with this name."""
        [found] = [
            r["Properties"]
            for r in resources(self.json, "AWS::CloudFormation::StackSet").values()
            if r["Properties"]["StackSetName"] == name
        ]
        return found

    def body(self, name: str) -> dict[str, Any]:
        """The member template a StackSet carries, parsed."""
        body: dict[str, Any] = json.loads(self.stack_set(name)["TemplateBody"])
        return body

    @property
    def account_body(self) -> dict[str, Any]:
        return self.body(ACCOUNT_STACK_SET_NAME)

    @property
    def region_body(self) -> dict[str, Any]:
        return self.body(REGION_STACK_SET_NAME)


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def hub_context(**overrides: Any) -> dict[str, Any]:
    context = cdk_json_context()
    context.update(HUB_CONTEXT)
    context.update(overrides)
    return context


@cache
def _synth(overrides_json: str) -> HubSynthesized:
    context = hub_context(**json.loads(overrides_json))
    context["aws:cdk:bundling-stacks"] = []  # no Docker, ever
    outdir = Path(tempfile.mkdtemp(prefix="cdk-org-test-"))
    app = create_app(context, outdir=str(outdir))
    app.synth()
    hub = app.node.find_child(HUB_STACK_NAME)
    templates = app.node.find_child(STAGE_ID)
    assert isinstance(hub, KmsLaunchRemediatorHubStack)
    assert isinstance(templates, MemberTemplates)
    return HubSynthesized(app=app, hub=hub, templates=templates, outdir=outdir)


def synth_hub(**overrides: Any) -> HubSynthesized:
    """The app in organization mode with ``overrides`` (cached per context)."""
    return _synth(json.dumps(overrides, sort_keys=True))
