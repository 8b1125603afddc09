#!/usr/bin/env python3
"""CDK entry point: ``npx cdk synth`` / ``deploy`` run this (see ``cdk.json``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lambdas"))  # remediator.* definitions

from infra.application import create_app
from infra.context import ContextError

try:
    app = create_app()
except ContextError as err:
    sys.exit(f"cdk synth: {err}")
app.synth()
