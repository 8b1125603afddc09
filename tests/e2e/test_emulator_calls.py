"""The organization demo's and benchmark's instrument: every call the emulator receives, with the
account it lands in and who made it (tests/support/emulator_calls.py), against moto's server."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from tests.support.emulator import EmulatorServer
from tests.support.emulator_calls import OWN_CREDENTIALS, CallRecorder

OWN, MEMBER = "123456789012", "210000000007"
ROLE = f"arn:aws:iam::{MEMBER}:role/KmsLaunchRemediatorMember"
GRANTEE = f"arn:aws:iam::{MEMBER}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    """moto's server with the recorder in front, credentials moto places in its default account."""
    recording = CallRecorder()
    server = EmulatorServer(wrap=recording.wrap)
    server.start()
    endpoint = server.endpoint()
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("MOTO_ACCOUNT_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ):
        pass
    try:
        yield recording
    finally:
        server.stop()


@pytest.mark.server
def test_emulator_calls_name_the_account_and_the_caller_of_each_call(
    recorder: CallRecorder,
) -> None:
    # Given a role session in a member account, assumed with the default account's credentials
    sts = boto3.client("sts", region_name="eu-west-1")
    # When, while recording, the default account assumes the role and the session creates a
    # key and a grant on it, and the default account lists its own keys
    with recorder.recording() as calls:
        credentials = sts.assume_role(RoleArn=ROLE, RoleSessionName="kms-launch-remediator-e1")[
            "Credentials"
        ]
        member = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name="us-east-1",
        ).client("kms")
        key = member.create_key()["KeyMetadata"]["Arn"]
        member.create_grant(KeyId=key, GranteePrincipal=GRANTEE, Operations=["Decrypt"])
        boto3.client("kms", region_name="eu-west-1").list_keys()
    boto3.client("kms", region_name="eu-west-1").list_keys()  # after: not recorded

    # Then each call names the account it landed in, its caller, and for KMS the key
    session = (
        f"arn:aws:sts::{MEMBER}:assumed-role/KmsLaunchRemediatorMember/kms-launch-remediator-e1"
    )
    assert [(c.account, c.caller, c.name, c.region) for c in calls] == [
        (OWN, OWN_CREDENTIALS, "sts:AssumeRole", "eu-west-1"),
        (MEMBER, session, "kms:CreateKey", "us-east-1"),
        (MEMBER, session, "kms:CreateGrant", "us-east-1"),
        (OWN, OWN_CREDENTIALS, "kms:ListKeys", "eu-west-1"),
    ]
    grant = calls[2]
    assert (grant.key_id, grant.grantee, grant.is_kms_write) == (key, GRANTEE, True)
    assert key.split(":")[4] == MEMBER  # moto put the key where the recorder says
    assert not calls[1].is_kms_write and not calls[3].is_kms_write
