"""Incidents, the pure part: the policy digest, when a joining event decides again, what it
reports, and the one follow-up summary of a closed incident."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from remediator.incidents import (
    Incident,
    Opened,
    Status,
    joined_result,
    needs_decision_again,
    policy_digest,
    quiet_again,
    settled_status,
    summary,
)
from remediator.outcomes import Outcome

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SLR = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}
DECIDED = Incident(
    key_arn=KEY,
    principal_arn=SLR,
    opened_at=1_800_000_000.0,
    closes_at=1_800_000_900.0,
    owner_event="evt-1",
    status=Status.DECIDED,
    lease_until=1_800_000_150.0,
    events=4,
    last_seen=1_800_000_300.0,
    triggers={"KmsCallDenied": 2, "InstanceLaunchFailed": 1, "AsgLaunchFailed": 1},
    outcome="remediated",
    policy_digest=policy_digest(json.dumps(POLICY)),
    change_id="c-1",
)


def test_policy_digest_ignores_whitespace_and_key_order() -> None:
    # Given the same policy rendered two ways (KMS may return either)
    compact = json.dumps(POLICY, separators=(",", ":"))
    reordered = json.dumps(dict(reversed(list(POLICY.items()))), indent=4)

    # Then their digests are equal, and differ from another policy's
    assert policy_digest(compact) == policy_digest(reordered)
    other = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Action": "kms:Decrypt"}]}  # type: ignore[dict-item]
    assert policy_digest(json.dumps(other)) != policy_digest(compact)


def test_policy_digest_of_text_that_is_no_policy_is_still_a_digest() -> None:
    assert policy_digest("not json") == policy_digest("not json") != policy_digest("other")


@pytest.mark.parametrize(
    ("incident", "current", "expected"),
    [
        (DECIDED, DECIDED.policy_digest, False),
        (DECIDED, "changed", True),
        (DECIDED, None, False),
        (replace(DECIDED, policy_digest=None), "changed", False),
        (replace(DECIDED, status=Status.DECIDING), "changed", False),
        (replace(DECIDED, status=Status.FAILED), "changed", False),
    ],
    ids=["same", "changed", "unread-now", "never-read", "being-decided", "failed"],
)
def test_incidents_needs_decision_again_only_when_a_read_policy_changed(
    incident: Incident, current: str | None, expected: bool
) -> None:
    assert needs_decision_again(incident, current) is expected


@pytest.mark.parametrize(
    ("again", "outcome", "previous", "quiet"),
    [
        (True, Outcome.ALREADY_ALLOWED, "remediated", True),
        (True, Outcome.ALREADY_ALLOWED, "already_allowed", True),
        (True, Outcome.ALREADY_ALLOWED, "refused", False),
        (True, Outcome.REMEDIATED, "remediated", False),
        (True, Outcome.REFUSED, "remediated", False),
        (False, Outcome.ALREADY_ALLOWED, "remediated", False),
    ],
)
def test_incidents_quiet_again_only_for_a_redecision_that_finds_nothing_new(
    again: bool, outcome: Outcome, previous: str, quiet: bool
) -> None:
    assert quiet_again(Opened(DECIDED, again=again), outcome, previous) is quiet


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(Outcome.FAILED, Status.FAILED), (Outcome.REMEDIATED, Status.DECIDED)]
    + [(o, Status.DECIDED) for o in (Outcome.REFUSED, Outcome.ALREADY_ALLOWED, Outcome.DRY_RUN)],
)
def test_incidents_settled_status_reopens_only_failures(outcome: Outcome, status: Status) -> None:
    assert settled_status(outcome) is status


def test_incidents_joined_result_is_folded_and_says_which_incident() -> None:
    result = joined_result(DECIDED)
    assert result.outcome is Outcome.FOLDED
    assert "opened at 2027-01-15T08:00:00Z by event evt-1 (decided remediated)" in result.reason
    assert "this is its event 4" in result.reason
    assert "before 2027-01-15T08:15:00Z" in result.reason
    assert result.change_id == "c-1"
    assert result.extra["incident"]["events_by_trigger"] == {
        "AsgLaunchFailed": 1,
        "InstanceLaunchFailed": 1,
        "KmsCallDenied": 2,
    }


def test_incidents_joined_result_of_an_incident_being_decided() -> None:
    deciding = replace(DECIDED, status=Status.DECIDING, outcome=None)
    assert "being decided by another event" in joined_result(deciding).reason


def test_incidents_summary_only_for_a_closed_incident_that_events_joined() -> None:
    assert summary(None) is None
    assert summary(replace(DECIDED, events=1, triggers={"KmsCallDenied": 1})) is None


def test_incidents_summary_says_how_many_events_of_which_kind_and_the_decision() -> None:
    found = summary(DECIDED)
    assert found is not None
    assert found.subject == (
        "[kms-launch-remediator] Summary: 4 events, KMS key 1234abcd-12ab, "
        "AWSServiceRoleForAutoScaling"
    )
    assert found.outcome == "remediated"
    assert found.message["summary"] is True
    assert found.message["incident"]["events"] == 4
    assert "3 more events joined the incident" in found.message["reason"]
    assert "1 Auto Scaling launch failures, 1 EC2 instance state changes, 2 denied KMS calls" in (
        found.text
    )
    assert "decision   remediated, by event evt-1 (change c-1)" in found.text
    assert len(found.subject) <= 100
