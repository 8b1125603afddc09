"""Organization mode in the engine: each AWS call made in the account it concerns, through the
member role there, each change allowed by its own account's configuration, and both halves of
a cross-account grant (the key owner's statement in K, the grant from A).

moto gives every account id its own backends and takes the account from the credentials once
MOTO_ACCOUNT_ID is unset (tests/integration/test_accounts.py), so the member role's calls land in
that member's backends; the hub is moto's default account. Real-shaped events from
tests/events go through the engine (``Remediator.handle``, as ``replay`` and the handler call it)
and through the hub's SQS batch handler.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediator import cli, handler, hub
from remediator.adapters.accounts import AccountSessions
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState, create_table
from remediator.adapters.incidents import incidents_for
from remediator.adapters.routing import AccountRouter
from remediator.config import parse_config
from remediator.cross_account import SID_DESCRIBE_FROM, SID_GRANT_FROM
from remediator.pipeline import Remediator
from remediator.policy import GRANT_OPERATIONS
from remediator.ports import AccessDenied
from remediator.rollback import ROLLED_BACK, rollback
from tests.integration.conftest import default_policy
from tests.integration.test_hub import sqs_batch
from tests.support.kms_authorization import allowed, denied, enforced, remediator_role, verdicts
from tests.support.lambda_context import FakeContext
from tests.support.world import (
    SAMPLE_KEY_ARN,
    SAMPLE_OTHER_KEY_ARN,
    SLR_PATH,
    World,
    load_event,
)

HUB = "123456789012"  # moto's account for the fake credentials: the engine's own
MEMBER_A = "111122223333"  # where the launches happen (the fixtures' account)
MEMBER_K = "444455556666"  # a key owner (the fixtures' other account)
ROLE = "KmsLaunchRemediatorMember"
REGION = "eu-west-1"
TABLE = "org-state"
CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE4 = "case4_copied_ami_user_create_grant.json"
SLR_A = f"arn:aws:iam::{MEMBER_A}:{SLR_PATH}AWSServiceRoleForAutoScaling"
MEMBER_ROLE_A = f"arn:aws:iam::{MEMBER_A}:role/{ROLE}"
SLRS_OF_A = [f"arn:aws:iam::{MEMBER_A}:{SLR_PATH}AWSServiceRoleForAutoScaling*"]
KEYS_OF_A = [f"arn:aws:kms:{REGION}:{MEMBER_A}:key/*"]
KEYS_OF_K = [f"arn:aws:kms:{REGION}:{MEMBER_K}:key/*"]
ASG = "asg"


@pytest.fixture
def org(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """moto with accounts taken from the credentials; A's Auto Scaling SLR."""
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    world = World()
    with world.account(MEMBER_A):
        world.autoscaling_slr()
    yield world


@pytest.fixture
def topic(org: World) -> tuple[str, str]:
    """The hub's notification topic and an inbox on it, in the hub's own account."""
    return org.notifications_topic()


def config(
    allow_a: tuple[list[str], list[str]],
    allow_k: tuple[list[str], list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Organization mode: nothing allowed at the top level, each member its own allowlist."""
    accounts = {MEMBER_A: {"allow": {"principals": allow_a[0], "keys": allow_a[1]}}}
    if allow_k is not None:
        accounts[MEMBER_K] = {"allow": {"principals": allow_k[0], "keys": allow_k[1]}}
    return {"mode": "enforce", "member_role": ROLE, "accounts": accounts, **extra}


BOTH = config((SLRS_OF_A, KEYS_OF_K), (SLRS_OF_A, KEYS_OF_K))


def engine(
    settings: dict[str, Any], topic_arn: str, *, table: str | None = None
) -> tuple[Remediator, list[dict[str, Any]]]:
    """The engine as the hub builds it, and the AssumeRole calls it makes."""
    assumed: list[dict[str, Any]] = []
    session = boto3.Session(region_name=REGION)
    session.events.register(
        "before-call.sts.AssumeRole", lambda params, **_: assumed.append(params["body"])
    )
    router = AccountRouter(AccountSessions(member_role=ROLE, session=session, region=REGION))
    state = DynamoState(table) if table else None
    remediator = Remediator(
        router,
        parse_config(settings),
        topic_arn=topic_arn,
        state=state,
        incidents=incidents_for(table, state.client if state else None) if table else None,
        state_table_name=table,
    )
    return remediator, assumed


def snapshot(world: World, keys: list[str]) -> dict[str, Any]:
    """Every key's policy and grants: what a write anywhere would change."""
    return {key: (world.policy(key), world.grants(key)) for key in keys}


def cross_account_event(key_k: str, copy_of: str = MEMBER_A) -> dict[str, Any]:
    """Case 3 as CloudTrail delivers it to A (the caller), or the copy it delivers to K (the
    key owner): another event id and eventID, K as account and recipient, one sharedEventID."""
    event = load_event(CASE3, {SAMPLE_OTHER_KEY_ARN: key_k})
    if copy_of == MEMBER_K:
        event = copy.deepcopy(event)
        event["id"] = "5b0d3f7e-0c1a-4e2b-9d3c-7a6b5c4d3e2f"
        event["account"] = MEMBER_K
        event["detail"]["recipientAccountId"] = MEMBER_K
        event["detail"]["eventID"] = "c86beef6-8f5b-4fbb-a6ad-95f0a0c1d4e7"
    return event


def grantor_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    sids = (SID_GRANT_FROM + MEMBER_A, SID_DESCRIBE_FROM + MEMBER_A)
    return [s for s in policy["Statement"] if s.get("Sid") in sids]


def expected_grantor_statements() -> list[dict[str, Any]]:
    return [
        {
            "Sid": SID_GRANT_FROM + MEMBER_A,
            "Effect": "Allow",
            "Principal": {"AWS": MEMBER_ROLE_A},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": SLR_A},
                "ForAllValues:StringEquals": {"kms:GrantOperations": list(GRANT_OPERATIONS)},
            },
        },
        {
            "Sid": SID_DESCRIBE_FROM + MEMBER_A,
            "Effect": "Allow",
            "Principal": {"AWS": MEMBER_ROLE_A},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


# --- same account: the member's own key ------------------------------------------------------


def test_org_engine_same_account_case_changes_only_the_members_key(
    org: World, topic: tuple[str, str]
) -> None:
    # Given member A's key and a key of the same id pattern in K and in the hub, and case 1 in A
    key_a, key_k, key_hub = org.key(MEMBER_A), org.key(MEMBER_K), org.key(HUB)
    before = snapshot(org, [key_k, key_hub])
    event = load_event(CASE1, {SAMPLE_KEY_ARN: key_a})
    remediator, assumed = engine(config((SLRS_OF_A, KEYS_OF_A)), topic[0])

    # When the hub's engine handles it
    [report] = remediator.handle(event)

    # Then A's key policy gained the SLR's statements, through A's member role, and no other
    # key changed
    assert report.outcome == "remediated", report.reason
    statements = org.policy(key_a)["Statement"]
    assert [s["Sid"] for s in statements[1:]] == [
        "KmsLaunchRemediatorUse",
        "KmsLaunchRemediatorAttach",
    ]
    assert [s["Principal"]["AWS"] for s in statements[1:]] == [[SLR_A], [SLR_A]]
    assert org.grants(key_a) == []
    assert snapshot(org, [key_k, key_hub]) == before
    assert {b["RoleArn"] for b in assumed} == {MEMBER_ROLE_A}
    assert {b["RoleSessionName"] for b in assumed} == {f"kms-launch-remediator-{event['id']}"}


def test_org_engine_without_member_role_acts_with_own_credentials_as_today(
    org: World, topic: tuple[str, str]
) -> None:
    # Given the same case 1 in member A, but no member role configured
    key_a = org.key(MEMBER_A)
    event = load_event(CASE1, {SAMPLE_KEY_ARN: key_a})
    settings = {"mode": "enforce", "allow": {"principals": SLRS_OF_A, "keys": KEYS_OF_A}}
    remediator = Remediator(AwsAdapter(region=REGION), parse_config(settings), topic_arn=topic[0])

    # When the engine (in the hub's account) handles it
    [report] = remediator.handle(event)

    # Then, as a single-account deployment, it refuses an event of another account, unchanged
    assert report.outcome == "refused"
    assert "acts in account 123456789012" in report.reason
    assert org.policy(key_a) == default_policy(MEMBER_A)


def test_org_engine_auto_scaling_failure_reads_the_group_in_its_account_and_fixes_both_halves(
    org: World, topic: tuple[str, str]
) -> None:
    # Given a group in member A whose launch template names K's key, and a group of the same
    # name in the hub whose template names nothing: only A's group explains A's failure
    key_k = org.key(MEMBER_K)
    with org.account(MEMBER_A):
        org.autoscaling_group(org.launch_template(key_k))
    org.autoscaling_group(org.launch_template(org.key(HUB)))
    event = load_event("asg_launch_unsuccessful_client_internal_error.json")
    event["detail"]["EC2InstanceId"] = ""  # Auto Scaling often reports no instance
    remediator, _ = engine(BOTH, topic[0])

    # When Auto Scaling reports the failed launch from A
    [report] = remediator.handle(event)

    # Then the group, its template and its key were read in A, and both halves were made
    assert report.outcome == "remediated", report.reason
    assert report.key_arn == key_k
    assert grantor_statements(org.policy(key_k)) == expected_grantor_statements()
    assert [g["GranteePrincipal"] for g in org.grants(key_k)] == [SLR_A]


# --- the allowlist of each account -----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (config(([], KEYS_OF_A)), "principal is not in the allowlist"),
        (config((SLRS_OF_A, KEYS_OF_K)), "key is not in the allowlist"),
        (
            {
                "mode": "enforce",
                "member_role": ROLE,
                "allow": {"principals": SLRS_OF_A, "keys": KEYS_OF_A},
                "accounts": {MEMBER_A: {"mode": "dry-run"}},
            },
            "dry-run",
        ),
    ],
    ids=["principal-not-allowed-in-A", "key-not-allowed-in-A", "A-in-dry-run"],
)
def test_org_engine_same_account_case_outside_its_accounts_allowlist_writes_nowhere(
    org: World, topic: tuple[str, str], settings: dict[str, Any], why: str
) -> None:
    # Given case 1 in member A, with A's own entry not allowing the change (the top level may)
    key_a, key_k = org.key(MEMBER_A), org.key(MEMBER_K)
    before = snapshot(org, [key_a, key_k])
    remediator, _ = engine(settings, topic[0])

    # When the engine handles it
    [report] = remediator.handle(load_event(CASE1, {SAMPLE_KEY_ARN: key_a}))

    # Then nothing is written in any account
    assert why in report.reason
    assert report.outcome in ("refused", "dry_run")
    assert snapshot(org, [key_a, key_k]) == before


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (config((SLRS_OF_A, KEYS_OF_K)), "key is not in the allowlist of the key's account"),
        (
            config((SLRS_OF_A, KEYS_OF_K), ([], KEYS_OF_K)),
            "principal is not in the allowlist of the key's account",
        ),
        (config(([], KEYS_OF_K), (SLRS_OF_A, KEYS_OF_K)), "principal is not in the allowlist"),
        (config((SLRS_OF_A, KEYS_OF_A), (SLRS_OF_A, KEYS_OF_K)), "key is not in the allowlist"),
    ],
    ids=["K-allows-nothing", "K-not-the-principal", "A-not-the-principal", "A-not-the-key"],
)
def test_org_engine_cross_account_case_outside_either_allowlist_writes_nowhere(
    org: World, topic: tuple[str, str], settings: dict[str, Any], why: str
) -> None:
    # Given case 3 (A's SLR, K's key) and one of the two accounts not allowing its half
    key_k = org.key(MEMBER_K)
    before = snapshot(org, [key_k])
    remediator, _ = engine(settings, topic[0])

    # When the engine handles A's copy of the denied call
    [report] = remediator.handle(cross_account_event(key_k))

    # Then it is refused, K's policy and grants are as they were
    assert report.outcome == "refused"
    assert why in report.reason
    assert snapshot(org, [key_k]) == before


# --- both halves of the cross-account case ---------------------------------------------------


def test_org_engine_cross_account_case_makes_the_key_owners_statement_then_the_grant(
    org: World, topic: tuple[str, str]
) -> None:
    # Given K's key with its default policy, A's SLR, both accounts allowing the pair
    key_k = org.key(MEMBER_K)
    remediator, assumed = engine(BOTH, topic[0])

    # When the engine handles A's copy of the denied CreateGrant
    [report] = remediator.handle(cross_account_event(key_k))

    # Then K's policy has the narrowly conditioned statements for A's member role, all else as it
    # was, and A's member role made the grant for the SLR on the key ARN
    assert report.outcome == "remediated", report.reason
    policy = org.policy(key_k)
    assert grantor_statements(policy) == expected_grantor_statements()
    assert policy["Statement"][0] == default_policy(MEMBER_K)["Statement"][0]
    assert len(policy["Statement"]) == 3
    [grant] = org.grants(key_k)
    assert grant["GranteePrincipal"] == SLR_A
    assert sorted(grant["Operations"]) == sorted(GRANT_OPERATIONS)
    assert report.changes is not None
    assert report.changes["key_owner_statements"] == expected_grantor_statements()
    assert report.changes["grant_id"] == grant["GrantId"]
    assert {b["RoleArn"].split(":")[4] for b in assumed} == {MEMBER_A, MEMBER_K}


def test_org_engine_cross_account_statement_edited_by_the_key_owner_is_refused_untouched(
    org: World, topic: tuple[str, str]
) -> None:
    # Given K's key whose administrator pasted the suggested statements and then narrowed the
    # grant operations to Decrypt
    edited = copy.deepcopy(expected_grantor_statements())
    edited[0]["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"] = ["Decrypt"]
    policy = default_policy(MEMBER_K)
    policy["Statement"] += edited
    key_k = org.key(MEMBER_K, policy=policy)
    before = snapshot(org, [key_k])
    remediator, _ = engine(BOTH, topic[0])

    # When the engine handles A's copy of the denied CreateGrant
    [report] = remediator.handle(cross_account_event(key_k))

    # Then it refuses, saying the statement is not as it wrote it, and writes in neither account
    assert report.outcome == "refused"
    assert "is not as the tool wrote it" in report.reason
    assert snapshot(org, [key_k]) == before


def test_org_engine_cross_account_oracle_agrees_the_launch_works_after_both_halves(
    org: World, topic: tuple[str, str]
) -> None:
    # Given A's member role with the member StackSet's KMS permissions on K's keys, and moto's
    # KMS refusing A's cross-account calls the oracle says AWS would refuse
    with org.account(MEMBER_A):
        member_role = remediator_role(org, KEYS_OF_K, name=ROLE)
    assert member_role == MEMBER_ROLE_A
    key_k = org.key(MEMBER_K)
    assert verdicts(org, SLR_A, key_k, ASG, member_role) == denied(ASG)
    remediator, _ = engine(BOTH, topic[0])

    # When the engine handles case 3, its CreateGrant from A judged against K's policy then
    with enforced(org, member_role) as refused:
        [report] = remediator.handle(cross_account_event(key_k))

    # Then nothing was refused (K's statement came first), and the oracle (principalmapper)
    # says every KMS call of the Auto Scaling launch is authorized: by the grant, which A's
    # member role could create under K's statement and its own identity policy. What the oracle
    # cannot judge: the hub role's AssumeRole of each member role (a trust policy, asserted in
    # the member template's infra tests) and rollback's RetireGrant from A (it models no grant
    # retirement); the member role here holds the StackSet's KMS actions, not its conditions
    assert report.outcome == "remediated", report.reason
    assert refused == []
    assert verdicts(org, SLR_A, key_k, ASG, member_role) == allowed(ASG)


def test_org_engine_cross_account_replaying_the_key_owners_copy_changes_nothing_more(
    org: World, topic: tuple[str, str]
) -> None:
    # Given case 3 remedied from A's copy
    key_k = org.key(MEMBER_K)
    remediator, _ = engine(BOTH, topic[0])
    [first] = remediator.handle(cross_account_event(key_k))
    assert first.outcome == "remediated", first.reason
    after = snapshot(org, [key_k])

    # When K's copy of the same call (same sharedEventID) arrives
    [again] = remediator.handle(cross_account_event(key_k, copy_of=MEMBER_K))

    # Then it is judged for A's launch as well, which is allowed now: nothing more changes
    assert again.outcome == "already_allowed", again.reason
    assert snapshot(org, [key_k]) == after


def test_org_engine_cross_account_with_state_is_one_incident_audited_in_each_account(
    org: World, topic: tuple[str, str]
) -> None:
    # Given a state table in the hub, and case 3 handled from A's copy, then K's copy
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    key_k = org.key(MEMBER_K)
    remediator, _ = engine(BOTH, topic[0], table=TABLE)
    [first] = remediator.handle(cross_account_event(key_k))
    [second] = remediator.handle(cross_account_event(key_k, copy_of=MEMBER_K))

    # Then the second joins the first's incident, and the audit trail records the two changes,
    # each with the account it was made in, the grant pointing at the statement it needed
    assert first.outcome == "remediated", first.reason
    assert second.outcome == "folded"
    history = DynamoState(TABLE).history(key_k)
    [statement, grant] = [c for c in history if c["remedy"] in ("key-policy", "grant")]
    assert (statement["remedy"], statement["account"]) == ("key-policy", MEMBER_K)
    assert statement["principal_arn"] == MEMBER_ROLE_A
    assert (grant["remedy"], grant["account"]) == ("grant", MEMBER_A)
    assert grant["principal_arn"] == SLR_A
    assert grant["planned"]["with_change"] == statement["change_id"]
    assert first.extra["key_owner_change_id"] == statement["change_id"]
    # And both are closed (notified once): nothing is left for a later invocation to send
    assert DynamoState(TABLE).pending_changes(key_k) == []
    notified = [n["message"] for n in org.received(topic[1])]
    assert [n["outcome"] for n in notified] == ["remediated"]


def test_org_engine_grant_refused_after_the_key_owners_statement_closes_that_change(
    org: World, topic: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a state table, and A's CreateGrant denied (an SCP, say) once K's statement is in
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    key_k = org.key(MEMBER_K)
    remediator, _ = engine(BOTH, topic[0], table=TABLE)

    def denied(*_args: Any, **_kwargs: Any) -> str:
        raise AccessDenied("kms:CreateGrant", "AccessDeniedException", "explicit deny in an SCP")

    monkeypatch.setattr(AccountRouter, "create_grant", denied)

    # When the engine handles A's copy of the denied CreateGrant
    [report] = remediator.handle(cross_account_event(key_k))

    # Then the grant is refused, K's statement (written, audited) is reported with it, and that
    # change is closed with this notification: no later invocation sends it again
    assert report.outcome == "refused", report.reason
    assert report.changes is not None and report.changes["key_owner_statements"]
    assert DynamoState(TABLE).pending_changes(key_k) == []
    assert [n["message"]["outcome"] for n in org.received(topic[1])] == ["refused"]


@pytest.mark.parametrize("which", ["grant", "key-policy"])
def test_org_engine_rollback_undoes_both_halves_together(
    org: World, topic: tuple[str, str], which: str
) -> None:
    # Given case 3 remedied with a state table: K's statement and A's grant
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    key_k = org.key(MEMBER_K)
    before = org.policy(key_k)
    remediator, _ = engine(BOTH, topic[0], table=TABLE)
    [report] = remediator.handle(cross_account_event(key_k))
    assert report.outcome == "remediated", report.reason
    state = DynamoState(TABLE)
    change = next(c for c in state.history(key_k) if c["remedy"] == which)

    # When the operator rolls back either of the two changes
    result = rollback(remediator.aws, state, key_k, change["change_id"], force=False)

    # Then the grant is gone (retired from A, which created it) and K's policy is as it was
    assert result["outcome"] == ROLLED_BACK, result
    assert org.grants(key_k) == []
    assert org.policy(key_k) == before
    assert result["together"]["outcome"] == ROLLED_BACK


# --- through the hub's SQS batch handler -----------------------------------------------------


@pytest.fixture
def hub_environment(
    org: World, topic: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Member A's key (case 1), K's key (case 3), and the hub Lambda's environment for them."""
    keys = {"case1": org.key(MEMBER_A), "case3": org.key(MEMBER_K)}
    settings = config((SLRS_OF_A, [*KEYS_OF_A, *KEYS_OF_K]), (SLRS_OF_A, KEYS_OF_K))
    monkeypatch.setenv("REMEDIATOR_CONFIG", json.dumps(settings))
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", topic[0])
    monkeypatch.delenv("STATE_TABLE_NAME", raising=False)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    yield keys
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()


def test_org_engine_hub_batch_fixes_each_case_in_its_accounts(
    org: World, topic: tuple[str, str], hub_environment: dict[str, str]
) -> None:
    # Given one batch: case 1 in A, case 3 from A's copy, and case 3 from K's copy
    key_a, key_k = hub_environment["case1"], hub_environment["case3"]
    batch = sqs_batch(
        ("m-case1", json.dumps(load_event(CASE1, {SAMPLE_KEY_ARN: key_a}))),
        ("m-case3-a", json.dumps(cross_account_event(key_k))),
        ("m-case3-k", json.dumps(cross_account_event(key_k, copy_of=MEMBER_K))),
    )

    # When the hub's handler runs on it
    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]

    # Then every record is handled: A's key has its statements, K's key the grantor's statements
    # and A's grant, once
    assert response == {"batchItemFailures": []}
    assert [s.get("Sid") for s in org.policy(key_a)["Statement"][1:]] == [
        "KmsLaunchRemediatorUse",
        "KmsLaunchRemediatorAttach",
    ]
    assert grantor_statements(org.policy(key_k)) == expected_grantor_statements()
    assert [g["GranteePrincipal"] for g in org.grants(key_k)] == [SLR_A]
    outcomes = [n["message"]["outcome"] for n in org.received(topic[1])]
    assert outcomes == ["remediated", "remediated", "already_allowed"]


# --- through the command line ----------------------------------------------------------------


def test_org_engine_replay_and_rollback_commands_act_in_each_account(
    org: World,
    topic: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given case 3's event and an organization configuration in files, and the hub's table
    monkeypatch.delenv("NOTIFY_TOPIC_ARN", raising=False)
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    key_k = org.key(MEMBER_K)
    before = org.policy(key_k)
    event_file, config_file = tmp_path / "event.json", tmp_path / "config.json"
    event_file.write_text(json.dumps(cross_account_event(key_k)))
    config_file.write_text(json.dumps(BOTH))

    # When replaying it with the configuration's member role
    replayed = cli.main(
        ["replay", str(event_file), "--config", str(config_file), "--state-table", TABLE]
    )

    # Then both halves are made, and the undo command names the member role
    assert replayed == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "remediated", report["reason"]
    assert grantor_statements(org.policy(key_k)) == expected_grantor_statements()
    assert len(org.grants(key_k)) == 1
    command = report["undo"]["rollback"]
    assert command.endswith(f"--member-role {ROLE}")

    # And the pasted rollback command undoes both, each in its own account
    rolled = cli.main(shlex.split(command)[4:])
    assert rolled == 0
    assert json.loads(capsys.readouterr().out)["together"]["outcome"] == ROLLED_BACK
    assert org.grants(key_k) == []
    assert org.policy(key_k) == before


@pytest.mark.parametrize(
    ("unreachable", "why"),
    [
        (MEMBER_A, f"could not be assumed in account {MEMBER_A}"),
        (MEMBER_K, "the key's account cannot be reached"),
    ],
    ids=["launch-account", "key-account"],
)
def test_org_engine_account_without_a_member_role_is_refused_and_nothing_written(
    org: World,
    topic: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    unreachable: str,
    why: str,
) -> None:
    # Given STS refusing the member role in one of the two accounts (no member stack there)
    key_k = org.key(MEMBER_K)
    before = snapshot(org, [key_k])
    assume = AccountSessions._assume

    def refusing(self: AccountSessions, account: str, role: str, event_id: str) -> Any:
        if account == unreachable:
            raise AccessDenied("sts:AssumeRole", "AccessDenied", "not authorized to assume")
        return assume(self, account, role, event_id)

    monkeypatch.setattr(AccountSessions, "_assume", refusing)
    remediator, _ = engine(BOTH, topic[0])

    # When case 3 arrives
    [report] = remediator.handle(cross_account_event(key_k))

    # Then it is refused, saying which account cannot be reached, and nothing is written
    assert report.outcome == "refused"
    assert why in report.reason
    assert snapshot(org, [key_k]) == before
    assert [n["message"]["outcome"] for n in org.received(topic[1])] == ["refused"]


def test_org_engine_copied_ami_user_case_with_remedy_grant_makes_both_halves(
    org: World, topic: tuple[str, str]
) -> None:
    # Given case 4: a user of A launching with K's key (a copied AMI's snapshot key), and both
    # accounts allowing the user and the key, with grants chosen as the remedy
    user = f"arn:aws:iam::{MEMBER_A}:user/ops-alice"
    with org.account(MEMBER_A):
        org.user()
    key_k = org.key(MEMBER_K)
    event = load_event(CASE4, {SAMPLE_OTHER_KEY_ARN: key_k})
    settings = config(([user], KEYS_OF_K), ([user], KEYS_OF_K), remedy="grant")
    remediator, _ = engine(settings, topic[0])

    # When the engine handles the denied CreateGrant EBS made for the user's launch
    [report] = remediator.handle(event)

    # Then K lets A's member role grant exactly that user, and the grant is made from A
    assert report.outcome == "remediated", report.reason
    [grant_statement, _] = grantor_statements(org.policy(key_k))
    assert grant_statement["Condition"]["StringEquals"] == {"kms:GranteePrincipal": user}
    assert [g["GranteePrincipal"] for g in org.grants(key_k)] == [user]


def test_org_engine_hub_batch_with_state_answers_the_key_owners_copy_once(
    org: World,
    topic: tuple[str, str],
    hub_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the hub with its state table, and A's and K's copies of case 3 in one batch
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    key_k = hub_environment["case3"]
    batch = sqs_batch(
        ("m-case3-a", json.dumps(cross_account_event(key_k))),
        ("m-case3-k", json.dumps(cross_account_event(key_k, copy_of=MEMBER_K))),
    )

    # When the hub's handler runs on it
    response = hub.handler(batch, FakeContext())  # type: ignore[arg-type]

    # Then K's copy (same sharedEventID) is answered with the first result: one remedy, one
    # notification, both halves audited
    assert response == {"batchItemFailures": []}
    assert [g["GranteePrincipal"] for g in org.grants(key_k)] == [SLR_A]
    assert [n["message"]["outcome"] for n in org.received(topic[1])] == ["remediated"]
    remedies = [c["remedy"] for c in DynamoState(TABLE).history(key_k)]
    assert remedies == ["key-policy", "grant"]


# --- diagnose -----------------------------------------------------------------------------------


def test_org_engine_diagnose_reads_a_members_group_through_its_member_role_and_writes_nothing(
    org: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a group in member A whose template names K's key, a group of the same name in the
    # hub naming a key of the hub's, and the organization configuration in a file
    key_k, key_hub = org.key(MEMBER_K), org.key(HUB)
    with org.account(MEMBER_A):
        org.autoscaling_group(org.launch_template(key_k))
    org.autoscaling_group(org.launch_template(key_hub))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(BOTH))
    before = snapshot(org, [key_k, key_hub])

    # When diagnosing the group of member A from the hub
    code = cli.main(
        [
            *("diagnose", "--asg", "web-asg", "--config", str(config_file)),
            *("--account", MEMBER_A, "--region", REGION, "--json"),
        ]
    )

    # Then it explains A's launch: A's group, K's key, A's Auto Scaling role, both halves planned
    assert code == 0
    found = json.loads(capsys.readouterr().out)
    assert found["account"] == MEMBER_A
    [finding] = found["findings"]
    assert (finding["key_arn"], finding["principal_arn"]) == (key_k, SLR_A)
    assert finding["key_account"] == MEMBER_K
    # And it read only: no key of any account changed
    assert snapshot(org, [key_k, key_hub]) == before


@pytest.mark.parametrize(
    ("settings", "account", "message"),
    [
        ({"mode": "enforce"}, MEMBER_A, "--account needs a configuration with member_role"),
        (BOTH, "1111", "--account '1111' is not a 12-digit account id"),
    ],
    ids=["no-member-role", "malformed-account"],
)
def test_org_engine_diagnose_account_is_refused_in_one_line_where_it_cannot_apply(
    org: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, Any],
    account: str,
    message: str,
) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    code = cli.main(
        [
            *("diagnose", "--asg", "web-asg", "--config", str(config_file)),
            *("--account", account, "--region", REGION),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_org_engine_replay_dry_run_writes_nowhere_even_where_an_account_says_enforce(
    org: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given case 3's event and a configuration whose two accounts each say enforce
    monkeypatch.delenv("NOTIFY_TOPIC_ARN", raising=False)
    key_k = org.key(MEMBER_K)
    settings = copy.deepcopy(BOTH)
    for entry in settings["accounts"].values():
        entry["mode"] = "enforce"
    event_file, config_file = tmp_path / "event.json", tmp_path / "config.json"
    event_file.write_text(json.dumps(cross_account_event(key_k)))
    config_file.write_text(json.dumps(settings))
    before = snapshot(org, [key_k])

    # When replaying it with --dry-run
    code = cli.main(["replay", str(event_file), "--config", str(config_file), "--dry-run"])

    # Then it says what it would do, and neither account was written
    assert code == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "dry_run"
    assert snapshot(org, [key_k]) == before
