"""Incidents with a state table (moto): one decision, one write and one notification for the
events of one (key, principal) pair within the window, whatever their kind and ids; a decision
again only when the key policy changed; takeover of failed or abandoned decisions; one summary
when the window closed; and without a state table, every event decided as before."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator import cli
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState, create_table
from remediator.adapters.incidents import DynamoIncidents
from remediator.config import parse_config
from remediator.incidents import Opened, Status
from remediator.outcomes import Outcome
from remediator.pipeline import RemediationFailed, Remediator
from remediator.ports import AwsError
from remediator.report import Report
from tests.support.storm import counting_policy_writes
from tests.support.world import SAMPLE_INSTANCE_ID, SAMPLE_KEY_ARN, World, load_event

TABLE = "incident-state"
DENIAL = "case1_asg_slr_create_grant_access_denied.json"
WINDOW = 15 * 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pair(world: World) -> dict[str, Any]:
    """The Auto Scaling role failing on a key (CloudTrail denials), the table and the topic."""
    slr, key = world.autoscaling_slr(), world.key()
    dynamodb = boto3.client("dynamodb", region_name=world.region)
    create_table(dynamodb, TABLE)
    topic, inbox = world.notifications_topic()
    config = {"mode": "enforce", "allow": {"principals": [slr], "keys": [key]}}
    return {
        "slr": slr,
        "key": key,
        "dynamodb": dynamodb,
        "topic": topic,
        "inbox": inbox,
        "config": config,
        "clock": Clock(),
    }


@pytest.fixture
def group(world: World, pair: dict[str, Any]) -> dict[str, Any]:
    """The pair, and an Auto Scaling group whose instance failed on the key (EC2 and Auto
    Scaling events; moto's EC2 costs seconds, so only where those events are needed)."""
    world.autoscaling_group(world.launch_template(pair["key"]))
    pair["instance"] = world.failed_instance(pair["key"], group="web-asg")
    return pair


def engine(
    pair: dict[str, Any], *, incidents: bool = True, session: Any = None, dynamodb: Any = None
) -> Remediator:
    dynamodb = dynamodb or pair["dynamodb"]
    store = DynamoIncidents(TABLE, dynamodb, clock=pair["clock"]) if incidents else None
    return Remediator(
        AwsAdapter(region="eu-west-1", session=session),
        parse_config(pair["config"]),
        topic_arn=pair["topic"],
        state=DynamoState(TABLE, client=dynamodb),
        incidents=store,
        state_table_name=TABLE,
    )


def denial(pair: dict[str, Any], n: int) -> dict[str, Any]:
    event = load_event(DENIAL, {SAMPLE_KEY_ARN: pair["key"]})
    event["id"], event["detail"]["eventID"] = f"evt-{n}", f"ct-{n}"
    return event


def state_change(pair: dict[str, Any], n: int) -> dict[str, Any]:
    event = load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: pair["instance"]})
    event["id"] = f"ec2-{n}"
    return event


def group_failure(pair: dict[str, Any], n: int) -> dict[str, Any]:
    event = load_event(
        "asg_launch_unsuccessful_client_internal_error.json",
        {SAMPLE_INSTANCE_ID: pair["instance"]},
    )
    event["id"], event["detail"]["ActivityId"] = f"asg-{n}", f"activity-{n}"
    return event


def outcomes(reports: list[Report]) -> list[str]:
    return [r.outcome.value for r in reports]


def incident_item(pair: dict[str, Any]) -> Any:
    [found] = DynamoIncidents(TABLE, pair["dynamodb"]).incidents(pair["key"])
    return found


def test_incidents_events_of_one_pair_are_decided_written_and_notified_once(
    world: World, group: dict[str, Any]
) -> None:
    pair = group
    # Given an engine with a state table, When three kinds of events arrive for one pair
    remediator = engine(pair)
    with counting_policy_writes() as puts:
        reports = [
            *remediator.handle(denial(pair, 1)),
            *remediator.handle(state_change(pair, 2)),
            *remediator.handle(group_failure(pair, 3)),
        ]

    # Then the first decided and wrote; the others joined it: no write, no notification
    assert outcomes(reports) == ["remediated", "folded", "folded"]
    assert len(puts) == 1
    assert [n["message"]["outcome"] for n in world.received(pair["inbox"])] == ["remediated"]
    incident = incident_item(pair)
    assert (incident.events, incident.status, incident.outcome) == (3, Status.DECIDED, "remediated")
    assert dict(incident.triggers) == {
        "KmsCallDenied": 1,
        "InstanceLaunchFailed": 1,
        "AsgLaunchFailed": 1,
    }
    assert incident.change_id == reports[0].change_id
    assert reports[2].extra["incident"]["events"] == 3
    assert "event 3" in reports[2].reason


def test_incidents_without_state_table_every_event_is_decided_as_before(
    world: World, group: dict[str, Any]
) -> None:
    pair = group
    # Given no incident store, When the same three events arrive
    remediator = engine(pair, incidents=False)
    reports = [
        *remediator.handle(denial(pair, 1)),
        *remediator.handle(state_change(pair, 2)),
        *remediator.handle(group_failure(pair, 3)),
    ]

    # Then each is decided and notified, as before incidents
    assert outcomes(reports) == ["remediated", "already_allowed", "already_allowed"]
    assert len(world.received(pair["inbox"])) == 3


def test_incidents_joining_event_makes_one_table_call_and_one_policy_read(
    world: World, pair: dict[str, Any]
) -> None:
    # Given an incident decided by a first denial, and the calls of the next one counted
    engine(pair).handle(denial(pair, 1))
    calls: Counter[str] = Counter()
    session = boto3.Session(region_name="eu-west-1")
    session.events.register(
        "before-call.*.*",
        lambda model, **_: calls.update([f"{model.service_model.signing_name}:{model.name}"]),
    )

    # When a second denial with other ids arrives
    [report] = engine(pair, session=session, dynamodb=session.client("dynamodb")).handle(
        denial(pair, 2)
    )

    # Then it joined with one conditional update, and re-read the key policy once
    assert report.outcome is Outcome.FOLDED
    assert calls == Counter({"dynamodb:UpdateItem": 1, "kms:GetKeyPolicy": 1})


def test_incidents_joining_event_decides_again_when_the_tools_statements_are_gone(
    world: World, pair: dict[str, Any]
) -> None:
    # Given a remediated incident, and then someone restoring the key policy as it was
    before = world.policy(pair["key"])
    [first] = engine(pair).handle(denial(pair, 1))
    world.set_policy(pair["key"], before)

    # When the next event of the pair arrives
    with counting_policy_writes() as puts:
        [again] = engine(pair).handle(denial(pair, 2))

    # Then it decided again, wrote again and notified
    assert (first.outcome, again.outcome) == ("remediated", "remediated")
    assert len(puts) == 1
    assert len(world.received(pair["inbox"])) == 2
    assert incident_item(pair).change_id == again.change_id


def test_incidents_changed_policy_that_still_allows_is_not_notified(
    world: World, pair: dict[str, Any]
) -> None:
    # Given a remediated incident, and then an unrelated statement added to the key policy
    engine(pair).handle(denial(pair, 1))
    policy = world.policy(pair["key"])
    policy["Statement"].append(
        {
            "Sid": "SomeoneElse",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/Other"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    world.set_policy(pair["key"], policy)

    # When two more events arrive
    reports = [*engine(pair).handle(denial(pair, 2)), *engine(pair).handle(denial(pair, 3))]

    # Then the first decided again (still allowed, nothing new), quietly; the second joined
    assert outcomes(reports) == ["folded", "folded"]
    assert "decided again since the key policy changed" in reports[0].reason
    assert "decided again" not in reports[1].reason
    assert len(world.received(pair["inbox"])) == 1


def test_incidents_closed_window_opens_a_new_incident_with_one_summary(
    world: World, pair: dict[str, Any]
) -> None:
    # Given an incident that three more events joined
    remediator = engine(pair)
    for n in range(4):
        remediator.handle(denial(pair, n))
    world.received(pair["inbox"])  # the decision's notification

    # When the window has closed and two more events arrive
    pair["clock"].now += WINDOW + 1
    later = [*remediator.handle(denial(pair, 5)), *remediator.handle(denial(pair, 6))]

    # Then the first opened a new incident and was decided; the closed one got one summary
    assert outcomes(later) == ["already_allowed", "folded"]
    notes = world.received(pair["inbox"])
    summaries = [n for n in notes if n["message"].get("summary")]
    assert len(summaries) == 1
    assert summaries[0]["subject"].startswith("[kms-launch-remediator] Summary: 4 events")
    assert summaries[0]["message"]["incident"]["events"] == 4
    assert summaries[0]["attributes"]["outcome"] == "remediated"
    assert [n["message"]["outcome"] for n in notes if not n["message"].get("summary")] == [
        "already_allowed"
    ]
    assert incident_item(pair).events == 2


def test_incidents_failed_decision_is_decided_again_by_the_next_event(
    world: World, pair: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first event's write does not hold (KMS accepts it, the read-back lacks it)
    original = AwsAdapter.put_key_policy
    monkeypatch.setattr(AwsAdapter, "put_key_policy", lambda self, key_arn, text: None)
    with pytest.raises(RemediationFailed):
        engine(pair).handle(denial(pair, 1))
    assert incident_item(pair).status is Status.FAILED

    # When the next event of the pair arrives and KMS behaves
    monkeypatch.setattr(AwsAdapter, "put_key_policy", original)
    reports = engine(pair).handle(denial(pair, 2))

    # (and the first attempt's intent is settled by recovery, reported apart)
    [report] = [r for r in reports if r.trigger != "Recovery"]

    # Then it decided, and fixed the key
    assert report.outcome is Outcome.REMEDIATED
    assert incident_item(pair).status is Status.DECIDED


def test_incidents_abandoned_decision_is_taken_over_after_its_lease(
    world: World, pair: dict[str, Any]
) -> None:
    # Given an incident opened by an invocation that died before it settled
    store = DynamoIncidents(TABLE, pair["dynamodb"], clock=pair["clock"])
    opened = store.open(
        pair["key"],
        pair["slr"],
        event_id="died",
        trigger="KmsCallDenied",
        window_seconds=WINDOW,
        lease_seconds=150,
    )
    assert isinstance(opened, Opened)

    # When an event arrives within the lease, and another one after it
    [within] = engine(pair).handle(denial(pair, 1))
    pair["clock"].now += 151
    [after] = engine(pair).handle(denial(pair, 2))

    # Then the first joined (the incident is being decided), the second took it over
    assert within.outcome is Outcome.FOLDED
    assert "being decided by another event" in within.reason
    assert after.outcome is Outcome.REMEDIATED


def test_incidents_retry_of_the_deciding_event_decides(world: World, pair: dict[str, Any]) -> None:
    # Given an incident opened by event evt-1, which has not settled (its invocation timed out)
    DynamoIncidents(TABLE, pair["dynamodb"], clock=pair["clock"]).open(
        pair["key"],
        pair["slr"],
        event_id="evt-1",
        trigger="KmsCallDenied",
        window_seconds=WINDOW,
        lease_seconds=150,
    )

    # When Lambda retries evt-1 within the lease
    [report] = engine(pair).handle(denial(pair, 1))

    # Then the retry decides (it owns the incident) instead of joining it
    assert report.outcome is Outcome.REMEDIATED


def test_incidents_store_that_cannot_answer_leaves_every_event_decided(
    world: World, pair: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store whose calls fail
    def unavailable(self: DynamoIncidents, *args: Any, **kwargs: Any) -> Any:
        raise AwsError("dynamodb:UpdateItem", "InternalServerError", "unavailable")

    monkeypatch.setattr(DynamoIncidents, "open", unavailable)

    # When two events of the pair arrive
    reports = [*engine(pair).handle(denial(pair, 1)), *engine(pair).handle(denial(pair, 2))]

    # Then both are decided (a write happens once, under the lock), as without incidents
    assert outcomes(reports) == ["remediated", "already_allowed"]


def test_incidents_replay_with_state_table_folds_the_second_event(
    world: World,
    pair: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two distinct events of one pair in files, and the configuration in the environment
    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(pair["config"]))
    files = []
    for n, event in enumerate((denial(pair, 1), denial(pair, 2))):
        path = tmp_path / f"event-{n}.json"
        path.write_text(json.dumps(event))
        files.append(str(path))

    # When both are replayed with the state table
    codes, printed = [], []
    for path in files:
        codes.append(cli.main(["replay", path, "--state-table", TABLE]))
        printed.append(json.loads(capsys.readouterr().out))

    # Then the second joined the first's incident, and both exited 0
    assert codes == [0, 0]
    assert [p["outcome"] for p in printed] == ["remediated", "folded"]
    assert printed[1]["incident"]["events"] == 2

    # And history shows the change and the incident
    assert cli.main(["history", "--key", pair["key"], "--state-table", TABLE]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in shown["records"]] == ["in place"]
    assert [i["events"] for i in shown["incidents"]] == [2]


def test_incidents_the_lambda_handler_folds_a_later_event_of_the_pair(
    world: World,
    pair: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the Lambda's environment as the stack sets it, with its state table
    from remediator import handler
    from tests.support.lambda_context import FakeContext

    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(pair["config"]))
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", pair["topic"])
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()

    # When two distinct events of the pair arrive
    try:
        first = handler.handler(denial(pair, 1), FakeContext())  # type: ignore[arg-type]
        second = handler.handler(denial(pair, 2), FakeContext())  # type: ignore[arg-type]
    finally:
        handler.remediator.cache_clear()
        handler.pipeline.cache_clear()

    # Then the second joined the first's incident: counted as Folded, not notified
    assert (first["outcome"], second["outcome"]) == ("remediated", "folded")
    assert len(world.received(pair["inbox"])) == 1
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = [m["Name"] for blob in emitted for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names.count("Folded") == 1
    assert first["undo"]["rollback"].endswith(
        f"--state-table {TABLE} --region eu-west-1 --change-id {first['change_id']}"
    )
