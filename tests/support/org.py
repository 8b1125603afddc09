"""An AWS Organization inside moto's server, for ``make demo-org`` and the organization benchmark.

moto gives every account id its own backends. The hub's remediator runs with the emulator's
fake credentials, which moto places in its default account (``HUB``); it reaches a member
through STS AssumeRole of ``MEMBER_ROLE`` there, and moto puts the assumed session's calls in
that member's backends. The scenario is built by switching ``MOTO_ACCOUNT_ID`` (World.account);
while the hub runs it must be unset, so that moto takes each call's account from its
credentials.

Events are the real-shaped fixtures of tests/events, rewritten to a member account and region,
and handed to ``remediator.hub.handler`` as the hub's SQS queue would deliver them (moto rewrites
forwarded envelopes, so no emulated bus sits in between). The hub's JSON log lines are captured
to read each event's outcome (``event_handled``, logged under the event's id), and its metrics
output is kept off the terminal.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto.kms.models import kms_backends

from remediator import handler, hub
from remediator.permissions import (
    GRANT_WRITE_ACTIONS,
    KEY_DESCRIBE_ACTIONS,
    KEY_POLICY_WRITE_ACTIONS,
    KEY_READ_ACTIONS,
    MANAGED_POLICY_READ_ACTIONS,
    PRINCIPAL_READ_ACTIONS,
    UNSCOPED_READ_ACTIONS,
    grant_write_conditions,
)
from tests.support import sqs
from tests.support.lambda_context import FakeContext
from tests.support.org_checks import KeyState, Snapshot
from tests.support.world import (
    ACCOUNT,
    EVENTS_DIR,
    OTHER_ACCOUNT,
    REGION,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
)

HUB = "123456789012"  # moto's account for credentials it did not issue: the hub's own
MEMBER_ROLE = "KmsLaunchRemediatorMember"
HUB_ROLE_ARN = f"arn:aws:iam::{HUB}:role/KmsLaunchRemediatorHubFunctionRole"
BATCH_SIZE = 5  # the hub's event source mapping (README, Organization mode)
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{HUB}:KmsLaunchRemediatorHub-Queue"
SLR = "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
_KEY, _OWNER = "@KEY@", "@OWNER@"


def member_role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{MEMBER_ROLE}"


def slr_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:{SLR}"


def keys_of(account: str) -> str:
    return f"arn:aws:kms:*:{account}:key/*"


# --- the accounts ------------------------------------------------------------------------------


def member_role(world: World, account: str, keys: Sequence[str], principals: Sequence[str]) -> str:
    """The member role in ``account``, trusting the hub role, with the StackSet's permissions:
    the engine's declared reads, and the KMS writes on ``keys`` (CreateGrant conditioned as in
    the single-account role)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": HUB_ROLE_ARN},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    reads = (*UNSCOPED_READ_ACTIONS, *PRINCIPAL_READ_ACTIONS, *MANAGED_POLICY_READ_ACTIONS)
    permissions: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(reads), "Resource": "*"},
            {"Effect": "Allow", "Action": list(KEY_DESCRIBE_ACTIONS), "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [*KEY_READ_ACTIONS, *KEY_POLICY_WRITE_ACTIONS],
                "Resource": list(keys) or [f"arn:aws:kms:*:{account}:key/none"],
            },
        ],
    }
    if keys and principals:
        permissions["Statement"].append(
            {
                "Effect": "Allow",
                "Action": list(GRANT_WRITE_ACTIONS),
                "Resource": list(keys),
                "Condition": grant_write_conditions(principals),
            }
        )
    with world.account(account):
        iam = world.client("iam")
        arn: str = iam.create_role(
            RoleName=MEMBER_ROLE, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=MEMBER_ROLE, PolicyName="remediator", PolicyDocument=json.dumps(permissions)
        )
    return arn


def autoscaling_slr(world: World, account: str) -> str:
    with world.account(account):
        return world.autoscaling_slr()


# --- events ------------------------------------------------------------------------------------


def stable_uuid(*parts: str) -> str:
    """A UUID made from ``parts``, the same on every run."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def member_event(
    fixture: str, *, launcher: str, key_arn: str, region: str = REGION, label: str
) -> dict[str, Any]:
    """A fixture as account ``launcher`` would see it in ``region``, about ``key_arn``.

    The fixture's launching account (111122223333) becomes ``launcher``, its key-owner account
    (444455556666) the key's, its sample key ARN the key, and its ids (envelope id, eventID,
    requestID, sharedEventID) are made from ``label``."""
    text = (EVENTS_DIR / fixture).read_text()
    text = text.replace(SAMPLE_KEY_ARN, _KEY).replace(SAMPLE_OTHER_KEY_ARN, _KEY)
    text = text.replace(OTHER_ACCOUNT, _OWNER).replace(ACCOUNT, launcher)
    text = text.replace(REGION, region)
    text = text.replace(_OWNER, key_arn.split(":")[4]).replace(_KEY, key_arn)
    event: dict[str, Any] = json.loads(text)
    event["id"] = stable_uuid(label, "id")
    detail = event["detail"]
    if "eventID" in detail:
        detail["eventID"] = stable_uuid(label, "eventID")
        detail["requestID"] = stable_uuid(label, "requestID")
    if "sharedEventID" in detail:
        detail["sharedEventID"] = stable_uuid(label, "sharedEventID")
    return event


def owners_copy(event: dict[str, Any], label: str) -> dict[str, Any]:
    """The key owner's copy of a cross-account call: delivered in the key's account, with its
    own ids and the same ``sharedEventID`` (CloudTrail, "Cross-account events")."""
    copy: dict[str, Any] = json.loads(json.dumps(event))
    owner = copy["detail"]["requestParameters"]["keyId"].split(":")[4]
    copy["account"] = owner
    copy["id"] = stable_uuid(label, "id")
    copy["detail"]["recipientAccountId"] = owner
    copy["detail"]["eventID"] = stable_uuid(label, "eventID")
    return copy


def sqs_record(event: dict[str, Any]) -> dict[str, Any]:
    """One record of the hub queue's SQS event, carrying ``event`` as EventBridge writes it."""
    return sqs.sqs_record(f"m-{event['id']}", json.dumps(event), queue_arn=QUEUE_ARN, region=REGION)


# --- the hub -----------------------------------------------------------------------------------


@dataclass
class Hub:
    """``remediator.hub.handler`` with the environment the hub stack gives it."""

    config: dict[str, Any]
    topic_arn: str
    table: str | None
    handled: list[dict[str, Any]] = field(default_factory=list)  # event_handled log lines
    errors: dict[str, str] = field(default_factory=dict)  # message id -> why its record failed

    def __post_init__(self) -> None:
        os.environ["REMEDIATOR_CONFIG"] = json.dumps(self.config)
        os.environ["NOTIFY_TOPIC_ARN"] = self.topic_arn
        if self.table:
            os.environ["STATE_TABLE_NAME"] = self.table
        else:
            os.environ.pop("STATE_TABLE_NAME", None)
        os.environ.pop("MOTO_ACCOUNT_ID", None)  # the account of each call: its credentials
        handler.remediator.cache_clear()
        handler.pipeline.cache_clear()

    def deliver(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """The events in batches of ``BATCH_SIZE``; the message ids the handler reported failed."""
        failed: list[str] = []
        for start in range(0, len(events), BATCH_SIZE):
            batch = {"Records": [sqs_record(e) for e in events[start : start + BATCH_SIZE]]}
            with self._captured() as log:
                try:
                    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]
                except BatchProcessingError:
                    # Powertools raises when every record of a batch failed: Lambda then
                    # returns the whole batch to the queue.
                    ids = [r["messageId"] for r in batch["Records"]]
                    response = {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
            failed += [f["itemIdentifier"] for f in response["batchItemFailures"]]
            self.handled += [
                line for line in _json_lines(log.getvalue()) if line["message"] == "event_handled"
            ]
        return failed

    def outcomes(self, event_id: str) -> list[dict[str, Any]]:
        """What the engine logged for ``event_id`` (one line per report)."""
        return [line for line in self.handled if line.get("correlation_id") == event_id]

    @contextmanager
    def _captured(self) -> Iterator[io.StringIO]:
        """The hub's log lines into a buffer, its metrics output (printed) discarded, and why
        each failed record failed (powertools keeps it to itself: only the message id goes back
        to the queue)."""
        log = io.StringIO()
        stream = handler.logger.registered_handler
        assert isinstance(stream, logging.StreamHandler)
        previous_stream, previous_level = stream.setStream(log), handler.logger.log_level
        handler.logger.setLevel(logging.INFO)
        # The engine logs through the standard library's "remediator" loggers, which took the
        # level of the environment when the handler was imported (ERROR in the benchmark).
        engine_log = logging.getLogger("remediator")
        previous_engine_level = engine_log.level
        engine_log.setLevel(logging.INFO)
        saved, sys.stdout = sys.stdout, io.StringIO()
        record_handler = hub.record_handler

        def recorded(record: Any, lambda_context: Any = None) -> Any:
            try:
                return record_handler(record, lambda_context)
            except Exception as err:
                self.errors[record.message_id] = f"{type(err).__name__}: {err}"
                raise

        hub.record_handler = recorded  # type: ignore[assignment]
        try:
            yield log
        finally:
            hub.record_handler = record_handler  # type: ignore[assignment]
            sys.stdout = saved
            stream.setStream(previous_stream)
            handler.logger.setLevel(previous_level)
            engine_log.setLevel(previous_engine_level)


def _json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                yield parsed


# --- the state of every key --------------------------------------------------------------------


def snapshot() -> Snapshot:
    """Every key's policy and grants, in every account and region the emulator holds, read from
    its backends (no call, so nothing is recorded and nothing is slow)."""
    found: dict[str, KeyState] = {}
    for regions in list(kms_backends.values()):
        for backend in list(regions.values()):
            for stored in list(backend.keys.values()):
                grants = frozenset(
                    (g.grantee_principal, frozenset(g.operations)) for g in stored.grants.values()
                )
                found[stored.arn] = KeyState(json.loads(stored.policy), grants)
    return found
