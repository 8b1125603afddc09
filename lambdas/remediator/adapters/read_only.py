"""A read-only view of boto3 clients, for ``diagnose``: nothing it runs can write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_READ_PREFIXES = ("describe_", "get_", "list_", "lookup_")
_CLIENT_HELPERS = frozenset({"meta", "exceptions", "can_paginate", "get_paginator", "waiter_names"})


class ReadOnlyViolation(RuntimeError):
    """Something tried to call a write API through a read-only adapter: a bug, never tolerated."""


class ReadOnlyClient:
    """A boto3 client that forwards only read operations (AWS names every read this way)."""

    def __init__(self, service: str, client: Any) -> None:
        self._service = service
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name in _CLIENT_HELPERS:
            attribute = getattr(self._client, name)
            return self._paginator(attribute) if name == "get_paginator" else attribute
        self._check(name)
        return getattr(self._client, name)

    def _check(self, operation: str) -> None:
        if not operation.startswith(_READ_PREFIXES):
            raise ReadOnlyViolation(f"read-only: refused {self._service}:{operation}")

    def _paginator(self, get_paginator: Callable[[str], Any]) -> Callable[[str], Any]:
        def checked(operation: str) -> Any:
            self._check(operation)
            return get_paginator(operation)

        return checked
