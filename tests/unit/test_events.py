"""Event parsing: each real-shaped fixture becomes the right trigger; crafted identities and keys
become triggers with a ``problem``; everything else is ``Ignored``. ``parse_event`` never raises."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from remediator.arns import PrincipalKind
from remediator.events import (
    AsgLaunchFailed,
    CreateGrantDenied,
    EventMeta,
    Ignored,
    InstanceLaunchFailed,
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
USER = "arn:aws:iam::111122223333:user/ops-alice"
SAAS_ROLE = "arn:aws:iam::111122223333:role/SaaSSchedulerRole"
SAAS_SESSION = "arn:aws:sts::111122223333:assumed-role/SaaSSchedulerRole/vendor-session"

CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE2 = "case2_asg_custom_slr_create_grant_access_denied_exception.json"
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE4 = "case4_copied_ami_user_create_grant.json"
CASE5 = "case5_user_start_instances_create_grant.json"
CASE6 = "case6_saas_scheduler_role_create_grant.json"
STOPPED = "ec2_state_change_stopped.json"
TERMINATED = "ec2_state_change_terminated.json"
ASG_CIE = "asg_launch_unsuccessful_client_internal_error.json"

# fixture -> (principal ARN, kind, key reference, resources[] ARNs, key ARN in message, dedup)
CREATE_GRANT_FIXTURES: dict[
    str, tuple[str, PrincipalKind, str, tuple[str, ...], str | None, str]
] = {
    CASE1: (
        SLR,
        PrincipalKind.SERVICE_LINKED_ROLE,
        KEY_ARN,
        (KEY_ARN,),
        KEY_ARN,
        "cb61f35e-8c4a-4b76-bbb3-a7495fcbd8db",
    ),
    CASE2: (
        CUSTOM_SLR,
        PrincipalKind.SERVICE_LINKED_ROLE,
        KEY_ARN,
        (KEY_ARN,),
        KEY_ARN,
        "adf9272c-4436-4305-89cd-e0a0720e3f95",
    ),
    CASE3: (
        SLR,
        PrincipalKind.SERVICE_LINKED_ROLE,
        OTHER_KEY_ARN,
        (OTHER_KEY_ARN,),
        None,
        "3a3a2dc0-94cc-4046-b39f-fdb5515144c5",
    ),
    CASE4: (
        USER,
        PrincipalKind.USER,
        OTHER_KEY_ARN,
        (OTHER_KEY_ARN,),
        OTHER_KEY_ARN,
        "227a2223-e687-460c-8d68-db0b7ed9ad16",
    ),
    CASE5: (
        USER,
        PrincipalKind.USER,
        KEY_ARN,
        (KEY_ARN,),
        KEY_ARN,
        "0f3c6ec6-02f7-49de-9ee3-fa976a7dd792",
    ),
    CASE6: (
        SAAS_ROLE,
        PrincipalKind.ROLE,
        KEY_ARN,
        (KEY_ARN,),
        KEY_ARN,
        "67389962-9115-482e-919b-78226be3d6d9",
    ),
}
EVENT_IDS = {
    CASE1: "6d9e78f0-1ceb-48e6-9e5a-6fd7c3050972",
    CASE2: "aac0a6a1-0345-45b1-ac4a-1211152e042b",
    CASE3: "44462903-0bfa-411b-8cf0-85f5bebc06b4",
    CASE4: "f4a868b6-b703-49aa-82ce-035404f8e6ad",
    CASE5: "9d08ae7b-de35-4e5f-a32f-270f7298bcd5",
    CASE6: "6543ad39-6cee-4242-96ae-0ca21f3e81e1",
}
IGNORED_FIXTURES = {
    "ec2_state_change_running.json": "instance state 'running'",
    "asg_launch_unsuccessful_other_error.json": "another reason than Client.InternalError",
    "kms_create_grant_success.json": "did not fail with AccessDenied",
    "kms_decrypt_access_denied.json": "'Decrypt' is not CreateGrant",
}
OTHER_TRIGGER_FIXTURES = {STOPPED, TERMINATED, ASG_CIE}


def grant_event(name: str = CASE5) -> dict[str, Any]:
    return load_event(name)


def parsed_grant(event: dict[str, Any]) -> CreateGrantDenied:
    trigger = parse_event(event)
    assert isinstance(trigger, CreateGrantDenied), trigger
    return trigger


# --- the fixtures --------------------------------------------------------------------------


def test_events_every_fixture_has_an_expectation() -> None:
    on_disk = {path.name for path in EVENTS_DIR.glob("*.json")}
    covered = {*CREATE_GRANT_FIXTURES, *IGNORED_FIXTURES, *OTHER_TRIGGER_FIXTURES}
    assert on_disk == covered


@pytest.mark.parametrize("name", sorted(CREATE_GRANT_FIXTURES), ids=lambda n: n.split("_")[0])
def test_events_create_grant_fixture_parses(name: str) -> None:
    principal, kind, reference, resources, message_key, dedup = CREATE_GRANT_FIXTURES[name]
    trigger = parsed_grant(load_event(name))
    assert trigger.problem is None
    assert trigger.principal is not None
    assert trigger.principal.arn == principal
    assert trigger.principal.kind is kind
    assert trigger.principal.account == ACCOUNT
    assert trigger.key_reference == reference
    assert trigger.resource_key_arns == resources
    assert trigger.message_key_arn == message_key
    assert trigger.instance_id == INSTANCE
    assert trigger.meta == EventMeta(EVENT_IDS[name], dedup, ACCOUNT, REGION)


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
    trigger = parse_event(load_event(name))
    assert isinstance(trigger, Ignored)
    assert reason in trigger.reason
    assert trigger.meta is not None
    assert trigger.meta.account == ACCOUNT


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
    assert parsed_grant(event).meta.dedup_key == dedup


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
def test_events_create_grant_error_code_must_start_with_access_denied(
    code: object, triggers: bool
) -> None:
    event = grant_event()
    event["detail"]["errorCode"] = code
    assert isinstance(parse_event(event), CreateGrantDenied) is triggers


# --- principal identification --------------------------------------------------------------


def test_events_assumed_role_principal_is_session_issuer_not_session() -> None:
    trigger = parsed_grant(load_event(CASE6))
    assert trigger.principal is not None
    assert trigger.principal.arn == SAAS_ROLE
    assert "sts" not in trigger.principal.arn


def test_events_ec2_internal_call_names_the_caller_not_the_grantee() -> None:
    # Given EC2 made the CreateGrant for ops-alice's launch (grantee ec2-infrastructure)
    event = load_event(CASE4)
    assert event["detail"]["userIdentity"]["invokedBy"] == "AWS Internal"
    trigger = parsed_grant(event)
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
        (42, None),
    ],
    ids=["short-instance-id", "role-grantee", "bad-instance-id", "trailing-text", "non-string"],
)
def test_events_instance_id_comes_from_ec2_infrastructure_grantee(
    grantee: object, instance: str | None
) -> None:
    event = grant_event()
    event["detail"]["requestParameters"]["granteePrincipal"] = grantee
    assert parsed_grant(event).instance_id == instance


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
    trigger = parsed_grant(event)
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
    trigger = parsed_grant(event)
    assert trigger.problem is None
    assert trigger.principal is not None
    assert (trigger.principal.arn, trigger.principal.kind) == (arn, kind)


def test_events_identity_with_trailing_newline_is_a_problem() -> None:
    event = grant_event()
    event["detail"]["userIdentity"]["arn"] = USER + "\n"
    trigger = parsed_grant(event)
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
    trigger = parsed_grant(event)
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
    assert parsed_grant(event).message_key_arn == key_arn


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
    trigger = parsed_grant(event)
    assert trigger.problem is None
    assert trigger.key_reference == reference


def test_events_key_from_resources_when_request_has_no_key_id() -> None:
    event = load_event(CASE3)
    del event["detail"]["requestParameters"]["keyId"]
    trigger = parsed_grant(event)
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
    assert parsed_grant(event).resource_key_arns == (OTHER_KEY_ARN, KEY_ARN)


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
    event = grant_event()
    mutate(event["detail"])
    trigger = parsed_grant(event)
    assert trigger.problem is not None
    assert problem in trigger.problem
    # a key problem stops parsing: nothing else is carried
    assert (trigger.principal, trigger.key_reference, trigger.resource_key_arns) == (None, None, ())


def test_events_message_of_exactly_4096_chars_is_accepted() -> None:
    event = grant_event()
    prefix = f"User: {USER} is not authorized to perform: kms:CreateGrant on resource: {KEY_ARN} "
    event["detail"]["errorMessage"] = prefix + "x" * (4096 - len(prefix))
    trigger = parsed_grant(event)
    assert trigger.problem is None
    assert trigger.message_key_arn == KEY_ARN


def test_events_aws_region_absent_is_accepted() -> None:
    event = grant_event()
    del event["detail"]["awsRegion"]
    assert parsed_grant(event).problem is None


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
