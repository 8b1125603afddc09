"""The report: the SNS message and subject, the CLI summary, and the outcome metric names."""

from __future__ import annotations

import json

import pytest

from remediator.outcomes import Outcome
from remediator.report import Report, summary

KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SLR_ARN = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def report(outcome: Outcome = Outcome.REMEDIATED, **fields: object) -> Report:
    base: dict[str, object] = {"key_arn": KEY_ARN, "principal_arn": SLR_ARN}
    return Report(outcome, "evt-1", "because", **{**base, **fields})  # type: ignore[arg-type]


def test_report_message_carries_every_documented_field() -> None:
    message = report(
        remedy="key-policy",
        instance_id="i-0123456789abcdef0",
        changes={"statements": []},
        undo={"cli": "aws kms put-key-policy ..."},
        trigger="KmsCallDenied",
        extra={"verification": "ListGrants is not allowed"},
        group_name="web-asg",
    ).message()
    assert message == {
        "outcome": "remediated",
        "event_id": "evt-1",
        "reason": "because",
        "trigger": "KmsCallDenied",
        "key_arn": KEY_ARN,
        "principal_arn": SLR_ARN,
        "remedy": "key-policy",
        "instance_id": "i-0123456789abcdef0",
        "changes": {"statements": []},
        "undo": {"cli": "aws kms put-key-policy ..."},
        "suggested_fix": None,
        "change_id": None,
        "group_name": "web-asg",
        "verification": "ListGrants is not allowed",
    }


def test_report_message_json_is_the_message() -> None:
    r = report(Outcome.REFUSED, suggested_fix={"key_policy_statements": [{"Sid": "x"}]})
    assert json.loads(r.message_json()) == r.message()
    assert json.loads(r.message_json())["outcome"] == "refused"


@pytest.mark.parametrize(
    ("outcome", "subject"),
    [
        (
            Outcome.REMEDIATED,
            "[kms-launch-remediator] KMS key 1234abcd-12ab now allows AWSServiceRoleForAutoScaling",
        ),
        (
            Outcome.ALREADY_ALLOWED,
            "[kms-launch-remediator] KMS key 1234abcd-12ab already allows AWSServiceRoleForAutoScaling",
        ),
        (
            Outcome.REFUSED,
            "[kms-launch-remediator] Not fixed: KMS key 1234abcd-12ab for AWSServiceRoleForAutoScaling",
        ),
        (
            Outcome.DRY_RUN,
            "[kms-launch-remediator] Would fix KMS key 1234abcd-12ab for AWSServiceRoleForAutoScaling",
        ),
        (
            Outcome.FAILED,
            "[kms-launch-remediator] FAILED to fix KMS key 1234abcd-12ab for AWSServiceRoleForAutoScaling",
        ),
        (Outcome.IGNORED, "[kms-launch-remediator] Ignored event"),
    ],
    ids=lambda v: str(v)[:20],
)
def test_report_subject_per_outcome(outcome: Outcome, subject: str) -> None:
    assert report(outcome).subject() == subject


def test_report_subject_without_key_or_principal() -> None:
    r = Report(Outcome.REFUSED, "evt-1", "no key")
    assert (
        r.subject()
        == "[kms-launch-remediator] Not fixed: KMS key unknown key for unknown principal"
    )


@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.value)
def test_report_subject_fits_sns_limit_for_longest_names(outcome: Outcome) -> None:
    long_role = "arn:aws:iam::111122223333:role/" + "R" * 64
    subject = report(outcome, principal_arn=long_role).subject()
    assert len(subject) <= 100
    assert "\n" not in subject


def test_report_summary_of_one_report_is_its_message() -> None:
    assert summary([report(Outcome.REFUSED)]) == report(Outcome.REFUSED).message()


@pytest.mark.parametrize(
    ("outcomes", "worst"),
    [
        ([Outcome.IGNORED, Outcome.ALREADY_ALLOWED], "already_allowed"),
        ([Outcome.ALREADY_ALLOWED, Outcome.DRY_RUN], "dry_run"),
        ([Outcome.REMEDIATED, Outcome.DRY_RUN], "remediated"),
        ([Outcome.REMEDIATED, Outcome.REFUSED], "refused"),
        ([Outcome.FAILED, Outcome.REFUSED, Outcome.REMEDIATED], "failed"),
    ],
    ids=[
        "already-over-ignored",
        "dry-run-over-already",
        "remediated-over-dry-run",
        "refused-over-remediated",
        "failed-over-all",
    ],
)
def test_report_summary_of_several_is_the_worst_with_all_results(
    outcomes: list[Outcome], worst: str
) -> None:
    reports = [report(o, key_arn=f"{KEY_ARN[:-1]}{i}") for i, o in enumerate(outcomes)]
    result = summary(reports)
    assert result["outcome"] == worst
    assert [r["outcome"] for r in result["results"]] == [o.value for o in outcomes]


@pytest.mark.parametrize(
    ("outcome", "metric"),
    [
        (Outcome.REMEDIATED, "Remediated"),
        (Outcome.ALREADY_ALLOWED, "AlreadyAllowed"),
        (Outcome.REFUSED, "Refused"),
        (Outcome.IGNORED, "Ignored"),
        (Outcome.DRY_RUN, "DryRun"),
        (Outcome.FAILED, "Failed"),
    ],
    ids=str,
)
def test_report_outcome_metric_names(outcome: Outcome, metric: str) -> None:
    assert outcome.metric_name == metric


def test_report_extra_fields_cannot_replace_core_fields() -> None:
    # Given a report whose extra details collide with core message fields
    from remediator.outcomes import Outcome
    from remediator.report import Report

    report = Report(
        Outcome.REFUSED, "evt-1", "not allowlisted", extra={"outcome": "remediated", "note": "x"}
    )

    # Then the message keeps the real outcome, and the extra detail that does not collide
    message = report.message()
    assert message["outcome"] == "refused"
    assert message["note"] == "x"
