"""The AWS adapter: the only module that talks to AWS. Returns plain data.

Clients are made lazily from one session with one retry configuration (botocore's standard
mode retries throttling and 5xx errors; nothing here loops on its own). Tests pass a session
pointed at moto, or clients wrapped in botocore's Stubber. Every action called here is declared
in ``permissions.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from remediator.model import AutoScalingGroup, Grant, Instance, KeyInfo

logger = logging.getLogger(__name__)

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
)

# Error codes this adapter tolerates by name, each meaning "not found" or "not available".
NOT_FOUND_CODES = frozenset(
    {
        "NotFoundException",
        "NoSuchEntity",
        "InvalidInstanceID.NotFound",
        "InvalidVolume.NotFound",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Unavailable",
        "InvalidSnapshot.NotFound",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.VersionNotFound",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidAction",
        "NotImplemented",
        "UnsupportedOperation",
        "UnrecognizedClientException",
        "InternalFailure",
        "500",
    }
)


# Access Analyzer is an extra check: where it cannot answer (an emulator without it answers 404,
# a role without the permission AccessDenied), the local checks apply and a warning is logged.
ANALYZER_UNAVAILABLE_CODES = frozenset(
    {
        "404",
        "NotImplemented",
        "UnknownOperationException",
        "InvalidAction",
        "UnrecognizedClientException",
        "AccessDenied",
        "AccessDeniedException",
        "500",  # an emulator without the service, or AWS after retries
        "InternalServerException",
        "ServiceUnavailableException",
    }
)
ANALYZER_RETRY_SECONDS = 300  # once it cannot answer, ask again after this long
# An optional check: fewer retries than the calls the remediation depends on.
ANALYZER_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10
)


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


@dataclass
class AwsAdapter:
    session: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    analyzer_off_until: float = 0.0  # monotonic time; set when Access Analyzer cannot answer

    def client(self, service: str) -> Any:
        if service not in self.clients:
            session = self.session or boto3.Session()
            config = ANALYZER_CONFIG if service == "accessanalyzer" else RETRY_CONFIG
            self.clients[service] = session.client(service, region_name=self.region, config=config)
        return self.clients[service]

    # --- KMS -------------------------------------------------------------------------------

    def describe_key(self, key_reference: str) -> KeyInfo | None:
        try:
            meta = self.client("kms").describe_key(KeyId=key_reference)["KeyMetadata"]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return None
            raise
        arn = meta["Arn"]
        return KeyInfo(
            arn=arn,
            account=arn.split(":")[4],
            region=arn.split(":")[3],
            manager=meta.get("KeyManager", "CUSTOMER"),
            state=meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"),
        )

    def get_key_policy(self, key_arn: str) -> str:
        return str(self.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])

    def put_key_policy(self, key_arn: str, policy_text: str) -> None:
        # BypassPolicyLockoutSafetyCheck is never set: KMS keeps refusing policies that would
        # lock the key's administrators out.
        self.client("kms").put_key_policy(KeyId=key_arn, PolicyName="default", Policy=policy_text)

    def list_grants(self, key_arn: str) -> list[Grant]:
        grants = []
        for page in self.client("kms").get_paginator("list_grants").paginate(KeyId=key_arn):
            for item in page.get("Grants", []):
                grants.append(
                    Grant(
                        grant_id=item["GrantId"],
                        grantee=item.get("GranteePrincipal", ""),
                        operations=tuple(item.get("Operations", ())),
                        name=item.get("Name", ""),
                    )
                )
        return grants

    def create_grant(
        self, key_arn: str, grantee: str, operations: tuple[str, ...], name: str
    ) -> str:
        response = self.client("kms").create_grant(
            KeyId=key_arn, GranteePrincipal=grantee, Operations=list(operations), Name=name
        )
        return str(response["GrantId"])

    def revoke_grant(self, key_arn: str, grant_id: str) -> None:
        """Undo a grant. Used by the operator's ``rollback`` command, not by the Lambda (whose
        role holds no kms:RevokeGrant)."""
        self.client("kms").revoke_grant(KeyId=key_arn, GrantId=grant_id)

    # --- IAM Access Analyzer --------------------------------------------------------------

    def validate_policy(self, policy_text: str) -> list[dict[str, Any]] | None:
        """ValidatePolicy findings for a key policy, or None where the API is unavailable."""
        if time.monotonic() < self.analyzer_off_until:
            return None
        try:
            pages = (
                self.client("accessanalyzer")
                .get_paginator("validate_policy")
                .paginate(policyDocument=policy_text, policyType="RESOURCE_POLICY")
            )  # no validatePolicyResourceType: AWS documents none for KMS key policies
            return [finding for page in pages for finding in page.get("findings", [])]
        except (ClientError, EndpointConnectionError) as err:
            self._analyzer_unavailable(err)
            return None

    def check_access_not_granted(
        self, policy_text: str, actions: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """(result, message) of CheckAccessNotGranted, or None where the API is unavailable."""
        if time.monotonic() < self.analyzer_off_until:
            return None
        try:
            response = self.client("accessanalyzer").check_access_not_granted(
                policyDocument=policy_text,
                access=[{"actions": list(actions)}],
                policyType="RESOURCE_POLICY",
            )
        except (ClientError, EndpointConnectionError) as err:
            self._analyzer_unavailable(err)
            return None
        return str(response["result"]), str(response.get("message", ""))

    def _analyzer_unavailable(self, err: Exception) -> None:
        code = error_code(err) if isinstance(err, ClientError) else type(err).__name__
        if isinstance(err, ClientError) and code not in ANALYZER_UNAVAILABLE_CODES:
            raise err
        self.analyzer_off_until = time.monotonic() + ANALYZER_RETRY_SECONDS
        logger.warning("access_analyzer_unavailable", extra={"code": code})

    # --- IAM -------------------------------------------------------------------------------

    def principal_exists(self, principal_arn: str) -> bool:
        """Whether a role or user of this account exists (IAM names are case-insensitive)."""
        resource = principal_arn.split(":", 5)[5]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        try:
            if kind == "role":
                self.client("iam").get_role(RoleName=name)
            else:
                self.client("iam").get_user(UserName=name)
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return False
            raise
        return True

    # --- EC2 -------------------------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> Instance | None:
        try:
            reservations = self.client("ec2").describe_instances(InstanceIds=[instance_id])[
                "Reservations"
            ]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return None
            raise
        for reservation in reservations:
            for item in reservation.get("Instances", []):
                return Instance(
                    instance_id=item["InstanceId"],
                    state_reason_code=(item.get("StateReason") or {}).get("Code", ""),
                    volume_ids=tuple(
                        m["Ebs"]["VolumeId"]
                        for m in item.get("BlockDeviceMappings", [])
                        if m.get("Ebs", {}).get("VolumeId")
                    ),
                    image_id=item.get("ImageId"),
                    tags={t["Key"]: t["Value"] for t in item.get("Tags", [])},
                )
        return None

    def volume_keys(self, volume_ids: tuple[str, ...]) -> list[str]:
        if not volume_ids:
            return []
        try:
            volumes = self.client("ec2").describe_volumes(VolumeIds=list(volume_ids))["Volumes"]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:  # terminated: the volumes are gone
                return []
            raise
        return [v["KmsKeyId"] for v in volumes if v.get("Encrypted") and v.get("KmsKeyId")]

    def image_keys(self, image_id: str) -> list[str]:
        """Keys of an AMI's snapshots (a copied AMI's snapshots are often in another account)."""
        try:
            images = self.client("ec2").describe_images(ImageIds=[image_id])["Images"]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return []
            raise
        snapshot_ids = [
            m["Ebs"]["SnapshotId"]
            for image in images
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        if not snapshot_ids:
            return []
        try:
            snapshots = self.client("ec2").describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return []
            raise
        return [s["KmsKeyId"] for s in snapshots if s.get("Encrypted") and s.get("KmsKeyId")]

    def launch_template_keys(self, template: dict[str, str]) -> tuple[list[str], str | None]:
        """(keys named in the template's block device mappings, its image id)."""
        ref = {k: v for k, v in template.items() if k in ("LaunchTemplateId", "LaunchTemplateName")}
        version = template.get("Version") or "$Default"
        try:
            versions = self.client("ec2").describe_launch_template_versions(
                **ref, Versions=[version]
            )["LaunchTemplateVersions"]
        except ClientError as err:
            if error_code(err) in NOT_FOUND_CODES:
                return [], None
            raise
        keys: list[str] = []
        image_id = None
        for item in versions:
            data = item.get("LaunchTemplateData", {})
            image_id = image_id or data.get("ImageId")
            keys += [
                m["Ebs"]["KmsKeyId"]
                for m in data.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("KmsKeyId")
            ]
        return keys, image_id

    def launch_configuration(self, name: str) -> tuple[list[str], str | None]:
        configs = self.client("autoscaling").describe_launch_configurations(
            LaunchConfigurationNames=[name]
        )["LaunchConfigurations"]
        # Launch configurations cannot name a KMS key; only the AMI's snapshots can carry one.
        return [], next((c.get("ImageId") for c in configs), None)

    # --- Auto Scaling ----------------------------------------------------------------------

    def autoscaling_group(self, name: str) -> AutoScalingGroup | None:
        groups = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        if not groups:
            return None
        group = groups[0]
        template = group.get("LaunchTemplate") or (
            group.get("MixedInstancesPolicy", {})
            .get("LaunchTemplate", {})
            .get("LaunchTemplateSpecification")
        )
        return AutoScalingGroup(
            name=group["AutoScalingGroupName"],
            service_linked_role_arn=group.get("ServiceLinkedRoleARN"),
            launch_template=template or None,
            launch_configuration=group.get("LaunchConfigurationName"),
        )

    # --- CloudTrail ------------------------------------------------------------------------

    def launch_record(self, instance_id: str) -> dict[str, Any] | None:
        """The CloudTrail record of the latest RunInstances/StartInstances call for an instance."""
        try:
            pages: Iterator[dict[str, Any]] = (
                self.client("cloudtrail")
                .get_paginator("lookup_events")
                .paginate(
                    LookupAttributes=[
                        {"AttributeKey": "ResourceName", "AttributeValue": instance_id}
                    ],
                    PaginationConfig={"MaxItems": 50},
                )
            )
            for page in pages:
                for item in page.get("Events", []):
                    if item.get("EventName") in ("RunInstances", "StartInstances"):
                        record = json.loads(item.get("CloudTrailEvent") or "{}")
                        return record if isinstance(record, dict) else None
        except ClientError as err:
            if error_code(err) in UNAVAILABLE_CODES:
                logger.warning("cloudtrail_lookup_unavailable", extra={"code": error_code(err)})
                return None
            raise
        return None

    # --- SNS -------------------------------------------------------------------------------

    def publish(self, topic_arn: str, subject: str, message: str, outcome: str) -> str:
        response = self.client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
        )
        return str(response["MessageId"])
