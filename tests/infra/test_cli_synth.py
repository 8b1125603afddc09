"""The pinned CDK CLI (package.json) can synthesise and read this app's cloud assembly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.application import STACK_NAME
from tests.infra.conftest import ROOT

NODE_MODULES_CDK = ROOT / "node_modules" / "aws-cdk" / "package.json"


@pytest.mark.slow
def test_cli_pinned_cdk_synth_succeeds(tmp_path: Path) -> None:
    # Given the CLI installed from package.json (make setup runs `npm ci`)
    if not NODE_MODULES_CDK.exists():
        pytest.fail("node_modules/aws-cdk is missing: run `make setup` (npm ci) first")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    installed = json.loads(NODE_MODULES_CDK.read_text())["version"]
    assert installed == pinned, f"node_modules has aws-cdk {installed}, package.json pins {pinned}"
    env = dict(os.environ, JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    # When running `npx cdk synth --quiet` into a temporary output directory
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Then it succeeds (no Docker, no credentials) and writes the stack's template
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / f"{STACK_NAME}.template.json").is_file()
    assert (tmp_path / "manifest.json").is_file()
