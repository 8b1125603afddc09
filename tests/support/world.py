"""Builds the situations of domain.md inside moto, for the integration tests and the demo.

Works the same against moto's decorator and its HTTP server: clients go through boto3 (the
server is reached through ``AWS_ENDPOINT_URL``), and the few things moto's API cannot set
(an instance's StateReason, a key's manager or state) are set on its in-process backend.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.core.utils import unix_time_millis
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason
from moto.kms.models import kms_backends
from moto.sqs.models import sqs_backends

ACCOUNT = "111122223333"  # where instances, Auto Scaling groups and the remediator live
OTHER_ACCOUNT = "444455556666"  # a key owner in another account
REGION = "eu-west-1"
EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"

# Sample values in tests/events/*.json, replaced with what moto creates.
SAMPLE_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SAMPLE_OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
SAMPLE_INSTANCE_ID = "i-0123456789abcdef0"
SAMPLE_GROUP = "web-asg"

SLR_PATH = "role/aws-service-role/autoscaling.amazonaws.com/"
SLR_ARN = f"arn:aws:iam::{ACCOUNT}:{SLR_PATH}AWSServiceRoleForAutoScaling"
CUSTOM_SLR_ARN = f"{SLR_ARN}_web"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/ops-alice"
SAAS_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SaaSSchedulerRole"
KARPENTER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/KarpenterControllerRole-prod"
SAMPLE_VOLUME_ID = "vol-0a1b2c3d4e5f60011"  # the Karpenter fixture's EBS volume
# The launching services' service-linked roles: (service principal, role name), as AWS creates
# them (moto's CreateServiceLinkedRole names only Auto Scaling's right).
SPOT_SLR = ("spot.amazonaws.com", "AWSServiceRoleForEC2Spot")
SPOT_FLEET_SLR = ("spotfleet.amazonaws.com", "AWSServiceRoleForEC2SpotFleet")
EC2_FLEET_SLR = ("ec2fleet.amazonaws.com", "AWSServiceRoleForEC2Fleet")
SPOT_SLR_ARN = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
)
SPOT_FLEET_SLR_ARN = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spotfleet.amazonaws.com/"
    "AWSServiceRoleForEC2SpotFleet"
)
EC2_FLEET_SLR_ARN = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet"
)
FAILED_LAUNCH = StateReason("Client.InternalError: Client error on launch", "Client.InternalError")


def load_event(name: str, replacements: dict[str, str] | None = None) -> dict[str, Any]:
    """A fixture from tests/events, with sample ids replaced by plain string substitution."""
    text = (EVENTS_DIR / name).read_text()
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    event: dict[str, Any] = json.loads(text)
    return event


@dataclass
class World:
    """Clients for this account, and for the other account through an assumed role."""

    region: str = REGION
    clients: dict[str, Any] = field(default_factory=dict)
    image_id: str | None = None  # the stock AMI, looked up once (see image())

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.Session(region_name=self.region).client(service)
        return self.clients[service]

    @contextlib.contextmanager
    def account(self, account: str) -> Iterator[None]:
        """Make calls as ``account``. moto takes the account from MOTO_ACCOUNT_ID before
        credentials, so this switches it; world building is single-threaded."""
        previous = os.environ.get("MOTO_ACCOUNT_ID")
        os.environ["MOTO_ACCOUNT_ID"] = account
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("MOTO_ACCOUNT_ID", None)
            else:
                os.environ["MOTO_ACCOUNT_ID"] = previous

    # --- keys ------------------------------------------------------------------------------

    def key(self, account: str = ACCOUNT, policy: dict[str, Any] | None = None) -> str:
        args: dict[str, Any] = {"Description": "EBS key"}
        if policy is not None:
            args["Policy"] = json.dumps(policy)
        with self.account(account):
            arn: str = self.client("kms").create_key(**args)["KeyMetadata"]["Arn"]
        return arn

    def policy(self, key_arn: str) -> dict[str, Any]:
        with self.account(key_arn.split(":")[4]):
            text = self.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")
        policy: dict[str, Any] = json.loads(text["Policy"])
        return policy

    def set_policy(self, key_arn: str, policy: dict[str, Any]) -> None:
        with self.account(key_arn.split(":")[4]):
            self.client("kms").put_key_policy(
                KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy)
            )

    def grants(self, key_arn: str) -> list[dict[str, Any]]:
        with self.account(key_arn.split(":")[4]):
            grants: list[dict[str, Any]] = self.client("kms").list_grants(KeyId=key_arn)["Grants"]
        return grants

    def set_key(
        self, key_arn: str, *, manager: str | None = None, state: str | None = None
    ) -> None:
        """What the API cannot set: an AWS-managed key, or a key state such as PendingImport."""
        account, key_id = key_arn.split(":")[4], key_arn.rsplit("/", 1)[-1]
        key = kms_backends[account][self.region].keys[key_id]
        if manager:
            key.key_manager = manager
        if state:
            key.key_state = state
            key.enabled = state == "Enabled"

    # --- principals ------------------------------------------------------------------------

    def autoscaling_slr(self, suffix: str | None = None) -> str:
        args = {"AWSServiceName": "autoscaling.amazonaws.com"}
        if suffix:
            args["CustomSuffix"] = suffix
        arn: str = self.client("iam").create_service_linked_role(**args)["Role"]["Arn"]
        return arn

    def user(self, name: str = "ops-alice") -> str:
        arn: str = self.client("iam").create_user(UserName=name)["User"]["Arn"]
        return arn

    def role(self, name: str, trusted_account: str = "999988887777") -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn: str = self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        return arn

    # --- EC2 and Auto Scaling --------------------------------------------------------------

    def image(self) -> str:
        """A stock AMI, looked up once per world: every template and instance needs one."""
        if self.image_id is None:
            images = self.client("ec2").describe_images(Owners=["amazon"])["Images"]
            self.image_id = str(images[0]["ImageId"])
        return self.image_id

    def encrypted_image(self, key_arn: str) -> str:
        """An AMI whose snapshot is encrypted with ``key_arn`` (as a copied AMI would be).

        moto's RegisterImage makes a snapshot of its own, unencrypted, whatever the block device
        mapping says; the backend's snapshot is given the key instead."""
        ec2 = self.client("ec2")
        instance = ec2.run_instances(ImageId=self.image(), MinCount=1, MaxCount=1)["Instances"][0]
        image_id: str = ec2.create_image(InstanceId=instance["InstanceId"], Name="copied")[
            "ImageId"
        ]
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        backend = ec2_backends[ACCOUNT][self.region]
        for mapping in image["BlockDeviceMappings"]:
            snapshot = backend.snapshots[mapping["Ebs"]["SnapshotId"]]
            snapshot.encrypted, snapshot.kms_key_id = True, key_arn
        return image_id

    def launch_template(self, key_arn: str, name: str = "web-lt") -> str:
        data = {
            "ImageId": self.image(),
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {"Encrypted": True, "KmsKeyId": key_arn, "VolumeSize": 8},
                }
            ],
        }
        template_id: str = self.client("ec2").create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData=data
        )["LaunchTemplate"]["LaunchTemplateId"]
        return template_id

    def autoscaling_group(self, template_id: str, name: str = SAMPLE_GROUP) -> str:
        self.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=0,
            AvailabilityZones=[f"{self.region}a"],
        )
        return name

    def failed_instance(
        self, key_arn: str, *, group: str | None = None, stopped: bool = True
    ) -> str:
        """An instance whose encrypted root volume uses ``key_arn`` and whose launch failed."""
        tags = [{"Key": "aws:autoscaling:groupName", "Value": group}] if group else []
        args: dict[str, Any] = {
            "ImageId": self.image(),
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {"Encrypted": True, "KmsKeyId": key_arn, "VolumeSize": 8},
                }
            ],
        }
        if tags:
            args["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        ec2 = self.client("ec2")
        instance_id: str = ec2.run_instances(**args)["Instances"][0]["InstanceId"]
        if stopped:
            ec2.stop_instances(InstanceIds=[instance_id])
        else:
            ec2.terminate_instances(InstanceIds=[instance_id])
        self.set_state_reason(instance_id, FAILED_LAUNCH)
        return instance_id

    def set_state_reason(self, instance_id: str, reason: StateReason) -> None:
        ec2_backends[ACCOUNT][self.region].get_instance(instance_id).state_reason = reason

    def service_linked_role(self, role: tuple[str, str]) -> str:
        """A launching service's service-linked role at the path AWS gives it."""
        service, name = role
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
        arn: str = self.client("iam").create_role(
            RoleName=name,
            Path=f"/aws-service-role/{service}/",
            AssumeRolePolicyDocument=json.dumps(trust),
        )["Role"]["Arn"]
        return arn

    # --- key sources -------------------------------------------------------------------------

    def template_data(
        self, key_arn: str | None = None, *, image_id: str | None = None, spot: bool = False
    ) -> dict[str, Any]:
        """Launch template data: a root volume encrypted with ``key_arn`` (or, with None,
        encrypted without a key id: the default EBS key)."""
        ebs: dict[str, Any] = {"Encrypted": True, "VolumeSize": 8}
        if key_arn:
            ebs["KmsKeyId"] = key_arn
        data: dict[str, Any] = {
            "ImageId": image_id or self.image(),
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": ebs}],
        }
        if spot:
            data["InstanceMarketOptions"] = {"MarketType": "spot"}
        return data

    def template_from(self, name: str, data: dict[str, Any]) -> str:
        template_id: str = self.client("ec2").create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData=data
        )["LaunchTemplate"]["LaunchTemplateId"]
        return template_id

    def template_version(self, template_id: str, data: dict[str, Any]) -> str:
        """A new version of the template; its number."""
        version = self.client("ec2").create_launch_template_version(
            LaunchTemplateId=template_id, LaunchTemplateData=data
        )["LaunchTemplateVersion"]["VersionNumber"]
        return str(version)

    def group(self, name: str = SAMPLE_GROUP, **spec: Any) -> str:
        """An Auto Scaling group from ``spec`` (LaunchTemplate, MixedInstancesPolicy or
        LaunchConfigurationName)."""
        self.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=0,
            AvailabilityZones=[f"{self.region}a"],
            **spec,
        )
        return name

    def ssm_parameter(self, name: str, value: str) -> None:
        self.client("ssm").put_parameter(Name=name, Value=value, Type="String")

    def ebs_default_key(self, key_arn: str, *, by_default: bool = False) -> None:
        """The account's default EBS key (and, optionally, encryption by default on)."""
        ec2 = self.client("ec2")
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=key_arn)
        if by_default:
            ec2.enable_ebs_encryption_by_default()

    # --- launchers ---------------------------------------------------------------------------

    def launched_instance(
        self,
        *,
        key_arn: str | None = None,
        template_id: str | None = None,
        image_id: str | None = None,
        tags: dict[str, str] | None = None,
        spot_request_id: str | None = None,
        stopped: bool = False,
    ) -> str:
        """An instance whose launch failed: from a template (its id and version tagged, as EC2
        does) or with a root volume on ``key_arn``; with the tags AWS writes for its launcher
        (moto writes none) and, for a Spot Instance, its lifecycle and request id."""
        args: dict[str, Any] = {"MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
        all_tags = dict(tags or {})
        if template_id:
            args["LaunchTemplate"] = {"LaunchTemplateId": template_id, "Version": "$Default"}
            all_tags["aws:ec2launchtemplate:id"] = template_id
            all_tags["aws:ec2launchtemplate:version"] = "1"
        else:
            args["ImageId"] = image_id or self.image()
        if key_arn:
            ebs = {"Encrypted": True, "KmsKeyId": key_arn, "VolumeSize": 8}
            args["BlockDeviceMappings"] = [{"DeviceName": "/dev/xvda", "Ebs": ebs}]
        ec2 = self.client("ec2")
        instance_id: str = ec2.run_instances(**args)["Instances"][0]["InstanceId"]
        if all_tags:
            ec2.create_tags(
                Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in all_tags.items()]
            )
        if spot_request_id is not None:
            backend_instance = ec2_backends[ACCOUNT][self.region].get_instance(instance_id)
            backend_instance.lifecycle = "spot"
            if spot_request_id:
                backend_instance.spot_instance_request_id = spot_request_id
        if stopped:
            ec2.stop_instances(InstanceIds=[instance_id])
        else:
            ec2.terminate_instances(InstanceIds=[instance_id])
        self.set_state_reason(instance_id, FAILED_LAUNCH)
        return instance_id

    def fleet(self, template_id: str, fleet_type: str) -> str:
        fleet_id: str = self.client("ec2").create_fleet(
            Type=fleet_type,
            LaunchTemplateConfigs=[
                {"LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "1"}}
            ],
            TargetCapacitySpecification={
                "TotalTargetCapacity": 1,
                "DefaultTargetCapacityType": "on-demand",
            },
        )["FleetId"]
        return fleet_id

    def spot_fleet_request(self, key_arn: str) -> str:
        """A Spot Fleet request whose launch specification encrypts the root volume."""
        spec = {
            "ImageId": self.image(),
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key_arn}}
            ],
        }
        request_id: str = self.client("ec2").request_spot_fleet(
            SpotFleetRequestConfig={
                "IamFleetRole": f"arn:aws:iam::{ACCOUNT}:role/aws-ec2-spot-fleet-tagging-role",
                "TargetCapacity": 1,
                "AllocationStrategy": "lowestPrice",
                "LaunchSpecifications": [spec],
            }
        )["SpotFleetRequestId"]
        return request_id

    def spot_instance_request(self, key_arn: str) -> str:
        spec = {
            "ImageId": self.image(),
            "InstanceType": "t3.micro",
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key_arn}}
            ],
        }
        request_id: str = self.client("ec2").request_spot_instances(
            InstanceCount=1, LaunchSpecification=spec
        )["SpotInstanceRequests"][0]["SpotInstanceRequestId"]
        return request_id

    def volume_of(self, instance_id: str) -> str:
        volumes = self.client("ec2").describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
        )["Volumes"]
        volume_id: str = volumes[0]["VolumeId"]
        return volume_id

    # --- the re-check queue --------------------------------------------------------------------

    def queue(self, name: str = "recheck") -> str:
        url: str = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        return url

    def release_delayed(self, queue_url: str) -> list[tuple[int, dict[str, Any]]]:
        """Every message the queue holds back, as if its delay had passed: (the delay it was
        sent with, in seconds, rounded; the SQS batch the event source mapping would deliver)."""
        name = queue_url.rsplit("/", 1)[-1]
        queue = sqs_backends[ACCOUNT][self.region].queues[name]
        now = unix_time_millis()
        delays = [round((m.delayed_until - now) / 1000) for m in queue._messages]
        for message in queue._messages:
            message.delayed_until = 0.0
        received = (
            self.client("sqs")
            .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        batches = []
        for delay, message in zip(delays, received, strict=True):
            record = {"eventSource": "aws:sqs", "messageId": message["MessageId"]}
            record["body"] = message["Body"]
            batches.append((delay, {"Records": [record]}))
            self.client("sqs").delete_message(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return batches

    # --- notifications ---------------------------------------------------------------------

    def notifications_topic(self) -> tuple[str, str]:
        """An SNS topic with an SQS subscription (raw delivery off: the SNS envelope arrives)."""
        topic: str = self.client("sns").create_topic(Name="remediator-notifications")["TopicArn"]
        sqs = self.client("sqs")
        queue_url: str = sqs.create_queue(QueueName="operator-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        return topic, queue_url

    def received(self, queue_url: str) -> list[dict[str, Any]]:
        """Every SNS notification delivered so far: Subject, parsed Message, attributes."""
        sqs, found = self.client("sqs"), []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return found
            for item in batch:
                envelope = json.loads(item["Body"])
                found.append(
                    {
                        "subject": envelope.get("Subject"),
                        "message": json.loads(envelope["Message"]),
                        "attributes": {
                            k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                        },
                    }
                )
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])
