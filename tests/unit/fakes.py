"""A recording implementation of ``remediator.ports.AwsPort``: plain data back, every call recorded,
and any write (``put_key_policy``, ``create_grant``) recorded and refused with an error."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from remediator.arns import is_key_reference, key_arn_parts, key_id_of
from remediator.model import (
    AutoScalingGroup,
    Devices,
    Fleet,
    Grant,
    IdentityPolicies,
    Instance,
    KeyInfo,
    LaunchSpec,
    SpotRequest,
)

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "eu-west-1"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ALIAS_KEY_ARN = KEY_ARN  # what every alias resolves to
USER_ARN = "arn:aws:iam::111122223333:user/ops-alice"
INSTANCE_ID = "i-0123456789abcdef0"
TOPIC_ARN = "arn:aws:sns:eu-west-1:111122223333:remediator"
DEFAULT_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-default-1",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
WRITE_METHODS = ("put_key_policy", "create_grant", "revoke_grant", "retire_grant")


class WriteAttempted(AssertionError):
    """The code under test tried to change AWS."""


@dataclass
class RecordingAws:
    """Answers like an account where every launch failed on a KMS key; refuses every write."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    emails: list[str | None] = field(default_factory=list)  # the email text of each publish

    @property
    def writes(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [call for call in self.calls if call[0] in WRITE_METHODS]

    @property
    def published(self) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == "publish"]

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def read_only(self) -> RecordingAws:
        return self  # it refuses every write already

    def account_id(self) -> str:
        self._record("account_id")
        return ACCOUNT

    @contextlib.contextmanager
    def acting_for(self, event_id: str, account: str, region: str) -> Iterator[None]:
        yield

    def in_account(self, account: str) -> RecordingAws:
        return self

    # --- KMS -------------------------------------------------------------------------------

    def describe_key(self, key_reference: str) -> KeyInfo | None:
        self._record("describe_key", key_reference)
        if not is_key_reference(key_reference):
            return None
        arn = key_arn_parts(key_reference)
        if arn is not None:
            found = KeyInfo(str(arn), arn.account, arn.region, "CUSTOMER", "Enabled")
        elif key_id_of(key_reference):
            found = KeyInfo(
                f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id_of(key_reference)}",
                ACCOUNT,
                REGION,
                "CUSTOMER",
                "Enabled",
            )
        else:  # an alias name or alias ARN
            found = KeyInfo(ALIAS_KEY_ARN, ACCOUNT, REGION, "CUSTOMER", "Enabled")
        return self.keys.get(found.arn, found)

    def get_key_policy(self, key_arn: str) -> str:
        self._record("get_key_policy", key_arn)
        return self.policies.get(key_arn, json.dumps(DEFAULT_POLICY))

    def put_key_policy(self, key_arn: str, policy_text: str) -> None:
        self._record("put_key_policy", key_arn, policy_text)
        raise WriteAttempted(f"put_key_policy({key_arn!r})")

    def list_grants(self, key_arn: str) -> list[Grant]:
        self._record("list_grants", key_arn)
        return []

    def revoke_grant(self, key_arn: str, grant_id: str) -> None:
        self._record("revoke_grant", key_arn, grant_id)
        raise WriteAttempted(f"revoke_grant({key_arn!r}, {grant_id!r})")

    def retire_grant(self, key_arn: str, grant_id: str) -> None:
        self._record("retire_grant", key_arn, grant_id)
        raise WriteAttempted(f"retire_grant({key_arn!r}, {grant_id!r})")

    def create_grant(
        self, key_arn: str, grantee: str, operations: tuple[str, ...], name: str
    ) -> str:
        self._record("create_grant", key_arn, grantee, operations, name)
        raise WriteAttempted(f"create_grant({key_arn!r}, {grantee!r})")

    # --- Access Analyzer (unavailable, as in the emulator) ---------------------------------

    def validate_policy(self, policy_text: str) -> list[dict[str, Any]] | None:
        self._record("validate_policy", policy_text)
        return None

    def check_access_not_granted(
        self, policy_text: str, actions: tuple[str, ...]
    ) -> tuple[str, str] | None:
        self._record("check_access_not_granted", policy_text, actions)
        return None

    # --- IAM -------------------------------------------------------------------------------

    def principal_exists(self, principal_arn: str) -> bool:
        self._record("principal_exists", principal_arn)
        return True

    def identity_policies(self, principal_arn: str) -> IdentityPolicies | None:
        """A principal with no identity policy, no boundary and no tags."""
        self._record("identity_policies", principal_arn)
        return IdentityPolicies(principal_arn)

    # --- EC2 and Auto Scaling ----------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> Instance | None:
        self._record("describe_instance", instance_id)
        return Instance(
            instance_id=instance_id,
            state_reason_code="Client.InternalError",
            volume_ids=("vol-0a1b2c3d4e5f60001",),
            image_id="ami-0123456789abcdef0",
            tags={"aws:autoscaling:groupName": "web-asg"},
        )

    def volume_keys(self, volume_ids: tuple[str, ...]) -> Devices | None:
        self._record("volume_keys", volume_ids)
        return Devices((KEY_ARN,))

    def volume_instance(self, volume_id: str) -> str | None:
        self._record("volume_instance", volume_id)
        return INSTANCE_ID

    def image_keys(self, image_id: str) -> Devices:
        self._record("image_keys", image_id)
        return Devices((OTHER_KEY_ARN,))

    def launch_template(self, template: dict[str, str]) -> LaunchSpec:
        self._record("launch_template", template)
        return LaunchSpec(Devices((KEY_ARN,)), "ami-0123456789abcdef0")

    def launch_configuration(self, name: str) -> LaunchSpec:
        self._record("launch_configuration", name)
        return LaunchSpec()

    def ssm_parameter(self, name: str) -> str:
        self._record("ssm_parameter", name)
        return "ami-0123456789abcdef0"

    def ebs_encryption_by_default(self) -> bool:
        self._record("ebs_encryption_by_default")
        return False

    def ebs_default_key(self) -> str:
        self._record("ebs_default_key")
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/ebs"

    def autoscaling_group(self, name: str) -> AutoScalingGroup | None:
        self._record("autoscaling_group", name)
        return AutoScalingGroup(
            name=name,
            service_linked_role_arn=None,
            launch_template={"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "$Latest"},
            launch_configuration=None,
        )

    def failed_scaling_activity(self, group_name: str) -> dict[str, Any] | None:
        self._record("failed_scaling_activity", group_name)
        return None

    def fleet(self, fleet_id: str) -> Fleet | None:
        self._record("fleet", fleet_id)
        return Fleet(fleet_id, "maintain")

    def spot_fleet_request(self, request_id: str) -> SpotRequest | None:
        self._record("spot_fleet_request", request_id)
        return SpotRequest(request_id)

    def spot_instance_request(self, request_id: str) -> SpotRequest | None:
        self._record("spot_instance_request", request_id)
        return SpotRequest(request_id)

    def launch_record(
        self, resource_id: str, event_names: tuple[str, ...]
    ) -> dict[str, Any] | None:
        self._record("launch_record", resource_id, event_names)
        return {"eventName": "RunInstances", "userIdentity": {"type": "IAMUser", "arn": USER_ARN}}

    # --- SQS -------------------------------------------------------------------------------

    def send_message(self, queue_url: str, body: str, delay_seconds: int) -> None:
        self._record("send_message", queue_url, body, delay_seconds)

    # --- SNS -------------------------------------------------------------------------------

    def publish(
        self, topic_arn: str, subject: str, message: str, outcome: str, *, email: str | None = None
    ) -> str:
        self._record("publish", topic_arn, subject, message, outcome)
        self.emails.append(email)
        return "message-id"
