"""Build the CDK app: context -> validated settings -> stack -> cdk-nag AwsSolutions checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra.context import Deployment, StackSettings, load_settings
from infra.org.hub import KmsLaunchRemediatorHubStack
from infra.org.members import STAGE_ID, MemberTemplates
from infra.stack import KmsLaunchRemediatorStack

STACK_NAME = "KmsLaunchRemediator"
HUB_STACK_NAME = "KmsLaunchRemediatorHub"


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app ``app.py`` synthesises; tests pass ``context`` (the CLI passes it itself).

    ``deployment=single`` (the default): the one stack of a single account and region.
    ``deployment=hub``: the organization hub, whose StackSets carry the member templates."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    settings = load_settings(app.node.get_all_context())
    if settings.deployment is Deployment.HUB:
        _organization_hub(app, settings)
        return app
    KmsLaunchRemediatorStack(
        app,
        STACK_NAME,
        settings=settings,
        description="Detects EC2 launches that fail on a customer-managed KMS key and fixes them",
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


def _organization_hub(app: App, settings: StackSettings) -> None:
    """The member templates' stage, checked by cdk-nag before the hub synthesises it into its
    StackSets' template bodies; then the hub stack, checked too."""
    templates = MemberTemplates(app, STAGE_ID, settings=settings)
    Aspects.of(templates).add(AwsSolutionsChecks(verbose=True))
    hub = KmsLaunchRemediatorHubStack(
        app,
        HUB_STACK_NAME,
        settings=settings,
        member_templates=templates,
        description="One remediator for an AWS Organization: fixes EC2 launches that fail on "
        "a customer-managed KMS key in any member account",
    )
    Aspects.of(hub).add(AwsSolutionsChecks(verbose=True))
