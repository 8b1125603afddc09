"""The reads of identification: EC2, EBS, SSM, Auto Scaling and CloudTrail, as plain data.

A mixin of ``AwsAdapter`` (``aws.py``), which gives it its clients. Where absence is normal
(a terminated instance's volumes, a deleted fleet) the answer is None or empty; where a source
of keys cannot be read (a launch template, a launch configuration, an SSM parameter, CloudTrail)
the domain error is raised, for ``identify`` to refuse with the reason. Every action called here
is declared in ``permissions.py``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from remediator.adapters.errors import Unsupported, call, pages
from remediator.model import AutoScalingGroup, Devices, Fleet, Instance, LaunchSpec, SpotRequest
from remediator.ports import AccessDenied, NotFound
from remediator.triggers import CLIENT_INTERNAL_ERROR

logger = logging.getLogger(__name__)

_INSTANCE_IN_TEXT = re.compile(r"\b(i-[0-9a-f]{8,17})\b")
LOOKUP_MAX_ITEMS = 50  # LookupEvents' largest page: the latest calls naming the resource


def mapping_devices(mappings: object) -> Devices:
    """Block device mappings of a launch template, a launch configuration or a fleet's launch
    specification (EC2 and Auto Scaling spell them alike: ``Ebs.KmsKeyId``, ``Ebs.Encrypted``).

    A mapping encrypted without a key id uses the account's default EBS key; one that sets
    ``Encrypted`` false is created unencrypted, unless encryption by default is on; one that
    does not say follows its snapshot (the AMI's, read separately). Launch configurations
    cannot name a key at all: "you cannot specify a KMS key ID when using a launch
    configuration" (Auto Scaling API reference, Ebs data type).
    """
    keys: list[str] = []
    default_key = unkeyed = False
    for item in mappings if isinstance(mappings, list) else []:
        ebs = item.get("Ebs") if isinstance(item, Mapping) else None
        if not isinstance(ebs, Mapping):
            continue
        if isinstance(ebs.get("KmsKeyId"), str):
            keys.append(ebs["KmsKeyId"])
        elif ebs.get("Encrypted") is True:
            default_key = True
        elif ebs.get("Encrypted") is False:
            unkeyed = True
    return Devices(tuple(dict.fromkeys(keys)), default_key, unkeyed)


def template_reference(template: Mapping[str, str]) -> dict[str, str]:
    """The id, else the name: DescribeLaunchTemplateVersions takes one, not both (Auto Scaling
    returns both in a group's LaunchTemplateSpecification)."""
    if template.get("LaunchTemplateId"):
        return {"LaunchTemplateId": template["LaunchTemplateId"]}
    return {"LaunchTemplateName": template.get("LaunchTemplateName", "")}


def _specifications(configs: object) -> tuple[dict[str, str], ...]:
    """LaunchTemplateSpecification of each launch template config (fleets and groups)."""
    found: list[dict[str, str]] = []
    for config in configs if isinstance(configs, list) else []:
        spec = config.get("LaunchTemplateSpecification") if isinstance(config, Mapping) else None
        if isinstance(spec, Mapping):
            template = {str(k): str(v) for k, v in spec.items()}
            if template not in found:
                found.append(template)
    return tuple(found)


def _launch_spec(data: Mapping[str, Any]) -> LaunchSpec:
    market = (data.get("InstanceMarketOptions") or {}).get("MarketType")
    image = data.get("ImageId")
    return LaunchSpec(
        devices=mapping_devices(data.get("BlockDeviceMappings")),
        image_id=image if isinstance(image, str) else None,
        spot=market == "spot",
    )


class LaunchReads:
    """EC2, SSM, Auto Scaling and CloudTrail reads; ``client`` comes from ``AwsAdapter``."""

    def client(self, service: str) -> Any:  # pragma: no cover (AwsAdapter's own)
        raise NotImplementedError

    # --- EC2 instances and volumes ---------------------------------------------------------

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
                    lifecycle=item.get("InstanceLifecycle") or "",
                    spot_request_id=item.get("SpotInstanceRequestId"),
                )
        return None

    def _volumes(self, volume_ids: Iterable[str]) -> list[dict[str, Any]]:
        ec2 = self.client("ec2")
        try:
            response = call("ec2:DescribeVolumes", ec2.describe_volumes, VolumeIds=list(volume_ids))
        except NotFound:  # terminated: the volumes are gone
            return []
        return list(response["Volumes"])

    def volume_keys(self, volume_ids: tuple[str, ...]) -> Devices | None:
        """Keys of existing volumes (None when none exists). A volume that exists unencrypted
        was created so: it needs no key."""
        volumes = self._volumes(volume_ids) if volume_ids else []
        if not volumes:
            return None
        encrypted = [v for v in volumes if v.get("Encrypted")]
        keys = tuple(dict.fromkeys(v["KmsKeyId"] for v in encrypted if v.get("KmsKeyId")))
        return Devices(keys, default_key=any(not v.get("KmsKeyId") for v in encrypted))

    def volume_instance(self, volume_id: str) -> str | None:
        for volume in self._volumes([volume_id]):
            for attachment in volume.get("Attachments", []):
                if attachment.get("InstanceId"):
                    return str(attachment["InstanceId"])
        return None

    def image_keys(self, image_id: str) -> Devices:
        """Keys of an AMI's snapshots (a copied AMI's snapshots are often in another account).
        An unencrypted snapshot makes an unencrypted volume, unless encryption by default is on."""
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
                return Devices()
            snapshots = call(
                "ec2:DescribeSnapshots", ec2.describe_snapshots, SnapshotIds=snapshot_ids
            )["Snapshots"]
        except NotFound:
            return Devices()
        encrypted = [s for s in snapshots if s.get("Encrypted")]
        return Devices(
            tuple(dict.fromkeys(s["KmsKeyId"] for s in encrypted if s.get("KmsKeyId"))),
            default_key=any(not s.get("KmsKeyId") for s in encrypted),
            unkeyed=len(encrypted) < len(snapshots),
        )

    # --- launch templates, launch configurations, SSM parameters ---------------------------

    def launch_template(self, template: dict[str, str]) -> LaunchSpec:
        """The version the specification names (``$Default``, ``$Latest`` or a number, which
        DescribeLaunchTemplateVersions resolves). Raises NotFound or AccessDenied."""
        version = template.get("Version") or "$Default"
        ec2 = self.client("ec2")
        response = call(
            "ec2:DescribeLaunchTemplateVersions",
            ec2.describe_launch_template_versions,
            **template_reference(template),
            Versions=[version],
        )
        versions = response["LaunchTemplateVersions"]
        if not versions:
            raise NotFound("ec2:DescribeLaunchTemplateVersions", "", f"no version {version}")
        return _launch_spec(versions[0].get("LaunchTemplateData") or {})

    def launch_configuration(self, name: str) -> LaunchSpec:
        autoscaling = self.client("autoscaling")
        configs = call(
            "autoscaling:DescribeLaunchConfigurations",
            autoscaling.describe_launch_configurations,
            LaunchConfigurationNames=[name],
        )["LaunchConfigurations"]
        if not configs:
            raise NotFound("autoscaling:DescribeLaunchConfigurations", "", f"no {name!r}")
        return _launch_spec(configs[0])

    def ssm_parameter(self, name: str) -> str:
        """A parameter's value; ``name`` may end in ``:version`` or ``:label`` (GetParameter
        takes both selectors in the name)."""
        ssm = self.client("ssm")
        return str(call("ssm:GetParameter", ssm.get_parameter, Name=name)["Parameter"]["Value"])

    # --- the account's EBS encryption defaults ---------------------------------------------

    def ebs_encryption_by_default(self) -> bool:
        ec2 = self.client("ec2")
        response = call("ec2:GetEbsEncryptionByDefault", ec2.get_ebs_encryption_by_default)
        return bool(response.get("EbsEncryptionByDefault"))

    def ebs_default_key(self) -> str:
        ec2 = self.client("ec2")
        return str(call("ec2:GetEbsDefaultKmsKeyId", ec2.get_ebs_default_kms_key_id)["KmsKeyId"])

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
        mixed = group.get("MixedInstancesPolicy") or {}
        mixed_template = mixed.get("LaunchTemplate") or {}
        main = group.get("LaunchTemplate") or mixed_template.get("LaunchTemplateSpecification")
        distribution = mixed.get("InstancesDistribution") or {}
        return AutoScalingGroup(
            name=group["AutoScalingGroupName"],
            service_linked_role_arn=group.get("ServiceLinkedRoleARN"),
            launch_template=main or None,
            launch_configuration=group.get("LaunchConfigurationName"),
            override_templates=_specifications(mixed_template.get("Overrides")),
            on_demand_base=int(distribution.get("OnDemandBaseCapacity", 0)),
            on_demand_percentage=int(
                distribution.get("OnDemandPercentageAboveBaseCapacity", 100) if mixed else 100
            ),
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

    # --- fleets and Spot requests ----------------------------------------------------------

    def fleet(self, fleet_id: str) -> Fleet | None:
        ec2 = self.client("ec2")
        try:
            fleets = call("ec2:DescribeFleets", ec2.describe_fleets, FleetIds=[fleet_id])["Fleets"]
        except NotFound:
            return None
        for item in fleets:
            return Fleet(
                fleet_id=item["FleetId"],
                # CreateFleet's Type defaults to maintain (EC2 API reference, CreateFleet)
                fleet_type=item.get("Type") or "maintain",
                templates=_specifications(item.get("LaunchTemplateConfigs")),
            )
        return None

    def spot_fleet_request(self, request_id: str) -> SpotRequest | None:
        ec2 = self.client("ec2")
        try:
            configs = call(
                "ec2:DescribeSpotFleetRequests",
                ec2.describe_spot_fleet_requests,
                SpotFleetRequestIds=[request_id],
            )["SpotFleetRequestConfigs"]
        except NotFound:
            return None
        for item in configs:
            data = item.get("SpotFleetRequestConfig") or {}
            return SpotRequest(
                request_id=request_id,
                specs=tuple(_launch_spec(s) for s in data.get("LaunchSpecifications") or []),
                templates=_specifications(data.get("LaunchTemplateConfigs")),
            )
        return None

    def spot_instance_request(self, request_id: str) -> SpotRequest | None:
        ec2 = self.client("ec2")
        try:
            requests = call(
                "ec2:DescribeSpotInstanceRequests",
                ec2.describe_spot_instance_requests,
                SpotInstanceRequestIds=[request_id],
            )["SpotInstanceRequests"]
        except NotFound:
            return None
        for item in requests:
            return SpotRequest(
                request_id, specs=(_launch_spec(item.get("LaunchSpecification") or {}),)
            )
        return None

    # --- CloudTrail ------------------------------------------------------------------------

    def launch_record(
        self, resource_id: str, event_names: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The latest CloudTrail record of one of ``event_names`` naming the resource (LookupEvents
        returns the newest first). Raises AccessDenied; an endpoint without LookupEvents (the
        emulator) answers None, as if nothing were recorded yet."""
        paginator = self.client("cloudtrail").get_paginator("lookup_events")
        iterator = paginator.paginate(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": resource_id}],
            PaginationConfig={"MaxItems": LOOKUP_MAX_ITEMS},
        )
        try:
            for page in pages("cloudtrail:LookupEvents", iterator):
                for item in page.get("Events", []):
                    if item.get("EventName") in event_names:
                        record = json.loads(item.get("CloudTrailEvent") or "{}")
                        return record if isinstance(record, dict) else None
        except Unsupported as err:
            logger.warning("cloudtrail_lookup_unavailable", extra={"code": err.code})
        return None
