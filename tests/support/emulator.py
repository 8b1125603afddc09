"""moto's HTTP server as the demo and the bench run it: on loopback, on a port the OS picks, and
quiet.

moto has no backend for some services the remediator calls where they exist (IAM Access
Analyzer). For those, moto's server prints "Unable to find appropriate backend" and werkzeug
logs a traceback per request, between the lines of the demo's table. ``EmulatorServer`` answers
them itself, as an endpoint that does not offer the operation does: HTTP 404 with the error
code ``UnknownOperationException``, which the AWS adapter treats as "unavailable here" (one
warning, then the local checks only). Every other request goes to moto unchanged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

# SigV4 signing names of services moto does not emulate, that the remediator may call.
NOT_EMULATED = frozenset({"access-analyzer"})
UNKNOWN_OPERATION = "UnknownOperationException"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
_SIGNING_NAME = re.compile(r"Credential=[^/,]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def signing_name(environ: dict[str, Any]) -> str | None:
    """The service a SigV4-signed request is for (the credential scope's service)."""
    found = _SIGNING_NAME.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else None


class NotEmulated:
    """WSGI middleware: requests for ``NOT_EMULATED`` services get an unknown-operation error."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        service = signing_name(environ)
        if service not in NOT_EMULATED:
            return self.app(environ, start_response)
        body = json.dumps(
            {"__type": UNKNOWN_OPERATION, "message": f"{service} is not in the emulator"}
        ).encode()
        start_response(
            "404 Not Found",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", UNKNOWN_OPERATION),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


class EmulatorServer:
    """The API of moto's ``ThreadedMotoServer`` (start, get_host_and_port, stop), quiet."""

    def __init__(
        self,
        ip_address: str = "127.0.0.1",
        port: int = 0,
        *,
        wrap: Callable[[WsgiApp], WsgiApp] | None = None,
    ) -> None:
        """``wrap`` puts a WSGI middleware of the caller's in front of the emulator (the
        organization demo and benchmark record every request's account and operation)."""
        self._address = (ip_address, port)
        self._wrap = wrap
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # no line per request
        app: WsgiApp = NotEmulated(DomainDispatcherApplication(create_backend_app))
        if self._wrap is not None:
            app = self._wrap(app)
        self._server = make_server(*self._address, app, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
