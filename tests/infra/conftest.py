"""Synthesise the app the way ``cdk synth`` does (cdk.json context + overrides), once per
distinct context, and offer small readers over the template."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.application import STACK_NAME, create_app
from infra.stack import KmsLaunchRemediatorStack

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"
EVENTS_DIR = ROOT / "tests" / "events"


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads(CDK_JSON.read_text())["context"])


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: KmsLaunchRemediatorStack
    template: Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return self.template.to_json()  # type: ignore[no-any-return]

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.resolve(self.stack.get_logical_id(construct)))

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.json["Resources"].items()
            if resource["Type"] == resource_type
        }


@cache
def _synth(overrides_json: str) -> Synthesized:
    context = cdk_json_context()
    context.update(json.loads(overrides_json))
    context["aws:cdk:bundling-stacks"] = []  # no Docker, ever
    outdir = Path(tempfile.mkdtemp(prefix="cdk-infra-test-"))
    app = create_app(context, outdir=str(outdir))
    app.synth()
    stack = app.node.find_child(STACK_NAME)
    assert isinstance(stack, KmsLaunchRemediatorStack)
    return Synthesized(app=app, stack=stack, template=Template.from_stack(stack), outdir=outdir)


def synth(**overrides: Any) -> Synthesized:
    """The app synthesised with cdk.json's context plus ``overrides`` (cached per context)."""
    return _synth(json.dumps(overrides, sort_keys=True))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(synthesized: Synthesized) -> Iterator[dict[str, Any]]:
    """Every statement of every identity policy (inline policies and roles' policies)."""
    for resource in synthesized.json["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield from properties["PolicyDocument"]["Statement"]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield from policy["PolicyDocument"]["Statement"]


def allow_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [s for s in identity_statements(synthesized) if s["Effect"] == "Allow"]
