"""Shared fixtures. No test reaches AWS: credentials are fake and every client hits moto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set before anything creates a boto3 client or imports powertools.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_REGION="eu-west-1",
    MOTO_ACCOUNT_ID="111122223333",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_METRICS_NAMESPACE="KmsLaunchRemediator",
    POWERTOOLS_SERVICE_NAME="kms-launch-remediator",
)
for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(variable, None)


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """moto in decorator mode, with its KMS taught cross-account grants (tests/support)."""
    from moto import mock_aws

    from tests.support import moto_cross_account

    moto_cross_account.install()
    with mock_aws():
        yield
