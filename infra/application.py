"""Build the CDK app: context -> validated settings -> stack -> cdk-nag AwsSolutions checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra.context import load_settings
from infra.stack import KmsLaunchRemediatorStack

STACK_NAME = "KmsLaunchRemediator"


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app ``app.py`` synthesises; tests pass ``context`` (the CLI passes it itself)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    settings = load_settings(app.node.get_all_context())
    KmsLaunchRemediatorStack(
        app,
        STACK_NAME,
        settings=settings,
        description="Detects EC2 launches that fail on a customer-managed KMS key and fixes them",
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app
