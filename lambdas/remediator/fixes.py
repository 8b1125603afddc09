"""The fixes an operator can apply by hand, as exact statements and commands. Pure.

- ``suggested_fix``: what a refusal suggests for a (key, principal); ``blocked_fix``: where to
  change what blocks outside the key; ``grant_denied_fix`` / ``write_denied_fix``: what a key's
  administrator must allow when KMS denies the remediator a call.

- ``key_fix``: what the key's policy must say for the launch (per launch kind), and, for a
  principal of another account, the identity policy it needs in its own account.
- ``grant_prerequisite``: what a key owner must say before another account can create the grant
  for its launcher: ``kms:CreateGrant`` narrowed to that grantee and operations, without
  ``kms:GrantIsForAWSResource`` (the grant is for a role or user, not made by an AWS service),
  and ``kms:DescribeKey`` (https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html,
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
  example 2).
"""

from __future__ import annotations

from typing import Any

from remediator.access import Access
from remediator.arns import Principal, PrincipalKind
from remediator.authorization import Blocker, LaunchVerdict
from remediator.facts import Facts, GrantPlan, grant_plan
from remediator.launch_model import LaunchKind, via_service
from remediator.model import KeyInfo
from remediator.policy import ATTACH_ACTIONS, USE_ACTIONS, tool_statements

# What a grant allows that the key-policy statements do not: grants take no kms:ViaService.
GRANT_BEYOND_EC2 = (
    "a grant cannot be limited to EC2 (grants have no kms:ViaService condition, only encryption "
    "context constraints), so it also lets {who} call {operations} on the key directly, outside "
    "any launch, until it is revoked"
)
REMEDIATOR_ROLE_NOTE = (
    "to narrow it to the remediator, name its role (the stack Output RemediatorRoleArn) instead "
    "of the account root"
)


def key_policy_note(key: KeyInfo) -> str:
    return (
        f"Add these statements to the policy of {key.arn} in account {key.account} "
        "(aws kms get-key-policy / put-key-policy, policy name default)."
    )


def key_fix(principal: Principal, key: KeyInfo, kind: LaunchKind) -> dict[str, Any]:
    """The key-policy statements for the launch, and for a principal of another account the
    statements of the identity policy it needs there (both sides must allow across accounts)."""
    fix: dict[str, Any] = {
        "key_policy_statements": tool_statements(principal, key.account, key.region, kind),
        "key_policy_note": key_policy_note(key),
    }
    if principal.account != key.account and principal.kind in (
        PrincipalKind.USER,
        PrincipalKind.ROLE,
    ):
        fix["iam_policy_statements"] = iam_statements(principal, key, kind)
        fix["iam_policy_note"] = (
            f"Attach to {principal.arn} in account {principal.account} (an inline or managed "
            f"policy): across accounts, the key policy of {key.account} and the principal's own "
            "identity policy must both allow the launch's calls."
        )
    return fix


def iam_statements(principal: Principal, key: KeyInfo, kind: LaunchKind) -> list[dict[str, Any]]:
    """The identity-policy statements a user or role needs for a launch with ``key``: the use
    actions through EC2 only, and CreateGrant for AWS resources only (StartInstances: that one)."""
    attach = {
        "Sid": "KmsLaunchAttach",
        "Effect": "Allow",
        "Action": list(ATTACH_ACTIONS),
        "Resource": key.arn,
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    if kind is LaunchKind.START_INSTANCES:
        return [attach]
    use = {
        "Sid": "KmsLaunchUseViaEc2",
        "Effect": "Allow",
        "Action": list(USE_ACTIONS),
        "Resource": key.arn,
        "Condition": {
            "StringEquals": {"kms:ViaService": via_service(key.region, principal.partition)}
        },
    }
    return [use, attach]


def grant_prerequisite(
    grantor_account: str, partition: str, grantee: str, operations: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The key-owner statements that let ``grantor_account`` create exactly this grant."""
    root = f"arn:{partition}:iam::{grantor_account}:root"
    return [
        {
            "Sid": f"AllowLaunchGrantsFrom{grantor_account}",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": grantee},
                "ForAllValues:StringEquals": {"kms:GrantOperations": list(operations)},
            },
        },
        {
            "Sid": f"AllowDescribeKeyFrom{grantor_account}",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


def prerequisite_note(key_arn: str, grantor_account: str, grantee: str) -> str:
    key_account = key_arn.split(":")[4]
    return (
        f"Add these statements to the policy of {key_arn} in account {key_account}: they let "
        f"account {grantor_account} describe the key and create a grant on it for {grantee} "
        "with exactly these operations, and nothing else. No kms:GrantIsForAWSResource: this "
        f"grant is for a role or user, not made by an AWS service. {REMEDIATOR_ROLE_NOTE}."
    )


def grant_beyond_ec2(principal: Principal, operations: tuple[str, ...]) -> str:
    return GRANT_BEYOND_EC2.format(who=principal.arn, operations=", ".join(operations))


# --- fixes for one (key, principal), from the facts read ---------------------------------------


def suggested_fix(facts: Facts) -> dict[str, Any]:
    """What an operator would apply by hand: the key-owner statements (and, across accounts, the
    principal's identity-policy statements), or the grant command with its prerequisite."""
    principal, key = facts.principal, facts.key
    plan = grant_plan(key.arn, principal.arn)
    slr_elsewhere = (
        principal.kind is PrincipalKind.SERVICE_LINKED_ROLE and principal.account != key.account
    )
    prerequisite = grant_prerequisite(
        principal.account, principal.partition, plan.grantee, plan.operations
    )
    if slr_elsewhere:
        # Its identity policy is AWS's and has no KMS permissions: only a grant can work.
        fix: dict[str, Any] = {
            "key_policy_statements": prerequisite,
            "key_policy_note": prerequisite_note(key.arn, principal.account, principal.arn),
        }
    else:
        fix = key_fix(principal, key, facts.kind)
    if key.account != facts.this_account or principal.account != key.account:
        fix["grant_cli"] = plan.cli()
        note = (
            f"Run from account {principal.account}, on the key ARN; the caller needs IAM "
            f"kms:CreateGrant on {key.arn}, and the key policy must allow that account to create "
            "this grant"
        )
        if not slr_elsewhere:
            fix["key_owner_statements"] = prerequisite
            note += f" (key_owner_statements); {grant_beyond_ec2(principal, plan.operations)}"
        fix["grant_note"] = note + "."
    return fix


AWS_MANAGED_FIX = {
    "manual_review": (
        "AWS-managed keys (such as aws/ebs) let every principal of their account use them "
        "through EC2. Look for what else denies kms:CreateGrant or kms:Decrypt to the launching "
        "principal: a service control policy, a permissions boundary, or an explicit Deny in its "
        "IAM policies; or another, customer-managed key on the launch (volumes, AMI snapshots)."
    )
}


def manual_fix(reason: str, instance_id: str | None) -> dict[str, Any]:
    """For events the tool cannot act on at all: what an operator should look at."""
    fix: dict[str, Any] = {
        "manual_review": (
            f"The remediator could not act: {reason}. Check the CloudTrail event and the key "
            "policy by hand; the tool changes nothing it cannot identify exactly."
        )
    }
    if instance_id:
        fix["diagnose"] = f"python -m remediator diagnose --instance-id {instance_id}"
    return fix


_WHERE = {
    Blocker.IDENTITY_POLICY: (
        "the principal's identity policies, in IAM of account {account}: the key needs no "
        "change, so the remediator wrote none"
    ),
    Blocker.PERMISSIONS_BOUNDARY: (
        "the principal's permissions boundary, in IAM of account {account}: it caps every "
        "policy, so no key-policy statement can help; extend it to the launch's KMS calls"
    ),
    Blocker.IDENTITY_UNREADABLE: (
        "the remediator could not read the principal's identity policies in account {account}: "
        "let its role make the IAM reads listed in the README (Security model), or check them by "
        "hand; nothing was written, since it could not tell whether a change would help"
    ),
    Blocker.OTHER_ACCOUNT_IDENTITY: (
        "an identity policy of the principal in account {account}: apply iam_policy_statements "
        "there"
    ),
}


def blocked_fix(facts: Facts, verdict: LaunchVerdict) -> dict[str, Any]:
    principal = facts.principal
    fix: dict[str, Any] = {
        "blocked_by": verdict.blocker.value,
        "where": _WHERE[verdict.blocker].format(account=principal.account),
        "manual_review": verdict.detail,
    }
    lacking = verdict.blocker in (Blocker.OTHER_ACCOUNT_IDENTITY, Blocker.IDENTITY_POLICY)
    if lacking and verdict.access is not Access.DENIED and principal.account != facts.key.account:
        # Not a Deny: an identity policy of the other account must allow, and here is which.
        iam = key_fix(principal, facts.key, facts.kind)
        fix.update({k: v for k, v in iam.items() if k.startswith("iam_")})
    return fix


def grant_denied_fix(facts: Facts, plan: GrantPlan) -> dict[str, Any]:
    """KMS denied this account's CreateGrant: the key owner's statements that permit exactly
    this grant (not a kms:GrantIsForAWSResource one), and the command to retry."""
    grantor = facts.this_account
    return {
        "key_policy_statements": grant_prerequisite(
            grantor, facts.principal.partition, plan.grantee, plan.operations
        ),
        "key_policy_note": prerequisite_note(plan.key_arn, grantor, plan.grantee),
        "grant_cli": plan.cli(),
        "grant_note": f"Then the remediator, or this command run from account {grantor}, can "
        "create the grant.",
    }


def write_denied_fix(facts: Facts, operation: str) -> dict[str, Any]:
    """KMS denied the remediator a read or write of this key's policy: the statements for the
    key's administrator to add by hand, and what to let the remediator do instead."""
    fix = suggested_fix(facts)
    fix["key_policy_note"] = (
        f"{fix.get('key_policy_note', '')} KMS denied {operation} to the remediator: the key "
        "policy does not let this account's IAM policies manage the key (it lacks the root "
        "'Enable IAM User Permissions' statement, or a Deny applies). A key administrator can "
        f"add these statements by hand, or let the remediator's role (the stack Output "
        f"RemediatorRoleArn) call {operation} in the key policy."
    ).strip()
    return fix
