"""Every AWS call the emulator receives, with the account it acts in and who made it.

The organization demo and benchmark need to know, for each call, in which account it landed
and with which credentials: a grant must be created from the launcher's account, a key policy
written in the key's, nothing written anywhere else. The engine builds its own boto3 sessions
(its own, and one per assumed member role), so a botocore hook on one session would miss the
others; the emulator sees them all. ``CallRecorder`` is a WSGI middleware for
``tests.support.emulator.EmulatorServer(wrap=...)`` that resolves each request's account as moto
does (``MOTO_ACCOUNT_ID``, then the ``x-moto-account-id`` header, then the access key's
account) and the caller from the access key (an assumed role's session ARN, or the engine's own
credentials).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.iam.models import get_account_id_from
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from tests.support.emulator import WsgiApp

OWN_CREDENTIALS = "own credentials"
# The KMS calls that change what a key allows.
KMS_WRITES = frozenset(
    {"PutKeyPolicy", "CreateGrant", "RevokeGrant", "RetireGrant", "ReplicateKey", "CreateAlias"}
)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Call:
    """One request the emulator received."""

    account: str  # the account whose backends it acted on
    caller: str  # the assumed role's session ARN, or OWN_CREDENTIALS
    service: str  # the SigV4 signing name (kms, sts, dynamodb, ...)
    operation: str
    region: str
    key_id: str | None = None  # for KMS calls: KeyId
    grantee: str | None = None  # for CreateGrant: GranteePrincipal

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def is_kms_write(self) -> bool:
        return self.service == "kms" and self.operation in KMS_WRITES


@dataclass
class CallRecorder:
    """WSGI middleware: records the requests made while ``recording()`` is active."""

    app: WsgiApp | None = None
    calls: list[Call] = field(default_factory=list)
    _on: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        self.app = app
        return self

    @contextmanager
    def recording(self) -> Iterator[list[Call]]:
        """Record while active; yields the calls made meanwhile (filled when it ends)."""
        start = len(self.calls)
        made: list[Call] = []
        self._on = True
        try:
            yield made
        finally:
            self._on = False
            with self._lock:
                made.extend(self.calls[start:])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "wrap() an application first"
        if self._on:
            body = _body(environ)
            call = describe(environ, body)
            if call is not None:
                with self._lock:
                    self.calls.append(call)
        return self.app(environ, start_response)


def _body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back for the application."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def describe(environ: dict[str, Any], body: bytes) -> Call | None:
    """The call a SigV4-signed request makes, or None for an unsigned one (moto's own API)."""
    found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if found is None:
        return None
    access_key, region, service = found.groups()
    params = _params(environ, body)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    operation = target.rsplit(".", 1)[-1] if target else str(params.get("Action", "?"))
    account = _account(environ, access_key)
    return Call(
        account=account,
        caller=caller_of(account, access_key, region),
        service=service,
        operation=operation,
        region=region,
        key_id=_text(params.get("KeyId")) if service == "kms" else None,
        grantee=_text(params.get("GranteePrincipal")) if operation == "CreateGrant" else None,
    )


def _params(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A JSON body's members, or a query or form body's parameters."""
    if environ.get("HTTP_X_AMZ_TARGET") and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""))
    pairs += urllib.parse.parse_qsl(body.decode("utf-8", "replace"))
    return dict(pairs)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _account(environ: dict[str, Any], access_key: str) -> str:
    """moto's own order (``BaseResponse.get_current_account``)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if "HTTP_X_MOTO_ACCOUNT_ID" in environ:
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    return str(get_account_id_from(access_key))


def caller_of(account: str, access_key: str, region: str) -> str:
    """The session ARN of the role assumed with ``access_key``, or OWN_CREDENTIALS."""
    backend = sts_backends[account][get_partition(region)]
    assumed = backend.get_assumed_role_from_access_key(access_key)
    return OWN_CREDENTIALS if assumed is None else str(assumed.arn)


def per_name(calls: Iterable[Call]) -> Counter[str]:
    """``service:operation`` -> how many."""
    return Counter(call.name for call in calls)
