"""How a launch uses a KMS key: for each way of launching, the KMS calls EC2 and EBS make with the
launcher's identity, and the request context of each call. One table, each row with its source.

Authorization is judged call by call against this model (``authorization.py``), so the model
decides what "the launch is allowed" means: every call of the row must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from remediator.arns import Principal, PrincipalKind
from remediator.conditions import ABSENT, UNKNOWN_VALUE, ContextValue, RequestContext

ASG_KEY_POLICY = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html"
EC2_EXAMPLE_TWO = "https://docs.aws.amazon.com/kms/latest/developerguide/ct-ec2two.html"
EBS_ENCRYPTION = "https://docs.aws.amazon.com/ebs/latest/userguide/how-ebs-encryption-works.html"
KMS_EBS = "https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html"
START_INSTANCES = "https://repost.aws/knowledge-center/kms-iam-ec2-permission"
SPOT_SLR = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html"
KMS_GRANTS = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
KMS_CONDITIONS = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html"
GLOBAL_KEYS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
)
FORWARD_ACCESS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html"
)


class LaunchKind(StrEnum):
    RUN_INSTANCES = "run-instances"  # a user or role calling RunInstances (or CreateFleet)
    START_INSTANCES = "start-instances"  # a user or role starting an instance whose volumes exist
    AUTO_SCALING = "auto-scaling"  # an Auto Scaling service-linked role
    FLEET = "fleet"  # the Spot, Spot Fleet or EC2 Fleet service-linked role


# The grant EBS creates for the instance: "the Decrypt operation ... for the EC2 instance",
# constrained to the volume's encryption context (ct-ec2two; the CreateGrant records in tests/events).
EBS_GRANT_OPERATIONS = ("Decrypt",)
# What RunInstances needs from the key: the operations of the grant AWS documents as what an
# Auto Scaling launch needs from a key in another account (ASG_KEY_POLICY, example 2), which are
# the calls EBS makes: GenerateDataKeyWithoutPlaintext for a new volume's data key, CreateGrant so
# that EC2 can decrypt it at attach (EC2_EXAMPLE_TWO), Decrypt and ReEncryptFrom/To for volumes
# made from snapshots, under the same or another key (EBS_ENCRYPTION). DescribeKey, which EBS also
# calls, is left out: that documented grant, which makes launches work, does not include it.
_NEW_VOLUME_CALLS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


@dataclass(frozen=True)
class LaunchRow:
    kind: LaunchKind
    launcher: str
    calls: tuple[str, ...]
    source: str


LAUNCHES: dict[LaunchKind, LaunchRow] = {
    row.kind: row
    for row in (
        LaunchRow(
            LaunchKind.RUN_INSTANCES,
            "an IAM user or role calling RunInstances (also CreateFleet, as Karpenter does)",
            _NEW_VOLUME_CALLS,
            EC2_EXAMPLE_TWO,
        ),
        LaunchRow(
            LaunchKind.START_INSTANCES,
            "an IAM user or role calling StartInstances on an instance with existing volumes: "
            '"the IAM principal that calls StartInstances must have kms:CreateGrant"',
            ("kms:CreateGrant",),
            START_INSTANCES,
        ),
        LaunchRow(
            LaunchKind.AUTO_SCALING,
            "the Auto Scaling service-linked role AWSServiceRoleForAutoScaling[_suffix]",
            _NEW_VOLUME_CALLS,
            ASG_KEY_POLICY,
        ),
        LaunchRow(
            LaunchKind.FLEET,
            "the Spot, Spot Fleet or EC2 Fleet service-linked role, which needs the same use and "
            "attachment permissions as Auto Scaling's",
            _NEW_VOLUME_CALLS,
            SPOT_SLR,
        ),
    )
}
# A principal holding a grant (KMS_GRANTS): a grant allows its grantee the operations it lists,
# whoever calls and through whatever service (a grant can be constrained by encryption context
# only, never by kms:ViaService), and nothing else; a grantee needs no IAM policy; an explicit
# Deny in a policy still wins. A grant with CreateGrant lets its grantee create grants for at
# most the grant's own operations. ``authorization.grant_allows`` applies this.
GRANT_HOLDER_SOURCE = KMS_GRANTS

_FLEET_SERVICES = ("spot.amazonaws.com", "spotfleet.amazonaws.com", "ec2fleet.amazonaws.com")
_PARTITION_DNS_SUFFIX = {"aws-cn": "amazonaws.com.cn"}


def launch_kind(principal: Principal, launch_call: str | None = None) -> LaunchKind:
    """The way ``principal`` launched: the service of its service-linked role (at that service's
    path), else the EC2 call CloudTrail recorded (``RunInstances`` when it is not known, which
    needs the most)."""
    if principal.service == "autoscaling.amazonaws.com":
        return LaunchKind.AUTO_SCALING
    if principal.service in _FLEET_SERVICES:
        return LaunchKind.FLEET
    if launch_call == "StartInstances":
        return LaunchKind.START_INSTANCES
    return LaunchKind.RUN_INSTANCES


def via_service(region: str, partition: str = "aws") -> str:
    """``kms:ViaService`` of EC2's calls: ``ec2.<region>.amazonaws.com``, ``.amazonaws.com.cn`` in
    the China partition (KMS_CONDITIONS, kms:ViaService: "the service name ... in the Region")."""
    return f"ec2.{region}.{_PARTITION_DNS_SUFFIX.get(partition, 'amazonaws.com')}"


@dataclass(frozen=True)
class KmsCall:
    action: str
    context: RequestContext


def launch_calls(
    kind: LaunchKind,
    principal: Principal,
    key_arn: str,
    *,
    principal_tags: dict[str, str] | None = None,
    tags_complete: bool = False,
) -> tuple[KmsCall, ...]:
    """Each KMS call of a launch of ``kind`` by ``principal`` on ``key_arn``, with its context."""
    return tuple(
        KmsCall(
            action,
            RequestContext(
                call_context(action, principal, key_arn),
                principal_tags=principal_tags,
                tags_complete=tags_complete,
            ),
        )
        for action in LAUNCHES[kind].calls
    )


def call_context(action: str, principal: Principal, key_arn: str) -> dict[str, ContextValue]:
    """The request context of one call EBS makes with the launcher's identity on the key.

    Keys not listed here are not modelled: a condition on them cannot be decided.
    """
    _, partition, _, region, _, _ = key_arn.split(":", 5)
    user = principal.kind is PrincipalKind.USER
    context: dict[str, ContextValue] = {
        # KMS_CONDITIONS: the service that made the call for the principal, and its account.
        "kms:viaservice": (via_service(region, partition),),
        "kms:calleraccount": (principal.account,),
        "kms:bypasspolicylockoutsafetycheck": ABSENT,  # only CreateKey and PutKeyPolicy
        # GLOBAL_KEYS: a role's calls carry the role ARN, not the session's.
        "aws:principalarn": (principal.arn,),
        "aws:principalaccount": (principal.account,),
        "aws:principaltype": (_PRINCIPAL_TYPES.get(principal.kind, "AssumedRole"),),
        "aws:username": (principal.name,) if user else ABSENT,
        "aws:requestedregion": (region,),
        # FORWARD_ACCESS: EBS calls KMS in a forward access session of the principal: not a
        # service principal, and aws:ViaAWSService is true. aws:SourceArn and aws:SourceAccount
        # are "only available when the call ... is made directly by an AWS service principal".
        "aws:principalisawsservice": ("false",),
        "aws:principalservicename": ABSENT,
        "aws:viaawsservice": ("true",),
        "aws:sourcearn": ABSENT,
        "aws:sourceaccount": ABSENT,
    }
    if action == "kms:CreateGrant":
        # EC2_EXAMPLE_TWO: the grant EBS creates for the instance, made by an AWS service.
        context |= {
            "kms:grantisforawsresource": ("true",),
            "kms:grantoperations": EBS_GRANT_OPERATIONS,
            "kms:grantconstrainttype": ("EncryptionContextSubset",),
            "kms:granteeprincipal": UNKNOWN_VALUE,  # <account>:aws:ec2-infrastructure:<new instance>
        }
    else:
        context |= {key: ABSENT for key in _GRANT_ONLY_KEYS}
        # KMS_EBS, "Amazon EBS encryption context": one pair, aws:ebs:id = the volume or
        # snapshot id, whose value a launch cannot know in advance.
        context |= {
            "kms:encryptioncontextkeys": ("aws:ebs:id",),
            "kms:encryptioncontext:aws:ebs:id": UNKNOWN_VALUE,
        }
    return context


# KMS_CONDITIONS: keys only a CreateGrant request carries.
_GRANT_ONLY_KEYS = (
    "kms:grantisforawsresource",
    "kms:grantoperations",
    "kms:grantconstrainttype",
    "kms:granteeprincipal",
    "kms:retiringprincipal",
)
_PRINCIPAL_TYPES = {
    PrincipalKind.USER: "User",
    PrincipalKind.ROOT: "Account",
    PrincipalKind.FEDERATED: "FederatedUser",
}
