"""Event parsing: each real-shaped fixture becomes the right trigger; a denied KMS call that AWS
did not make for a launch is ``Ignored`` with the reason; crafted identities and keys become
triggers with a ``problem``; everything else is ``Ignored``. ``parse_event`` never raises."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.arns import PrincipalKind
from remediator.events import (
    AWS_LAUNCH_CALLERS,
    LAUNCH_KMS_CALLS,
    AsgLaunchFailed,
    EventMeta,
    Ignored,
    InstanceLaunchFailed,
    KmsCallDenied,
    parse_event,
)
from tests.support.world import EVENTS_DIR, load_event

ACCOUNT = "111122223333"
REGION = "eu-west-1"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
INSTANCE = "i-0123456789abcdef0"
SLR = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
CUSTOM_SLR = SLR + "_web"
SPOT_SLR = (
    "arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
)
USER = "arn:aws:iam::111122223333:user/ops-alice"
SAAS_ROLE = "arn:aws:iam::111122223333:role/SaaSSchedulerRole"
SAAS_SESSION = "arn:aws:sts::111122223333:assumed-role/SaaSSchedulerRole/vendor-session"
KARPENTER_ROLE = "arn:aws:iam::111122223333:role/KarpenterControllerRole-prod"

CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE2 = "case2_asg_custom_slr_create_grant_access_denied_exception.json"
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE4 = "case4_copied_ami_user_create_grant.json"
CASE5 = "case5_user_start_instances_create_grant.json"
CASE6 = "case6_saas_scheduler_role_create_grant.json"
KARPENTER = "karpenter_controller_role_generate_data_key_without_plaintext.json"
EKS_NODE_GROUP = "eks_node_group_asg_slr_generate_data_key_without_plaintext.json"
ASG_GENERATE = "asg_custom_slr_generate_data_key.json"
DECRYPT = "user_run_instances_decrypt.json"
REENCRYPT = "copied_ami_user_reencrypt.json"
DESCRIBE = "saas_scheduler_role_describe_key.json"
SPOT = "spot_slr_create_grant.json"
LAPTOP_GRANT = "laptop_user_create_grant_for_spot_slr.json"
LAPTOP_DECRYPT = "kms_decrypt_access_denied.json"
STOPPED = "ec2_state_change_stopped.json"
TERMINATED = "ec2_state_change_terminated.json"
ASG_CIE = "asg_launch_unsuccessful_client_internal_error.json"

SLR_KIND = PrincipalKind.SERVICE_LINKED_ROLE
# fixture -> (eventName, principal ARN, kind, key reference, resources[] ARNs, key ARN in the
#             message, instance id, event id, dedup key)
KMS_FIXTURES: dict[
    str,
    tuple[
        str, str, PrincipalKind, str | None, tuple[str, ...], str | None, str | None, str, str
    ],
] = {
    CASE1: (
        "CreateGrant", SLR, SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "6d9e78f0-1ceb-48e6-9e5a-6fd7c3050972", "cb61f35e-8c4a-4b76-bbb3-a7495fcbd8db",
    ),
    CASE2: (
        "CreateGrant", CUSTOM_SLR, SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "aac0a6a1-0345-45b1-ac4a-1211152e042b", "adf9272c-4436-4305-89cd-e0a0720e3f95",
    ),
    CASE3: (
        "CreateGrant", SLR, SLR_KIND, OTHER_KEY_ARN, (OTHER_KEY_ARN,), None, INSTANCE,
        "44462903-0bfa-411b-8cf0-85f5bebc06b4", "3a3a2dc0-94cc-4046-b39f-fdb5515144c5",
    ),
    CASE4: (
        "CreateGrant", USER, PrincipalKind.USER, OTHER_KEY_ARN, (OTHER_KEY_ARN,), OTHER_KEY_ARN,
        INSTANCE, "f4a868b6-b703-49aa-82ce-035404f8e6ad", "227a2223-e687-460c-8d68-db0b7ed9ad16",
    ),
    CASE5: (
        "CreateGrant", USER, PrincipalKind.USER, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "9d08ae7b-de35-4e5f-a32f-270f7298bcd5", "0f3c6ec6-02f7-49de-9ee3-fa976a7dd792",
    ),
    CASE6: (
        "CreateGrant", SAAS_ROLE, PrincipalKind.ROLE, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "6543ad39-6cee-4242-96ae-0ca21f3e81e1", "67389962-9115-482e-919b-78226be3d6d9",
    ),
    KARPENTER: (
        "GenerateDataKeyWithoutPlaintext", KARPENTER_ROLE, PrincipalKind.ROLE, KEY_ARN,
        (KEY_ARN,), KEY_ARN, None,
        "3f1c9b0e-6a47-4d2b-9e1f-7c5a2b8d4e61", "b9e4d2a7-1c3f-4e8b-a6d5-2f7c9e1b3a40",
    ),
    EKS_NODE_GROUP: (
        "GenerateDataKeyWithoutPlaintext", SLR, SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, None,
        "c2d8a4f1-5b3e-4a9c-8f27-1e6b0d9c3a55", "e5a3c7b1-9d2f-4b6e-8a4c-1f7d3b9e5c28",
    ),
    ASG_GENERATE: (
        "GenerateDataKey", CUSTOM_SLR, SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, None,
        "7d2e9f4a-3c1b-4e8d-b5a6-0c9f2e7d1b34", "f1c6a9e3-7b4d-4c2a-8e5f-3d9b1a7c6e52",
    ),
    DECRYPT: (
        "Decrypt", USER, PrincipalKind.USER, None, (KEY_ARN,), KEY_ARN, None,
        "1a6c3e8f-9d2b-4f7a-b4e1-6c8d2f5a9b73", "2c8e5a1f-6d3b-4e9a-a7c2-8f4d1b6e3a97",
    ),
    REENCRYPT: (
        # ReEncryptFrom was denied: the source key, first in resources[]; no sourceKeyId
        "ReEncrypt", USER, PrincipalKind.USER, None, (OTHER_KEY_ARN,), OTHER_KEY_ARN, None,
        "5e9b2d7c-1f4a-4c8e-9b3d-7a2f6c1e8d45", "6f1d8b3a-2c7e-4a5f-9d1b-4e8a2c6f3b19",
    ),
    DESCRIBE: (
        "DescribeKey", SAAS_ROLE, PrincipalKind.ROLE, KEY_ARN, (KEY_ARN,), KEY_ARN, None,
        "8a4f1c6e-3d9b-4e2a-a5f7-2b8c6d1e9f30", "a9e2c5f8-1b4d-4a7e-b6c3-9d2f5a8e1c74",
    ),
    SPOT: (
        "CreateGrant", SPOT_SLR, SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "4b7e2a9d-6c1f-4d3b-8a5e-3f9c7b2d6e81", "3d9f6b2e-8a1c-4f7d-b5e3-6a2c9f4d1b87",
    ),
    "ec2_fleet_slr_create_grant.json": (
        "CreateGrant",
        "arn:aws:iam::111122223333:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet",
        SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "5c8f3b0e-7d2a-4e4c-9b6f-4a0d8c3e7f92", "4e0a7c3f-9b2d-4a8e-c6f4-7b3d0a5e2c98",
    ),
    "spot_fleet_slr_create_grant.json": (
        "CreateGrant",
        "arn:aws:iam::111122223333:role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet",
        SLR_KIND, KEY_ARN, (KEY_ARN,), KEY_ARN, INSTANCE,
        "6d9a4c1f-8e3b-4f5d-ac7a-5b1e9d4f8a03", "5f1b8d4a-0c3e-4b9f-d7a5-8c4e1b6f3d09",
    ),
}  # fmt: skip
NOT_MADE_BY_AWS = "was not made by EC2, EBS, Auto Scaling or a fleet"
NOT_AN_EC2_GRANT = "is not an EC2 instance"
IGNORED_FIXTURES = {
    "ec2_state_change_running.json": "instance state 'running'",
    "asg_launch_unsuccessful_other_error.json": "another reason than Client.InternalError",
    "kms_create_grant_success.json": "CreateGrant did not fail with AccessDenied",
    LAPTOP_DECRYPT: f"Decrypt {NOT_MADE_BY_AWS}: userIdentity.invokedBy (absent) and "
    "sourceIPAddress '203.0.113.24'",
    LAPTOP_GRANT: f"CreateGrant {NOT_MADE_BY_AWS}: userIdentity.invokedBy (absent) and "
    "sourceIPAddress '203.0.113.24'",
}
OTHER_TRIGGER_FIXTURES = {STOPPED, TERMINATED, ASG_CIE}


def grant_event(name: str = CASE5) -> dict[str, Any]:
    return load_event(name)


def parsed_call(event: dict[str, Any]) -> KmsCallDenied:
    trigger = parse_event(event)
    assert isinstance(trigger, KmsCallDenied), trigger
    return trigger


def ignored(event: dict[str, Any]) -> Ignored:
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored), trigger
    return trigger


# --- the fixtures --------------------------------------------------------------------------


def test_events_every_fixture_has_an_expectation() -> None:
    on_disk = {path.name for path in EVENTS_DIR.glob("*.json")}
    covered = {*KMS_FIXTURES, *IGNORED_FIXTURES, *OTHER_TRIGGER_FIXTURES}
    assert on_disk == covered


def test_events_every_launch_kms_call_has_a_fixture() -> None:
    # Given the KMS calls EC2 makes for a launch
    # Then each of them has a real-shaped fixture that parses to a trigger
    assert {expected[0] for expected in KMS_FIXTURES.values()} == set(LAUNCH_KMS_CALLS)


@pytest.mark.parametrize("name", sorted(KMS_FIXTURES), ids=lambda n: n.removesuffix(".json"))
def test_events_kms_fixture_parses(name: str) -> None:
    # Given a real-shaped denied KMS call made for a launch
    event_name, principal, kind, reference, resources, message_key, instance, event_id, dedup = (
        KMS_FIXTURES[name]
    )
    # When it is parsed
    trigger = parsed_call(load_event(name))
    # Then it names the call, the launching principal (never a session) and the key
    assert trigger.problem is None
    assert trigger.event_name == event_name
    assert trigger.principal is not None
    assert trigger.principal.arn == principal
    assert trigger.principal.kind is kind
    assert trigger.principal.account == ACCOUNT
    assert trigger.key_reference == reference
    assert trigger.resource_key_arns == resources
    assert trigger.message_key_arn == message_key
    assert trigger.instance_id == instance
    assert trigger.meta == EventMeta(event_id, dedup, ACCOUNT, REGION)


@pytest.mark.parametrize(
    ("name", "state", "event_id"),
    [
        (STOPPED, "stopped", "94123620-ac6e-405e-82cb-0cbae9cc29fd"),
        (TERMINATED, "terminated", "52a05f9a-06fc-41c4-88ba-94f3095c4980"),
    ],
    ids=["stopped", "terminated"],
)
def test_events_state_change_fixture_parses(name: str, state: str, event_id: str) -> None:
    trigger = parse_event(load_event(name))
    assert trigger == InstanceLaunchFailed(
        EventMeta(event_id, event_id, ACCOUNT, REGION), INSTANCE, state
    )


def test_events_asg_client_internal_error_fixture_parses() -> None:
    event_id = "b8ae366c-b9f1-49d6-899c-16697b3590f1"
    trigger = parse_event(load_event(ASG_CIE))
    assert trigger == AsgLaunchFailed(
        EventMeta(event_id, event_id, ACCOUNT, REGION),
        "web-asg",
        INSTANCE,
        "Instance became unhealthy while waiting for instance to be in InService state. "
        "Termination Reason: Client.InternalError: Client error on launch",
    )


@pytest.mark.parametrize(
    ("name", "reason"), sorted(IGNORED_FIXTURES.items()), ids=lambda v: str(v).split(".")[0]
)
def test_events_ignored_fixture_is_ignored_with_reason(name: str, reason: str) -> None:
    trigger = ignored(load_event(name))
    assert reason in trigger.reason
    assert trigger.meta is not None
    assert trigger.meta.account == ACCOUNT


# --- corroboration: only calls AWS made for a launch count ---------------------------------


def _set(path: str, value: object) -> Any:
    """Set (or, for the sentinel ``...``, delete) a dotted path under ``detail``."""

    def mutate(detail: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = detail
        for part in parents:
            target = target[part]
        if value is ...:
            target.pop(leaf, None)
        else:
            target[leaf] = value

    return mutate


def _both(*mutations: Any) -> Any:
    def mutate(detail: dict[str, Any]) -> None:
        for m in mutations:
            m(detail)

    return mutate


ROLE_GRANTEE = "arn:aws:iam::111122223333:role/Other"
LAMBDA_IDENTITY = {
    "type": "AssumedRole",
    "arn": "arn:aws:sts::111122223333:assumed-role/KmsLaunchRemediatorRole/remediator",
    "accountId": "111122223333",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": "arn:aws:iam::111122223333:role/KmsLaunchRemediatorRole",
            "accountId": "111122223333",
            "userName": "KmsLaunchRemediatorRole",
        }
    },
}
EC2_INFRASTRUCTURE_IDENTITY = {
    # the instance itself calling Decrypt under its grant (KMS guide, "Amazon EC2 example two")
    "type": "AssumedRole",
    "principalId": "111122223333:aws:ec2-infrastructure:i-0123456789abcdef0",
    "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/i-0123456789abcdef0",
    "accountId": "111122223333",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": "arn:aws:iam::111122223333:role/aws:ec2-infrastructure",
            "accountId": "111122223333",
            "userName": "aws:ec2-infrastructure",
        }
    },
}
BACKUP_SLR_ISSUER = (
    "arn:aws:iam::111122223333:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"
)

UNCORROBORATED: dict[str, tuple[str, Any, str]] = {
    "laptop-user-agent-spoofed-as-aws-internal": (
        LAPTOP_GRANT,
        _set("userAgent", "AWS Internal"),
        f"{NOT_MADE_BY_AWS}: userIdentity.invokedBy (absent) and sourceIPAddress '203.0.113.24'",
    ),
    "user-call-without-invoked-by-from-an-ip": (
        CASE5,
        _both(_set("userIdentity.invokedBy", ...), _set("sourceIPAddress", "198.51.100.7")),
        "userAgent is set by the client and proves nothing",
    ),
    "console-call": (
        # the KMS guide's ct-describekey sample: invokedBy and userAgent signin.amazonaws.com
        DESCRIBE,
        _both(
            _set("userIdentity.invokedBy", "signin.amazonaws.com"),
            _set("sourceIPAddress", "192.0.2.0"),
            _set("userAgent", "signin.amazonaws.com"),
        ),
        "invokedBy 'signin.amazonaws.com' and sourceIPAddress '192.0.2.0'",
    ),
    "service-name-only-in-user-agent": (
        EKS_NODE_GROUP,
        _both(_set("userIdentity.invokedBy", ...), _set("sourceIPAddress", "198.51.100.7")),
        NOT_MADE_BY_AWS,
    ),
    "another-service-made-it": (
        DECRYPT,
        _both(
            _set("userIdentity.invokedBy", "s3.amazonaws.com"),
            _set("sourceIPAddress", "s3.amazonaws.com"),
        ),
        "invokedBy 's3.amazonaws.com'",
    ),
    "lookalike-service-name": (
        DECRYPT,
        _both(
            _set("userIdentity.invokedBy", "aws internal"),
            _set("sourceIPAddress", "ec2.amazonaws.com.evil.example"),
        ),
        NOT_MADE_BY_AWS,
    ),
    "non-string-caller-fields": (
        DECRYPT,
        _both(
            _set("userIdentity.invokedBy", ["AWS Internal"]),
            _set("sourceIPAddress", {"AWS Internal": True}),
        ),
        NOT_MADE_BY_AWS,
    ),
    "instance-decrypting-under-its-grant": (
        DECRYPT,
        _both(
            _set("userIdentity", EC2_INFRASTRUCTURE_IDENTITY),
            _set("sourceIPAddress", "172.31.7.12"),
            _set("userAgent", ...),
        ),
        NOT_MADE_BY_AWS,
    ),
    "remediator-own-cross-account-grant": (
        CASE3,
        _both(
            _set("userIdentity", LAMBDA_IDENTITY),
            _set("sourceIPAddress", "52.95.4.10"),
            _set("userAgent", "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux"),
            _set("requestParameters.granteePrincipal", SLR),
        ),
        NOT_MADE_BY_AWS,
    ),
    "grant-for-an-iam-role-by-a-user": (
        CASE5,
        _set("requestParameters.granteePrincipal", ROLE_GRANTEE),
        f"CreateGrant's grantee '{ROLE_GRANTEE}' {NOT_AN_EC2_GRANT}",
    ),
    "grant-for-a-malformed-instance": (
        CASE6,
        _set("requestParameters.granteePrincipal", "111122223333:aws:ec2-infrastructure:i-XYZ"),
        NOT_AN_EC2_GRANT,
    ),
    "grant-without-grantee-by-a-role": (
        CASE6,
        _set("requestParameters.granteePrincipal", ...),
        "CreateGrant's grantee (absent) is not an EC2 instance",
    ),
    "grant-by-another-service-slr": (
        CASE1,
        _both(
            _set("userIdentity.sessionContext.sessionIssuer.arn", BACKUP_SLR_ISSUER),
            _set("userIdentity.invokedBy", "AWS Internal"),
            _set("requestParameters.granteePrincipal", ROLE_GRANTEE),
        ),
        "the caller is no launching service's service-linked role",
    ),
    "grant-by-an-untrusted-identity-for-a-role": (
        CASE6,
        _both(
            _set("userIdentity.sessionContext.sessionIssuer.arn", "arn:aws:iam::*:role/*"),
            _set("requestParameters.granteePrincipal", ROLE_GRANTEE),
        ),
        NOT_AN_EC2_GRANT,
    ),
}


@pytest.mark.parametrize("case", sorted(UNCORROBORATED))
def test_events_kms_call_not_made_for_a_launch_is_ignored_with_reason(case: str) -> None:
    # Given a denied KMS call that AWS did not make for a launch
    name, mutate, reason = UNCORROBORATED[case]
    event = load_event(name)
    mutate(event["detail"])
    # When it is parsed
    trigger = ignored(event)
    # Then it is ignored, saying why, and never becomes a trigger the engine could act on
    assert reason in trigger.reason
    assert trigger.meta is not None


@pytest.mark.parametrize("field", ["userIdentity.invokedBy", "sourceIPAddress"])
@pytest.mark.parametrize("caller", sorted(AWS_LAUNCH_CALLERS))
def test_events_each_launch_caller_in_either_field_corroborates(caller: str, field: str) -> None:
    # Given a laptop call, then one AWS-written field set to a launch service
    event = load_event(LAPTOP_DECRYPT)
    _set(field, caller)(event["detail"])
    # When it is parsed
    trigger = parsed_call(event)
    # Then it is a launch failure of the caller
    assert trigger.event_name == "Decrypt"
    assert trigger.principal is not None
    assert trigger.principal.arn == USER


@pytest.mark.parametrize(
    ("name", "grantee"),
    [(CASE1, ROLE_GRANTEE), (SPOT, ROLE_GRANTEE), (CASE2, None), (SPOT, 42)],
    ids=["asg-slr-role-grantee", "spot-slr-role-grantee", "custom-slr-no-grantee", "spot-number"],
)
def test_events_launcher_slr_grant_needs_no_ec2_grantee(name: str, grantee: object) -> None:
    # Given a CreateGrant by a launching service's SLR whose grantee is not an instance
    event = load_event(name)
    _set("requestParameters.granteePrincipal", ... if grantee is None else grantee)(event["detail"])
    # When it is parsed
    trigger = parsed_call(event)
    # Then the SLR's own call is a launch failure, with no instance id
    assert trigger.principal is not None
    assert trigger.principal.kind is PrincipalKind.SERVICE_LINKED_ROLE
    assert trigger.instance_id is None


@pytest.mark.parametrize("event_name", LAUNCH_KMS_CALLS)
def test_events_every_launch_call_name_is_a_trigger(event_name: str) -> None:
    # Given case 5's corroborated denied call under each launch call name
    event = grant_event()
    event["detail"]["eventName"] = event_name
    # Then each parses to a trigger that names the call
    assert parsed_call(event).event_name == event_name


@pytest.mark.parametrize(
    "event_name",
    ["Encrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "ListGrants", "", None, 7],
)
def test_events_other_kms_call_names_are_ignored(event_name: object) -> None:
    event = grant_event()
    event["detail"]["eventName"] = event_name
    assert "is not a KMS call EC2 makes for a launch" in ignored(event).reason


# --- ReEncrypt: the denied side ------------------------------------------------------------


def _reencrypt(message: str | None, **params: object) -> dict[str, Any]:
    event = load_event(REENCRYPT)
    if message is None:
        del event["detail"]["errorMessage"]
    else:
        event["detail"]["errorMessage"] = message
    event["detail"]["requestParameters"].update(params)
    return event


def _denied(action: str, key: str) -> str:
    return f"User: {USER} is not authorized to perform: kms:{action} on resource: {key}"


@pytest.mark.parametrize(
    ("message", "params", "reference", "resources", "message_key"),
    [
        (_denied("ReEncryptFrom", OTHER_KEY_ARN), {}, None, (OTHER_KEY_ARN,), OTHER_KEY_ARN),
        (
            _denied("ReEncryptFrom", OTHER_KEY_ARN),
            {"sourceKeyId": OTHER_KEY_ARN},
            OTHER_KEY_ARN,
            (OTHER_KEY_ARN,),
            OTHER_KEY_ARN,
        ),
        (_denied("ReEncryptTo", KEY_ARN), {}, KEY_ARN, (KEY_ARN,), KEY_ARN),
        (
            "... is not authorized to perform: kms:ReEncryptTo on this resource because the "
            "resource does not exist in this Region",
            {},
            KEY_ARN,
            (KEY_ARN,),
            None,
        ),
    ],
    ids=["from-source", "from-with-source-key-id", "to-destination", "to-without-key-arn"],
)
def test_events_reencrypt_keeps_only_the_denied_key(
    message: str,
    params: dict[str, object],
    reference: str | None,
    resources: tuple[str, ...],
    message_key: str | None,
) -> None:
    # Given a ReEncrypt from another account's key to this account's key
    # When the message says which permission was denied
    trigger = parsed_call(_reencrypt(message, **params))
    # Then only that side's key is carried, so the engine sees one key, not a conflict
    assert trigger.problem is None
    assert (trigger.key_reference, trigger.resource_key_arns) == (reference, resources)
    assert trigger.message_key_arn == message_key


def test_events_reencrypt_of_one_key_needs_no_denied_action() -> None:
    event = _reencrypt(None)
    event["detail"]["resources"] = [{"ARN": KEY_ARN}, {"ARN": KEY_ARN}]
    trigger = parsed_call(event)
    assert trigger.problem is None
    assert (trigger.key_reference, trigger.resource_key_arns) == (KEY_ARN, (KEY_ARN,))


@pytest.mark.parametrize(
    ("message", "params", "problem"),
    [
        (None, {}, "does not say which one was denied"),
        ("Access denied", {}, "does not say which one was denied"),
        (
            _denied("ReEncryptFrom", OTHER_KEY_ARN),
            {"sourceKeyId": "not-a-key"},
            "requestParameters.sourceKeyId is not a KMS key id",
        ),
        (
            _denied("ReEncryptTo", KEY_ARN),
            {"destinationKeyId": ["x"]},
            "requestParameters.destinationKeyId is not a KMS key id",
        ),
    ],
    ids=["no-message", "message-without-action", "bad-source-key-id", "bad-destination-key-id"],
)
def test_events_reencrypt_ambiguous_or_bad_key_is_a_problem(
    message: str | None, params: dict[str, object], problem: str
) -> None:
    trigger = parsed_call(_reencrypt(message, **params))
    assert trigger.problem is not None
    assert problem in trigger.problem
    assert trigger.principal is None


# --- fuzz: parse_event never raises --------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
KMS_FIXTURE_NAMES = sorted([*KMS_FIXTURES, LAPTOP_GRANT, LAPTOP_DECRYPT])
DETAIL_FIELDS = [
    "eventName",
    "errorCode",
    "errorMessage",
    "sourceIPAddress",
    "userAgent",
    "awsRegion",
    "resources",
    "requestParameters",
    "userIdentity",
]
FIELD_VALUES = st.one_of(
    json_values,
    st.sampled_from([*LAUNCH_KMS_CALLS, *AWS_LAUNCH_CALLERS, "AccessDenied", KEY_ARN, SLR]),
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(KMS_FIXTURE_NAMES),
    changes=st.dictionaries(st.sampled_from(DETAIL_FIELDS), FIELD_VALUES, max_size=4),
    identity_changes=st.dictionaries(
        st.sampled_from(["type", "arn", "invokedBy", "sessionContext", "accountId"]),
        FIELD_VALUES,
        max_size=3,
    ),
    params_changes=st.dictionaries(
        st.sampled_from(["keyId", "granteePrincipal", "sourceKeyId", "destinationKeyId"]),
        FIELD_VALUES,
        max_size=3,
    ),
)
def test_events_fuzzed_kms_calls_never_raise(
    name: str,
    changes: dict[str, Any],
    identity_changes: dict[str, Any],
    params_changes: dict[str, Any],
) -> None:
    # Given a real KMS fixture with arbitrary values in the fields the parser reads
    event = load_event(name)
    detail = event["detail"]
    detail["userIdentity"].update(identity_changes)
    detail["requestParameters"].update(params_changes)
    detail.update(changes)
    # When it is parsed
    trigger = parse_event(copy.deepcopy(event))
    # Then it is a trigger or ignored, never an exception, and a trigger is always corroborated
    assert isinstance(trigger, KmsCallDenied | Ignored)
    if isinstance(trigger, KmsCallDenied):
        assert trigger.event_name in LAUNCH_KMS_CALLS
        identity = detail.get("userIdentity")
        invoked_by = identity.get("invokedBy") if isinstance(identity, dict) else None
        callers = {json.dumps(invoked_by), json.dumps(detail.get("sourceIPAddress"))}
        assert callers & {json.dumps(c) for c in AWS_LAUNCH_CALLERS}


@settings(deadline=None, max_examples=300)
@given(event=json_values)
def test_events_arbitrary_json_never_raises(event: Any) -> None:
    assert isinstance(
        parse_event(event), KmsCallDenied | InstanceLaunchFailed | AsgLaunchFailed | Ignored
    )


# --- dedup key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "dedup"),
    [
        (lambda d: None, "3a3a2dc0-94cc-4046-b39f-fdb5515144c5"),
        (lambda d: d.pop("sharedEventID"), "b75adde5-7eaa-4e86-b59a-84ef4fbf3dcc"),
        (lambda d: d.update(sharedEventID=7), "b75adde5-7eaa-4e86-b59a-84ef4fbf3dcc"),
        (lambda d: d.update(sharedEventID=""), "b75adde5-7eaa-4e86-b59a-84ef4fbf3dcc"),
        (lambda d: d.update(sharedEventID="s" * 129), "b75adde5-7eaa-4e86-b59a-84ef4fbf3dcc"),
        (
            lambda d: (d.pop("sharedEventID"), d.pop("eventID")),
            "44462903-0bfa-411b-8cf0-85f5bebc06b4",
        ),
        (
            lambda d: d.update(sharedEventID=None, eventID=["x"]),
            "44462903-0bfa-411b-8cf0-85f5bebc06b4",
        ),
    ],
    ids=[
        "shared-event-id",
        "no-shared-id-uses-event-id",
        "non-string-shared-id",
        "empty-shared-id",
        "over-long-shared-id",
        "neither-uses-id",
        "both-malformed-uses-id",
    ],
)
def test_events_dedup_key_prefers_shared_then_event_then_id(mutate: Any, dedup: str) -> None:
    event = load_event(CASE3)
    mutate(event["detail"])
    assert parsed_call(event).meta.dedup_key == dedup


def test_events_cross_account_copies_share_a_dedup_key() -> None:
    # Given the caller's copy and the key owner's copy of one cross-account failure
    caller = load_event(CASE3)
    owner = copy.deepcopy(caller)
    owner.update(id="0b6c1d0e-0000-4000-8000-000000000001", account="444455556666")
    owner["detail"]["eventID"] = "0b6c1d0e-0000-4000-8000-000000000002"
    # Then both deduplicate to the shared event id
    assert parse_event(caller).meta.dedup_key == parse_event(owner).meta.dedup_key  # type: ignore[union-attr]
    assert parse_event(owner).meta.dedup_key == "3a3a2dc0-94cc-4046-b39f-fdb5515144c5"  # type: ignore[union-attr]


# --- error codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "triggers"),
    [
        ("AccessDenied", True),
        ("AccessDeniedException", True),
        ("ThrottlingException", False),
        ("KMSInvalidStateException", False),
        ("accessdenied", False),
        ("", False),
        (None, False),
        (403, False),
    ],
    ids=[
        "AccessDenied",
        "AccessDeniedException",
        "throttling",
        "invalid-state",
        "lower",
        "empty",
        "null",
        "number",
    ],
)
def test_events_kms_call_error_code_must_start_with_access_denied(
    code: object, triggers: bool
) -> None:
    event = grant_event()
    event["detail"]["errorCode"] = code
    assert isinstance(parse_event(event), KmsCallDenied) is triggers


# --- principal identification --------------------------------------------------------------


def test_events_assumed_role_principal_is_session_issuer_not_session() -> None:
    trigger = parsed_call(load_event(CASE6))
    assert trigger.principal is not None
    assert trigger.principal.arn == SAAS_ROLE
    assert "sts" not in trigger.principal.arn


def test_events_ec2_internal_call_names_the_caller_not_the_grantee() -> None:
    # Given EC2 made the CreateGrant for ops-alice's launch (grantee ec2-infrastructure)
    event = load_event(CASE4)
    assert event["detail"]["userIdentity"]["invokedBy"] == "AWS Internal"
    trigger = parsed_call(event)
    # Then the principal is the caller, and the grantee yields only the instance id
    assert trigger.principal is not None
    assert trigger.principal.arn == USER
    assert trigger.instance_id == INSTANCE


@pytest.mark.parametrize(
    ("grantee", "instance"),
    [
        ("111122223333:aws:ec2-infrastructure:i-0abc1234", "i-0abc1234"),
        ("arn:aws:iam::111122223333:role/Other", None),
        ("111122223333:aws:ec2-infrastructure:i-XYZ", None),
        ("111122223333:aws:ec2-infrastructure:i-0123456789abcdef0/extra", None),
        ("role/x:aws:ec2-infrastructure:i-0123456789abcdef0", None),
        ("1111222233334:aws:ec2-infrastructure:i-0123456789abcdef0", None),
        (42, None),
    ],
    ids=[
        "short-instance-id",
        "role-grantee",
        "bad-instance-id",
        "trailing-text",
        "prefix-not-an-account",
        "prefix-13-digits",
        "non-string",
    ],
)
def test_events_instance_id_comes_from_ec2_infrastructure_grantee(
    grantee: object, instance: str | None
) -> None:
    # Given the Auto Scaling SLR's grant (an SLR's grant needs no ec2-infrastructure grantee)
    event = grant_event(CASE1)
    event["detail"]["requestParameters"]["granteePrincipal"] = grantee
    assert parsed_call(event).instance_id == instance


def _set_issuer(arn: object) -> Any:
    def mutate(detail: dict[str, Any]) -> None:
        detail["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = arn

    return mutate


def _set_identity(**fields: object) -> Any:
    def mutate(detail: dict[str, Any]) -> None:
        detail["userIdentity"].update(fields)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (_set_issuer("arn:aws:iam::111122223333:role/*"), "wildcard"),
        (_set_issuer("arn:aws:iam::111122223333:role/SaaS*"), "wildcard"),
        (_set_issuer("*"), "wildcard"),
        (_set_issuer(SAAS_SESSION), "is a session"),
        (_set_issuer("arn:aws:iam::111122223333:role/Saa S"), "characters IAM does not allow"),
        (_set_issuer('arn:aws:iam::111122223333:role/Saa"S'), "characters IAM does not allow"),
        (_set_issuer("arn:aws:iam::111122223333:role/Sa\u00e4S"), "characters IAM does not allow"),
        (_set_issuer("arn:aws:iam::111122223333:role/" + "x" * 5000), "longer than any IAM ARN"),
        (_set_issuer(None), "without sessionContext.sessionIssuer.arn"),
        (_set_issuer(["arn:aws:iam::111122223333:role/SaaSSchedulerRole"]), "no principal ARN"),
        (lambda d: d["userIdentity"].pop("sessionContext"), "without sessionContext"),
        (_set_identity(sessionContext="x"), "without sessionContext"),
        (
            _set_identity(type="AWSAccount", accountId="999988887777"),
            "names only account '999988887777'",
        ),
        (_set_identity(type="AWSService"), "identity type 'AWSService'"),
        (_set_identity(type="Unknown"), "identity type 'Unknown'"),
        (_set_identity(type=None), "identity type 'None'"),
        (lambda d: d.pop("userIdentity"), "no userIdentity"),
        (lambda d: d.update(userIdentity="root"), "no userIdentity"),
        (_set_identity(type="IAMUser", arn=SAAS_SESSION), "is a session"),
        (_set_identity(type="IAMUser", arn=None), "no principal ARN"),
        (_set_identity(type="Root", arn="arn:aws:iam::*:root"), "wildcard"),
    ],
    ids=[
        "issuer-wildcard-role",
        "issuer-partial-wildcard",
        "issuer-bare-star",
        "issuer-is-sts-session",
        "issuer-space",
        "issuer-quote",
        "issuer-unicode",
        "issuer-oversized",
        "issuer-null",
        "issuer-list",
        "no-session-context",
        "session-context-string",
        "aws-account-identity",
        "aws-service-identity",
        "unknown-identity",
        "null-identity-type",
        "no-user-identity",
        "user-identity-string",
        "iam-user-with-session-arn",
        "iam-user-without-arn",
        "root-wildcard",
    ],
)
def test_events_untrusted_identity_becomes_problem_not_exception(mutate: Any, problem: str) -> None:
    # Given case 6 (an AssumedRole) with its identity tampered
    event = load_event(CASE6)
    mutate(event["detail"])
    # When it is parsed
    trigger = parsed_call(event)
    # Then the trigger carries the problem and no principal; the key is still read
    assert trigger.principal is None
    assert trigger.problem is not None
    assert problem in trigger.problem
    assert trigger.key_reference == KEY_ARN


@pytest.mark.parametrize(
    ("identity", "arn", "kind"),
    [
        (
            {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
            "arn:aws:iam::111122223333:root",
            PrincipalKind.ROOT,
        ),
        (
            {"type": "FederatedUser", "arn": "arn:aws:sts::111122223333:federated-user/bob"},
            "arn:aws:sts::111122223333:federated-user/bob",
            PrincipalKind.FEDERATED,
        ),
    ],
    ids=["root", "federated-user"],
)
def test_events_root_and_federated_identities_are_classified(
    identity: dict[str, str], arn: str, kind: PrincipalKind
) -> None:
    event = grant_event()
    event["detail"]["userIdentity"] = identity
    trigger = parsed_call(event)
    assert trigger.problem is None
    assert trigger.principal is not None
    assert (trigger.principal.arn, trigger.principal.kind) == (arn, kind)


def test_events_identity_with_trailing_newline_is_a_problem() -> None:
    event = grant_event()
    event["detail"]["userIdentity"]["arn"] = USER + "\n"
    trigger = parsed_call(event)
    assert trigger.principal is None
    assert trigger.problem is not None


# --- keys ----------------------------------------------------------------------------------


def test_events_message_naming_another_key_keeps_both_for_the_engine() -> None:
    # Given a message that names a different key than requestParameters.keyId
    event = grant_event()
    event["detail"]["errorMessage"] = (
        "User: arn:aws:iam::111122223333:user/ops-alice is not authorized to perform: "
        f"kms:CreateGrant on resource: {OTHER_KEY_ARN}"
    )
    # When parsed
    trigger = parsed_call(event)
    # Then parse keeps both; the engine rejects the conflict
    assert trigger.problem is None
    assert trigger.key_reference == KEY_ARN
    assert trigger.resource_key_arns == (KEY_ARN,)
    assert trigger.message_key_arn == OTHER_KEY_ARN


@pytest.mark.parametrize(
    ("message", "key_arn"),
    [
        (f"... kms:CreateGrant on resource: {KEY_ARN}", KEY_ARN),
        (f"... kms:CreateGrant on resource: {KEY_ARN}.", KEY_ARN),
        (f"... on resource: {KEY_ARN} because no resource-based policy allows it", KEY_ARN),
        ("... on this resource because the resource does not exist in this Region", None),
        ("", None),
    ],
    ids=["older-form", "trailing-full-stop", "newer-form", "cross-account-form", "empty"],
)
def test_events_message_key_arn_extraction(message: str, key_arn: str | None) -> None:
    event = grant_event()
    event["detail"]["errorMessage"] = message
    assert parsed_call(event).message_key_arn == key_arn


@pytest.mark.parametrize(
    ("key_id", "reference"),
    [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab"),
        ("alias/ebs-launch", "alias/ebs-launch"),
        (
            "arn:aws:kms:eu-west-1:111122223333:alias/ebs-launch",
            "arn:aws:kms:eu-west-1:111122223333:alias/ebs-launch",
        ),
    ],
    ids=["key-id", "mrk-id", "alias-name", "alias-arn"],
)
def test_events_key_reference_forms_are_kept_verbatim(key_id: str, reference: str) -> None:
    event = grant_event()
    event["detail"]["requestParameters"]["keyId"] = key_id
    trigger = parsed_call(event)
    assert trigger.problem is None
    assert trigger.key_reference == reference


def test_events_key_from_resources_when_request_has_no_key_id() -> None:
    event = load_event(CASE3)
    del event["detail"]["requestParameters"]["keyId"]
    trigger = parsed_call(event)
    assert trigger.problem is None
    assert trigger.key_reference is None
    assert trigger.resource_key_arns == (OTHER_KEY_ARN,)


def test_events_resources_are_deduplicated_in_order() -> None:
    event = grant_event()
    event["detail"]["resources"] = [
        {"ARN": OTHER_KEY_ARN},
        {"ARN": KEY_ARN},
        {"ARN": OTHER_KEY_ARN},
        {"ARN": "arn:aws:ec2:eu-west-1:111122223333:volume/vol-1"},
        "not-an-object",
        {"ARN": 5},
    ]
    assert parsed_call(event).resource_key_arns == (OTHER_KEY_ARN, KEY_ARN)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d["requestParameters"].update(keyId="not-a-key"), "requestParameters.keyId"),
        (lambda d: d["requestParameters"].update(keyId=""), "requestParameters.keyId"),
        (lambda d: d["requestParameters"].update(keyId=7), "requestParameters.keyId"),
        (lambda d: d["requestParameters"].update(keyId=["x"]), "requestParameters.keyId"),
        (lambda d: d["requestParameters"].update(keyId="*"), "requestParameters.keyId"),
        (
            lambda d: d["requestParameters"].update(keyId="arn:aws:kms:eu-west-1:*:key/*"),
            "requestParameters.keyId",
        ),
        (
            lambda d: d["requestParameters"].update(keyId="alias/" + "a" * 3000),
            "requestParameters.keyId",
        ),
        (
            lambda d: d.update(resources=[{"ARN": "arn:aws:kms:eu-west-1:111122223333:key/*"}]),
            "resources[] names a malformed key ARN",
        ),
        (
            lambda d: d.update(
                errorMessage="on resource: arn:aws:kms:eu-west-1:111122223333:key/bogus"
            ),
            "errorMessage names a malformed key ARN",
        ),
        (lambda d: d.update(errorMessage="x" * 4097), "errorMessage is longer"),
        (lambda d: d.update(awsRegion="us-east-1"), "awsRegion differs"),
        (lambda d: d.update(awsRegion=["eu-west-1"]), "awsRegion differs"),
        (
            lambda d: (
                d["requestParameters"].pop("keyId"),
                d.pop("resources"),
                d.pop("errorMessage"),
            ),
            "names no key",
        ),
        (
            lambda d: (
                d.pop("requestParameters"),
                d.pop("resources"),
                d.update(errorMessage="... on this resource because it does not exist"),
            ),
            "names no key",
        ),
    ],
    ids=[
        "key-id-garbage",
        "key-id-empty",
        "key-id-number",
        "key-id-list",
        "key-id-star",
        "key-id-wildcard-arn",
        "key-id-oversized",
        "resources-wildcard-key",
        "message-malformed-key",
        "message-oversized",
        "aws-region-differs",
        "aws-region-list",
        "no-key-anywhere",
        "no-request-no-resources-message-without-arn",
    ],
)
def test_events_untrusted_key_becomes_problem_not_exception(mutate: Any, problem: str) -> None:
    # Given the Auto Scaling SLR's grant (corroborated even without requestParameters)
    event = grant_event(CASE1)
    mutate(event["detail"])
    trigger = parsed_call(event)
    assert trigger.problem is not None
    assert problem in trigger.problem
    # a key problem stops parsing: nothing else is carried
    assert (trigger.principal, trigger.key_reference, trigger.resource_key_arns) == (None, None, ())


def test_events_message_of_exactly_4096_chars_is_accepted() -> None:
    event = grant_event()
    prefix = f"User: {USER} is not authorized to perform: kms:CreateGrant on resource: {KEY_ARN} "
    event["detail"]["errorMessage"] = prefix + "x" * (4096 - len(prefix))
    trigger = parsed_call(event)
    assert trigger.problem is None
    assert trigger.message_key_arn == KEY_ARN


def test_events_aws_region_absent_is_accepted() -> None:
    event = grant_event()
    del event["detail"]["awsRegion"]
    assert parsed_call(event).problem is None


# --- state-change and Auto Scaling events --------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("stopped", True),
        ("terminated", True),
        ("running", False),
        ("pending", False),
        ("stopping", False),
        ("shutting-down", False),
        (None, False),
    ],
    ids=["stopped", "terminated", "running", "pending", "stopping", "shutting-down", "null"],
)
def test_events_state_change_only_stopped_or_terminated(state: object, expected: bool) -> None:
    event = load_event(STOPPED)
    event["detail"]["state"] = state
    assert isinstance(parse_event(event), InstanceLaunchFailed) is expected


@pytest.mark.parametrize(
    "instance_id",
    [
        "",
        "i-XYZ",
        "i-0123",
        "vol-0123456789abcdef0",
        "i-0123456789abcdef01234",
        None,
        5,
        " i-0123456789abcdef0",
    ],
    ids=["empty", "upper", "short", "volume", "long", "null", "number", "leading-space"],
)
def test_events_state_change_with_bad_instance_id_is_ignored(instance_id: object) -> None:
    event = load_event(STOPPED)
    event["detail"]["instance-id"] = instance_id
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored)
    assert "instance-id" in trigger.reason


def test_events_asg_without_instance_keeps_group() -> None:
    event = load_event(ASG_CIE)
    event["detail"]["EC2InstanceId"] = ""
    trigger = parse_event(event)
    assert isinstance(trigger, AsgLaunchFailed)
    assert (trigger.group_name, trigger.instance_id) == ("web-asg", None)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(StatusMessage="Launching EC2 instance failed."), "another reason"),
        (lambda d: d.update(StatusMessage=None), "another reason"),
        (lambda d: d.update(StatusMessage="x" * 5000 + "Client.InternalError"), "another reason"),
        (lambda d: d.pop("AutoScalingGroupName"), "AutoScalingGroupName"),
        (lambda d: d.update(AutoScalingGroupName=""), "AutoScalingGroupName"),
        (lambda d: d.update(AutoScalingGroupName="web\x00asg"), "AutoScalingGroupName"),
        (lambda d: d.update(AutoScalingGroupName="w" * 256), "AutoScalingGroupName"),
        (lambda d: d.update(AutoScalingGroupName=["web-asg"]), "AutoScalingGroupName"),
    ],
    ids=[
        "capacity-error",
        "null-message",
        "marker-beyond-4096",
        "no-group",
        "empty-group",
        "nul-in-group",
        "group-256-chars",
        "group-list",
    ],
)
def test_events_asg_failure_ignored_kinds(mutate: Any, reason: str) -> None:
    event = load_event(ASG_CIE)
    mutate(event["detail"])
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored)
    assert reason in trigger.reason


def test_events_asg_status_message_is_truncated_to_4096() -> None:
    event = load_event(ASG_CIE)
    event["detail"]["StatusMessage"] = "Client.InternalError: Client error on launch " + "x" * 9000
    trigger = parse_event(event)
    assert isinstance(trigger, AsgLaunchFailed)
    assert len(trigger.status_message) == 4096


# --- the envelope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [None, [], "event", 42, 1.5, b"{}", {"source": "aws.kms"}, {"detail": []}, {"detail": "x"}],
    ids=[
        "none",
        "list",
        "string",
        "int",
        "float",
        "bytes",
        "no-detail",
        "detail-list",
        "detail-string",
    ],
)
def test_events_non_event_is_ignored(event: object) -> None:
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored)
    assert trigger.meta is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", None),
        ("id", ""),
        ("id", "x" * 129),
        ("id", 7),
        ("account", None),
        ("account", "11112222333"),
        ("account", "1111222233334"),
        ("account", 111122223333),
        ("account", "*"),
        ("region", None),
        ("region", "EU-WEST-1"),
        ("region", "eu-west"),
        ("region", "*"),
        ("region", "eu west 1"),
    ],
    ids=[
        "id-missing",
        "id-empty",
        "id-too-long",
        "id-number",
        "account-missing",
        "account-short",
        "account-long",
        "account-number",
        "account-star",
        "region-missing",
        "region-upper",
        "region-no-number",
        "region-star",
        "region-spaces",
    ],
)
def test_events_bad_envelope_is_ignored(field: str, value: object) -> None:
    event = grant_event()
    if value is None:
        del event[field]
    else:
        event[field] = value
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored)
    assert trigger.reason == "event lacks a valid id, account or region"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "aws.s3"),
        ("source", None),
        ("detail-type", "AWS Service Event via CloudTrail"),
        ("detail-type", "EC2 Instance Launch Successful"),
    ],
    ids=["other-source", "no-source", "other-detail-type", "asg-success"],
)
def test_events_other_kinds_are_ignored_with_meta(field: str, value: object) -> None:
    event = grant_event()
    event[field] = value
    trigger = parse_event(event)
    assert isinstance(trigger, Ignored)
    assert "not a launch failure event" in trigger.reason
    assert trigger.meta is not None
    assert trigger.meta.event_id == "9d08ae7b-de35-4e5f-a32f-270f7298bcd5"


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        (STOPPED, ("account",), "111122223333\n"),
        (STOPPED, ("region",), "eu-west-1\n"),
        (STOPPED, ("detail", "instance-id"), "i-0123456789abcdef0\n"),
        (ASG_CIE, ("detail", "AutoScalingGroupName"), "web-asg\n"),
    ],
    ids=["account", "region", "instance-id", "asg-name"],
)
def test_events_trailing_newline_in_identifiers_is_ignored(
    name: str, path: tuple[str, ...], value: str
) -> None:
    event = load_event(name)
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert isinstance(parse_event(event), Ignored)
