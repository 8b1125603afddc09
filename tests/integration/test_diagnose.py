"""``python -m remediator diagnose``: a read-only explanation of a failed launch, under moto.

Every test checks the explanation a person reads (key, manager and state, principal and where it
came from, what the key policy or grants lack, the fix) and that nothing was written: the key
policy and grants are unchanged, and every AWS call made was a Describe/Get/List/Lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediator import cli
from remediator.adapters.aws import AwsAdapter
from remediator.adapters.read_only import ReadOnlyViolation
from remediator.config import parse_config
from remediator.diagnose import diagnose
from remediator.diagnosis import Diagnosis
from tests.integration.conftest import allow
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.world import ACCOUNT, OTHER_ACCOUNT, SAMPLE_GROUP, SLR_ARN, World

REGION = "eu-west-1"
READ_PREFIXES = ("Describe", "Get", "List", "Lookup")
USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
LAUNCH_ACTIONS = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
]


@dataclass
class Recorder:
    """A boto3 session that records every AWS operation made through its clients."""

    session: Any
    calls: list[str] = field(default_factory=list)

    def adapter(self, **clients: Any) -> AwsAdapter:
        return AwsAdapter(session=self.session, region=REGION, clients=dict(clients))

    def assert_read_only(self) -> None:
        assert self.calls, "no AWS call was recorded"
        writes = [c for c in self.calls if not c.split(":", 1)[1].startswith(READ_PREFIXES)]
        assert writes == []


@pytest.fixture
def aws(world: World) -> Recorder:
    recorder = Recorder(boto3.Session(region_name=REGION))

    def record(model: Any, **_: Any) -> None:
        recorder.calls.append(f"{model.service_model.service_name}:{model.name}")

    recorder.session.events.register("before-call", record)
    return recorder


def snapshot(world: World, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return world.policy(key), world.grants(key)


def lookup_stub(instance_id: str, user: str) -> tuple[Any, Stubber]:
    """CloudTrail's record of the StartInstances call (moto has no LookupEvents)."""
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    stub = Stubber(cloudtrail)
    record = {
        "eventName": "StartInstances",
        "eventTime": "2024-05-14T12:00:41Z",
        "userIdentity": {
            "type": "IAMUser",
            "arn": user,
            "accountId": ACCOUNT,
            "userName": user.rsplit("/", 1)[-1],
        },
        "requestParameters": {"instancesSet": {"items": [{"instanceId": instance_id}]}},
    }
    stub.add_response(
        "lookup_events",
        {"Events": [{"EventName": "StartInstances", "CloudTrailEvent": json.dumps(record)}]},
        {"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": instance_id}]},
    )
    return cloudtrail, stub


def test_diagnose_asg_failure_explains_slr_and_planned_key_policy_change(
    world: World, aws: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a group whose launch template encrypts with a key whose policy lacks the group's SLR
    key = world.key()
    world.autoscaling_slr()
    world.autoscaling_group(world.launch_template(key))
    before = snapshot(world, key)
    config = allow([SLR_ARN], [key])

    # When the operator diagnoses the group
    result = diagnose(aws.adapter(), parse_config(config), region=REGION, group=SAMPLE_GROUP)

    # Then the explanation names the key, its manager and state, and the group's default SLR
    assert result.target == f"Auto Scaling group {SAMPLE_GROUP}"
    assert result.principal is not None
    assert result.principal["arn"] == SLR_ARN
    assert result.principal["kind"] == "service-linked-role"
    assert result.principal["source"] == (
        f"the service-linked role of Auto Scaling group {SAMPLE_GROUP} (the default one)"
    )
    [finding] = result.findings
    assert (finding.key_arn, finding.manager, finding.state) == (key, "CUSTOMER", "Enabled")
    assert finding.key_account == ACCOUNT

    # And what the key policy lacks: each launch action is only left to IAM, which an SLR
    # cannot use, and no grant helps
    assert [c.action for c in finding.checks] == LAUNCH_ACTIONS
    assert {c.access for c in finding.checks} == {"unknown"}
    assert all("'Enable IAM User Permissions' delegates" in c.detail for c in finding.checks)
    assert "kms:CreateGrant                      not named: 'Enable IAM User" in result.text()
    assert "service-linked role's IAM policy is fixed by AWS" in finding.lacks
    assert finding.grants == []
    assert "no grant gives the principal the launch operations" in finding.lacks

    # And the exact fix the remediator would apply under this (enforce) configuration
    assert finding.outcome == "dry_run"
    assert finding.fix["action"] == "put-key-policy"
    assert [s["Sid"] for s in finding.fix["statements"]] == [
        "KmsLaunchRemediatorUse",
        "KmsLaunchRemediatorAttach",
    ]
    assert finding.fix["statements"][0]["Action"] == USE
    assert finding.fix["statements"][0]["Principal"] == {"AWS": [SLR_ARN]}
    assert finding.fix["policy_after"]["Statement"][1:] == finding.fix["statements"]
    assert result.summary == (
        f"key {key.rsplit('/', 1)[-1]}: AWSServiceRoleForAutoScaling may not use it; the "
        "remediator would fix that with a key-policy change (2 statements)"
    )

    # And the text a person reads says the same
    text = result.text()
    assert f"Key 1 of 1: {key}" in text
    assert "Manager      CUSTOMER; state Enabled" in text
    assert "mode enforce) the remediator would add to the key policy" in text

    # And nothing was written
    assert snapshot(world, key) == before
    aws.assert_read_only()


def test_diagnose_cli_asg_prints_one_json_object(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # Given the same failing group, and a configuration file that allowlists nothing
    key = world.key()
    world.autoscaling_slr()
    world.autoscaling_group(world.launch_template(key))
    before = snapshot(world, key)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"mode": "enforce"}))

    # When diagnose runs from the command line with --json
    code = cli.main(["diagnose", "--asg", SAMPLE_GROUP, "--config", str(config), "--json"])

    # Then it prints one JSON object: refused by the allowlist, with the suggested statements
    assert code == cli.EXIT_OK
    output = json.loads(capsys.readouterr().out)
    [finding] = output["findings"]
    assert finding["outcome"] == "refused"
    assert finding["reason"] == "the key is not in the allowlist (allow.keys)"
    statements = finding["fix"]["suggested_fix"]["key_policy_statements"]
    assert [s["Principal"] for s in statements] == [{"AWS": [SLR_ARN]}] * 2
    assert output["principal"]["arn"] == SLR_ARN
    assert snapshot(world, key) == before


@pytest.mark.parametrize(
    ("allowlisted", "outcome", "fix_action"),
    [(True, "dry_run", "put-key-policy"), (False, "refused", "refused")],
    ids=["allowlisted-would-fix", "not-allowlisted-suggests-fix"],
)
def test_diagnose_user_start_instances_takes_principal_from_cloudtrail(
    world: World, aws: Recorder, allowlisted: bool, outcome: str, fix_action: str
) -> None:
    # Given a stopped instance (not in a group) whose StartInstances by a user failed on its key
    key = world.key()
    user = world.user()
    instance = world.failed_instance(key, stopped=True)
    cloudtrail, stub = lookup_stub(instance, user)
    before = snapshot(world, key)
    config = parse_config(allow([user] if allowlisted else [], [key]))

    # When the operator diagnoses the instance
    with stub:
        result: Diagnosis = diagnose(
            aws.adapter(cloudtrail=cloudtrail),
            config,
            region=REGION,
            instance_id=instance,
        )

    # Then the launch, the user (from CloudTrail) and the key are explained
    stub.assert_no_pending_responses()  # one LookupEvents call, shared with the engine
    assert result.launch["state"] == "stopped"
    assert result.launch["state_reason_code"] == "Client.InternalError"
    assert result.launch["auto_scaling_group"] is None
    assert result.principal == {
        "arn": user,
        "kind": "user",
        "source": "CloudTrail: StartInstances at 2024-05-14T12:00:41Z",
    }
    [finding] = result.findings
    assert finding.key_arn == key
    assert finding.lacks.startswith(
        "the key policy does not name ops-alice for any of the 6 actions a launch needs: only "
        "'Enable IAM User Permissions' covers them, by leaving them to IAM policies; its IAM "
        "policy evidently does not allow them, since the launch was denied"
    )
    assert finding.grants == []

    # And the fix for a StartInstances: only CreateGrant for AWS resources (its volumes exist),
    # applied by the remediator or suggested by it
    assert finding.outcome == outcome
    assert finding.fix["action"] == fix_action
    if allowlisted:
        sids = [s["Sid"] for s in finding.fix["statements"]]
        assert "mode enforce) the remediator would add" in result.text()
    else:
        assert finding.reason == "the principal is not in the allowlist (allow.principals)"
        sids = [s["Sid"] for s in finding.fix["suggested_fix"]["key_policy_statements"]]
        assert "the remediator would not apply it; to fix it by hand" in result.text()
    assert sids == ["KmsLaunchRemediatorAttach"]

    # And nothing was written
    assert snapshot(world, key) == before
    aws.assert_read_only()


def test_diagnose_aws_managed_key_says_no_key_side_fix(world: World, aws: Recorder) -> None:
    # Given an Auto Scaling instance whose volume uses an AWS-managed key
    key = world.key()
    world.set_key(key, manager="AWS")
    world.autoscaling_slr()
    world.autoscaling_group(world.launch_template(key))
    instance = world.failed_instance(key, group=SAMPLE_GROUP, stopped=True)
    before = snapshot(world, key)

    # When the operator diagnoses it, even with everything allowlisted
    result = diagnose(
        aws.adapter(),
        parse_config(allow(every_principal_of(ACCOUNT), every_key_of(ACCOUNT, OTHER_ACCOUNT))),
        region=REGION,
        instance_id=instance,
    )

    # Then it says the key is AWS-managed, cannot be the cause, and has no fix on its side
    assert result.launch["state"] == "stopped"
    assert result.launch["auto_scaling_group"] == SAMPLE_GROUP
    [finding] = result.findings
    assert (finding.key_arn, finding.manager) == (key, "AWS")
    assert finding.outcome == "refused"
    assert "AWS-managed" in finding.reason
    assert finding.policy.startswith("AWS-managed key: its policy is fixed by AWS")
    assert finding.checks == []
    assert finding.lacks.startswith("nothing on the key's side")
    assert finding.fix["action"] == "none"
    assert "suggested_fix" not in finding.fix  # no statements for a key nobody can edit
    assert "the remediator would refuse" in result.summary
    assert "Fix          none: AWS-managed keys cannot be changed" in result.text()

    # And nothing was written
    assert snapshot(world, key) == before
    aws.assert_read_only()


def test_diagnose_instance_that_did_not_fail_on_kms(world: World, aws: Recorder) -> None:
    # Given an instance a user stopped: no launch failure
    key = world.key()
    instance = world.client("ec2").run_instances(ImageId=world.image(), MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]

    # When it is diagnosed
    result = diagnose(aws.adapter(), parse_config(None), region=REGION, instance_id=instance)

    # Then the answer is that it is no KMS launch failure
    assert result.launch["kms_launch_failure"] is False
    assert result.summary.startswith("not a KMS launch failure: state reason")
    assert "Not a KMS launch failure" in result.text()
    assert world.grants(key) == []
    aws.assert_read_only()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--instance-id", "i-0123456789abcdef0"], "instance i-0123456789abcdef0 was not found"),
        (["--instance-id", "web-1"], "'web-1' is not an EC2 instance id"),
        (["--asg", "no-such-group"], "Auto Scaling group 'no-such-group' was not found"),
    ],
)
def test_diagnose_cli_unknown_or_malformed_target_is_bad_input(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = cli.main(["diagnose", *argv])
    assert code == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_read_only_adapter_refuses_every_write(world: World) -> None:
    # Given the adapter diagnose hands to the engine
    key = world.key()
    before = snapshot(world, key)
    reader = AwsAdapter(region=REGION).read_only()

    # When anything tries to write, Then it is refused before reaching AWS
    with pytest.raises(ReadOnlyViolation, match="kms:put_key_policy"):
        reader.put_key_policy(key, json.dumps(before[0]))
    with pytest.raises(ReadOnlyViolation, match="kms:create_grant"):
        reader.create_grant(key, SLR_ARN, ("Decrypt",), "x")
    with pytest.raises(ReadOnlyViolation, match="sns:publish"):
        reader.publish("arn:aws:sns:eu-west-1:111122223333:t", "s", "m", "refused")
    assert snapshot(world, key) == before


@pytest.mark.parametrize("target", ["instance", "group"])
def test_diagnose_reads_nothing_twice(world: World, aws: Recorder, target: str) -> None:
    # Given an Auto Scaling instance whose launch failed on a key its group's SLR may not use
    key = world.key()
    world.autoscaling_slr()
    world.autoscaling_group(world.launch_template(key))
    instance = world.failed_instance(key, group=SAMPLE_GROUP)
    config = parse_config(allow([SLR_ARN], [key]))
    args = {"instance_id": instance} if target == "instance" else {"group": SAMPLE_GROUP}

    # When it is diagnosed
    diagnose(aws.adapter(), config, region=REGION, **args)

    # Then every AWS operation was made once: no fact is read again to explain it
    repeated = sorted({call for call in aws.calls if aws.calls.count(call) > 1})
    assert repeated == []
    reads = {"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants", "iam:GetRole"}
    # The SLR's identity policies, read as any role's (GetRole also answers whether it exists)
    reads |= {"iam:ListRolePolicies", "iam:ListAttachedRolePolicies"}
    reads |= {"sts:GetCallerIdentity", "autoscaling:DescribeAutoScalingGroups"}
    reads |= {"ec2:DescribeImages", "ec2:DescribeSnapshots"}
    if target == "instance":
        reads |= {"ec2:DescribeInstances", "ec2:DescribeVolumes"}
    else:
        reads |= {"autoscaling:DescribeScalingActivities", "ec2:DescribeLaunchTemplateVersions"}
        # no volume to read: the AMI's unencrypted snapshot would use the default EBS key if
        # encryption by default were on
        reads |= {"ec2:GetEbsEncryptionByDefault"}
    assert set(aws.calls) == reads
