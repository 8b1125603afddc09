"""Faults injected at the AWS boundary: a process killed after its Nth AWS call, a call that
takes longer than it should, an error from one operation. Shared by the fault tests and the
benchmark.

Everything hooks a boto3 session's event system, so it sees every call any client of that
session makes (the remediator's adapter and its state table alike), in moto's decorator mode
and against its server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import DynamoState
from remediator.config import parse_config
from remediator.pipeline import Remediator
from remediator.policy import TOOL_SIDS, as_list


class Killed(BaseException):
    """The process stopped here. A BaseException, as a SIGKILL is: no handler of the code under
    test catches it, so nothing after the kill point runs."""


@dataclass
class Clock:
    """A clock the test moves: leases and the hourly cap read it; sleeping advances it."""

    now: float

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Faults:
    """Counts the operations made through ``session`` and injects faults into them."""

    session: Any
    calls: list[str] = field(default_factory=list)
    kill_after: int | None = None  # stop the process right after this many calls
    # Called before every call with its "service.Operation" name; may sleep, move a clock,
    # run another invocation, or raise (an injected error).
    on_call: Callable[[str], None] | None = None
    dead: bool = False  # once killed, no later call (a lock release in a finally) gets out

    def __post_init__(self) -> None:
        self.session.events.register("before-call", self._before)
        self.session.events.register("after-call", self._after)

    def _name(self, model: Any) -> str:
        return f"{model.service_model.service_name}.{model.name}"

    def _before(self, model: Any, **_: Any) -> Any:
        name = self._name(model)
        if self.dead:
            raise Killed(f"{name} after the kill")
        if self.on_call is not None:
            self.on_call(name)
        return None

    def _after(self, model: Any, **_: Any) -> None:
        self.calls.append(self._name(model))
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            self.kill_after, self.dead = None, True
            raise Killed(f"killed after {self.calls[-1]}")


def error(operation: str, code: str) -> ClientError:
    """The error AWS would answer ``operation`` with (after the SDK's retries)."""
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def short_waits(delay: float) -> None:
    """A lock's waits between tries, cut to a tenth of a second at most, for races on real time:
    the race is the same (every waiter still retries until it holds the lock or its wait ends),
    without seconds of idle backoff while the holder has long finished."""
    time.sleep(min(delay, 0.1))


def invocation(
    table: str,
    config: dict[str, Any],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    topic: str | None = None,
    lease_seconds: float | None = None,
    region: str = "eu-west-1",
) -> tuple[Remediator, Faults]:
    """A fresh remediator, as a new Lambda container would be, with its own session."""
    session = boto3.Session(region_name=region)
    faults = Faults(session)
    state = DynamoState(table, client=session.client("dynamodb"), clock=clock, sleep=sleep)
    if lease_seconds is not None:
        state.lease_seconds = lease_seconds
    aws = AwsAdapter(session=session, region=region)
    return Remediator(aws, parse_config(config), topic_arn=topic, state=state), faults


def tool_principals(policy: dict[str, Any]) -> set[str]:
    """Every principal the tool's statements name."""
    return {
        name
        for stmt in policy.get("Statement", [])
        if stmt.get("Sid") in TOOL_SIDS
        for name in as_list(stmt.get("Principal", {}).get("AWS"))
    }
