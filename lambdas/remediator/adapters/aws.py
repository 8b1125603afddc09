"""The AWS adapter: implements ``remediator.ports.AwsPort`` with boto3 and returns plain data.

Clients are made lazily from one session (on the process's shared loader, sessions.py) with
one retry configuration (botocore's standard
mode retries throttling and 5xx errors; nothing here loops on its own). Every botocore error
leaves this module as a domain error of ``remediator.ports`` (see ``errors.py``); "not found"
is an answer (None or empty) where absence is normal. Tests pass a session pointed at moto, or
clients wrapped in botocore's Stubber. Every action called here is declared in
``permissions.py``. The reads of identification (EC2, SSM, Auto Scaling, CloudTrail) are in
``launch_reads.py``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config

from remediator.adapters import sns
from remediator.adapters.errors import Unsupported, call, pages
from remediator.adapters.iam import IdentityReads
from remediator.adapters.launch_reads import LaunchReads
from remediator.adapters.read_only import ReadOnlyClient
from remediator.adapters.sessions import new_session
from remediator.model import Grant, KeyInfo
from remediator.ports import AccessDenied, NotFound, Unreachable

logger = logging.getLogger(__name__)

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
)
# An optional check: fewer retries than the calls the remediation depends on.
ANALYZER_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10
)
ANALYZER_RETRY_SECONDS = 300  # once Access Analyzer cannot answer, ask again after this long


@dataclass
class AwsAdapter(IdentityReads, LaunchReads):
    session: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    read_only_clients: bool = False  # every client refuses any call that is not a read
    analyzer_off_until: float = 0.0  # monotonic time; set when Access Analyzer cannot answer
    _account: str | None = None

    def client(self, service: str) -> Any:
        if service not in self.clients:
            if self.session is None:
                self.session = new_session()  # one per adapter, for all its clients
            session = self.session
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

    @contextlib.contextmanager
    def acting_for(self, event_id: str, account: str, region: str) -> Iterator[None]:
        """One account's credentials: every call is made with them, whatever the event."""
        yield

    def in_account(self, account: str) -> AwsAdapter:
        return self

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

    def retire_grant(self, key_arn: str, grant_id: str) -> None:
        """Delete a grant as the account in which it was created: "the AWS account in which
        the grant was created can retire the grant", without any key-policy permission
        (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html). Used by
        ``rollback`` for a grant made from another account than the key's."""
        kms = self.client("kms")
        call("kms:RetireGrant", kms.retire_grant, KeyId=key_arn, GrantId=grant_id)

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

    # --- SQS -------------------------------------------------------------------------------

    def send_message(self, queue_url: str, body: str, delay_seconds: int) -> None:
        """Send to the re-check queue; SQS holds the message for ``delay_seconds`` (at most
        900, SQS's limit for DelaySeconds)."""
        sqs = self.client("sqs")
        call(
            "sqs:SendMessage",
            sqs.send_message,
            QueueUrl=queue_url,
            MessageBody=body,
            DelaySeconds=delay_seconds,
        )

    # --- SNS -------------------------------------------------------------------------------

    def publish(
        self, topic_arn: str, subject: str, message: str, outcome: str, *, email: str | None = None
    ) -> str:
        return sns.publish(self.client("sns"), topic_arn, subject, message, outcome, email=email)
