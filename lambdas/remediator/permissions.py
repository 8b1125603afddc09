"""The IAM actions the remediator calls, and the conditions that narrow them, declared once.

The stack grants exactly these (asserted by ``tests/infra/test_permissions.py``), and
``tests/integration/test_permissions_used.py`` records the calls the engine makes on every path:
an undeclared call, or a declared action no path uses, fails the tests, not production.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from remediator import state_schema
from remediator.policy import GRANT_OPERATIONS

# Writes. Granted only on the allowlisted key ARN patterns, never on "*".
KEY_POLICY_WRITE_ACTIONS: tuple[str, ...] = ("kms:PutKeyPolicy",)
GRANT_WRITE_ACTIONS: tuple[str, ...] = ("kms:CreateGrant",)
KEY_WRITE_ACTIONS: tuple[str, ...] = KEY_POLICY_WRITE_ACTIONS + GRANT_WRITE_ACTIONS


def grant_write_conditions(grantee_patterns: Iterable[str]) -> dict[str, Any]:
    """The conditions on ``kms:CreateGrant``: only the grant remedy's operations, only for an
    allowlisted principal, so even a bug cannot grant more or to someone else.

    AWS KMS condition keys (https://docs.aws.amazon.com/kms/latest/developerguide/
    conditions-kms.html#conditions-kms-grant-operations and #conditions-kms-grantee-principal):
    ``kms:GrantOperations`` is multi-valued; ``ForAllValues`` requires every operation in the
    request to be one of the policy's (an empty set would also match, but CreateGrant rejects a
    request without operations). ``kms:GranteePrincipal`` is single-valued, the request's
    ``GranteePrincipal`` parameter, matched here with ``StringLike`` against the principal
    allowlist (IAM's ``*`` and ``?`` are the allowlist's glob characters).
    """
    return {
        "ForAllValues:StringEquals": {"kms:GrantOperations": list(GRANT_OPERATIONS)},
        "StringLike": {"kms:GranteePrincipal": list(grantee_patterns)},
    }


# Undoing a grant made from another account than the key's (organization mode: the grant of a
# cross-account case, made by the launcher's account's member role). ``rollback`` retires it as
# that account: "the AWS account in which the grant was created can retire the grant", with no
# key-policy permission; kms:RetireGrant is effective in IAM policies only
# (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html). Granted to the
# member role on the allowlisted keys; a single account revokes its grants as the key owner.
GRANT_RETIRE_ACTIONS: tuple[str, ...] = ("kms:RetireGrant",)

# Reads of a key. Granted on the allowlisted key ARN patterns plus, for DescribeKey (used to
# resolve aliases and tell AWS-managed keys apart before the allowlist can be checked), "*".
KEY_READ_ACTIONS: tuple[str, ...] = ("kms:GetKeyPolicy", "kms:ListGrants")
KEY_DESCRIBE_ACTIONS: tuple[str, ...] = ("kms:DescribeKey",)

# Reads that IAM does not scope to a resource ARN (they support only "*"; EC2's Describe* and
# its account-level EBS encryption settings, Auto Scaling's Describe*, LookupEvents).
UNSCOPED_READ_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeImages",
    "ec2:DescribeSnapshots",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeFleets",
    "ec2:DescribeSpotFleetRequests",
    "ec2:DescribeSpotInstanceRequests",
    "ec2:GetEbsEncryptionByDefault",
    "ec2:GetEbsDefaultKmsKeyId",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "cloudtrail:LookupEvents",
    "access-analyzer:ValidatePolicy",
    "access-analyzer:CheckAccessNotGranted",
)

# Reads of IAM principals, scoped to this account's roles and users: whether the principal
# exists (GetRole/GetUser, which also return its permissions boundary and tags), and its identity
# policies, inline and attached, and a user's groups (adapters/iam.py). AWS decides a launch on
# them as much as on the key policy (authorization.py).
PRINCIPAL_READ_ACTIONS: tuple[str, ...] = (
    "iam:GetRole",
    "iam:GetUser",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:ListGroupsForUser",
)
# A user's groups' inline and attached policies: scoped to this account's groups.
GROUP_READ_ACTIONS: tuple[str, ...] = (
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:ListAttachedGroupPolicies",
)
# The documents of attached managed policies and boundaries: this account's and AWS's (a
# service-linked role's policy is AWS-managed).
MANAGED_POLICY_READ_ACTIONS: tuple[str, ...] = ("iam:GetPolicy", "iam:GetPolicyVersion")

# Reads of the SSM parameters that name AMIs (resolve:ssm:...). Scoped to this account's
# parameters and AWS's public ones, whose ARNs have no account
# (arn:aws:ssm:REGION::parameter/aws/service/...); a parameter shared from another account
# is refused with the reason.
PARAMETER_READ_ACTIONS: tuple[str, ...] = ("ssm:GetParameter",)
PUBLIC_PARAMETER_PATH = "aws/service/*"

# The delayed re-check of a launch CloudTrail has not recorded yet: the function sends to its
# own re-check queue (the queue's event source mapping reads it; CDK grants that on the queue).
RECHECK_SEND_ACTIONS: tuple[str, ...] = ("sqs:SendMessage",)

# Calls that need no IAM permission, so the stack grants nothing for them. GetCallerIdentity
# tells the remediator which account it acts in ("No permissions are required to perform this
# operation. If an administrator attaches a policy to your identity that explicitly denies
# access to the sts:GetCallerIdentity action, you can still perform this operation", STS API
# reference, https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION_NEEDED: tuple[str, ...] = ("sts:GetCallerIdentity",)

# Organization mode: the hub's role assumes the member role (by name) in the account an event
# concerns (remediator.adapters.accounts). Granted on that role name in any account, and only
# where the role belongs to the organization.
ROLE_ASSUMPTION_ACTIONS: tuple[str, ...] = ("sts:AssumeRole",)


def role_assumption_conditions(organization_id: str) -> dict[str, Any]:
    """The condition on ``sts:AssumeRole``: the role assumed belongs to an account of the
    organization. ``aws:ResourceOrgID`` is the organization of the account that owns the
    resource of the request, here the role (IAM global condition keys,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
    #condition-keys-resourceorgid); a role outside any organization has no value, so the
    condition fails and the call is denied."""
    return {"StringEquals": {"aws:ResourceOrgID": organization_id}}


# The state table's item calls: the lock, intents, audit, counters and incidents
# (remediator.state), and powertools' DynamoDBPersistenceLayer for idempotency records
# (get_item, put_item, update_item, delete_item). No Scan, no Batch*, no DescribeTable.
STATE_TABLE_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)

# Audit items are written once and never changed: these are denied on them.
AUDIT_PROTECTED_ACTIONS: tuple[str, ...] = ("dynamodb:UpdateItem", "dynamodb:DeleteItem")


def audit_protection_conditions() -> dict[str, Any]:
    """The condition that makes the Deny of ``AUDIT_PROTECTED_ACTIONS`` apply to audit items only.

    ``dynamodb:LeadingKeys`` is the request's partition-key values (plural even for single-item
    calls; https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
    specifying-conditions.html). DynamoDB's examples pair it with ``ForAllValues`` to *allow*
    only some keys; to *deny* a prefix, ``ForAnyValue`` is the set operator that matches when
    any partition key of the request is an audit key, and never matches a request without one
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_condition-single-vs-multi-valued-context-keys.html).
    """
    return {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [state_schema.AUDIT_PREFIX + "*"]}}
