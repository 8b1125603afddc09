"""What the engine reads before deciding. The Lambda's role may read key policies and grants
only of allowlisted keys, so reading any other key would fail with AccessDenied in AWS (moto
enforces no IAM, so this is checked here on the calls themselves)."""

from __future__ import annotations

import pytest

from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.support.world import SAMPLE_KEY_ARN, SAMPLE_OTHER_KEY_ARN, load_event
from tests.unit.fakes import USER_ARN, RecordingAws

CASE5 = "case5_user_start_instances_create_grant.json"
CASE4 = "case4_copied_ami_user_create_grant.json"
KEY_AND_PRINCIPAL_READS = {
    "get_key_policy",
    "list_grants",
    "principal_exists",
    "identity_policies",
}


@pytest.mark.parametrize(
    ("fixture", "allow"),
    [
        (
            CASE5,
            {"principals": [USER_ARN], "keys": ["arn:aws:kms:*:111122223333:key/not-this-one"]},
        ),
        (CASE5, {"principals": ["arn:aws:iam::111122223333:role/*"], "keys": [SAMPLE_KEY_ARN]}),
        (CASE4, {"principals": [USER_ARN], "keys": ["arn:aws:kms:*:111122223333:key/*"]}),
        (CASE5, {}),
    ],
    ids=["key-not-allowlisted", "principal-not-allowlisted", "other-account-key", "empty"],
)
def test_engine_reads_nothing_of_a_pair_outside_the_allowlist(
    fixture: str, allow: dict[str, object]
) -> None:
    # Given a key or principal outside the allowlist
    aws = RecordingAws()
    engine = Remediator(aws, parse_config({"allow": allow}))

    # When its failure arrives
    [report] = engine.handle(load_event(fixture))

    # Then it is refused having only described the key: no policy, grant or IAM read
    assert report.outcome == "refused"
    assert "allowlist" in report.reason
    assert {name for name, _ in aws.calls} & KEY_AND_PRINCIPAL_READS == set()


def test_engine_reads_policy_grants_principal_and_its_policies_of_an_allowlisted_pair() -> None:
    aws = RecordingAws()
    config = parse_config(
        {"mode": "dry-run", "allow": {"principals": [USER_ARN], "keys": [SAMPLE_KEY_ARN]}}
    )
    [report] = Remediator(aws, config).handle(load_event(CASE5))
    assert report.outcome == "dry_run"
    # reading the principal's identity policies also tells that it exists (GetRole/GetUser)
    assert {name for name, _ in aws.calls} >= {"get_key_policy", "list_grants", "identity_policies"}


def test_engine_reads_grants_of_an_allowlisted_other_account_key() -> None:
    aws = RecordingAws()
    allow = {"principals": [USER_ARN], "keys": [SAMPLE_OTHER_KEY_ARN]}
    config = {"mode": "dry-run", "remedy": "grant", "allow": allow}
    [report] = Remediator(aws, parse_config(config)).handle(load_event(CASE4))
    assert report.outcome == "dry_run"
    assert ("list_grants", (SAMPLE_OTHER_KEY_ARN,)) in aws.calls
