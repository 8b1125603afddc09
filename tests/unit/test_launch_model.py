"""The launch model: which KMS calls each kind of launch makes, with which request context."""

from __future__ import annotations

import pytest

from remediator.arns import Principal, principal_from_arn
from remediator.conditions import ABSENT, UNKNOWN_VALUE
from remediator.launch_model import (
    LAUNCHES,
    LaunchKind,
    call_context,
    launch_calls,
    launch_kind,
    via_service,
)
from tests.support import oracle

USER = principal_from_arn("arn:aws:iam::111122223333:user/ops-alice")
ROLE = principal_from_arn("arn:aws:iam::111122223333:role/SaaSSchedulerRole")
ASG_SLR = principal_from_arn(
    "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web"
)
SPOT_SLR = principal_from_arn(
    "arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
)
KEY = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
CN_KEY = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_launch_model_every_kind_has_a_row_with_its_source() -> None:
    assert set(LAUNCHES) == set(LaunchKind)
    for kind, row in LAUNCHES.items():
        assert row.kind is kind
        assert row.source.startswith("https://"), kind
        assert row.calls and all(c.startswith("kms:") for c in row.calls)


def test_launch_model_calls_are_the_oracles() -> None:
    # The oracle was written separately from AWS's pages; the model must name the same calls.
    assert LAUNCHES[LaunchKind.RUN_INSTANCES].calls == oracle.LAUNCH_CALLS["run"]
    assert LAUNCHES[LaunchKind.AUTO_SCALING].calls == oracle.LAUNCH_CALLS["asg"]
    assert LAUNCHES[LaunchKind.START_INSTANCES].calls == oracle.LAUNCH_CALLS["start"]


@pytest.mark.parametrize(
    ("principal", "call", "kind"),
    [
        (USER, "RunInstances", LaunchKind.RUN_INSTANCES),
        (USER, "StartInstances", LaunchKind.START_INSTANCES),
        (ROLE, None, LaunchKind.RUN_INSTANCES),
        (ASG_SLR, None, LaunchKind.AUTO_SCALING),
        (ASG_SLR, "StartInstances", LaunchKind.AUTO_SCALING),
        (SPOT_SLR, None, LaunchKind.FLEET),
    ],
    ids=["user-run", "user-start", "role-unknown-call", "asg-slr", "asg-slr-start", "spot-slr"],
)
def test_launch_model_kind_from_principal_and_cloudtrail_call(
    principal: Principal, call: str | None, kind: LaunchKind
) -> None:
    assert launch_kind(principal, call) is kind


def test_launch_model_ebs_create_grant_context() -> None:
    # Given EBS's CreateGrant for a user's launch on another account's key
    context = call_context("kms:CreateGrant", USER, KEY)
    # Then it carries EC2 of the key's region, the launcher's account, and EBS's own grant
    assert context["kms:viaservice"] == ("ec2.eu-west-1.amazonaws.com",)
    assert context["kms:calleraccount"] == ("111122223333",)
    assert context["kms:grantisforawsresource"] == ("true",)
    assert context["kms:grantoperations"] == ("Decrypt",)
    assert context["kms:granteeprincipal"] is UNKNOWN_VALUE
    assert context["aws:principalarn"] == (USER.arn,)
    assert context["aws:principaltype"] == ("User",)
    assert context["aws:username"] == ("ops-alice",)
    assert context["aws:viaawsservice"] == ("true",)
    assert context["aws:sourcearn"] is ABSENT


def test_launch_model_data_key_calls_carry_no_grant_keys_but_the_volume_context() -> None:
    context = call_context("kms:GenerateDataKeyWithoutPlaintext", ROLE, KEY)
    assert context["kms:grantisforawsresource"] is ABSENT
    assert context["kms:grantoperations"] is ABSENT
    assert context["kms:encryptioncontextkeys"] == ("aws:ebs:id",)
    assert context["kms:encryptioncontext:aws:ebs:id"] is UNKNOWN_VALUE
    assert context["aws:principaltype"] == ("AssumedRole",)
    assert context["aws:username"] is ABSENT


@pytest.mark.parametrize(
    ("region", "partition", "expected"),
    [
        ("eu-west-1", "aws", "ec2.eu-west-1.amazonaws.com"),
        ("cn-north-1", "aws-cn", "ec2.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "ec2.us-gov-west-1.amazonaws.com"),
    ],
)
def test_launch_model_via_service_per_partition(region: str, partition: str, expected: str) -> None:
    assert via_service(region, partition) == expected


def test_launch_model_calls_of_a_launch_in_aws_cn() -> None:
    calls = launch_calls(LaunchKind.START_INSTANCES, USER, CN_KEY)
    assert [c.action for c in calls] == ["kms:CreateGrant"]
    assert calls[0].context.lookup("kms:ViaService") == ("ec2.cn-north-1.amazonaws.com.cn",)
