"""Who launches an instance, as AWS documents it: the launcher kinds and the principal each
launches with. Pure functions over what was read; ``identify`` does the reading.

EBS asks KMS on behalf of whoever called RunInstances. A person or a controller (Karpenter)
calls it directly, or through an instant EC2 Fleet; a service calls it with its service-linked
role for everything else:

- EC2 Auto Scaling: the group's service-linked role (``ServiceLinkedRoleARN``, by default
  ``AWSServiceRoleForAutoScaling``); EC2 Auto Scaling user guide, "Required AWS KMS key policy
  for use with encrypted volumes".
- Spot Instances, including a group's Spot capacity: ``AWSServiceRoleForEC2Spot``, "to launch
  and manage Spot Instances on your behalf"; EC2 user guide, "Service-linked role for Spot
  Instance requests" (its "Grant access to customer managed keys" names this role).
- Spot Fleet: ``AWSServiceRoleForEC2SpotFleet``, "to launch and manage instances on your
  behalf"; EC2 user guide, "Spot Fleet permissions".
- EC2 Fleet of type maintain or request: ``AWSServiceRoleForEC2Fleet``; EC2 user guide, "EC2
  Fleet prerequisites", which adds "An instant EC2 Fleet does not require this role": an
  instant fleet launches as its caller (aws/karpenter-provider-aws#4935: the controller role is
  denied GenerateDataKeyWithoutPlaintext).

Instances carry tags AWS writes: ``aws:autoscaling:groupName``; ``aws:ec2:fleet-id`` ("EC2 Fleet
automatically adds a tag to the instances with a key of aws:ec2:fleet-id", AWS's EC2 Spot
workshops, aws-samples; Auto Scaling instances carry it too, as groups launch through a fleet);
``aws:ec2spot:fleet-request-id`` on a Spot Fleet's instances (the tag public tooling filters
them by; the API reference documents none of these system tags). ``InstanceLifecycle`` is
``spot`` for Spot Instances (EC2 API reference, Instance). Where a tag is missing, the CloudTrail
record of the launch says which call launched the instance (``record_launcher``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from remediator.arns import SLR_PATH_PREFIX, autoscaling_slr_arn
from remediator.model import AutoScalingGroup, Instance

ASG_TAG = "aws:autoscaling:groupName"
FLEET_ID_TAG = "aws:ec2:fleet-id"
SPOT_FLEET_TAG = "aws:ec2spot:fleet-request-id"
SPOT_LIFECYCLE = "spot"

# (service principal, role name) of each launching service's service-linked role.
SPOT_SLR = ("spot.amazonaws.com", "AWSServiceRoleForEC2Spot")
SPOT_FLEET_SLR = ("spotfleet.amazonaws.com", "AWSServiceRoleForEC2SpotFleet")
EC2_FLEET_SLR = ("ec2fleet.amazonaws.com", "AWSServiceRoleForEC2Fleet")


class Launcher(StrEnum):
    AUTO_SCALING = "auto-scaling"
    AUTO_SCALING_SPOT = "auto-scaling-spot"
    EC2_FLEET = "ec2-fleet"  # maintain or request
    EC2_FLEET_INSTANT = "ec2-fleet-instant"
    SPOT_FLEET = "spot-fleet"
    SPOT_INSTANCES = "spot-instances"
    CALLER = "caller"  # RunInstances or StartInstances

    @property
    def words(self) -> str:
        return _WORDS[self]


_WORDS = {
    Launcher.AUTO_SCALING: "an Auto Scaling group",
    Launcher.AUTO_SCALING_SPOT: "the Spot capacity of an Auto Scaling group",
    Launcher.EC2_FLEET: "an EC2 Fleet of type maintain or request",
    Launcher.EC2_FLEET_INSTANT: "an instant EC2 Fleet (CreateFleet)",
    Launcher.SPOT_FLEET: "a Spot Fleet",
    Launcher.SPOT_INSTANCES: "a Spot Instance request",
    Launcher.CALLER: "a RunInstances or StartInstances call",
}

# Launchers whose principal is the caller of the launch, known only from CloudTrail.
CALLER_LAUNCHERS = frozenset({Launcher.CALLER, Launcher.EC2_FLEET_INSTANT})
_SERVICE_ROLES = {
    Launcher.AUTO_SCALING_SPOT: SPOT_SLR,
    Launcher.SPOT_INSTANCES: SPOT_SLR,
    Launcher.SPOT_FLEET: SPOT_FLEET_SLR,
    Launcher.EC2_FLEET: EC2_FLEET_SLR,
}

# The CloudTrail calls that launch an instance, looked up with the instance as resource.
INSTANCE_LAUNCH_CALLS = (
    "RunInstances",
    "StartInstances",
    "CreateFleet",
    "RequestSpotFleet",
    "RequestSpotInstances",
)
FLEET_LAUNCH_CALLS = ("CreateFleet",)
_RECORD_LAUNCHERS = {
    "RunInstances": Launcher.CALLER,
    "StartInstances": Launcher.CALLER,
    "RequestSpotFleet": Launcher.SPOT_FLEET,
    "RequestSpotInstances": Launcher.SPOT_INSTANCES,
}


def service_linked_role_arn(account: str, role: tuple[str, str], partition: str = "aws") -> str:
    service, name = role
    return f"arn:{partition}:iam::{account}:{SLR_PATH_PREFIX}{service}/{name}"


def instance_launcher(instance: Instance) -> Launcher:
    """What launched an instance, from its tags and lifecycle. An EC2 Fleet's type is not on
    the instance: ``EC2_FLEET`` until ``fleet_launcher`` refines it."""
    tags, spot = instance.tags, instance.lifecycle == SPOT_LIFECYCLE
    if tags.get(ASG_TAG):  # before the fleet tag, which Auto Scaling instances carry too
        return Launcher.AUTO_SCALING_SPOT if spot else Launcher.AUTO_SCALING
    if tags.get(SPOT_FLEET_TAG):
        return Launcher.SPOT_FLEET
    if tags.get(FLEET_ID_TAG):
        return Launcher.EC2_FLEET
    return Launcher.SPOT_INSTANCES if spot else Launcher.CALLER


def fleet_launcher(fleet_type: str) -> Launcher:
    return Launcher.EC2_FLEET_INSTANT if fleet_type == "instant" else Launcher.EC2_FLEET


def record_launcher(record: Mapping[str, Any]) -> Launcher | None:
    """The launcher a CloudTrail launch record shows. CreateFleet's record carries the request
    as ``requestParameters.CreateFleetRequest`` (Type defaults to maintain)."""
    name = record.get("eventName")
    if name == "CreateFleet":
        params = record.get("requestParameters")
        request = params.get("CreateFleetRequest") if isinstance(params, Mapping) else None
        fleet_type = request.get("Type") if isinstance(request, Mapping) else None
        return fleet_launcher(fleet_type if isinstance(fleet_type, str) else "maintain")
    return _RECORD_LAUNCHERS.get(name) if isinstance(name, str) else None


def service_principal(
    launcher: Launcher, account: str, group: AutoScalingGroup | None = None
) -> str | None:
    """The service-linked role a service launcher launches with; None for a caller launcher."""
    if launcher is Launcher.AUTO_SCALING:
        slr = group.service_linked_role_arn if group else None
        return slr or autoscaling_slr_arn(account)
    role = _SERVICE_ROLES.get(launcher)
    return service_linked_role_arn(account, role) if role else None


def group_launchers(group: AutoScalingGroup, template_spot: bool) -> tuple[Launcher, ...]:
    """Who may have launched for a group when the instance is not known: its service-linked
    role for On-Demand capacity, the Spot role for Spot capacity (a mixed-instances
    distribution below 100% On-Demand, or a launch template asking for Spot)."""
    capacity = "all" if template_spot else group.spot_capacity
    if capacity == "all":
        return (Launcher.AUTO_SCALING_SPOT,)
    if capacity == "some":
        return (Launcher.AUTO_SCALING, Launcher.AUTO_SCALING_SPOT)
    return (Launcher.AUTO_SCALING,)
