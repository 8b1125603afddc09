"""What the core needs from the outside world, as Protocols, and the errors it handles by name.

The adapters (``remediator.adapters``) implement these ports with boto3 and translate every
botocore error into one of the errors below; nothing outside the adapters sees a
``ClientError``. Test fakes implement the same Protocols.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from remediator.model import (
    AutoScalingGroup,
    Devices,
    Fleet,
    Grant,
    IdentityPolicies,
    Instance,
    KeyInfo,
    LaunchSpec,
    PlannedChange,
    SpotRequest,
)


class AwsError(RuntimeError):
    """An AWS call failed. ``code`` is AWS's error code, ``operation`` the API called."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        super().__init__(f"{operation}: {code}: {message}" if code else f"{operation}: {message}")


class AccessDenied(AwsError):
    """The caller's credentials may not make this call (IAM, key policy, SCP...)."""


class NotFound(AwsError):
    """The resource named in the call does not exist (or is not visible to the caller)."""


class Throttled(AwsError):
    """AWS kept throttling the call after the SDK's own retries."""


class Rejected(AwsError):
    """AWS rejected the request itself, e.g. a key policy KMS will not accept."""


class Unreachable(AwsError):
    """No answer: no endpoint, no credentials, no region, or the call timed out."""


class LockLost(RuntimeError):
    """The per-key lock is no longer held by this invocation: the write must not happen."""


class EventReused(ValueError):
    """An event reuses the idempotency key of an earlier event with other content."""


class LockTimeout(RuntimeError):
    """The key stayed locked by another invocation; raised so the async retry tries later."""


class AwsPort(Protocol):
    """Every AWS read and write the core makes. Returns plain data from ``remediator.model``."""

    def read_only(self) -> AwsPort:
        """A view of this port whose every write is refused (for diagnose)."""
        ...

    def account_id(self) -> str:
        """The account the calls act in: the credentials' own (STS), or, inside
        ``acting_for``, the account of the launch."""
        ...

    def acting_for(
        self, event_id: str, account: str, region: str
    ) -> contextlib.AbstractContextManager[None]:
        """The calls made inside are for the event ``event_id``, about a launch in ``account``
        and ``region``. A port of one account ignores it; one that reaches the accounts of an
        organization (``adapters/routing.py``) routes each call by the account it concerns."""
        ...

    def in_account(self, account: str) -> AwsPort:
        """Where calls about ``account``'s resources are made (a port of one account: itself)."""
        ...

    def describe_key(self, key_reference: str) -> KeyInfo | None: ...

    def get_key_policy(self, key_arn: str) -> str: ...

    def put_key_policy(self, key_arn: str, policy_text: str) -> None: ...

    def list_grants(self, key_arn: str) -> list[Grant]: ...

    def create_grant(
        self, key_arn: str, grantee: str, operations: tuple[str, ...], name: str
    ) -> str: ...

    def revoke_grant(self, key_arn: str, grant_id: str) -> None: ...

    def retire_grant(self, key_arn: str, grant_id: str) -> None:
        """Delete a grant as the account that created it (no key-policy permission needed)."""
        ...

    def validate_policy(self, policy_text: str) -> list[dict[str, Any]] | None: ...

    def check_access_not_granted(
        self, policy_text: str, actions: tuple[str, ...]
    ) -> tuple[str, str] | None: ...

    def principal_exists(self, principal_arn: str) -> bool: ...

    def identity_policies(self, principal_arn: str) -> IdentityPolicies | None:
        """A role's or user's identity policies and boundary; None when it does not exist."""
        ...

    # EC2, EBS, SSM, Auto Scaling and CloudTrail reads of identification (``identify.py``).
    # ``launch_template``, ``launch_configuration``, ``ssm_parameter`` and ``launch_record``
    # raise ``AccessDenied``/``NotFound`` where what they read is unreadable or gone; the
    # others answer None or empty for what no longer exists.

    def describe_instance(self, instance_id: str) -> Instance | None: ...

    def volume_keys(self, volume_ids: tuple[str, ...]) -> Devices | None:
        """Keys of the volumes; None when none of them exists any more."""
        ...

    def volume_instance(self, volume_id: str) -> str | None:
        """The instance a volume is attached to, if it still exists and is attached."""
        ...

    def image_keys(self, image_id: str) -> Devices: ...

    def launch_template(self, template: dict[str, str]) -> LaunchSpec: ...

    def launch_configuration(self, name: str) -> LaunchSpec: ...

    def ssm_parameter(self, name: str) -> str: ...

    def ebs_encryption_by_default(self) -> bool: ...

    def ebs_default_key(self) -> str: ...

    def autoscaling_group(self, name: str) -> AutoScalingGroup | None: ...

    def failed_scaling_activity(self, group_name: str) -> dict[str, Any] | None: ...

    def fleet(self, fleet_id: str) -> Fleet | None: ...

    def spot_fleet_request(self, request_id: str) -> SpotRequest | None: ...

    def spot_instance_request(self, request_id: str) -> SpotRequest | None: ...

    def launch_record(
        self, resource_id: str, event_names: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The latest CloudTrail record of one of ``event_names`` that names the resource."""
        ...

    def send_message(self, queue_url: str, body: str, delay_seconds: int) -> None: ...

    def publish(
        self, topic_arn: str, subject: str, message: str, outcome: str, *, email: str | None = None
    ) -> str:
        """``message`` (JSON) for machine subscribers; ``email``, when given, for people."""
        ...


class StatePort(Protocol):
    """Cross-invocation state: per-key lock with fencing, write-ahead audit, anti-loop count."""

    serializes_writes: bool  # whether lock() excludes other invocations

    def changes_in_last_hour(self, key_arn: str) -> int: ...

    def lock(self, key_arn: str) -> contextlib.AbstractContextManager[None]: ...

    def fence(self, key_arn: str) -> None:
        """Raise ``LockLost`` unless this invocation still holds the key's lock."""
        ...

    def begin_change(self, change: PlannedChange) -> str: ...

    def finish_change(self, key_arn: str, change_id: str, after: Any, note: str = "") -> None: ...

    def close_change(self, key_arn: str, change_id: str) -> None: ...

    def abandon_change(self, key_arn: str, change_id: str) -> None: ...

    def pending_changes(self, key_arn: str) -> list[dict[str, Any]]: ...

    def history(self, key_arn: str) -> list[dict[str, Any]]: ...


class NoState:
    """No state table: no cross-invocation lock or audit (single CLI runs, unit tests)."""

    serializes_writes = False

    def changes_in_last_hour(self, key_arn: str) -> int:
        return 0

    @contextlib.contextmanager
    def lock(self, key_arn: str) -> Iterator[None]:
        yield

    def fence(self, key_arn: str) -> None:
        return None

    def begin_change(self, change: PlannedChange) -> str:
        return ""

    def finish_change(self, key_arn: str, change_id: str, after: Any, note: str = "") -> None:
        return None

    def close_change(self, key_arn: str, change_id: str) -> None:
        return None

    def abandon_change(self, key_arn: str, change_id: str) -> None:
        return None

    def pending_changes(self, key_arn: str) -> list[dict[str, Any]]:
        return []

    def history(self, key_arn: str) -> list[dict[str, Any]]:
        return []
