from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.pipeline import Remediator
from remediator.report import Report
from tests.support.world import World


@pytest.fixture
def world(moto_aws: None) -> Iterator[World]:
    yield World()


@pytest.fixture
def inbox(world: World) -> tuple[str, str]:
    """(topic ARN, SQS queue URL) of the operators' notification topic."""
    return world.notifications_topic()


Run = Callable[..., list[Report]]


@pytest.fixture
def run(world: World, inbox: tuple[str, str]) -> Run:
    """Run the engine on one event, against moto, with a config given as plain data."""

    def _run(event: dict[str, Any], config: dict[str, Any], **kwargs: Any) -> list[Report]:
        engine = Remediator(
            AwsAdapter(region=world.region), parse_config(config), topic_arn=inbox[0], **kwargs
        )
        return engine.handle(event)

    return _run


def allow(principals: list[str], keys: list[str], **extra: Any) -> dict[str, Any]:
    return {"mode": "enforce", "allow": {"principals": principals, "keys": keys}, **extra}


def default_policy(account: str) -> dict[str, Any]:
    """The policy moto (like KMS) gives a key created without one."""
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
