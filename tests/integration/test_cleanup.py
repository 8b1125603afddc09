"""``cleanup`` (moto): it lists every statement and grant the tool wrote that is still in place,
on the keys of the audit trail and the keys given, and with ``--apply`` removes them, leaving
every other statement (and a tool statement someone edited) as it was."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from remediator import cli
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState, create_table
from remediator.config import parse_config
from remediator.pipeline import Remediator
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.world import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    World,
    load_event,
)

TABLE = "cleanup-state"


@pytest.fixture
def changed(world: World) -> dict[str, Any]:
    """A key-policy change (case 5) and a cross-account grant (case 3), audited in the table,
    and a key the tool changed without a table (case 1), not in the audit trail."""
    dynamodb = boto3.client("dynamodb", region_name=world.region)
    create_table(dynamodb, TABLE)
    world.user()
    world.autoscaling_slr()
    policy_key, grant_key, unaudited = world.key(), world.key(OTHER_ACCOUNT), world.key()
    originals = {k: world.policy(k) for k in (policy_key, unaudited)}
    config = parse_config(
        {
            "mode": "enforce",
            "allow": {
                "principals": every_principal_of(ACCOUNT),
                "keys": every_key_of(ACCOUNT, OTHER_ACCOUNT),
            },
        }
    )
    state = DynamoState(TABLE, client=dynamodb)
    audited = Remediator(AwsAdapter(region=world.region), config, state=state)
    audited.handle(
        load_event("case5_user_start_instances_create_grant.json", {SAMPLE_KEY_ARN: policy_key})
    )
    audited.handle(
        load_event("case3_cross_account_asg_create_grant.json", {SAMPLE_OTHER_KEY_ARN: grant_key})
    )
    Remediator(AwsAdapter(region=world.region), config).handle(
        load_event("case1_asg_slr_create_grant_access_denied.json", {SAMPLE_KEY_ARN: unaudited})
    )
    assert len(world.grants(grant_key)) == 1
    return {
        "policy_key": policy_key,
        "grant_key": grant_key,
        "unaudited": unaudited,
        "originals": originals,
    }


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = cli.main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_cleanup_lists_what_the_tool_wrote_from_the_audit_trail_and_given_keys(
    world: World, changed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # When cleanup looks at the audit trail and one key given by hand
    code, out = run(["cleanup", "--state-table", TABLE, "--key", changed["unaudited"]], capsys)

    # Then it lists the statements of the two key-policy changes and the grant, removing nothing
    assert code == 0
    by_key = {k["key_arn"]: k for k in out["keys"]}
    assert set(by_key) == {changed["policy_key"], changed["grant_key"], changed["unaudited"]}
    user = f"arn:aws:iam::{ACCOUNT}:user/ops-alice"
    assert {s["sid"]: s["principals"] for s in by_key[changed["policy_key"]]["statements"]} == {
        "KmsLaunchRemediatorUseViaEc2": [user],
        "KmsLaunchRemediatorAttach": [user],
    }
    [grant] = by_key[changed["grant_key"]]["grants"]
    assert grant["name"].startswith("kms-launch-remediator-")
    assert {s["sid"] for s in by_key[changed["unaudited"]]["statements"]} == {
        "KmsLaunchRemediatorUse",
        "KmsLaunchRemediatorAttach",
    }
    assert out["applied"] is False
    assert len(world.grants(changed["grant_key"])) == 1
    assert world.policy(changed["policy_key"]) != changed["originals"][changed["policy_key"]]


def test_cleanup_apply_removes_it_and_leaves_everything_else(
    world: World, changed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given someone edited the tool's statement on the unaudited key
    policy = world.policy(changed["unaudited"])
    attach = next(s for s in policy["Statement"] if s["Sid"] == "KmsLaunchRemediatorAttach")
    attach["Action"] = ["kms:CreateGrant", "kms:ListGrants"]
    world.set_policy(changed["unaudited"], policy)

    # When cleanup applies
    argv = ["cleanup", "--state-table", TABLE, "--key", changed["unaudited"], "--apply"]
    code, out = run(argv, capsys)

    # Then the tool's statements and grant are gone, other statements as they were
    assert code == 0
    results = {r["key_arn"]: r for r in out["results"]}
    assert {r["outcome"] for r in results.values()} == {"removed"}
    assert world.policy(changed["policy_key"]) == changed["originals"][changed["policy_key"]]
    assert world.grants(changed["grant_key"]) == []
    # the edited statement stays exactly as edited; the tool's own one beside it is gone
    after = world.policy(changed["unaudited"])
    assert [s.get("Sid") for s in after["Statement"]] == [
        "Enable IAM User Permissions",
        "KmsLaunchRemediatorAttach",
    ]
    assert after["Statement"][1] == attach
    by_key = {k["key_arn"]: k for k in out["keys"]}
    assert by_key[changed["unaudited"]]["edited_statements"] == ["KmsLaunchRemediatorAttach"]

    # And the removal is in the audit trail; a second cleanup finds nothing more
    history = DynamoState(TABLE, client=boto3.client("dynamodb")).history(changed["policy_key"])
    assert [r["remedy"] for r in history] == ["key-policy", "cleanup"]
    code, again = run(["cleanup", "--state-table", TABLE, "--apply"], capsys)
    assert code == 0
    assert {r["outcome"] for r in again["results"]} == {"nothing to remove"}


def test_cleanup_apply_that_cannot_verify_exits_one(
    world: World,
    changed: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given KMS accepts PutKeyPolicy but does not apply it
    monkeypatch.setattr(AwsAdapter, "put_key_policy", lambda self, key_arn, text: None)

    code, out = run(["cleanup", "--key", changed["policy_key"], "--apply"], capsys)

    assert code == 1
    [result] = out["results"]
    assert result["outcome"] == "failed"
    assert "verification failed" in result["reason"]
