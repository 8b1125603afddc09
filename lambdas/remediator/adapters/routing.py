"""Organization mode: an ``AwsPort`` that makes each call in the account it concerns.

The account of a call comes from what the call is about, never from which copy of an event
arrived:

- a key's reads (DescribeKey, GetKeyPolicy, ListGrants) and its policy's writes: the key's
  account, from its ARN (a key id or alias has no account: it names a key of the launch's);
- a principal's reads (IAM): the principal's account, from its ARN;
- a grant: created from the grantee's account, the launcher's, on the key ARN (KMS allows
  CreateGrant across accounts by key ARN; PutKeyPolicy only in the key's own account);
- the launch's reads (EC2, EBS, SSM, Auto Scaling, CloudTrail): the account and region of the
  launch, given by ``acting_for``;
- the state table, the topic, the re-check queue and Access Analyzer: the engine's own account.

``AccountSessions`` gives the adapter of each account: the engine's own credentials in its own
account, the member role elsewhere, under a session named for the event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from remediator.adapters.accounts import UNKNOWN_EVENT, AccountSessions
from remediator.adapters.aws import AwsAdapter
from remediator.arns import key_arn_parts, parse_arn
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
from remediator.ports import Rejected


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" and parts[4] else None


@dataclass
class AccountRouter:
    """Each call through the adapter of the account it concerns (see the module's docstring)."""

    sessions: AccountSessions
    read_only_view: bool = False
    _event_id: str = UNKNOWN_EVENT
    _account: str | None = None  # the launch's account, while acting for an event
    _region: str | None = None  # the launch's region, likewise

    def read_only(self) -> AccountRouter:
        return AccountRouter(self.sessions, True, self._event_id, self._account, self._region)

    @contextlib.contextmanager
    def acting_for(self, event_id: str, account: str, region: str) -> Iterator[None]:
        previous = (self._event_id, self._account, self._region)
        self._event_id, self._account, self._region = event_id, account, region
        try:
            yield
        finally:
            self._event_id, self._account, self._region = previous

    def account_id(self) -> str:
        """The launch's account while acting for an event; else the engine's own."""
        return self._account or self.sessions.own_account()

    def in_account(self, account: str) -> AwsAdapter:
        return self._adapter(account, self._region)

    def _adapter(self, account: str, region: str | None) -> AwsAdapter:
        adapter = self.sessions.adapter(account, event_id=self._event_id, region=region)
        return adapter.read_only() if self.read_only_view else adapter

    def _launch(self) -> AwsAdapter:
        return self._adapter(self.account_id(), self._region)

    def _key(self, key_reference: str) -> AwsAdapter:
        arn = parse_arn(key_reference)
        if arn is None or arn.service != "kms" or not arn.account:
            return self._launch()  # a key id or an alias name: the launch's account and region
        return self._adapter(arn.account, arn.region or self._region)

    def _key_region(self, key_arn: str) -> str | None:
        arn = key_arn_parts(key_arn)
        return arn.region if arn else self._region

    def _principal(self, principal_arn: str) -> AwsAdapter:
        return self._adapter(_arn_account(principal_arn) or self.account_id(), self._region)

    def _own(self) -> AwsAdapter:
        own = self.sessions.own()
        return own.read_only() if self.read_only_view else own

    # --- KMS -------------------------------------------------------------------------------

    def describe_key(self, key_reference: str) -> KeyInfo | None:
        return self._key(key_reference).describe_key(key_reference)

    def get_key_policy(self, key_arn: str) -> str:
        return self._key(key_arn).get_key_policy(key_arn)

    def put_key_policy(self, key_arn: str, policy_text: str) -> None:
        self._key(key_arn).put_key_policy(key_arn, policy_text)

    def list_grants(self, key_arn: str) -> list[Grant]:
        return self._key(key_arn).list_grants(key_arn)

    def create_grant(
        self, key_arn: str, grantee: str, operations: tuple[str, ...], name: str
    ) -> str:
        account = _arn_account(grantee) or self.account_id()
        if self._account is not None and account != self._account:
            # The grant's change was decided and is recorded for the launch's account: making
            # it from another would act where no allowlist was consulted.
            raise Rejected(
                "kms:CreateGrant",
                "AccountMismatch",
                f"the grantee {grantee} is not of the launch's account {self._account}",
            )
        grantor = self._adapter(account, self._key_region(key_arn))
        return grantor.create_grant(key_arn, grantee, operations, name)

    def revoke_grant(self, key_arn: str, grant_id: str) -> None:
        self._key(key_arn).revoke_grant(key_arn, grant_id)

    def retire_grant(self, key_arn: str, grant_id: str) -> None:
        # As the launch's account: ``in_account(creator).retire_grant`` names another.
        self._adapter(self.account_id(), self._key_region(key_arn)).retire_grant(key_arn, grant_id)

    # --- Access Analyzer: about a document, not an account --------------------------------

    def validate_policy(self, policy_text: str) -> list[dict[str, Any]] | None:
        return self._own().validate_policy(policy_text)

    def check_access_not_granted(
        self, policy_text: str, actions: tuple[str, ...]
    ) -> tuple[str, str] | None:
        return self._own().check_access_not_granted(policy_text, actions)

    # --- IAM -------------------------------------------------------------------------------

    def principal_exists(self, principal_arn: str) -> bool:
        return self._principal(principal_arn).principal_exists(principal_arn)

    def identity_policies(self, principal_arn: str) -> IdentityPolicies | None:
        return self._principal(principal_arn).identity_policies(principal_arn)

    # --- the launch's reads ----------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> Instance | None:
        return self._launch().describe_instance(instance_id)

    def volume_keys(self, volume_ids: tuple[str, ...]) -> Devices | None:
        return self._launch().volume_keys(volume_ids)

    def volume_instance(self, volume_id: str) -> str | None:
        return self._launch().volume_instance(volume_id)

    def image_keys(self, image_id: str) -> Devices:
        return self._launch().image_keys(image_id)

    def launch_template(self, template: dict[str, str]) -> LaunchSpec:
        return self._launch().launch_template(template)

    def launch_configuration(self, name: str) -> LaunchSpec:
        return self._launch().launch_configuration(name)

    def ssm_parameter(self, name: str) -> str:
        return self._launch().ssm_parameter(name)

    def ebs_encryption_by_default(self) -> bool:
        return self._launch().ebs_encryption_by_default()

    def ebs_default_key(self) -> str:
        return self._launch().ebs_default_key()

    def autoscaling_group(self, name: str) -> AutoScalingGroup | None:
        return self._launch().autoscaling_group(name)

    def failed_scaling_activity(self, group_name: str) -> dict[str, Any] | None:
        return self._launch().failed_scaling_activity(group_name)

    def fleet(self, fleet_id: str) -> Fleet | None:
        return self._launch().fleet(fleet_id)

    def spot_fleet_request(self, request_id: str) -> SpotRequest | None:
        return self._launch().spot_fleet_request(request_id)

    def spot_instance_request(self, request_id: str) -> SpotRequest | None:
        return self._launch().spot_instance_request(request_id)

    def launch_record(
        self, resource_id: str, event_names: tuple[str, ...]
    ) -> dict[str, Any] | None:
        return self._launch().launch_record(resource_id, event_names)

    # --- the engine's own account ----------------------------------------------------------

    def send_message(self, queue_url: str, body: str, delay_seconds: int) -> None:
        self._own().send_message(queue_url, body, delay_seconds)

    def publish(
        self, topic_arn: str, subject: str, message: str, outcome: str, *, email: str | None = None
    ) -> str:
        return self._own().publish(topic_arn, subject, message, outcome, email=email)
