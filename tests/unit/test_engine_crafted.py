"""Crafted events (issue 5) through the whole pipeline, with a fake AWS and an allowlist that
WOULD permit the change for the genuine event: each must be refused with a reason and no write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from remediator.config import parse_config
from remediator.outcomes import Outcome
from remediator.pipeline import Remediator
from tests.support.allowlists import every_principal_of
from tests.support.world import load_event
from tests.unit.fakes import TOPIC_ARN, RecordingAws, WriteAttempted

CASE5 = "case5_user_start_instances_create_grant.json"  # IAMUser ops-alice, same-account key
CASE6 = "case6_saas_scheduler_role_create_grant.json"  # AssumedRole SaaSSchedulerRole
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECOND_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
US_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CONFIG = parse_config(
    {
        "mode": "enforce",
        "allow": {
            "principals": every_principal_of("111122223333"),
            "keys": ["arn:aws:kms:*:111122223333:key/*"],
        },
    }
)
Mutation = Callable[[dict[str, Any]], None]


def handle(event: dict[str, Any]) -> tuple[RecordingAws, list[Any]]:
    aws = RecordingAws()
    reports = Remediator(aws, CONFIG, topic_arn=TOPIC_ARN).handle(event)
    return aws, reports


@pytest.mark.parametrize("name", [CASE5, CASE6], ids=["case5-user", "case6-assumed-role"])
def test_engine_genuine_event_would_write_under_this_allowlist(name: str) -> None:
    # The control: without tampering, the same event and allowlist lead to a key-policy write
    # (which the fake refuses), so each refusal below is due to the crafted field.
    with pytest.raises(WriteAttempted, match="put_key_policy"):
        handle(load_event(name))


def issuer(arn: object) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = arn

    return mutate


def key_everywhere(arn: str) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        detail = event["detail"]
        detail["requestParameters"]["keyId"] = arn
        detail["resources"][0]["ARN"] = arn
        detail["errorMessage"] = (
            f"User: x is not authorized to perform: kms:CreateGrant on resource: {arn}"
        )

    return mutate


def detail_field(**fields: object) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        event["detail"].update(fields)

    return mutate


def request_key(key_id: str) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        event["detail"]["requestParameters"]["keyId"] = key_id

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(event)

    return mutate


@pytest.mark.parametrize(
    ("name", "mutate", "reason"),
    [
        (CASE6, issuer("arn:aws:iam::111122223333:role/*"), "contains a wildcard"),
        (CASE6, issuer("arn:aws:iam::111122223333:role/SaaS*"), "contains a wildcard"),
        (CASE6, issuer("arn:aws:iam::111122223333:role/SaaS?chedulerRole"), "contains a wildcard"),
        (CASE6, issuer("arn:aws:iam::999988887777:role/SaaSSchedulerRole"), "allow.principals"),
        (
            CASE6,
            issuer("arn:aws:iam::111122223333:role/SaaS SchedulerRole"),
            "characters IAM does not allow",
        ),
        (
            CASE6,
            issuer('arn:aws:iam::111122223333:role/SaaS"Role'),
            "characters IAM does not allow",
        ),
        (
            CASE6,
            issuer("arn:aws:iam::111122223333:role/SaaS\u00c9Role"),
            "characters IAM does not allow",
        ),
        (
            CASE6,
            issuer("arn:aws:iam::111122223333:role/SaaS\u202eRole"),
            "characters IAM does not allow",
        ),
        (
            CASE6,
            issuer("arn:aws:sts::111122223333:assumed-role/SaaSSchedulerRole/vendor-session"),
            "is a session",
        ),
        (CASE6, issuer("arn:aws:iam::111122223333:role/" + "R" * 3000), "longer than any IAM ARN"),
        (
            CASE5,
            lambda e: e["detail"].update(
                userIdentity={"type": "AWSAccount", "accountId": "999988887777"}
            ),
            "names only account",
        ),
        (
            CASE5,
            detail_field(
                errorMessage=f"User: x is not authorized to perform: kms:CreateGrant on resource: {SECOND_KEY_ARN}"
            ),
            "the event names different keys",
        ),
        (
            CASE5,
            lambda e: e["detail"]["resources"][0].update(ARN=SECOND_KEY_ARN),
            "the event names different keys",
        ),
        (CASE5, request_key(SECOND_KEY_ARN), "the event names different keys"),
        (
            CASE5,
            request_key("0987dcba-09fe-87dc-65ba-ab0987654321"),
            "not to the key the event names",
        ),
        (
            CASE5,
            both(key_everywhere(SECOND_KEY_ARN), request_key("alias/ebs-launch")),
            "not to the key the event names",
        ),
        (
            CASE5,
            key_everywhere(US_KEY_ARN),
            "the key is in us-east-1, not in the event's region eu-west-1",
        ),
        (CASE5, detail_field(awsRegion="us-east-1"), "detail.awsRegion differs"),
        (CASE5, lambda e: e.update(region="us-east-1"), "detail.awsRegion differs"),
        (CASE5, detail_field(errorMessage="x" * 5000), "errorMessage is longer"),
        (CASE5, request_key("alias/" + "a" * 3000), "requestParameters.keyId"),
        (CASE5, request_key("arn:aws:kms:eu-west-1:111122223333:key/*"), "requestParameters.keyId"),
        (
            CASE5,
            lambda e: e["detail"]["resources"][0].update(
                ARN="arn:aws:kms:eu-west-1:111122223333:key/*"
            ),
            "resources[] names a malformed key ARN",
        ),
    ],
    ids=[
        "wildcard-principal",
        "partial-wildcard-principal",
        "question-mark-principal",
        "principal-in-non-allowlisted-account",
        "principal-with-space",
        "principal-with-quote",
        "principal-with-unicode",
        "principal-with-bidi-override",
        "principal-is-sts-session",
        "oversized-principal",
        "aws-account-identity",
        "message-names-another-key",
        "resources-name-another-key",
        "request-names-another-key",
        "key-id-of-another-key",
        "alias-resolving-to-another-key",
        "key-in-another-region",
        "aws-region-differs",
        "event-region-differs",
        "oversized-error-message",
        "oversized-key-id",
        "wildcard-key-id",
        "wildcard-resource-key",
    ],
)
def test_engine_crafted_event_is_refused_without_write(
    name: str, mutate: Mutation, reason: str
) -> None:
    # Given a genuine event with one crafted field
    event = load_event(name)
    mutate(event)
    # When the pipeline handles it with an allowlist that would permit the genuine change
    aws, reports = handle(event)
    # Then it is refused with the reason, notified once, and nothing is written
    assert [r.outcome for r in reports] == [Outcome.REFUSED]
    assert reason in reports[0].reason
    assert aws.writes == []
    assert [args[3] for args in aws.published] == ["refused"]


def test_engine_principal_with_trailing_newline_is_refused_without_write() -> None:
    event = load_event(CASE5)
    event["detail"]["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/ops-alice\n"
    aws, reports = handle(event)
    assert [r.outcome for r in reports] == [Outcome.REFUSED]
    assert aws.writes == []


def test_engine_event_account_with_trailing_newline_is_not_acted_on() -> None:
    event = load_event(CASE5)
    event["account"] = "111122223333\n"
    aws, reports = handle(event)
    assert [r.outcome for r in reports] in ([Outcome.IGNORED], [Outcome.REFUSED])
    assert aws.writes == []
