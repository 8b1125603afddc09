"""Notifications as SNS sends them: one Publish with MessageStructure=json, whose ``default``
(SQS, Lambda, HTTPS) is the report's JSON and whose ``email`` is the text people read; the
``outcome`` attribute stays for subscription filters."""

from __future__ import annotations

import json

from moto.sns.models import sns_backends

from tests.integration.conftest import Run, allow
from tests.support.world import ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE5 = "case5_user_start_instances_create_grant.json"


def test_notification_has_json_for_machines_and_text_for_people(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given case 5 allowed, When the failure event is handled
    key, user = world.key(), world.user()
    [report] = run(load_event(CASE5, {SAMPLE_KEY_ARN: key}), allow([user], [key]))

    # Then the SQS subscriber got the report's JSON message, and the outcome attribute
    [received] = world.received(inbox[1])
    assert received["message"] == json.loads(report.message_json())
    assert received["attributes"] == {"outcome": "remediated"}

    # And the published message has one text per protocol: JSON by default, text for email
    topic = sns_backends[ACCOUNT][world.region].topics[inbox[0]]
    [(_, published, subject, _, _)] = topic.sent_notifications
    structure = json.loads(published)
    assert set(structure) == {"default", "email"}
    assert json.loads(structure["default"]) == received["message"]
    email = structure["email"]
    assert email.startswith("An EC2 launch failed on a KMS key, and the remediator fixed the key.")
    assert f"  key        {key}" in email
    assert "+ statement KmsLaunchRemediatorAttach: Allow kms:CreateGrant" in email
    assert "aws kms put-key-policy" in email
    assert "console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys/" in email
    assert not email.lstrip().startswith("{")
    assert subject == report.subject()
