"""Acceptance: a storm of distinct events for one (key, principal) through ``replay
--state-table``, 10 processes at a time against moto's server, is one incident: one key write
and at most two notifications (the decision, and at most one follow-up)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import boto3
import pytest

from remediator.adapters.dynamo import create_table
from tests.support.storm import run_storm
from tests.support.world import World

TABLE = "storm-state"


@pytest.mark.server
@pytest.mark.slow
def test_incident_storm_of_30_distinct_events_writes_once_and_notifies_at_most_twice(
    moto_server: str, tmp_path: Path
) -> None:
    # Given a group failing on a key, a state table and the operators' topic on the server
    world = World()
    create_table(boto3.client("dynamodb", region_name=world.region), TABLE)
    topic, inbox = world.notifications_topic()

    # When 30 distinct events (CloudTrail denials, EC2 state changes, Auto Scaling failures,
    # each with its own ids) are replayed, 10 processes at a time
    storm = run_storm(
        world,
        endpoint=moto_server,
        table=TABLE,
        topic=topic,
        inbox=inbox,
        workdir=tmp_path,
        count=30,
        parallel=10,
    )

    # Then every replay succeeded; one of them decided and wrote, the others joined it
    assert storm.errors == []
    assert storm.exit_codes == Counter({0: 30})
    assert storm.policy_writes == 1
    assert storm.outcomes == Counter({"remediated": 1, "folded": 29})
    # And the operators got one message for the incident (at most two are allowed)
    assert 1 <= len(storm.notifications) <= 2
    assert storm.notifications[0]["message"]["outcome"] == "remediated"
