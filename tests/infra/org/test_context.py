"""Organization context: deployment=hub chooses the hub (single-account stays the default and
unchanged), its keys are validated naming the key, and none of them is taken silently by a
single-account deployment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.application import HUB_STACK_NAME, STACK_NAME, create_app
from infra.context import (
    ContextError,
    Deployment,
    MemberTrail,
    StackSetsCallAs,
    load_settings,
)
from infra.org.members import STAGE_ID
from tests.infra.conftest import cdk_json_context
from tests.infra.org.conftest import HUB_CONTEXT, OUS, REGIONS, hub_context


def test_context_single_account_is_the_default_and_builds_only_its_stack() -> None:
    # Given cdk.json's context, untouched
    app = create_app(cdk_json_context())
    # When listing what the app builds
    children = [child.node.id for child in app.node.children]
    # Then it is the single-account stack alone: no hub, no member templates
    assert load_settings(cdk_json_context()).deployment is Deployment.SINGLE
    assert STACK_NAME in children
    assert HUB_STACK_NAME not in children and STAGE_ID not in children


def test_context_deployment_hub_builds_the_hub_and_the_member_templates() -> None:
    # Given deployment=hub with an organization, its OUs and regions
    app = create_app(hub_context())
    # When listing what the app builds
    children = [child.node.id for child in app.node.children]
    # Then the hub stack and the member templates' stage, and not the single-account stack
    assert HUB_STACK_NAME in children and STAGE_ID in children
    assert STACK_NAME not in children


def test_context_hub_keys_from_the_command_line_are_decoded() -> None:
    # Given the hub's keys as `cdk deploy -c key=value` passes them (strings)
    context = cdk_json_context()
    context.update(
        {
            "deployment": "hub",
            "organization_id": HUB_CONTEXT["organization_id"],
            "member_ous": json.dumps(OUS),
            "member_regions": json.dumps(REGIONS),
            "member_role": "OrgKmsRemediator",
            "member_accounts": '{"444455556666": {"mode": "dry-run"}}',
            "member_trail": "per-account",
            "stacksets_call_as": "SELF",
        }
    )
    # When validated
    settings = load_settings(context)
    # Then they mean what the JSON values would
    organization = settings.organization
    assert organization is not None
    assert organization.member_ous == tuple(OUS)
    assert organization.member_regions == tuple(REGIONS)
    assert organization.member_role == settings.remediator.member_role == "OrgKmsRemediator"
    assert organization.member_trail is MemberTrail.PER_ACCOUNT
    assert organization.stacksets_call_as is StackSetsCallAs.SELF
    assert set(settings.remediator.accounts) == {"444455556666"}


def test_context_hub_defaults() -> None:
    settings = load_settings(hub_context())
    assert settings.deployment is Deployment.HUB
    assert settings.organization is not None
    assert settings.organization.member_role == "KmsLaunchRemediatorMember"
    assert settings.organization.member_trail is MemberTrail.ORGANIZATION
    assert settings.organization.stacksets_call_as is StackSetsCallAs.DELEGATED_ADMIN
    assert settings.remediator.accounts == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("deployment", "multi", "expected one of single, hub"),
        ("organization_id", "", "is not an organization id"),
        ("organization_id", "o-short", "is not an organization id"),
        ("organization_id", "O-A1B2C3D4E5", "is not an organization id"),
        ("organization_id", ["o-a1b2c3d4e5"], "expected a string"),
        ("member_ous", [], "a hub needs at least one"),
        ("member_ous", ["ou-ab12"], "is not an OU or root id"),
        ("member_ous", ["444455556666"], "is not an OU or root id"),
        ("member_ous", [OUS[0], OUS[0]], "lists an entry twice"),
        ("member_ous", "ou-ab12-cdef3456", "expected a JSON list of strings"),
        ("member_regions", [], "a hub needs at least one"),
        ("member_regions", ["eu-west"], "is not a region"),
        ("member_regions", ["*"], "is not a region"),
        ("member_regions", ["eu-west-1", "eu-west-1"], "lists an entry twice"),
        ("member_role", "arn:aws:iam::111122223333:role/Member", "is not an IAM role name"),
        ("member_role", "", "is not an IAM role name"),
        ("member_accounts", ["444455556666"], "expected a JSON object"),
        ("member_accounts", {"4444": {"mode": "enforce"}}, "'4444' is not a 12-digit account"),
        ("member_accounts", {"444455556666": {}}, "an account entry must set allow, mode"),
        (
            "member_accounts",
            {"444455556666": {"allow": {"keys": ["arn:aws:kms:*:*:key/*"]}}},
            "has account '*'",
        ),
        ("member_trail", "both", "expected one of organization, per-account, none"),
        ("stacksets_call_as", "delegated-admin", "expected one of SELF, DELEGATED_ADMIN"),
        ("reserved_concurrency", 1, "must be at least 2 for a hub"),
    ],
)
def test_context_bad_hub_value_fails_synth_naming_the_key(
    key: str, value: Any, message: str
) -> None:
    # Given one bad value among the hub's context
    context = hub_context(**{key: value})
    # When the app is built
    # Then it fails naming the context key and what is wrong
    with pytest.raises(ContextError, match=rf"invalid CDK context {key}\b") as raised:
        create_app(context)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("organization_id", "o-a1b2c3d4e5"),
        ("member_ous", OUS),
        ("member_regions", '["eu-west-1"]'),
        ("member_role", "OrgKmsRemediator"),
        ("member_accounts", {"444455556666": {"mode": "dry-run"}}),
        ("member_trail", "none"),
        ("stacksets_call_as", "SELF"),
    ],
)
def test_context_single_account_refuses_an_organization_key(key: str, value: Any) -> None:
    # Given a single-account deployment (no deployment=hub) with an organization key set
    context = cdk_json_context()
    context[key] = value
    # When the app is built
    # Then it fails rather than ignore the key
    with pytest.raises(ContextError, match=rf"invalid CDK context {key}: applies only to"):
        create_app(context)


@pytest.mark.parametrize(
    ("key", "value"),
    [("member_ous", "[]"), ("member_accounts", "{}"), ("member_role", "KmsLaunchRemediatorMember")],
)
def test_context_single_account_accepts_organization_keys_at_their_defaults(
    key: str, value: Any
) -> None:
    context = cdk_json_context()
    context[key] = value
    assert load_settings(context).organization is None
