"""The AWS adapter: implements ``remediator.ports.AwsPort`` with boto3 and returns plain data.

Clients are made lazily from one session with one retry configuration (botocore's standard
mode retries throttling and 5xx errors; nothing here loops on its own). Every botocore error
leaves this module as a domain error of ``remediator.ports`` (see ``errors.py``); "not found"
is an answer (None or empty) where absence is normal. Tests pass a session pointed at moto, or
clients wrapped in botocore's Stubber. Every action called here is declared in
``permissions.py``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from remediator.adapters.errors import Unsupported, call, pages
from remediator.adapters.iam import IdentityReads
from remediator.adapters.read_only import ReadOnlyClient
from remediator.model import AutoScalingGroup, Grant, Instance, KeyInfo
from remediator.ports import AccessDenied, NotFound, Unreachable
from remediator.triggers import CLIENT_INTERNAL_ERROR

logger = logging.getLogger(__name__)

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
)
# An optional check: fewer retries than the calls the remediation depends on.
ANALYZER_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10
)
ANALYZER_RETRY_SECONDS = 300  # once Access Analyzer cannot answer, ask again after this long
LAUNCH_CALLS = ("RunInstances", "StartInstances")
_INSTANCE_IN_TEXT = re.compile(r"\b(i-[0-9a-f]{8,17})\b")


@dataclass
class AwsAdapter(IdentityReads):
    session: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    read_only_clients: bool = False  # every client refuses any call that is not a read
    analyzer_off_until: float = 0.0  # monotonic time; set when Access Analyzer cannot answer
    _account: str | None = None

    def client(self, service: str) -> Any:
        if service not in self.clients:
            session = self.session or boto3.Session()
            config = ANALYZER_CONFIG if service == "accessanalyzer" else RETRY_CONFIG
            client = session.client(service, region_name=self.region, config=config)
            if self.read_only_clients:
                client = ReadOnlyClient(service, client)
            self.clients[service] = client
        return self.clients[service]

    def read_only(self) -> AwsAdapter:
        """The same session and region, with clients that can only read."""
        if self.read_only_clients:
            return self
        clients = {name: ReadOnlyClient(name, client) for name, client in self.clients.items()}
        return AwsAdapter(
            self.session, clients, self.region, read_only_clients=True, _account=self._account
        )

    @property
    def region_name(self) -> str:
        """The region the clients call: the one given, else the session's configuration."""
        return str(self.client("sts").meta.region_name)

    # --- STS -------------------------------------------------------------------------------

    def account_id(self) -> str:
        """The account these credentials act in, asked once per adapter (one per Lambda
        container). GetCallerIdentity needs no IAM permission (STS API reference)."""
        if self._account is None:
            sts = self.client("sts")
            self._account = str(call("sts:GetCallerIdentity", sts.get_caller_identity)["Account"])
        return self._account

    # --- KMS -------------------------------------------------------------------------------

    def describe_key(self, key_reference: str) -> KeyInfo | None:
        kms = self.client("kms")
        try:
            meta = call("kms:DescribeKey", kms.describe_key, KeyId=key_reference)["KeyMetadata"]
        except NotFound:
            return None
        arn = meta["Arn"]
        return KeyInfo(
            arn=arn,
            account=arn.split(":")[4],
            region=arn.split(":")[3],
            manager=meta.get("KeyManager", "CUSTOMER"),
            state=meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"),
        )

    def get_key_policy(self, key_arn: str) -> str:
        kms = self.client("kms")
        response = call("kms:GetKeyPolicy", kms.get_key_policy, KeyId=key_arn, PolicyName="default")
        return str(response["Policy"])

    def put_key_policy(self, key_arn: str, policy_text: str) -> None:
        # BypassPolicyLockoutSafetyCheck is never set: KMS keeps refusing policies that would
        # lock the key's administrators out.
        kms = self.client("kms")
        call(
            "kms:PutKeyPolicy",
            kms.put_key_policy,
            KeyId=key_arn,
            PolicyName="default",
            Policy=policy_text,
        )

    def list_grants(self, key_arn: str) -> list[Grant]:
        paginator = self.client("kms").get_paginator("list_grants")
        return [
            Grant(
                grant_id=item["GrantId"],
                grantee=item.get("GranteePrincipal", ""),
                operations=tuple(item.get("Operations", ())),
                name=item.get("Name", ""),
                constrained=bool(item.get("Constraints")),
            )
            for page in pages("kms:ListGrants", paginator.paginate(KeyId=key_arn))
            for item in page.get("Grants", [])
        ]

    def create_grant(
        self, key_arn: str, grantee: str, operations: tuple[str, ...], name: str
    ) -> str:
        kms = self.client("kms")
        response = call(
            "kms:CreateGrant",
            kms.create_grant,
            KeyId=key_arn,
            GranteePrincipal=grantee,
            Operations=list(operations),
            Name=name,
        )
        return str(response["GrantId"])

    def revoke_grant(self, key_arn: str, grant_id: str) -> None:
        """Undo a grant. Used by the operator's ``rollback`` command, not by the Lambda (whose
        role holds no kms:RevokeGrant)."""
        kms = self.client("kms")
        call("kms:RevokeGrant", kms.revoke_grant, KeyId=key_arn, GrantId=grant_id)

    # --- IAM Access Analyzer --------------------------------------------------------------
    # An extra check: where it cannot answer (an emulator without it, a role without the
    # permission), the local checks apply, a warning is logged once, and it is asked again
    # only after ANALYZER_RETRY_SECONDS.

    def validate_policy(self, policy_text: str) -> list[dict[str, Any]] | None:
        """ValidatePolicy findings for a key policy, or None where the API is unavailable."""
        if time.monotonic() < self.analyzer_off_until:
            return None
        paginator = self.client("accessanalyzer").get_paginator("validate_policy")
        # no validatePolicyResourceType: AWS documents none for KMS key policies
        iterator = paginator.paginate(policyDocument=policy_text, policyType="RESOURCE_POLICY")
        try:
            return [
                finding
                for page in pages("access-analyzer:ValidatePolicy", iterator)
                for finding in page.get("findings", [])
            ]
        except (Unsupported, AccessDenied, Unreachable) as err:
            self._analyzer_unavailable(err)
            return None

    def check_access_not_granted(
        self, policy_text: str, actions: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """(result, message) of CheckAccessNotGranted, or None where the API is unavailable."""
        if time.monotonic() < self.analyzer_off_until:
            return None
        analyzer = self.client("accessanalyzer")
        try:
            response = call(
                "access-analyzer:CheckAccessNotGranted",
                analyzer.check_access_not_granted,
                policyDocument=policy_text,
                access=[{"actions": list(actions)}],
                policyType="RESOURCE_POLICY",
            )
        except (Unsupported, AccessDenied, Unreachable) as err:
            self._analyzer_unavailable(err)
            return None
        return str(response["result"]), str(response.get("message", ""))

    def _analyzer_unavailable(self, err: Exception) -> None:
        self.analyzer_off_until = time.monotonic() + ANALYZER_RETRY_SECONDS
        logger.warning("access_analyzer_unavailable", extra={"error": str(err)})

    # --- IAM -------------------------------------------------------------------------------

    def principal_exists(self, principal_arn: str) -> bool:
        """Whether a role or user of this account has exactly this ARN. GetRole/GetUser find a
        name regardless of case ("names are not distinguished by case", IAM API reference,
        CreateRole/CreateUser) and ignore the path, so only the ARN IAM returns, with its real
        path and case, proves that the principal exists as named (and as allowlisted)."""
        resource = principal_arn.split(":", 5)[5]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        iam = self.client("iam")
        try:
            if kind == "role":
                found = call("iam:GetRole", iam.get_role, RoleName=name)["Role"]
            else:
                found = call("iam:GetUser", iam.get_user, UserName=name)["User"]
        except NotFound:
            return False
        return bool(found.get("Arn") == principal_arn)

    # --- EC2 -------------------------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> Instance | None:
        ec2 = self.client("ec2")
        try:
            response = call(
                "ec2:DescribeInstances", ec2.describe_instances, InstanceIds=[instance_id]
            )
        except NotFound:
            return None
        for reservation in response["Reservations"]:
            for item in reservation.get("Instances", []):
                reason = item.get("StateReason") or {}
                return Instance(
                    instance_id=item["InstanceId"],
                    state_reason_code=reason.get("Code", ""),
                    volume_ids=tuple(
                        m["Ebs"]["VolumeId"]
                        for m in item.get("BlockDeviceMappings", [])
                        if m.get("Ebs", {}).get("VolumeId")
                    ),
                    image_id=item.get("ImageId"),
                    tags={t["Key"]: t["Value"] for t in item.get("Tags", [])},
                    state=(item.get("State") or {}).get("Name", ""),
                    state_reason_message=reason.get("Message", ""),
                )
        return None

    def volume_keys(self, volume_ids: tuple[str, ...]) -> list[str]:
        if not volume_ids:
            return []
        ec2 = self.client("ec2")
        try:
            volumes = call("ec2:DescribeVolumes", ec2.describe_volumes, VolumeIds=list(volume_ids))
        except NotFound:  # terminated: the volumes are gone
            return []
        return [
            v["KmsKeyId"] for v in volumes["Volumes"] if v.get("Encrypted") and v.get("KmsKeyId")
        ]

    def image_keys(self, image_id: str) -> list[str]:
        """Keys of an AMI's snapshots (a copied AMI's snapshots are often in another account)."""
        ec2 = self.client("ec2")
        try:
            images = call("ec2:DescribeImages", ec2.describe_images, ImageIds=[image_id])
            snapshot_ids = [
                m["Ebs"]["SnapshotId"]
                for image in images["Images"]
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ]
            if not snapshot_ids:
                return []
            snapshots = call(
                "ec2:DescribeSnapshots", ec2.describe_snapshots, SnapshotIds=snapshot_ids
            )
        except NotFound:
            return []
        return [
            s["KmsKeyId"]
            for s in snapshots["Snapshots"]
            if s.get("Encrypted") and s.get("KmsKeyId")
        ]

    def launch_template_keys(self, template: dict[str, str]) -> tuple[list[str], str | None]:
        """(keys named in the template's block device mappings, its image id)."""
        ref = {k: v for k, v in template.items() if k in ("LaunchTemplateId", "LaunchTemplateName")}
        version = template.get("Version") or "$Default"
        ec2 = self.client("ec2")
        try:
            response = call(
                "ec2:DescribeLaunchTemplateVersions",
                ec2.describe_launch_template_versions,
                **ref,
                Versions=[version],
            )
        except NotFound:
            return [], None
        keys: list[str] = []
        image_id = None
        for item in response["LaunchTemplateVersions"]:
            data = item.get("LaunchTemplateData", {})
            image_id = image_id or data.get("ImageId")
            keys += [
                m["Ebs"]["KmsKeyId"]
                for m in data.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("KmsKeyId")
            ]
        return keys, image_id

    def launch_configuration(self, name: str) -> tuple[list[str], str | None]:
        autoscaling = self.client("autoscaling")
        configs = call(
            "autoscaling:DescribeLaunchConfigurations",
            autoscaling.describe_launch_configurations,
            LaunchConfigurationNames=[name],
        )["LaunchConfigurations"]
        # Launch configurations cannot name a KMS key; only the AMI's snapshots can carry one.
        return [], next((c.get("ImageId") for c in configs), None)

    # --- Auto Scaling ----------------------------------------------------------------------

    def autoscaling_group(self, name: str) -> AutoScalingGroup | None:
        autoscaling = self.client("autoscaling")
        groups = call(
            "autoscaling:DescribeAutoScalingGroups",
            autoscaling.describe_auto_scaling_groups,
            AutoScalingGroupNames=[name],
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

    def failed_scaling_activity(self, group_name: str) -> dict[str, Any] | None:
        """The group's latest scaling activity that failed with Client.InternalError, if any."""
        autoscaling = self.client("autoscaling")
        try:
            activities = call(
                "autoscaling:DescribeScalingActivities",
                autoscaling.describe_scaling_activities,
                AutoScalingGroupName=group_name,
                MaxRecords=50,
            )["Activities"]
        except (AccessDenied, NotFound):
            return None
        for activity in activities:
            message = activity.get("StatusMessage") or ""
            if CLIENT_INTERNAL_ERROR in message:
                found = _INSTANCE_IN_TEXT.search(activity.get("Description") or "")
                return {
                    "start_time": str(activity.get("StartTime", "")),
                    "status_message": message,
                    "description": activity.get("Description"),
                    "instance_id": found.group(1) if found else None,
                }
        return None

    # --- CloudTrail ------------------------------------------------------------------------

    def launch_record(self, instance_id: str) -> dict[str, Any] | None:
        """The CloudTrail record of the latest RunInstances/StartInstances call for an instance."""
        paginator = self.client("cloudtrail").get_paginator("lookup_events")
        iterator = paginator.paginate(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": instance_id}],
            PaginationConfig={"MaxItems": 50},
        )
        try:
            for page in pages("cloudtrail:LookupEvents", iterator):
                for item in page.get("Events", []):
                    if item.get("EventName") in LAUNCH_CALLS:
                        record = json.loads(item.get("CloudTrailEvent") or "{}")
                        return record if isinstance(record, dict) else None
        except (AccessDenied, Unsupported) as err:
            logger.warning("cloudtrail_lookup_unavailable", extra={"code": err.code})
        return None

    # --- SNS -------------------------------------------------------------------------------

    def publish(self, topic_arn: str, subject: str, message: str, outcome: str) -> str:
        sns = self.client("sns")
        response = call(
            "sns:Publish",
            sns.publish,
            TopicArn=topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
        )
        return str(response["MessageId"])
