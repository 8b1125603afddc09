"""Make moto's KMS refuse, across accounts, what AWS would refuse: DescribeKey, ListGrants and
CreateGrant by a principal of one account on a key of another, judged by the oracle.

moto enforces no key policy, so without this a remediator in account A can describe, list and
grant on any key of account K. In AWS, K's key policy must let A make each of these calls (and
A's identity policy must too): "Allowing users in other accounts to use a KMS key"
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
While ``enforced`` is active, each such call is judged by ``tests/support/oracle.py`` for the
remediator's role in A (a role with the stack's permissions, see ``remediator_role``), against
K's key policy as the emulator holds it at that moment, and answered with
AccessDeniedException when AWS would refuse it. Calls within one account are left alone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from moto.kms.exceptions import AccessDeniedException
from moto.kms.models import kms_backends
from moto.kms.responses import KmsResponse

from tests.support import oracle
from tests.support.world import World

ENFORCED_OPERATIONS = ("describe_key", "list_grants", "create_grant")
REMEDIATOR_ROLE = "KmsLaunchRemediatorFunctionRole"


def remediator_role(world: World, key_patterns: list[str], name: str = REMEDIATOR_ROLE) -> str:
    """The remediator's own role in this account, with the KMS permissions the stack gives it on
    the allowlisted keys (README, "Security model"). It is who creates the cross-account grants.
    ``name``: another role with those permissions, such as a member account's member role."""
    iam = world.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:GetKeyPolicy"],
                "Resource": key_patterns,
            },
            {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="kms", PolicyDocument=json.dumps(permissions))
    return arn


def _key_policy(key_arn: str) -> dict[str, Any]:
    _, _, _, region, account, resource = key_arn.split(":", 5)
    key = kms_backends[account][region].keys[resource.split("/", 1)[1]]
    policy: dict[str, Any] = json.loads(key.policy)
    return policy


def _verdict(caller: oracle.Identity, operation: str, key_arn: str, params: Any) -> bool:
    policy = _key_policy(key_arn)
    if operation == "create_grant":
        grant = oracle.Grant(
            grantee=params("GranteePrincipal"),
            operations=frozenset(params("Operations") or ()),
            issuer=caller,
        )
        return oracle.grant_creatable(grant, key_arn, policy)
    action = "kms:DescribeKey" if operation == "describe_key" else "kms:ListGrants"
    context = {"kms:CallerAccount": caller.account}
    return oracle.evaluate_call(caller, action, key_arn, policy, context)


@contextlib.contextmanager
def enforced(world: World, caller_arn: str) -> Iterator[list[str]]:
    """While active, cross-account DescribeKey/ListGrants/CreateGrant are allowed only where
    the oracle says AWS would allow them to ``caller_arn``; yields the calls it refused."""
    caller = oracle.read_identity(emulator(world), caller_arn)
    refused: list[str] = []
    originals = {name: getattr(KmsResponse, name) for name in ENFORCED_OPERATIONS}

    def guarded(name: str) -> Callable[[KmsResponse], str]:
        def method(self: KmsResponse) -> str:
            key_id = self._get_param("KeyId")
            cross = (
                isinstance(key_id, str)
                and key_id.startswith("arn:")
                and ":key/" in key_id
                and key_id.split(":")[4] != self.current_account
            )
            if cross and not _verdict(caller, name, key_id, self._get_param):
                refused.append(f"{name}:{key_id}")
                raise AccessDeniedException(
                    f"User: {caller_arn} is not authorized to perform: kms:"
                    f"{''.join(p.capitalize() for p in name.split('_'))} on resource: {key_id}"
                )
            result: str = originals[name](self)
            return result

        return method

    for name in ENFORCED_OPERATIONS:
        setattr(KmsResponse, name, guarded(name))
    try:
        yield refused
    finally:
        for name, original in originals.items():
            setattr(KmsResponse, name, original)


def emulator(world: World) -> oracle.ClientsFor:
    """``account -> (service -> client)``: the oracle reads the emulator as that account."""

    @contextlib.contextmanager
    def clients_for(account: str) -> Iterator[Callable[[str], Any]]:
        with world.account(account):
            yield world.client

    return clients_for


def verdicts(
    world: World, principal: str, key_arn: str, kind: str, issuer: str | None = None
) -> dict[str, bool]:
    """The oracle's verdict on each KMS call of a ``kind`` launch (oracle.LAUNCH_CALLS), on the
    emulator's state now; ``issuer`` is who created the key's grants."""
    return oracle.check_launch(emulator(world), principal, key_arn, kind, grant_issuer=issuer)


def allowed(kind: str) -> dict[str, bool]:
    return dict.fromkeys(oracle.LAUNCH_CALLS[kind], True)


def denied(kind: str) -> dict[str, bool]:
    return dict.fromkeys(oracle.LAUNCH_CALLS[kind], False)


def key_owner_policy(owner: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """A key owner's default policy (root delegation) plus ``extra`` statements."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *extra,
        ],
    }


def add_statements(world: World, key_arn: str, statements: list[dict[str, Any]]) -> None:
    """What the key's administrator does with a suggested fix: append its statements."""
    policy = world.policy(key_arn)
    policy["Statement"] = [*policy["Statement"], *statements]
    world.set_policy(key_arn, policy)


def attach_inline(world: World, principal: str, statements: list[dict[str, Any]]) -> None:
    """What the principal's administrator does with suggested IAM statements."""
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    name = principal.rsplit("/", 1)[-1]
    iam = world.client("iam")
    if ":user/" in principal:
        iam.put_user_policy(UserName=name, PolicyName="KmsLaunch", PolicyDocument=document)
    else:
        iam.put_role_policy(RoleName=name, PolicyName="KmsLaunch", PolicyDocument=document)
