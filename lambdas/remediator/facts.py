"""The facts a decision is taken on, re-read from AWS, and the launch's verdict on them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from remediator.arns import Principal
from remediator.authorization import IdentitySide, LaunchVerdict, Sources, authorize
from remediator.launch_model import LaunchKind
from remediator.model import Grant, KeyInfo
from remediator.outcomes import SERVICE_NAME
from remediator.policy import GRANT_OPERATIONS

GRANT_NAME_PREFIX = f"{SERVICE_NAME}-"
NOT_READ = "the principal's identity policies were not read"


@dataclass(frozen=True)
class Facts:
    """What was read from AWS just now, not what the event claimed."""

    this_account: str
    event_region: str
    principal: Principal
    key: KeyInfo
    policy: dict[str, Any] | None  # None when the key is in another account (not readable)
    grants: list[Grant] | None  # None when not read (yet), or not listable
    principal_exists: bool | None  # None when it cannot be checked (another account)
    changes_in_last_hour: int = 0
    grants_denied: bool = False  # ListGrants is denied on this key: do not ask again
    kind: LaunchKind = LaunchKind.RUN_INSTANCES
    identity: IdentitySide | None = None  # None: not read
    policy_problem: str = ""  # why the policy of this account's key could not be read


@dataclass(frozen=True)
class GrantPlan:
    key_arn: str
    grantee: str
    operations: tuple[str, ...]
    name: str

    def cli(self) -> str:
        return (
            f"aws kms create-grant --key-id {self.key_arn} --grantee-principal {self.grantee} "
            f"--operations {' '.join(self.operations)} --name {self.name}"
        )


def grant_plan(key_arn: str, principal_arn: str) -> GrantPlan:
    digest = hashlib.sha256(f"{key_arn}|{principal_arn}".encode()).hexdigest()[:16]
    return GrantPlan(key_arn, principal_arn, GRANT_OPERATIONS, GRANT_NAME_PREFIX + digest)


def has_equivalent_grant(grants: list[Grant], plan: GrantPlan) -> bool:
    return any(
        g.grantee == plan.grantee and set(plan.operations) <= set(g.operations) for g in grants
    )


def launch_verdict(facts: Facts) -> LaunchVerdict:
    """How AWS would judge the launch on these facts. Raises ``PolicyError`` for a policy
    whose statements are not objects."""
    identity = facts.identity or IdentitySide.unreadable(NOT_READ)
    sources = Sources(facts.policy, identity, facts.grants)
    return authorize(sources, facts.principal, facts.key.arn, facts.kind)
