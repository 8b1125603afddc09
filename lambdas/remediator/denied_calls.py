"""Denied KMS calls in CloudTrail: which count as a launch failure, and what they name.

A denied KMS call is a launch failure only when AWS made it for a launch (see
``AWS_LAUNCH_CALLERS``): a principal calling KMS itself, from a laptop or a function, is ignored,
so nobody can enrol themselves in a key policy by provoking a denial.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from remediator.arns import (
    SLR_PATH_PREFIX,
    Principal,
    PrincipalError,
    PrincipalKind,
    is_key_reference,
    key_arn_parts,
    principal_from_arn,
)
from remediator.triggers import (
    MAX_FIELD_LENGTH,
    EventMeta,
    Ignored,
    KmsCallDenied,
    Trigger,
    field,
    is_volume_id,
    mapping,
    short,
)

# The KMS operations EC2 and EBS call on the launching principal's behalf, as CloudTrail names
# them (eventName is the API operation: ReEncryptFrom/ReEncryptTo are permissions of the one
# "ReEncrypt" operation). Sources: KMS developer guide, "Amazon EC2 example one/two" and the
# CloudTrail examples ct-creategrant, ct-generatedatakeyplaintext, ct-generatedatakey,
# ct-decrypt, ct-reencrypt, ct-describekey; the launch-failure resolution text EC2 Auto Scaling
# shows ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
# "kms:GenerateDataKeyWithoutPlainText", "kms:ReEncrypt", aws/aws-cdk#34491).
LAUNCH_KMS_CALLS = (
    "CreateGrant",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKey",
    "Decrypt",
    "ReEncrypt",
    "DescribeKey",
)
# KMS reports a denial as "AccessDenied" or "AccessDeniedException"; both start with this.
ACCESS_DENIED_PREFIX = "AccessDenied"

# Who may have made a denied call for it to count as a launch failure: the values AWS writes in
# userIdentity.invokedBy or sourceIPAddress when a service, not the principal, makes the call.
# AWS sets both fields ("for services in AWS, only the DNS name is displayed", CloudTrail user
# guide, "CloudTrail record contents"). userAgent is sent by the client and proves nothing: the
# KMS guide's ct-reencrypt and ct-generatedatakeyplaintext samples show userAgent "AWS Internal"
# on a user's own call from 192.0.2.0. A service name here is also the path of its service-linked
# role (role/aws-service-role/<name>/...), which is how a launcher's SLR is recognised.
AWS_LAUNCH_CALLERS: Mapping[str, str] = {
    # EBS for a user's or role's RunInstances/StartInstances: invokedBy, sourceIPAddress and
    # userAgent "AWS Internal" (KMS guide, "Amazon EC2 example one" and "example two").
    "AWS Internal": "observed",
    # EC2 itself (EC2 guide, BidEvictedEvent / BidFulfilledEvent service events).
    "ec2.amazonaws.com": "observed",
    # The Auto Scaling SLR's EBS calls, also for EKS managed node groups (Mainframe Modernization
    # guide, "Data protection": GenerateDataKey/Decrypt by AWSServiceRoleForAutoScaling).
    "autoscaling.amazonaws.com": "observed",
    # EC2 Fleet launching for CreateFleet, e.g. Karpenter (a public CloudTrail RunInstances record
    # of a Karpenter controller role with invokedBy/sourceIPAddress "ec2fleet.amazonaws.com").
    "ec2fleet.amazonaws.com": "observed",
    # The Spot and Spot Fleet SLRs' service principals (EC2 guide, "Service-linked role for Spot
    # Instance requests", "Spot Fleet permissions"). No public KMS record by them was found: the
    # value is inferred from the Auto Scaling SLR, whose calls carry its service principal.
    "spot.amazonaws.com": "inferred",
    "spotfleet.amazonaws.com": "inferred",
}
_MESSAGE_KEY_ARN = re.compile(r"on resource: (arn:[^\s]+:key/[^\s]+?)\.?(?:\s|$)")
_MESSAGE_ACTION = re.compile(r"not authorized to perform: kms:(\w+)")
_EC2_GRANTEE_INSTANCE = re.compile(r"^[0-9]{12}:aws:ec2-infrastructure:(i-[0-9a-f]{8,17})\Z")


def kms_call(meta: EventMeta, detail: Mapping[str, Any]) -> Trigger | Ignored:
    name = detail.get("eventName")
    if not (isinstance(name, str) and name in LAUNCH_KMS_CALLS):
        return Ignored(
            f"CloudTrail event {short(name)} is not a KMS call EC2 makes for a launch", meta
        )
    error_code = detail.get("errorCode")
    if not (isinstance(error_code, str) and error_code.startswith(ACCESS_DENIED_PREFIX)):
        return Ignored(f"{name} did not fail with {ACCESS_DENIED_PREFIX}", meta)

    params = mapping(detail.get("requestParameters"))
    principal, identity_problem = principal_from_identity(detail.get("userIdentity"))
    instance_id = _grantee_instance(params) if name == "CreateGrant" else None
    not_a_launch = _not_made_for_a_launch(name, detail, principal, params, instance_id)
    if not_a_launch is not None:
        return Ignored(not_a_launch, meta)

    if detail.get("awsRegion") not in (None, meta.region):
        return _call_problem(meta, name, "detail.awsRegion differs from the event's region")
    keys = _call_keys(name, detail, params)
    if isinstance(keys, str):
        return _call_problem(meta, name, keys)
    reference, resource_arns, message_key_arn = keys
    return KmsCallDenied(
        meta=meta,
        event_name=name,
        principal=principal,
        key_reference=reference,
        resource_key_arns=resource_arns,
        message_key_arn=message_key_arn,
        instance_id=instance_id,
        problem=identity_problem,
        volume_id=_ebs_volume(params),
    )


def _not_made_for_a_launch(
    name: str,
    detail: Mapping[str, Any],
    principal: Principal | None,
    params: Mapping[str, Any],
    instance_id: str | None,
) -> str | None:
    """Why this denied call is not one AWS made for a launch, or None when it is."""
    identity = mapping(detail.get("userIdentity"))
    invoked_by, source_ip = identity.get("invokedBy"), detail.get("sourceIPAddress")
    if not (_is_launch_caller(invoked_by) or _is_launch_caller(source_ip)):
        return (
            f"{name} was not made by EC2, EBS, Auto Scaling or a fleet: userIdentity.invokedBy "
            f"{field(invoked_by)} and sourceIPAddress {field(source_ip)} name no AWS launch "
            "service, so the principal called KMS itself (userAgent is set by the client and "
            "proves nothing)"
        )
    if name == "CreateGrant" and instance_id is None and not _is_launcher_slr(principal):
        return (
            f"CreateGrant's grantee {field(params.get('granteePrincipal'))} is not an EC2 "
            "instance (<account>:aws:ec2-infrastructure:i-...) and the caller is no launching "
            "service's service-linked role: the grant was asked for, not made by EC2 for a launch"
        )
    return None


def _is_launch_caller(value: object) -> bool:
    return isinstance(value, str) and value in AWS_LAUNCH_CALLERS


def _is_launcher_slr(principal: Principal | None) -> bool:
    """A service-linked role of a service in ``AWS_LAUNCH_CALLERS`` (by its IAM path)."""
    if principal is None or principal.kind is not PrincipalKind.SERVICE_LINKED_ROLE:
        return False
    resource = principal.arn.split(":", 5)[5]
    service = resource.removeprefix(SLR_PATH_PREFIX).split("/", 1)[0]
    return _is_launch_caller(service)


def _grantee_instance(params: Mapping[str, Any]) -> str | None:
    grantee = params.get("granteePrincipal")
    match = _EC2_GRANTEE_INSTANCE.match(grantee) if isinstance(grantee, str) else None
    return match.group(1) if match else None


# EBS puts the volume in the encryption context of its KMS calls, {"aws:ebs:id": "vol-..."}
# (a snapshot id for CopySnapshot); CloudTrail writes it in requestParameters (KMS developer
# guide, "How Amazon EBS uses AWS KMS", encryption context). CreateGrant carries it as
# constraints.encryptionContextSubset, ReEncrypt as source/destinationEncryptionContext.
_EBS_CONTEXT_FIELDS = (
    "encryptionContext",
    "sourceEncryptionContext",
    "destinationEncryptionContext",
)
EBS_ID_CONTEXT_KEY = "aws:ebs:id"


def _ebs_volume(params: Mapping[str, Any]) -> str | None:
    contexts = [params.get(name) for name in _EBS_CONTEXT_FIELDS]
    contexts.append(mapping(params.get("constraints")).get("encryptionContextSubset"))
    for context in contexts:
        value = mapping(context).get(EBS_ID_CONTEXT_KEY)
        if is_volume_id(value):
            return str(value)
    return None


def _call_keys(
    name: str, detail: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[str | None, tuple[str, ...], str | None] | str:
    """(request key, resources[] key ARNs, message key ARN), or why the keys cannot be trusted."""
    message = _message_key(detail.get("errorMessage"))
    if isinstance(message, str):
        return message
    message_key_arn, denied_action = message
    resource_arns = _resource_keys(detail.get("resources"))
    if isinstance(resource_arns, str):
        return resource_arns
    if name == "ReEncrypt":
        selected = _reencrypt_keys(resource_arns, denied_action)
        if isinstance(selected, str):
            return selected
        field, resource_arns = selected
    else:
        field = "keyId"
    reference = params.get(field)
    if reference is not None and not is_key_reference(reference):
        return f"requestParameters.{field} is not a KMS key id, ARN or alias"
    if reference is None and not resource_arns and message_key_arn is None:
        return "the event names no key"
    key_reference = reference if isinstance(reference, str) else None
    return key_reference, tuple(dict.fromkeys(resource_arns)), message_key_arn


def _message_key(message: object) -> tuple[str | None, str | None] | str:
    """(key ARN, denied kms: action) named in errorMessage, or why the message is untrusted."""
    if not isinstance(message, str):
        return None, None
    if len(message) > MAX_FIELD_LENGTH:
        return "errorMessage is longer than any KMS error message"
    action = _MESSAGE_ACTION.search(message)
    match = _MESSAGE_KEY_ARN.search(message)
    if match and key_arn_parts(match.group(1)) is None:
        return "errorMessage names a malformed key ARN"
    return (match.group(1) if match else None), (action.group(1) if action else None)


def _resource_keys(resources: object) -> list[str] | str:
    """The KMS key ARNs in resources[], in order, or why one of them is untrusted."""
    arns = []
    for item in resources if isinstance(resources, list) else []:
        arn = item.get("ARN") if isinstance(item, Mapping) else None
        if isinstance(arn, str) and arn.startswith("arn:") and ":kms:" in arn:
            if key_arn_parts(arn) is None:
                return "resources[] names a malformed key ARN"
            arns.append(arn)
    return arns


def _reencrypt_keys(
    resource_arns: list[str], denied_action: str | None
) -> tuple[str, list[str]] | str:
    """The denied side of a ReEncrypt: its request field and its key ARN. CloudTrail lists the
    source key, then the destination key, in resources[] (KMS guide, ct-reencrypt), and
    errorMessage names the denied permission (kms:ReEncryptFrom or kms:ReEncryptTo)."""
    if denied_action == "ReEncryptFrom":
        return "sourceKeyId", resource_arns[:1]
    if denied_action == "ReEncryptTo":
        return "destinationKeyId", resource_arns[-1:]
    if len(set(resource_arns)) > 1:
        return (
            "ReEncrypt names a source and a destination key and errorMessage does not say "
            "which one was denied"
        )
    return "destinationKeyId", resource_arns


def principal_from_identity(identity: object) -> tuple[Principal | None, str | None]:
    """The principal to fix: the caller. For an assumed role, the role (sessionIssuer) ARN."""
    if not isinstance(identity, Mapping):
        return None, "the event has no userIdentity"
    kind = identity.get("type")
    if kind == "AssumedRole":
        context = identity.get("sessionContext")
        issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
        arn = issuer.get("arn") if isinstance(issuer, Mapping) else None
        if arn is None:
            return None, "assumed-role identity without sessionContext.sessionIssuer.arn"
    elif kind in ("IAMUser", "Root", "FederatedUser"):
        arn = identity.get("arn")
    elif kind == "AWSAccount":
        account = identity.get("accountId")
        return None, (
            f"the event names only account {short(account)}: this is the key owner's copy of a "
            "cross-account call, and the caller's account must identify the principal"
        )
    else:
        return None, f"identity type {short(kind)} cannot be named in a key policy"
    try:
        return principal_from_arn(arn), None
    except PrincipalError as err:
        return None, str(err)


def _call_problem(meta: EventMeta, event_name: str, problem: str) -> KmsCallDenied:
    return KmsCallDenied(meta, event_name, None, None, (), None, None, problem)
