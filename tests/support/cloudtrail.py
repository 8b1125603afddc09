"""An emulated CloudTrail ``LookupEvents``, which moto lacks: records given to it, looked up by
``ResourceName`` as CloudTrail does, newest first, each visible only from its n-th lookup on.

It answers a real boto3 client's calls through botocore's ``before-call`` hook (the mechanism
botocore's Stubber uses), so the adapter's paginator, parsing and error handling run unchanged,
and any number of calls may be made in any order. ``visible_from=2`` is CloudTrail lagging: the
record is not there on the first look and is on the second.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

RECORDS_DIR = Path(__file__).resolve().parent.parent / "events" / "cloudtrail"


def load_record(name: str, replacements: dict[str, str] | None = None) -> dict[str, Any]:
    """A CloudTrail record from tests/events/cloudtrail, with sample ids replaced."""
    text = (RECORDS_DIR / name).read_text()
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    record: dict[str, Any] = json.loads(text)
    return record


@dataclass
class _Entry:
    record: dict[str, Any]
    resources: tuple[str, ...]
    visible_from: int


@dataclass
class EmulatedCloudTrail:
    entries: list[_Entry] = field(default_factory=list)
    lookups: Counter[str] = field(default_factory=Counter)  # per ResourceName
    _asked: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any], resources: list[str], *, visible_from: int = 1) -> None:
        """Record ``record`` as naming ``resources``; it shows from the ``visible_from``-th
        lookup of a resource on."""
        self.entries.append(_Entry(record, tuple(resources), visible_from))

    def client(self, session: boto3.Session | None = None) -> Any:
        client = (session or boto3.Session(region_name="eu-west-1")).client("cloudtrail")
        client.meta.events.register(
            "before-parameter-build.cloudtrail.LookupEvents", self._remember
        )
        client.meta.events.register("before-call.cloudtrail.LookupEvents", self._answer)
        return client

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        self._asked.append(dict(params))  # the API parameters, before serialisation

    def _answer(self, **_: Any) -> tuple[Any, dict[str, Any]]:
        params = self._asked.pop()
        attributes = params.get("LookupAttributes") or []
        name = next(
            (a["AttributeValue"] for a in attributes if a["AttributeKey"] == "ResourceName"), None
        )
        if name is None:
            raise AssertionError(f"the emulated LookupEvents answers by ResourceName: {params}")
        self.lookups[name] += 1
        found = [
            e for e in self.entries if name in e.resources and self.lookups[name] >= e.visible_from
        ]
        events = [
            {
                "EventId": e.record.get("eventID", ""),
                "EventName": e.record.get("eventName", ""),
                "Resources": [{"ResourceName": r} for r in e.resources],
                "CloudTrailEvent": json.dumps(e.record),
            }
            for e in reversed(found)  # newest first
        ]
        return _HTTP_OK, {"Events": events, "ResponseMetadata": {"HTTPStatusCode": 200}}


class _HttpOk:
    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only stand-in for botocore's response)
    content = b""


_HTTP_OK = _HttpOk()
