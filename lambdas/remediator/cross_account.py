"""Both halves of a cross-account grant, in organization mode. Pure.

A launcher of account A (an Auto Scaling service-linked role) can use a key of account K only
through a grant, made from A on the key ARN; for A to make it, K's key policy must let A's
member role call ``kms:CreateGrant`` for exactly that grantee and those operations, and
``kms:DescribeKey`` (domain cases 3 and 4; https://docs.aws.amazon.com/autoscaling/ec2/
userguide/key-policy-requirements-EBS-encryption.html, example 2). The statement is narrowed
with KMS's grant condition keys (https://docs.aws.amazon.com/kms/latest/developerguide/
grant-authorization.html and conditions-kms.html#conditions-kms-grantee-principal,
#conditions-kms-grant-operations): ``kms:GranteePrincipal`` is single-valued, the request's
GranteePrincipal, matched with ``StringEquals`` against the launchers of A this tool made
grants for; ``kms:GrantOperations`` is multi-valued, so ``ForAllValues:StringEquals`` requires
every operation of the request to be one of the documented set. No
``kms:GrantIsForAWSResource``: the grant is for a role, not created by an AWS service.

One pair of statements per grantor account, named by Sid: a second launcher of A on the same key
joins the first statement's ``kms:GranteePrincipal`` list. Each half is a change in its own
account, allowed only by that account's configuration (``RemediatorConfig.for_account``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediator import exact_json
from remediator.arns import PrincipalError, principal_from_arn
from remediator.config import RemediatorConfig
from remediator.decision import Action, Decision, Facts
from remediator.fixes import REMEDIATOR_ROLE_NOTE
from remediator.outcomes import Outcome
from remediator.policy import GRANT_OPERATIONS, SID_PREFIX, as_list, statements
from remediator.report import Result

SID_GRANT_FROM = f"{SID_PREFIX}GrantFrom"
SID_DESCRIBE_FROM = f"{SID_PREFIX}DescribeFrom"
_GRANTEE = "kms:GranteePrincipal"
_OPERATIONS = "kms:GrantOperations"
_GRANTOR_SID = re.compile(rf"^(?:{SID_GRANT_FROM}|{SID_DESCRIBE_FROM})(\d{{12}})\Z")


def member_role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


@dataclass(frozen=True)
class Prerequisite:
    """What the key's account must say before the launcher's account can make the grant."""

    key_account: str
    grantor_account: str
    grantor_role: str  # arn:<partition>:iam::<grantor_account>:role/<member_role>
    grantee: str
    operations: tuple[str, ...]
    dry_run: bool  # the key's account is in dry-run

    @property
    def sids(self) -> tuple[str, str]:
        return (SID_GRANT_FROM + self.grantor_account, SID_DESCRIBE_FROM + self.grantor_account)

    @property
    def statements(self) -> list[dict[str, Any]]:
        """The statements for this grantee alone (what a dry run or a refusal shows)."""
        return grantor_statements(self, [self.grantee])


def grantor_statements(need: Prerequisite, grantees: list[str]) -> list[dict[str, Any]]:
    grant_sid, describe_sid = need.sids
    principal = {"AWS": need.grantor_role}
    return [
        {
            "Sid": grant_sid,
            "Effect": "Allow",
            "Principal": principal,
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {_GRANTEE: grantees[0] if len(grantees) == 1 else grantees},
                "ForAllValues:StringEquals": {_OPERATIONS: list(need.operations)},
            },
        },
        {
            "Sid": describe_sid,
            "Effect": "Allow",
            "Principal": principal,
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


def grantor_prerequisite(
    config: RemediatorConfig, facts: Facts, decision: Decision
) -> Prerequisite | Result | None:
    """For a grant on another account's key: the key owner's half, or the refusal when the key's
    account may not be changed (then nothing is written anywhere). None: no grant is planned."""
    if decision.action is not Action.CREATE_GRANT or decision.grant is None:
        return None
    assert config.member_role is not None
    key, principal, plan = facts.key, facts.principal, decision.grant
    need = Prerequisite(
        key_account=key.account,
        grantor_account=facts.this_account,
        grantor_role=member_role_arn(principal.partition, facts.this_account, config.member_role),
        grantee=plan.grantee,
        operations=plan.operations,
        dry_run=config.for_account(key.account).dry_run,
    )
    allow = config.for_account(key.account).allow
    if allow.allows_key(key.arn) and allow.allows_principal(principal.arn):
        return need
    which = "key" if not allow.allows_key(key.arn) else "principal"
    return Result(
        Outcome.REFUSED,
        f"the {which} is not in the allowlist of the key's account {key.account}, so its key "
        f"policy cannot let account {facts.this_account} create the grant; nothing was changed "
        "in either account",
        suggested_fix={
            "key_policy_statements": need.statements,
            "key_policy_note": (
                f"Add these statements to the policy of {key.arn} in account {key.account}: "
                f"they let {need.grantor_role} describe the key and create a grant on it for "
                f"{plan.grantee} with exactly these operations. {REMEDIATOR_ROLE_NOTE}."
            ),
            "grant_cli": plan.cli(),
        },
    )


def edited_prerequisite(policy: dict[str, Any], need: Prerequisite) -> str | None:
    """Why the grantor's statements in ``policy`` may not be rewritten, or None: a statement
    with one of their Sids that is not exactly as the tool writes it for this grantor role (an
    administrator narrowed it, say, or reused the Sid), or a Sid used twice. The tool changes
    only what it wrote, so such a key is refused."""
    found: dict[str, dict[str, Any]] = {}
    for sid in need.sids:
        same = [s for s in statements(policy) if s.get("Sid") == sid]
        if len(same) > 1:
            return f"the key policy has {len(same)} statements with the tool's Sid {sid}"
        if same:
            found[sid] = same[0]
    grantees = _grantees(found.get(need.sids[0])) or [need.grantee]
    widened = [g for g in grantees if not _is_exact_principal(g)]
    if widened:
        return (
            f"the statement {need.sids[0]} of the key policy names grantees the tool never "
            f"writes ({', '.join(widened)}): the tool does not rewrite it"
        )
    for written in grantor_statements(need, grantees):
        sid = written["Sid"]
        if sid in found and not exact_json.same(found[sid], written):
            return (
                f"the statement {sid} of the key policy is not as the tool wrote it (someone "
                "changed it): the tool does not rewrite it"
            )
    return None


def with_prerequisite(
    policy: dict[str, Any], need: Prerequisite
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(the policy with the grantor's statements letting it make this grant, those statements),
    or None when they are in place already."""
    grant_sid, describe_sid = need.sids
    found = {s.get("Sid"): s for s in statements(policy)}
    grantees = _grantees(found.get(grant_sid))
    if need.grantee not in grantees:
        grantees.append(need.grantee)
    wanted = grantor_statements(need, grantees)
    if all(exact_json.same(found.get(s["Sid"]), s) for s in wanted):
        return None
    after = copy.deepcopy(policy)
    kept = [s for s in statements(after) if s.get("Sid") not in (grant_sid, describe_sid)]
    after["Statement"] = [*kept, *wanted]
    return after, wanted


def grantor_statement(stmt: Mapping[str, Any]) -> bool | None:
    """Whether ``stmt`` is one of the grantor statements exactly as ``grantor_statements``
    writes them, for the member role of the account its Sid names; False when it has such a
    Sid but someone changed it, None when it has no such Sid (for cleanup)."""
    match = _GRANTOR_SID.match(str(stmt.get("Sid")))
    if match is None:
        return None
    principal = stmt.get("Principal")
    if not isinstance(principal, Mapping) or not isinstance(principal.get("AWS"), str):
        return False
    role = str(principal["AWS"])
    if not role.startswith("arn:") or role.split(":")[4:5] != [match.group(1)]:
        return False
    condition = stmt.get("Condition")
    operations = (
        as_list((condition.get("ForAllValues:StringEquals") or {}).get(_OPERATIONS))
        if isinstance(condition, Mapping)
        else []
    )
    grantees = _grantees(dict(stmt))
    if stmt.get("Action") == "kms:CreateGrant" and not (
        grantees
        and all(_is_exact_principal(g) for g in grantees)
        and operations
        and set(operations) <= set(GRANT_OPERATIONS)
    ):
        return False  # the tool names launchers and the documented operations, never more
    need = Prerequisite(
        "", match.group(1), role, (grantees or ["-"])[0], tuple(operations), dry_run=False
    )
    expected = {s["Sid"]: s for s in grantor_statements(need, grantees)}
    return exact_json.same(dict(stmt), expected[stmt["Sid"]])


def _is_exact_principal(arn: str) -> bool:
    if "*" in arn or "?" in arn:
        return False
    try:
        principal_from_arn(arn)
    except PrincipalError:
        return False
    return True


def _grantees(statement: dict[str, Any] | None) -> list[str]:
    if statement is None:
        return []
    condition = statement.get("Condition") or {}
    values = as_list((condition.get("StringEquals") or {}).get(_GRANTEE))
    return [v for v in values if isinstance(v, str)]


def prerequisite_holds(
    before: dict[str, Any], after: dict[str, Any], need: Prerequisite
) -> str | None:
    """The problem with the policy read back after the write, or None: the grantor's statements
    are there as written, and every other statement, the Version and the Id are as they were."""
    if with_prerequisite(after, need) is not None:
        return f"the statements letting {need.grantor_role} create the grant are not in place"
    sids = need.sids

    def others(policy: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in policy.items() if k != "Statement"}
        return rest | {"Statement": [s for s in statements(policy) if s.get("Sid") not in sids]}

    if not exact_json.same(others(before), others(after)):
        return "statements the tool did not write (or the policy's Version or Id) changed"
    return None
