"""Organization mode's port as a table: each call goes to the account (and region) it concerns,
never to the one whose copy of the event arrived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from remediator.adapters.accounts import AccountSessions
from remediator.adapters.routing import AccountRouter
from remediator.ports import Rejected

HUB = "123456789012"
A = "111122223333"
K = "444455556666"
EVENT = "7f3c2a9e-5d1b-4c8e-9a6f-0b1c2d3e4f50"
KEY_K = f"arn:aws:kms:us-east-1:{K}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ALIAS_K = f"arn:aws:kms:us-east-1:{K}:alias/ebs"
SLR_A = (
    f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
USER_K = f"arn:aws:iam::{K}:user/ops-alice"


@dataclass
class Recorder:
    """An adapter that records which account and region each call reached."""

    where: tuple[str, str | None]
    calls: list[tuple[str, str, str | None]]

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, *self.where))

        return call

    def read_only(self) -> Recorder:
        return self


@dataclass
class RecordingSessions(AccountSessions):
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)

    def own_account(self) -> str:
        return HUB

    def own(self, region: str | None = None) -> Any:
        return Recorder((HUB, region), self.calls)

    def adapter(self, account: str, *, event_id: str, region: str | None = None) -> Any:
        self.event_ids.append(event_id)
        return Recorder((account, region), self.calls)


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("describe_key", (KEY_K,), (K, "us-east-1")),
        ("describe_key", (ALIAS_K,), (K, "us-east-1")),
        ("describe_key", ("alias/ebs",), (A, "eu-west-1")),
        ("describe_key", ("0987dcba-09fe-87dc-65ba-ab0987654321",), (A, "eu-west-1")),
        ("get_key_policy", (KEY_K,), (K, "us-east-1")),
        ("put_key_policy", (KEY_K, "{}"), (K, "us-east-1")),
        ("list_grants", (KEY_K,), (K, "us-east-1")),
        ("create_grant", (KEY_K, SLR_A, ("Decrypt",), "n"), (A, "us-east-1")),
        ("revoke_grant", (KEY_K, "g"), (K, "us-east-1")),
        ("retire_grant", (KEY_K, "g"), (A, "us-east-1")),
        ("principal_exists", (USER_K,), (K, "eu-west-1")),
        ("identity_policies", (SLR_A,), (A, "eu-west-1")),
        ("describe_instance", ("i-0123456789abcdef0",), (A, "eu-west-1")),
        ("volume_keys", (("vol-0a1b2c3d4e5f60011",),), (A, "eu-west-1")),
        ("autoscaling_group", ("web-asg",), (A, "eu-west-1")),
        ("launch_template", ({"LaunchTemplateId": "lt-1"},), (A, "eu-west-1")),
        ("ssm_parameter", ("/ami",), (A, "eu-west-1")),
        ("ebs_default_key", (), (A, "eu-west-1")),
        ("launch_record", ("i-0123456789abcdef0", ("RunInstances",)), (A, "eu-west-1")),
        ("validate_policy", ("{}",), (HUB, None)),
        ("send_message", ("https://sqs/q", "{}", 120), (HUB, None)),
        ("publish", ("arn:aws:sns:eu-west-1:123456789012:t", "s", "{}", "remediated"), (HUB, None)),
    ],
)
def test_routing_each_call_reaches_the_account_it_concerns(
    method: str, args: tuple[Any, ...], expected: tuple[str, str | None]
) -> None:
    # Given the router acting for an event whose launch happened in A, eu-west-1
    sessions = RecordingSessions(member_role="KmsLaunchRemediatorMember")
    router = AccountRouter(sessions)
    # When making the call
    with router.acting_for(EVENT, A, "eu-west-1"):
        getattr(router, method)(*args)
        assert router.account_id() == A
    # Then it reached the expected account and region, under the event's session
    assert sessions.calls == [(method, *expected)]
    assert set(sessions.event_ids) <= {EVENT}


def test_routing_outside_an_event_acts_as_the_engines_own_account() -> None:
    # Given the router after an event, as the rollback command uses it
    sessions = RecordingSessions(member_role="KmsLaunchRemediatorMember")
    router = AccountRouter(sessions)
    with router.acting_for(EVENT, A, "eu-west-1"):
        pass
    # Then its account is the engine's own again, and key calls still go by the key ARN
    assert router.account_id() == HUB
    router.get_key_policy(KEY_K)
    router.in_account(A).retire_grant(KEY_K, "g")
    assert sessions.calls == [("get_key_policy", K, "us-east-1"), ("retire_grant", A, None)]


def test_routing_grant_for_a_principal_of_another_account_than_the_launchs_is_refused() -> None:
    # Given the router acting for a launch in A
    sessions = RecordingSessions(member_role="KmsLaunchRemediatorMember")
    router = AccountRouter(sessions)
    # When a grant is asked for a principal of K
    with router.acting_for(EVENT, A, "eu-west-1"), pytest.raises(Rejected, match="launch's"):
        router.create_grant(KEY_K, USER_K, ("Decrypt",), "n")
    # Then no call was made anywhere: the change was decided for A's allowlist only
    assert sessions.calls == []
