"""AWS access per account, for organization mode: the engine's own credentials in its own
account, the member role in any other.

The engine's own account is the one STS GetCallerIdentity names for its credentials (asked once).
Any other account is reached through ``arn:<partition>:iam::<account>:role/<member_role>``, the
partition being the engine's region's. Without a member role every account is reached with the
engine's own credentials, as a single-account deployment does (a grant on another account's
key is made by key ARN from this account).

One assumed session is kept per account and reused for the calls made for one event: its
RoleSessionName carries that event's id, and the member account's CloudTrail records that name
on every call made with it (the assumed-role ARN ends with it), so an auditor in the member
account can tell which event a change answered. A later event assumes the role again under its
own name, replacing the account's session; nothing grows with the number of events.

STS AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html):
RoleSessionName is 2 to 64 characters of letters, digits and ``+=,.@_-``; the credentials last
an hour by default (DurationSeconds 3600).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from remediator.adapters.aws import AwsAdapter
from remediator.adapters.errors import call
from remediator.adapters.sessions import new_session
from remediator.arns import is_account_id
from remediator.cross_account import member_role_arn
from remediator.ports import Rejected

ASSUME_ROLE = "sts:AssumeRole"
SESSION_NAME_PREFIX = "kms-launch-remediator-"
MAX_SESSION_NAME_LENGTH = 64
_SESSION_NAME_DISALLOWED = re.compile(r"[^\w+=,.@-]", re.ASCII)
UNKNOWN_EVENT = "unknown-event"
# A session is reused only while its credentials have at least this long left, which is longer
# than any invocation (remediator.state_schema.FUNCTION_TIMEOUT_SECONDS).
CREDENTIALS_MARGIN = timedelta(minutes=5)


def session_name(event_id: str) -> str:
    """The RoleSessionName for calls made for ``event_id``: the prefix, then the id with every
    character STS does not allow replaced by ``-``, cut to STS's 64 characters."""
    cleaned = _SESSION_NAME_DISALLOWED.sub("-", event_id) or UNKNOWN_EVENT
    return (SESSION_NAME_PREFIX + cleaned)[:MAX_SESSION_NAME_LENGTH]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Assumed:
    """The member role's session in one account, and for which event it was assumed."""

    event_id: str
    session: Any
    expires: datetime
    adapters: dict[str | None, AwsAdapter] = field(default_factory=dict)  # per region


@dataclass
class AccountSessions:
    """An ``AwsAdapter`` for any account: ``adapter(account, event_id=...)``.

    ``session`` is the engine's own boto3 session (None: the default one), ``region`` the
    region its clients call unless ``adapter`` is given another."""

    member_role: str | None = None
    session: Any = None
    region: str | None = None
    clock: Callable[[], datetime] = _utc_now
    _own: dict[str | None, AwsAdapter] = field(default_factory=dict)  # per region
    _assumed: dict[str, _Assumed] = field(default_factory=dict)  # per account

    def own(self, region: str | None = None) -> AwsAdapter:
        """The engine's own credentials (in ``region``, else the default region)."""
        region = region or self.region
        if region not in self._own:
            self._own[region] = AwsAdapter(self.session, region=region)
        return self._own[region]

    def own_account(self) -> str:
        """The engine's own account, from STS GetCallerIdentity (asked once)."""
        return self.own().account_id()

    def partition(self) -> str:
        """The partition of the engine's region (aws, aws-cn, aws-us-gov)."""
        session = self.session or new_session()
        return str(session.get_partition_for_region(self.own().region_name))

    def adapter(self, account: str, *, event_id: str, region: str | None = None) -> AwsAdapter:
        """Where calls about ``account``'s resources are made, for the event ``event_id``."""
        if not is_account_id(account):
            # STS would refuse the role ARN with ValidationError; refuse it before the call.
            raise Rejected(ASSUME_ROLE, "ValidationError", f"{account!r} is not an account id")
        if self.member_role is None or account == self.own_account():
            return self.own(region)
        assumed = self._assumed.get(account)
        if assumed is None or not self._reusable(assumed, event_id):
            assumed = self._assume(account, self.member_role, event_id)
            self._assumed[account] = assumed
        region = region or self.region
        if region not in assumed.adapters:
            # The account is known: no GetCallerIdentity through the member role.
            assumed.adapters[region] = AwsAdapter(assumed.session, region=region, _account=account)
        return assumed.adapters[region]

    def _reusable(self, assumed: _Assumed, event_id: str) -> bool:
        return assumed.event_id == event_id and assumed.expires - self.clock() > (
            CREDENTIALS_MARGIN
        )

    def _assume(self, account: str, role_name: str, event_id: str) -> _Assumed:
        sts = self.own().client("sts")
        response = call(
            ASSUME_ROLE,
            sts.assume_role,
            RoleArn=member_role_arn(self.partition(), account, role_name),
            RoleSessionName=session_name(event_id),
        )
        credentials = response["Credentials"]
        session = new_session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.own().region_name,
        )
        return _Assumed(event_id=event_id, session=session, expires=credentials["Expiration"])
