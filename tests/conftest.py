"""Shared fixtures. No test reaches AWS: credentials are fake and every client hits moto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import tests.support  # noqa: F401 (moto's stock AMIs only, before moto is imported)

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


class _UniquePaths(list[str]):
    """A search path list that keeps one copy of each path (boto3 appends its own per session)."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _share_botocore_loader() -> None:
    """Every botocore session of the test process on one loader, so that each service model is
    parsed once per process rather than once per session (the product's own sessions already
    share one: remediator.adapters.sessions). Tests make new sessions all the time (each
    adapter, moto's own parsers, the worlds' clients), and parsing the models again dominated
    their run time. The loader holds parsed files only, no credentials or configuration."""
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.create_loader()
    loader._search_paths = _UniquePaths(loader.search_paths)
    botocore.session.create_loader = lambda search_path_string=None: loader


_share_botocore_loader()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """moto in decorator mode, with its KMS taught cross-account grants and its EC2 the default
    EBS key (tests/support)."""
    from moto import mock_aws

    from tests.support import moto_cross_account, moto_ebs_default_key

    moto_cross_account.install()
    moto_ebs_default_key.install()
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def _moto_server_session() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.support import moto_cross_account, moto_ebs_default_key

    moto_cross_account.install()
    moto_ebs_default_key.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(_moto_server_session: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's real HTTP server on loopback, reached through AWS_ENDPOINT_URL; reset per test."""
    import requests

    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server_session)
    yield _moto_server_session
    requests.post(f"{_moto_server_session}/moto-api/reset", timeout=10)
