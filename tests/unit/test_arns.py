"""ARN parsing and principal classification: only exact, well-formed IAM names get through."""

from __future__ import annotations

import pytest

from remediator.arns import (
    LAUNCHER_SLR_SERVICES,
    Arn,
    PrincipalError,
    PrincipalKind,
    autoscaling_slr_arn,
    is_account_id,
    is_key_reference,
    key_arn_parts,
    key_id_of,
    launches_for_its_service,
    parse_arn,
    principal_from_arn,
)
from remediator.denied_calls import AWS_LAUNCH_CALLERS

ACCOUNT = "111122223333"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


# --- principals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "kind", "account", "name"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/ops-alice", PrincipalKind.USER, ACCOUNT, "ops-alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/dev/team/bob", PrincipalKind.USER, ACCOUNT, "bob"),
        (
            f"arn:aws:iam::{ACCOUNT}:role/SaaSSchedulerRole",
            PrincipalKind.ROLE,
            ACCOUNT,
            "SaaSSchedulerRole",
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/ops/Deployer", PrincipalKind.ROLE, ACCOUNT, "Deployer"),
        (
            f"arn:aws:iam::{ACCOUNT}:role/name+with=all,chars.of@iam_-",
            PrincipalKind.ROLE,
            ACCOUNT,
            "name+with=all,chars.of@iam_-",
        ),
        (SLR, PrincipalKind.SERVICE_LINKED_ROLE, ACCOUNT, "AWSServiceRoleForAutoScaling"),
        (
            SLR + "_web",
            PrincipalKind.SERVICE_LINKED_ROLE,
            ACCOUNT,
            "AWSServiceRoleForAutoScaling_web",
        ),
        (
            "arn:aws:iam::444455556666:role/aws-service-role/ec2.amazonaws.com/AWSServiceRoleForEC2",
            PrincipalKind.SERVICE_LINKED_ROLE,
            "444455556666",
            "AWSServiceRoleForEC2",
        ),
        (f"arn:aws:iam::{ACCOUNT}:root", PrincipalKind.ROOT, ACCOUNT, "root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", PrincipalKind.FEDERATED, ACCOUNT, "bob"),
        (f"arn:aws-cn:iam::{ACCOUNT}:user/li", PrincipalKind.USER, ACCOUNT, "li"),
        (f"arn:aws-us-gov:iam::{ACCOUNT}:role/gov", PrincipalKind.ROLE, ACCOUNT, "gov"),
        (f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 128, PrincipalKind.ROLE, ACCOUNT, "r" * 128),
    ],
    ids=[
        "user",
        "user-with-path",
        "role",
        "role-with-path",
        "role-all-iam-punctuation",
        "slr-default",
        "slr-custom-suffix",
        "slr-other-service-other-account",
        "root",
        "sts-federated-user",
        "china-partition",
        "govcloud-partition",
        "name-128-chars",
    ],
)
def test_arns_principal_from_arn_classifies(
    arn: str, kind: PrincipalKind, account: str, name: str
) -> None:
    principal = principal_from_arn(arn)
    assert principal.arn == arn
    assert principal.kind is kind
    assert principal.account == account
    assert principal.name == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "no principal ARN"),
        ("", "no principal ARN"),
        (42, "no principal ARN"),
        (["arn:aws:iam::111122223333:user/a"], "no principal ARN"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/SaaSSchedulerRole/vendor-session", "is a session"),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
            "is a session",
        ),
        ("*", "wildcard"),
        ("arn:aws:iam::*:root", "wildcard"),
        (f"arn:aws:iam::{ACCOUNT}:role/*", "wildcard"),
        (f"arn:aws:iam::{ACCOUNT}:role/Admin*", "wildcard"),
        (f"arn:aws:iam::{ACCOUNT}:user/al?ce", "wildcard"),
        (f"arn:aws:iam::{ACCOUNT}:role/a b", "characters IAM does not allow"),
        (f'arn:aws:iam::{ACCOUNT}:role/a"b', "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:role/a'b", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/al\u00e9", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/\u0430lice", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/a\nb", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/a\x00b", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/a\tb", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:role//double-slash", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:user/", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:group/admins", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:policy/p", "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 129, "characters IAM does not allow"),
        (f"arn:aws:iam::{ACCOUNT}:role/" + "r" * 2100, "longer than any IAM ARN"),
        (f"arn:aws:s3:::{ACCOUNT}", "not a well-formed ARN"),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}", "not an IAM ARN"),
        (f"arn:aws:iam:eu-west-1:{ACCOUNT}:user/a", "not an IAM ARN"),
        (f"arn:aws:sso::{ACCOUNT}:user/a", "not an IAM ARN"),
        ("arn:aws:iam::11112222333:user/a", "not a well-formed ARN"),
        ("arn:aws:iam::1111222233334:user/a", "not a well-formed ARN"),
        (f"arn:aws-eu:iam::{ACCOUNT}:user/a", "not a well-formed ARN"),
        (f"ARN:aws:iam::{ACCOUNT}:user/a", "not a well-formed ARN"),
        (f"aws:iam::{ACCOUNT}:user/a", "not a well-formed ARN"),
        (ACCOUNT, "not a well-formed ARN"),
    ],
    ids=[
        "none",
        "empty",
        "int",
        "list",
        "sts-assumed-role-session",
        "sts-assumed-role-slr-session",
        "bare-star",
        "star-account",
        "star-role",
        "partial-wildcard",
        "question-mark",
        "space",
        "double-quote",
        "single-quote",
        "unicode-letter",
        "cyrillic-homoglyph",
        "embedded-newline",
        "nul",
        "tab",
        "double-slash",
        "empty-name",
        "group",
        "policy",
        "name-129-chars",
        "over-long",
        "s3-service",
        "kms-key",
        "iam-with-region",
        "wrong-service-sso",
        "short-account",
        "long-account",
        "unknown-partition",
        "upper-case-arn-prefix",
        "no-arn-prefix",
        "bare-account",
    ],
)
def test_arns_principal_from_arn_rejects(value: object, message: str) -> None:
    with pytest.raises(PrincipalError, match=message):
        principal_from_arn(value)


@pytest.mark.parametrize(
    "arn",
    [f"arn:aws:iam::{ACCOUNT}:user/ops-alice\n", f"arn:aws:iam::{ACCOUNT}:role/Deployer\n"],
    ids=["user", "role"],
)
def test_arns_principal_from_arn_rejects_trailing_newline(arn: str) -> None:
    with pytest.raises(PrincipalError):
        principal_from_arn(arn)


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:sts::{ACCOUNT}:federated-user/b b",
        f"arn:aws:sts::{ACCOUNT}:federated-user/bob\n",
        f'arn:aws:sts::{ACCOUNT}:federated-user/b"ob',
        f"arn:aws:sts::{ACCOUNT}:federated-user/",
        f"arn:aws:sts::{ACCOUNT}:federated-user/a/b",
    ],
    ids=["space", "trailing-newline", "quote", "empty-name", "slash"],
)
def test_arns_principal_from_arn_rejects_odd_federated_user(arn: str) -> None:
    with pytest.raises(PrincipalError):
        principal_from_arn(arn)


def test_arns_principal_of_2048_chars_is_judged_on_shape_not_length() -> None:
    # Given an ARN exactly at the length limit (its name is too long for IAM)
    arn = f"arn:aws:iam::{ACCOUNT}:role/" + "r" * (2048 - len(f"arn:aws:iam::{ACCOUNT}:role/"))
    assert len(arn) == 2048
    # Then it is refused for its characters, not for its length
    with pytest.raises(PrincipalError, match="characters IAM does not allow"):
        principal_from_arn(arn)


def test_arns_autoscaling_slr_arn_is_default_slr() -> None:
    assert autoscaling_slr_arn(ACCOUNT) == SLR
    assert autoscaling_slr_arn("444455556666", "aws-cn") == (
        "arn:aws-cn:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ACCOUNT, True),
        ("11112222333", False),
        ("1111222233334", False),
        ("11112222333a", False),
        (111122223333, False),
        (None, False),
    ],
    ids=["twelve-digits", "eleven", "thirteen", "letter", "int", "none"],
)
def test_arns_is_account_id(value: object, expected: bool) -> None:
    assert is_account_id(value) is expected


# --- generic ARNs --------------------------------------------------------------------------


def test_arns_parse_arn_splits_resource_with_colons_intact() -> None:
    arn = parse_arn("arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/x:*")
    assert arn == Arn("aws", "logs", "eu-west-1", ACCOUNT, "log-group:/aws/lambda/x:*")
    assert str(arn) == "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/x:*"


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        "",
        "arn:aws:iam",
        "urn:aws:iam::1:x",
        "arn:gcp:iam::1:x",
        "arn:aws:iam::" + "x" * 2100,
    ],
    ids=["none", "int", "empty", "too-few-parts", "urn", "bad-partition", "over-long"],
)
def test_arns_parse_arn_rejects(value: object) -> None:
    assert parse_arn(value) is None


# --- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY_ARN, Arn("aws", "kms", "eu-west-1", ACCOUNT, f"key/{KEY_ID}")),
        (
            f"arn:aws:kms:us-gov-west-1:{ACCOUNT}:key/{MRK_ID}",
            Arn("aws", "kms", "us-gov-west-1", ACCOUNT, f"key/{MRK_ID}"),
        ),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/ebs", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID.upper()}", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/not-a-key-id", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}/extra", None),
        (f"arn:aws:kms:EU-WEST-1:{ACCOUNT}:key/{KEY_ID}", None),
        (f"arn:aws:kms::{ACCOUNT}:key/{KEY_ID}", None),
        (f"arn:aws:kms:eu-west-1:*:key/{KEY_ID}", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*", None),
        (f"arn:aws:ebs:eu-west-1:{ACCOUNT}:key/{KEY_ID}", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-1234", None),
        (KEY_ID, None),
        (None, None),
    ],
    ids=[
        "key-arn",
        "mrk-key-arn-govcloud-region",
        "alias-arn",
        "upper-case-id",
        "bad-id",
        "extra-path",
        "upper-region",
        "no-region",
        "wildcard-account",
        "wildcard-key",
        "wrong-service",
        "short-mrk",
        "bare-key-id",
        "none",
    ],
)
def test_arns_key_arn_parts(value: object, expected: Arn | None) -> None:
    assert key_arn_parts(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY_ID, True),
        (MRK_ID, True),
        (KEY_ARN, True),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK_ID}", True),
        ("alias/ebs-launch", True),
        ("alias/aws/ebs", True),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/ebs-launch", True),
        ("", False),
        (None, False),
        (123, False),
        ("alias/", False),
        ("alias/has space", False),
        ("alias/" + "a" * 251, False),
        ("alias/x*", False),
        ("ebs-launch", False),
        ("mrk-1234", False),
        (KEY_ID.upper(), False),
        (KEY_ID + "0", False),
        ("*", False),
        (f"arn:aws:kms:eu-west-1:*:key/{KEY_ID}", False),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/*", False),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*", False),
        (f"arn:aws:iam::{ACCOUNT}:role/x", False),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:grant/{KEY_ID}", False),
        (KEY_ARN + " ", False),
        (" " + KEY_ID, False),
        ("arn:aws:kms:eu-west-1:" + ACCOUNT + ":alias/" + "a" * 2100, False),
    ],
    ids=[
        "key-id",
        "mrk-id",
        "key-arn",
        "mrk-key-arn",
        "alias-name",
        "aws-managed-alias-name",
        "alias-arn",
        "empty",
        "none",
        "int",
        "alias-empty",
        "alias-space",
        "alias-too-long",
        "alias-star",
        "bare-word",
        "short-mrk",
        "upper-case-id",
        "id-too-long",
        "star",
        "arn-wildcard-account",
        "alias-arn-star",
        "key-arn-star",
        "iam-arn",
        "grant-arn",
        "trailing-space",
        "leading-space",
        "over-long-alias-arn",
    ],
)
def test_arns_is_key_reference(value: object, expected: bool) -> None:
    assert is_key_reference(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        KEY_ID + "\n",
        MRK_ID + "\n",
        "alias/ebs\n",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}\n",
    ],
    ids=["key-id", "mrk-id", "alias-name", "key-arn"],
)
def test_arns_is_key_reference_rejects_trailing_newline(value: str) -> None:
    assert is_key_reference(value) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY_ID, KEY_ID),
        (MRK_ID, MRK_ID),
        (KEY_ARN, KEY_ID),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK_ID}", MRK_ID),
        ("alias/ebs", None),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/ebs", None),
        ("garbage", None),
        ("", None),
    ],
    ids=["key-id", "mrk-id", "key-arn", "mrk-arn", "alias", "alias-arn", "garbage", "empty"],
)
def test_arns_key_id_of(value: str, expected: str | None) -> None:
    assert key_id_of(value) == expected


def test_arns_key_id_of_rejects_trailing_newline() -> None:
    assert key_id_of(KEY_ID + "\n") is None


# --- service-linked roles: only at their service's path ------------------------------------


@pytest.mark.parametrize(
    ("resource", "kind", "service"),
    [
        (
            "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web",
            PrincipalKind.SERVICE_LINKED_ROLE,
            "autoscaling.amazonaws.com",
        ),
        (
            "role/aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk",
            PrincipalKind.SERVICE_LINKED_ROLE,
            "elasticbeanstalk.amazonaws.com",
        ),
        ("role/aws-service-role/AdminRole", PrincipalKind.ROLE, None),
        ("role/aws-service-role/autoscaling.amazonaws.com/ops/AdminRole", PrincipalKind.ROLE, None),
        ("role/aws-service-role/autoscaling/AdminRole", PrincipalKind.ROLE, None),
        ("role/aws-service-role/Autoscaling.amazonaws.com/AdminRole", PrincipalKind.ROLE, None),
        ("role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", PrincipalKind.ROLE, None),
        ("role/aws-service-role/autoscaling.amazonaws.com/" + "x" * 65, PrincipalKind.ROLE, None),
    ],
    ids=[
        "autoscaling-slr",
        "other-service-slr",
        "no-service-segment",
        "path-below-service",
        "service-not-a-principal",
        "service-not-lowercase",
        "service-path-without-aws-service-role",
        "name-longer-than-iam-allows",
    ],
)
def test_arns_principal_from_arn_slr_only_at_its_service_path(
    resource: str, kind: PrincipalKind, service: str | None
) -> None:
    # Given a role ARN under (or beside) aws-service-role/
    # When it is classified
    principal = principal_from_arn(f"arn:aws:iam::{ACCOUNT}:{resource}")
    # Then it is a service-linked role only at role/aws-service-role/<service principal>/<name>
    assert principal.kind is kind
    assert principal.service == service


@pytest.mark.parametrize(
    ("resource", "launches"),
    [
        ("role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", True),
        ("role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot", True),
        ("role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet", True),
        ("role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet", True),
        ("role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", False),
        ("role/aws-service-role/autoscaling.amazonaws.com/ops/AdminRole", False),
        ("role/AWSServiceRoleForAutoScaling", False),
        ("user/autoscaling.amazonaws.com", False),
    ],
)
def test_arns_launches_for_its_service(resource: str, launches: bool) -> None:
    principal = principal_from_arn(f"arn:aws:iam::{ACCOUNT}:{resource}")
    assert launches_for_its_service(principal) is launches


def test_arns_launcher_slr_services_are_launch_callers() -> None:
    # The services whose roles launch are the services whose denied calls count as launches
    assert set(LAUNCHER_SLR_SERVICES) <= set(AWS_LAUNCH_CALLERS)
