"""Per-account AWS access (organization mode): own credentials in the engine's own account, the
member role everywhere else, one session per account and event, against moto.

moto gives every account id its own backends and takes the account from the credentials (once
MOTO_ACCOUNT_ID is unset), so an assumed role's calls land in that account's backends; it
evaluates no trust policy, which the infra tests assert in the member template instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediator.adapters.accounts import (
    MAX_SESSION_NAME_LENGTH,
    SESSION_NAME_PREFIX,
    AccountSessions,
    member_role_arn,
    session_name,
)
from remediator.ports import AccessDenied, Rejected

# moto's account for the fake credentials when MOTO_ACCOUNT_ID is unset: the engine's own.
HUB = "123456789012"
MEMBER_A = "111122223333"
MEMBER_K = "444455556666"
ROLE = "KmsLaunchRemediatorMember"
EVENT = "7f3c2a9e-5d1b-4c8e-9a6f-0b1c2d3e4f50"
OTHER_EVENT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
REGION = "eu-west-1"


@pytest.fixture
def organization(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with accounts taken from the credentials, as AssumeRole gives them."""
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    yield


def recording_session(assumed: list[dict[str, Any]]) -> boto3.Session:
    """The engine's own session, recording the parameters of every AssumeRole it makes."""
    session = boto3.Session(region_name=REGION)

    def record(params: dict[str, Any], **_: Any) -> None:
        assumed.append(params["body"])

    session.events.register("before-call.sts.AssumeRole", record)
    return session


def _role_arns(assumed: list[dict[str, Any]]) -> list[str]:
    return [str(body["RoleArn"]) for body in assumed]


# --- the session name and the role ARN -----------------------------------------------------


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        (EVENT, SESSION_NAME_PREFIX + EVENT),
        ("a b/c:d#e", SESSION_NAME_PREFIX + "a-b-c-d-e"),
        ("x+y=z,w.v@u_t-s", SESSION_NAME_PREFIX + "x+y=z,w.v@u_t-s"),
        ("événement", SESSION_NAME_PREFIX + "-v-nement"),
        ("", SESSION_NAME_PREFIX + "unknown-event"),
        ("e" * 100, (SESSION_NAME_PREFIX + "e" * 100)[:MAX_SESSION_NAME_LENGTH]),
    ],
    ids=["uuid", "disallowed-characters", "every-allowed-symbol", "non-ascii", "empty", "long"],
)
def test_accounts_session_name_carries_the_event_id_within_sts_rules(
    event_id: str, expected: str
) -> None:
    # Given an event id, When naming the session, Then STS's characters and length hold
    name = session_name(event_id)
    assert name == expected
    assert 2 <= len(name) <= MAX_SESSION_NAME_LENGTH
    assert all(c.isascii() and (c.isalnum() or c in "+=,.@_-") for c in name)


def test_accounts_member_role_arn_is_partition_aware() -> None:
    assert member_role_arn("aws", MEMBER_K, ROLE) == f"arn:aws:iam::{MEMBER_K}:role/{ROLE}"
    assert member_role_arn("aws-cn", MEMBER_K, ROLE) == f"arn:aws-cn:iam::{MEMBER_K}:role/{ROLE}"


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_accounts_assume_the_member_role_in_the_engines_partition(
    region: str, partition: str
) -> None:
    # Given the engine in a region of each partition, its STS client stubbed
    sessions = AccountSessions(member_role=ROLE, region=region)
    sts = boto3.Session(region_name=region).client("sts")
    sessions.own().clients["sts"] = sts
    stub = Stubber(sts)
    stub.add_response(
        "get_caller_identity",
        {"Account": HUB, "Arn": f"arn:{partition}:sts::{HUB}:assumed-role/hub/x", "UserId": "x"},
    )
    stub.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": datetime.now(UTC) + timedelta(hours=1),
            }
        },
        {
            "RoleArn": f"arn:{partition}:iam::{MEMBER_K}:role/{ROLE}",
            "RoleSessionName": session_name(EVENT),
        },
    )
    # When asking for the member account's adapter
    with stub:
        adapter = sessions.adapter(MEMBER_K, event_id=EVENT)
    # Then the role ARN names the engine's partition, the account and the role name
    stub.assert_no_pending_responses()
    assert adapter.account_id() == MEMBER_K


# --- which credentials, against moto -------------------------------------------------------


def test_accounts_own_account_uses_the_engines_own_credentials(organization: None) -> None:
    # Given the engine with a member role, in its own account (from GetCallerIdentity)
    assumed: list[dict[str, Any]] = []
    sessions = AccountSessions(member_role=ROLE, session=recording_session(assumed), region=REGION)
    # When asking for the adapter of its own account
    adapter = sessions.adapter(HUB, event_id=EVENT)
    # Then it is the engine's own, with no role assumed, acting in its own account
    assert adapter is sessions.own()
    assert assumed == []
    assert adapter.account_id() == HUB
    assert sessions.own_account() == HUB


def test_accounts_other_account_is_reached_through_the_member_role(organization: None) -> None:
    # Given the engine with a member role
    assumed: list[dict[str, Any]] = []
    sessions = AccountSessions(member_role=ROLE, session=recording_session(assumed), region=REGION)
    # When asking for another account's adapter for an event
    adapter = sessions.adapter(MEMBER_K, event_id=EVENT)
    identity = adapter.client("sts").get_caller_identity()
    # Then the member role of that account was assumed, under the event's session name
    assert _role_arns(assumed) == [f"arn:aws:iam::{MEMBER_K}:role/{ROLE}"]
    assert assumed[0]["RoleSessionName"] == session_name(EVENT)
    assert identity["Account"] == MEMBER_K
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER_K}:assumed-role/{ROLE}/{session_name(EVENT)}"
    assert adapter.account_id() == MEMBER_K


def test_accounts_member_calls_land_in_the_members_backends_only(organization: None) -> None:
    # Given a key created in each of two members and one in the engine's own account
    sessions = AccountSessions(member_role=ROLE, region=REGION)
    made = {
        account: sessions.adapter(account, event_id=EVENT)
        .client("kms")
        .create_key()["KeyMetadata"]["Arn"]
        for account in (HUB, MEMBER_A, MEMBER_K)
    }
    # When listing the keys each adapter sees
    seen = {
        account: [
            k["KeyArn"]
            for k in sessions.adapter(account, event_id=EVENT).client("kms").list_keys()["Keys"]
        ]
        for account in (HUB, MEMBER_A, MEMBER_K)
    }
    # Then each sees its own key only: the accounts' backends are isolated
    assert seen == {account: [arn] for account, arn in made.items()}
    assert {arn.split(":")[4] for arn in made.values()} == {HUB, MEMBER_A, MEMBER_K}


def test_accounts_session_is_reused_for_one_event_and_renewed_for_the_next(
    organization: None,
) -> None:
    # Given the engine with a member role
    assumed: list[dict[str, Any]] = []
    sessions = AccountSessions(member_role=ROLE, session=recording_session(assumed), region=REGION)
    # When one event needs K twice and A once, in two regions, and a second event needs K
    first = sessions.adapter(MEMBER_K, event_id=EVENT)
    again = sessions.adapter(MEMBER_K, event_id=EVENT)
    elsewhere = sessions.adapter(MEMBER_K, event_id=EVENT, region="us-east-1")
    sessions.adapter(MEMBER_A, event_id=EVENT)
    later = sessions.adapter(MEMBER_K, event_id=OTHER_EVENT)
    # Then each account's role is assumed once per event, whatever the region
    assert again is first
    assert elsewhere is not first and elsewhere.session is first.session
    assert elsewhere.region_name == "us-east-1"
    assert [(b["RoleArn"].split(":")[4], b["RoleSessionName"]) for b in assumed] == [
        (MEMBER_K, session_name(EVENT)),
        (MEMBER_A, session_name(EVENT)),
        (MEMBER_K, session_name(OTHER_EVENT)),
    ]
    # And the second event's calls carry its own session name
    arn = later.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith("/" + session_name(OTHER_EVENT))


def test_accounts_expiring_credentials_are_renewed_for_the_same_event(organization: None) -> None:
    # Given a session assumed for an event, and a clock that moves to 2 minutes before it expires
    assumed: list[dict[str, Any]] = []
    now = [datetime.now(UTC)]
    sessions = AccountSessions(
        member_role=ROLE,
        session=recording_session(assumed),
        region=REGION,
        clock=lambda: now[0],
    )
    sessions.adapter(MEMBER_K, event_id=EVENT)
    now[0] += timedelta(minutes=58)
    # When the same event needs the account again
    sessions.adapter(MEMBER_K, event_id=EVENT)
    # Then the role is assumed again rather than calling with credentials about to expire
    assert len(assumed) == 2


def test_accounts_without_a_member_role_every_account_uses_own_credentials(
    organization: None,
) -> None:
    # Given the engine without a member role (single-account mode)
    assumed: list[dict[str, Any]] = []
    sessions = AccountSessions(session=recording_session(assumed), region=REGION)
    # When asking for another account's adapter
    adapter = sessions.adapter(MEMBER_K, event_id=EVENT)
    # Then calls are made with its own credentials, from its own account, with no role assumed
    assert adapter is sessions.own()
    assert adapter.account_id() == HUB
    assert assumed == []


@pytest.mark.parametrize("account", ["4444555566", "44445555666x", "*", "", "../admin"])
def test_accounts_malformed_account_is_refused_before_any_call(
    organization: None, account: str
) -> None:
    # Given an account id from an event that is not one
    assumed: list[dict[str, Any]] = []
    sessions = AccountSessions(member_role=ROLE, session=recording_session(assumed), region=REGION)
    # When asking for its adapter
    # Then it is refused as STS would refuse the role ARN, and no role is assumed
    with pytest.raises(Rejected, match="is not an account id"):
        sessions.adapter(account, event_id=EVENT)
    assert assumed == []


def test_accounts_denied_assume_role_is_a_domain_error() -> None:
    # Given STS refusing the member role (not deployed there, or its trust refuses the hub)
    sessions = AccountSessions(member_role=ROLE, region=REGION)
    sts = boto3.Session(region_name=REGION).client("sts")
    sessions.own().clients["sts"] = sts
    stub = Stubber(sts)
    stub.add_response(
        "get_caller_identity",
        {"Account": HUB, "Arn": f"arn:aws:sts::{HUB}:assumed-role/hub/x", "UserId": "x"},
    )
    stub.add_client_error("assume_role", "AccessDenied", "not authorized to perform")
    # When asking for that account's adapter
    # Then the core sees AccessDenied naming the call, never botocore's ClientError
    with stub, pytest.raises(AccessDenied) as raised:
        sessions.adapter(MEMBER_K, event_id=EVENT)
    assert raised.value.operation == "sts:AssumeRole"
