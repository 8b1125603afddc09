"""Every refusal: nothing is written, the operator is told the exact fix, and the oracle
(tests/support/oracle.py) agrees that the launch still fails. Denied KMS reads and writes are
refusals too, never a crash; a launch blocked outside the key (an identity-policy Deny, a
permissions boundary, identity policies that cannot be read) is ``blocked_elsewhere``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from remediator.model import PlannedChange
from remediator.ports import NoState
from tests.integration.conftest import Run, allow
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.kms_authorization import denied, verdicts
from tests.support.world import ACCOUNT, OTHER_ACCOUNT, SAMPLE_KEY_ARN, World, load_event

CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE5 = "case5_user_start_instances_create_grant.json"
CASE6 = "case6_saas_scheduler_role_create_grant.json"
USER = f"arn:aws:iam::{ACCOUNT}:user/ops-alice"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
SAAS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SaaSSchedulerRole"
# Whose launch each fixture is, and the oracle's kind of launch for it.
LAUNCHER = {CASE1: (SLR, "asg"), CASE5: (USER, "start"), CASE6: (SAAS_ROLE, "start")}
ANY_PRINCIPALS = every_principal_of(ACCOUNT)
ANY_KEYS = every_key_of(ACCOUNT, OTHER_ACCOUNT)


class BusyState(NoState):
    """A state store reporting that the key already changed many times this hour."""

    def changes_in_last_hour(self, key_arn: str) -> int:
        return 10

    def begin_change(self, change: PlannedChange) -> str:
        raise AssertionError("a refusal must record no change")


def with_session_issuer(arn: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = arn

    return mutate


def as_root(event: dict[str, Any]) -> None:
    event["detail"]["userIdentity"] = {
        "type": "Root",
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
    }


def message_names_other_key(event: dict[str, Any]) -> None:
    event["detail"]["errorMessage"] = (
        "User: arn:aws:iam::111122223333:user/ops-alice is not authorized to perform: "
        "kms:CreateGrant on resource: "
        "arn:aws:kms:eu-west-1:111122223333:key/ffffffff-ffff-ffff-ffff-ffffffffffff"
    )


def big_policy(account: str) -> dict[str, Any]:
    """A policy just under 32 KB: adding the tool's statements would pass the limit."""
    root = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
    root |= {"Action": "kms:*", "Resource": "*"}
    policy: dict[str, Any] = {"Version": "2012-10-17", "Statement": [root]}
    while len(json.dumps(policy, separators=(",", ":"))) < 32_768 - 300:
        i = len(policy["Statement"])
        policy["Statement"].append(
            {
                "Sid": f"Padding{i}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:role/padding-{i:04d}"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
            }
        )
    assert len(json.dumps(policy, separators=(",", ":"))) < 32_768
    return policy


def deny_user(account: str) -> dict[str, Any]:
    root = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
    root |= {"Action": "kms:*", "Resource": "*"}
    deny = {
        "Sid": "NoAlice",
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{account}:user/ops-alice"},
        "Action": ["kms:CreateGrant", "kms:Decrypt"],
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Statement": [root, deny]}


def not_principal_deny(*exempt: str) -> Callable[[str], dict[str, Any]]:
    """A Deny of the launch's calls to everyone but ``exempt`` (the IAM NotPrincipal page's
    pattern; not of kms:*, which would deny the remediator DescribeKey too)."""

    def policy(account: str) -> dict[str, Any]:
        root = {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        }
        root |= {"Action": "kms:*", "Resource": "*"}
        deny = {
            "Sid": "OnlyThese",
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [e.format(account=account) for e in exempt]},
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
        }
        return {"Version": "2012-10-17", "Statement": [root, deny]}

    return policy


def allow_in_organization(account: str) -> dict[str, Any]:
    """The key already allows the launch on a condition the tool cannot decide (the caller's
    organization is not read): it may already be allowed, so no statement is added."""
    root = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
    root |= {"Action": "kms:*", "Resource": "*"}
    org = {
        "Sid": "Organization",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}},
    }
    return {"Version": "2012-10-17", "Statement": [root, org]}


def edited_tool_statement(account: str) -> dict[str, Any]:
    root = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
    root |= {"Action": "kms:*", "Resource": "*"}
    edited = {
        "Sid": "KmsLaunchRemediatorUseViaEc2",
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{account}:user/bob"]},
        "Action": "kms:*",  # someone widened it by hand
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Statement": [root, edited]}


# Each row: id, fixture, config, how to set the world up (returns the key ARN), event mutation,
# engine kwargs, expected reason fragment.
REFUSALS: list[tuple[Any, ...]] = [
    (
        "key-not-allowlisted",
        CASE5,
        allow(ANY_PRINCIPALS, [f"arn:aws:kms:*:{ACCOUNT}:key/nope"]),
        {},
        None,
        {},
        "key is not in the allowlist",
    ),
    (
        "principal-not-allowlisted",
        CASE5,
        allow([f"arn:aws:iam::{ACCOUNT}:role/*"], ANY_KEYS),
        {},
        None,
        {},
        "principal is not in the allowlist",
    ),
    ("empty-allowlist", CASE5, {}, {}, None, {}, "not in the allowlist"),
    (
        "aws-managed-key",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"manager": "AWS"},
        None,
        {},
        "AWS-managed",
    ),
    (
        "disabled-key",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"disable": True},
        None,
        {},
        "Disabled",
    ),
    (
        "pending-deletion",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"delete": True},
        None,
        {},
        "PendingDeletion",
    ),
    (
        "pending-import",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"state": "PendingImport"},
        None,
        {},
        "PendingImport",
    ),
    (
        "wildcard-principal",
        CASE1,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        with_session_issuer("arn:aws:iam::111122223333:role/*"),
        {},
        "wildcard",
    ),
    (
        "partial-wildcard-principal",
        CASE1,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        with_session_issuer("arn:aws:iam::111122223333:role/Admin?"),
        {},
        "wildcard",
    ),
    (
        "odd-characters",
        CASE1,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        with_session_issuer('arn:aws:iam::111122223333:role/x"}]'),
        {},
        "characters",
    ),
    (
        "other-account-principal",
        CASE1,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        with_session_issuer("arn:aws:iam::999988887777:role/Evil"),
        {},
        "principal is not in the allowlist",
    ),
    # No glob can match a root (an entry names role/ or user/, and "*" never crosses "/"), so a
    # root is refused before decide()'s own exact-name check.
    (
        "root-by-glob",
        CASE1,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        as_root,
        {},
        "principal is not in the allowlist",
    ),
    (
        "principal-missing-in-iam",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"no_user": True},
        None,
        {},
        "does not exist",
    ),
    (
        "explicit-deny",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": deny_user},
        None,
        {},
        "Deny statement 'NoAlice'",
    ),
    # The IAM NotPrincipal page: a user is exempt only with its account listed too, and the
    # account root alone exempts no user of it; a role's launches run in sessions, which listing
    # the role and its account does not exempt.
    (
        "not-principal-names-only-the-account",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": not_principal_deny("arn:aws:iam::{account}:root")},
        None,
        {},
        "Deny statement 'OnlyThese' of the key policy applies",
    ),
    (
        "not-principal-names-only-the-user",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": not_principal_deny(USER)},
        None,
        {},
        "Deny statement 'OnlyThese' of the key policy may apply",
    ),
    (
        "not-principal-names-the-role-and-its-account",
        CASE6,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": not_principal_deny(SAAS_ROLE, "arn:aws:iam::{account}:root"), "role": True},
        None,
        {},
        "Deny statement 'OnlyThese' of the key policy applies",
    ),
    (
        "allow-on-an-undecidable-condition",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": allow_in_organization},
        None,
        {},
        "aws:PrincipalOrgID",
    ),
    (
        "tool-sid-edited-by-hand",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {"policy": edited_tool_statement},
        None,
        {},
        "changed by someone else",
    ),
    (
        "too-large-for-key-policy",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS, remedy="key-policy"),
        {"policy": big_policy},
        None,
        {},
        "32 KB",
    ),
    (
        "conflicting-key-in-message",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        message_names_other_key,
        {},
        "different keys",
    ),
    (
        "anti-loop",
        CASE5,
        allow(ANY_PRINCIPALS, ANY_KEYS),
        {},
        None,
        {"state": BusyState()},
        "likely a loop",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "config", "setup", "mutate", "engine_args", "reason"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_engine_refusal_writes_nothing_and_suggests_fix(
    world: World,
    inbox: tuple[str, str],
    run: Run,
    fixture: str,
    config: dict[str, Any],
    setup: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None] | None,
    engine_args: dict[str, Any],
    reason: str,
) -> None:
    # Given a key and principal set up to trip one safety rule
    key = world.key(policy=setup["policy"](ACCOUNT) if "policy" in setup else None)
    if not setup.get("no_user"):
        world.user()
    if setup.get("role"):
        world.role("SaaSSchedulerRole")
    world.autoscaling_slr()
    if "manager" in setup or "state" in setup:
        world.set_key(key, manager=setup.get("manager"), state=setup.get("state"))
    if setup.get("disable"):
        world.client("kms").disable_key(KeyId=key.rsplit("/", 1)[-1])
    if setup.get("delete"):
        world.client("kms").schedule_key_deletion(
            KeyId=key.rsplit("/", 1)[-1], PendingWindowInDays=7
        )
    policy_before = world.policy(key)
    event = load_event(fixture, {SAMPLE_KEY_ARN: key})
    if mutate:
        mutate(event)

    # When the event arrives
    [report] = run(event, config, **engine_args)

    # Then nothing is written and the notification says why and what to do
    assert report.outcome == "refused"
    assert reason in report.reason
    assert world.policy(key) == policy_before
    assert world.grants(key) == []
    [note] = world.received(inbox[1])
    assert note["attributes"] == {"outcome": "refused"}
    assert note["message"]["reason"] == report.reason
    assert note["message"]["suggested_fix"], "a refusal must carry a suggested fix"
    assert note["message"]["changes"] is None
    # And AWS would still refuse the launch (a principal that does not exist launches nothing)
    principal, kind = LAUNCHER[fixture]
    if not setup.get("no_user"):
        assert verdicts(world, principal, key, kind) == denied(kind)


def test_engine_refusal_suggests_the_exact_statements(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a principal outside the allowlist
    key, user = world.key(), world.user()
    event = load_event(CASE5, {SAMPLE_KEY_ARN: key})

    # When its launch fails
    run(event, allow([f"arn:aws:iam::{ACCOUNT}:role/*"], ANY_KEYS))

    # Then the message gives the statements an operator would add, naming that user
    fix = world.received(inbox[1])[0]["message"]["suggested_fix"]
    assert [s["Sid"] for s in fix["key_policy_statements"]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert all(s["Principal"] == {"AWS": [user]} for s in fix["key_policy_statements"])


def test_engine_refuses_key_policy_remedy_for_other_accounts_key(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given a cross-account key and remedy key-policy (no grants allowed)
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event(
        CASE3, {"arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321": key}
    )

    # When the failure arrives
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS, remedy="key-policy"))

    # Then nothing is written, and the fix names the grant command to run from this account
    assert report.outcome == "refused"
    assert "only in the key's own account" in report.reason
    assert world.grants(key) == []
    assert report.suggested_fix is not None
    assert report.suggested_fix["grant_cli"].startswith(f"aws kms create-grant --key-id {key} ")


def test_engine_refuses_key_in_another_region(
    world: World, inbox: tuple[str, str], run: Run
) -> None:
    # Given the event claims eu-west-1 but names a key in us-east-1
    world.user()
    key = world.key()
    other_region_key = key.replace("eu-west-1", "us-east-1")
    event = load_event(CASE5, {SAMPLE_KEY_ARN: other_region_key})

    # When it arrives
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is refused without a write
    assert report.outcome == "refused"
    assert world.policy(key)["Statement"][0]["Sid"] == "Enable IAM User Permissions"
    assert len(world.policy(key)["Statement"]) == 1


def test_engine_refuses_when_kms_rejects_the_policy(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given KMS rejects the new policy (as it does for a principal that does not exist in
    # another account, which this account cannot look up in IAM)
    from botocore.exceptions import ClientError

    from remediator.adapters.aws import AwsAdapter
    from remediator.adapters.errors import translate

    def reject(self: AwsAdapter, key_arn: str, text: str) -> None:
        error = {"Code": "MalformedPolicyDocumentException", "Message": "invalid principal"}
        raise translate(ClientError({"Error": error}, "PutKeyPolicy"), "kms:PutKeyPolicy")

    monkeypatch.setattr(AwsAdapter, "put_key_policy", reject)
    key = world.key()
    world.user()
    before = world.policy(key)

    # When the failure arrives
    [report] = run(load_event(CASE5, {SAMPLE_KEY_ARN: key}), allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is a refusal that carries the statements to apply, and nothing changed
    assert report.outcome == "refused"
    assert "KMS rejected the new policy" in report.reason
    assert report.suggested_fix is not None
    assert [s["Sid"] for s in report.suggested_fix["key_policy_statements"]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert world.policy(key) == before


def test_engine_refuses_when_key_owner_denies_describe(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the other account's key policy does not let this account describe its key
    from botocore.exceptions import ClientError

    from remediator.adapters.aws import AwsAdapter
    from remediator.adapters.errors import translate

    def deny(self: AwsAdapter, key_reference: str) -> None:
        error = {
            "Code": "AccessDeniedException",
            "Message": "not authorized to perform kms:DescribeKey",
        }
        raise translate(ClientError({"Error": error}, "DescribeKey"), "kms:DescribeKey")

    monkeypatch.setattr(AwsAdapter, "describe_key", deny)
    key = world.key(OTHER_ACCOUNT)
    world.autoscaling_slr()
    event = load_event(
        CASE3, {"arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321": key}
    )

    # When the failure arrives
    [report] = run(event, allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is reported as refused with what to review, not raised into retries and the DLQ
    assert report.outcome == "refused"
    assert "may not describe" in report.reason
    assert report.suggested_fix is not None
    assert world.grants(key) == []


# --- KMS denies the remediator a read or a write: a refusal with a fix, never a crash --------


def denied_by_kms(operation: str) -> Any:
    """An adapter method that fails as KMS does when the key policy denies the caller."""
    from botocore.exceptions import ClientError

    from remediator.adapters.errors import translate

    def fail(self: Any, *args: Any) -> None:
        error = {
            "Code": "AccessDeniedException",
            "Message": f"not authorized to perform {operation}",
        }
        raise translate(ClientError({"Error": error}, operation), f"kms:{operation}")

    return fail


def test_engine_put_key_policy_denied_is_a_refusal_with_the_statements_for_the_key_admin(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key whose policy does not let this account's IAM policies manage it
    from remediator.adapters.aws import AwsAdapter

    monkeypatch.setattr(AwsAdapter, "put_key_policy", denied_by_kms("PutKeyPolicy"))
    key, user = world.key(), world.user()
    before = world.policy(key)

    # When the failure arrives (and the remediator's PutKeyPolicy is denied)
    [report] = run(load_event(CASE5, {SAMPLE_KEY_ARN: key}), allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is refused, not failed into retries and the DLQ, and the notification tells the
    # key's administrator what to add, or what to let the remediator do
    assert report.outcome == "refused", report.reason
    assert "KMS denied the new policy: kms:PutKeyPolicy: AccessDeniedException" in report.reason
    fix = world.received(inbox[1])[0]["message"]["suggested_fix"]
    assert [s["Sid"] for s in fix["key_policy_statements"]] == [
        "KmsLaunchRemediatorUseViaEc2",
        "KmsLaunchRemediatorAttach",
    ]
    assert "RemediatorRoleArn" in fix["key_policy_note"]
    assert world.policy(key) == before
    assert verdicts(world, user, key, "start") == denied("start")


class LockingState(BusyState):
    """A state store that serializes writes (so the policy is re-read under the lock) and has
    seen no change this hour."""

    serializes_writes = True

    def changes_in_last_hour(self, key_arn: str) -> int:
        return 0


def test_engine_get_key_policy_denied_under_the_lock_is_a_refusal(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the key policy changes while the event waits for the lock, and the new one no longer
    # lets the remediator read it
    from remediator.adapters.aws import AwsAdapter

    original = AwsAdapter.get_key_policy
    reads: list[str] = []

    def first_then_denied(self: AwsAdapter, key_arn: str) -> str:
        reads.append(key_arn)
        if len(reads) > 1:
            denied_by_kms("GetKeyPolicy")(self, key_arn)
        return original(self, key_arn)

    monkeypatch.setattr(AwsAdapter, "get_key_policy", first_then_denied)
    key, user = world.key(), world.user()
    before = world.policy(key)

    # When the failure arrives
    [report] = run(
        load_event(CASE5, {SAMPLE_KEY_ARN: key}),
        allow(ANY_PRINCIPALS, ANY_KEYS),
        state=LockingState(),
    )

    # Then the re-read's AccessDenied is a refusal with a fix, not an exception
    assert len(reads) == 2
    assert report.outcome == "refused", report.reason
    assert "KMS denied GetKeyPolicy" in report.reason
    assert "kms:GetKeyPolicy" in report.suggested_fix["key_policy_note"]
    assert world.policy(key) == before
    assert verdicts(world, user, key, "start") == denied("start")


def test_engine_get_key_policy_denied_at_first_read_is_a_refusal_naming_it(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key policy without the root statement: the remediator may not read it
    from remediator.adapters.aws import AwsAdapter

    monkeypatch.setattr(AwsAdapter, "get_key_policy", denied_by_kms("GetKeyPolicy"))
    key, user = world.key(), world.user()

    # When the failure arrives
    [report] = run(load_event(CASE5, {SAMPLE_KEY_ARN: key}), allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then it is refused with the reason, and the statements to apply by hand
    assert report.outcome == "refused", report.reason
    assert "the key policy could not be read (could not be read: AccessDeniedException)" in (
        report.reason
    )
    assert report.suggested_fix["key_policy_statements"]
    assert world.grants(key) == []
    assert verdicts(world, user, key, "start") == denied("start")


# --- blocked outside the key: no write could help ---------------------------------------------


def put_policy(world: World, kind: str, name: str, policy_name: str, document: Any) -> None:
    iam = world.client("iam")
    if kind == "user":
        iam.put_user_policy(
            UserName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )
    else:
        iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )


def with_boundary(world: World) -> None:
    """The role's permissions boundary allows EC2 only: it caps a key policy naming the role."""
    iam = world.client("iam")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
    }
    boundary = iam.create_policy(PolicyName="Ec2Only", PolicyDocument=json.dumps(document))
    iam.put_role_permissions_boundary(
        RoleName="SaaSSchedulerRole", PermissionsBoundary=boundary["Policy"]["Arn"]
    )


def with_group_deny(world: World) -> None:
    iam = world.client("iam")
    iam.create_group(GroupName="no-kms")
    iam.add_user_to_group(GroupName="no-kms", UserName="ops-alice")
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}],
    }
    iam.put_group_policy(GroupName="no-kms", PolicyName="NoKms", PolicyDocument=json.dumps(deny))


def with_user_deny(world: World) -> None:
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"}],
    }
    put_policy(world, "user", "ops-alice", "NoGrants", deny)


@pytest.mark.parametrize(
    ("fixture", "setup", "blocked_by", "names"),
    [
        (CASE5, with_user_deny, "identity-policy", "inline policy NoGrants of user ops-alice"),
        (CASE5, with_group_deny, "identity-policy", "inline policy NoKms of group no-kms"),
        (CASE6, with_boundary, "permissions-boundary", "permissions boundary"),
    ],
    ids=["user-inline-deny", "group-deny", "role-boundary-allows-no-kms"],
)
def test_engine_blocked_elsewhere_writes_nothing_and_names_what_blocks(
    world: World,
    inbox: tuple[str, str],
    run: Run,
    fixture: str,
    setup: Callable[[World], None],
    blocked_by: str,
    names: str,
) -> None:
    # Given a key with the default policy, and a principal blocked by its own IAM side
    key = world.key()
    world.user()
    world.role("SaaSSchedulerRole")
    setup(world)
    before = world.policy(key)

    # When its launch fails
    [report] = run(load_event(fixture, {SAMPLE_KEY_ARN: key}), allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then no key-policy statement is written (none would make the launch work), and the
    # notification names what blocks and where to change it
    assert report.outcome == "blocked_elsewhere", report.reason
    assert names in report.reason
    assert world.policy(key) == before
    assert world.grants(key) == []
    [note] = world.received(inbox[1])
    assert note["attributes"] == {"outcome": "blocked_elsewhere"}
    assert note["message"]["suggested_fix"]["blocked_by"] == blocked_by
    assert "IAM of account 111122223333" in note["message"]["suggested_fix"]["where"]
    principal, kind = LAUNCHER[fixture]
    assert verdicts(world, principal, key, kind) == denied(kind)


def test_engine_identity_policies_unreadable_is_blocked_elsewhere_without_a_write(
    world: World, inbox: tuple[str, str], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the remediator may not read the user's identity policies
    from botocore.exceptions import ClientError

    from remediator.adapters.aws import AwsAdapter
    from remediator.adapters.errors import translate

    def denied_read(self: AwsAdapter, principal_arn: str) -> None:
        error = {
            "Code": "AccessDenied",
            "Message": "not authorized to perform iam:ListUserPolicies",
        }
        raise translate(ClientError({"Error": error}, "ListUserPolicies"), "iam:ListUserPolicies")

    monkeypatch.setattr(AwsAdapter, "identity_policies", denied_read)
    key, user = world.key(), world.user()
    before = world.policy(key)

    # When its launch fails
    [report] = run(load_event(CASE5, {SAMPLE_KEY_ARN: key}), allow(ANY_PRINCIPALS, ANY_KEYS))

    # Then the tool cannot tell whether a statement would help (an identity-policy Deny would
    # win), so it writes none and says what it could not read
    assert report.outcome == "blocked_elsewhere", report.reason
    assert "iam:ListUserPolicies" in report.reason
    assert report.suggested_fix["blocked_by"] == "identity-unreadable"
    assert world.policy(key) == before
    assert verdicts(world, user, key, "start") == denied("start")
