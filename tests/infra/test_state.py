"""State: the DynamoDB table matches the engine's schema and keeps the audit trail safe."""

from __future__ import annotations

from typing import Any

import pytest

from remediator import state_schema
from tests.infra.conftest import Synthesized, synth


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    synthesized: Synthesized = synth()
    tables = synthesized.resources("AWS::DynamoDB::Table")
    assert len(tables) == 1
    return next(iter(tables.values()))


def test_state_table_schema_equals_state_schema(table: dict[str, Any]) -> None:
    # Given the synthesised table
    properties = table["Properties"]
    # When reading its keys and TTL
    # Then they are the engine's schema
    assert properties["KeySchema"] == state_schema.KEY_SCHEMA
    assert properties["AttributeDefinitions"] == state_schema.ATTRIBUTE_DEFINITIONS
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": state_schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }


def test_state_table_on_demand_recoverable_and_retained(table: dict[str, Any]) -> None:
    # Given the synthesised table
    properties = table["Properties"]
    # When reading billing, recovery and removal settings
    # Then it is on demand, point-in-time recoverable, protected and kept on stack deletion
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
