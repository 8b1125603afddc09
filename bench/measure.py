"""The benchmark's measurements. Every figure is a ratio against a baseline measured in the same
run (the machines are shared and noisy), with medians over repeated runs. Nothing here asserts a
target: the goals are printed beside the figures.
"""

from __future__ import annotations

import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
if str(LAMBDAS) not in sys.path:  # the Makefile sets PYTHONPATH; a bare `python -m bench` not
    sys.path.insert(0, str(LAMBDAS))
CASE1 = "case1_asg_slr_create_grant_access_denied.json"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


# --- 1. cold start -----------------------------------------------------------------------------


def _fresh_import_seconds(statement: str, path: Path, traced: bool = False) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": str(path),
        "POWERTOOLS_TRACE_DISABLED": "0" if traced else "1",
        # The asset is read-only in Lambda: nothing a run compiles is kept for the next one.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if traced:  # tracing is on only in Lambda: look like it
        env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_start(runs: int) -> dict[str, Any]:
    """A fresh interpreter importing the handler module from the Lambda asset as synth builds it
    (infra/bytecode.py: the sources with their bytecode), against ``import boto3`` alone (which
    is installed with its bytecode). Also from the sources alone, as an asset built without an
    interpreter of the runtime's version ships it, where every cold start compiles the code."""
    from infra import bytecode

    with tempfile.TemporaryDirectory(prefix="bench-asset-") as tmp:
        asset, sources = Path(tmp) / "asset", Path(tmp) / "sources"
        bytecode.build(LAMBDAS, asset, sys.executable)
        bytecode.build(LAMBDAS, sources, None)
        handler, bare, traced, boto3 = [], [], [], []
        for _ in range(runs):  # interleaved, so that load on the machine hits all alike
            boto3.append(_fresh_import_seconds("import boto3", asset))
            handler.append(_fresh_import_seconds("import remediator.handler", asset))
            bare.append(_fresh_import_seconds("import remediator.handler", sources))
            traced.append(_fresh_import_seconds("import remediator.handler", asset, traced=True))
        env = {**os.environ, "PYTHONPATH": str(asset), "POWERTOOLS_TRACE_DISABLED": "1"}
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import remediator.handler"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    base = statistics.median(boto3)
    return {
        "runs": runs,
        "import_boto3_ms": median_ms(boto3),
        "import_handler_ms": median_ms(handler),
        "ratio": round(statistics.median(handler) / base, 2),
        "import_handler_sources_only_ms": median_ms(bare),
        "sources_only_ratio": round(statistics.median(bare) / base, 2),
        "import_handler_traced_ms": median_ms(traced),
        "traced_ratio": round(statistics.median(traced) / base, 2),
        "dominant_imports": _dominant(trace),
    }


def _dominant(importtime: str, top: int = 6) -> list[dict[str, Any]]:
    """Import time by top-level package, summing each module's own ("self") time."""
    totals: Counter[str] = Counter()
    for line in importtime.splitlines():
        parts = line.split("|")
        own = parts[0].split(":")[-1].strip()
        if len(parts) == 3 and own.isdigit():
            totals[parts[2].strip().split(".")[0]] += int(own)
    return [{"package": p, "self_ms": round(us / 1000, 1)} for p, us in totals.most_common(top)]


# --- the emulator --------------------------------------------------------------------------------


@contextmanager
def emulator(wrap: Callable[[Any], Any] | None = None) -> Iterator[str]:
    """moto's HTTP server on loopback, with fake credentials; yields its endpoint. ``wrap``
    puts a WSGI middleware in front of it (the organization simulation records every call)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_REGION="eu-west-1",
        MOTO_ACCOUNT_ID="111122223333",
        POWERTOOLS_TRACE_DISABLED="1",
        POWERTOOLS_METRICS_NAMESPACE="KmsLaunchRemediator",
        POWERTOOLS_SERVICE_NAME="kms-launch-remediator",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    import requests

    from tests.support import moto_cross_account
    from tests.support.emulator import EmulatorServer

    moto_cross_account.install()
    server = EmulatorServer(wrap=wrap)  # quiet: no line per request, no Access Analyzer traceback
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    # moto's backends live in this process: start each measurement from an empty account
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)
    try:
        yield os.environ["AWS_ENDPOINT_URL"]
    finally:
        server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)


class FakeContext:
    function_name = "remediator"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111122223333:function:remediator"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _configure_handler(
    topic: str, keys_pattern: str, table: str | None, max_changes: int = 10
) -> Any:
    from remediator import handler
    from tests.support.allowlists import every_principal_of

    config = {
        "mode": "enforce",
        "allow": {"principals": every_principal_of("111122223333"), "keys": [keys_pattern]},
        "max_changes_per_key_per_hour": max_changes,
    }
    os.environ["REMEDIATOR_CONFIG"] = json.dumps(config)
    os.environ["NOTIFY_TOPIC_ARN"] = topic
    if table:
        os.environ["STATE_TABLE_NAME"] = table
    else:
        os.environ.pop("STATE_TABLE_NAME", None)
    handler.remediator.cache_clear()
    handler.pipeline.cache_clear()
    return handler


def _quiet(function: Callable[[], Any]) -> Any:
    """Run with stdout discarded: powertools prints its metrics (EMF) there."""
    saved = sys.stdout
    sys.stdout = io.StringIO()
    try:
        return function()
    finally:
        sys.stdout = saved


# --- 2. per-event latency against the floor -------------------------------------------------------


def floor_fix(clients: dict[str, Any], key_arn: str, principal: str, topic: str) -> None:
    """The fewest calls that fix case 1: describe, read, write the policy, tell the operators."""
    kms = clients["kms"]
    kms.describe_key(KeyId=key_arn)
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "Floor",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    clients["sns"].publish(TopicArn=topic, Subject="fixed", Message="{}")


def latency(events: int, warmup: int = 3, table: str | None = None) -> dict[str, Any]:
    import boto3

    from remediator.adapters.aws import RETRY_CONFIG
    from tests.support.world import SAMPLE_KEY_ARN, World, load_event

    with emulator():
        world = World()
        slr = world.autoscaling_slr()
        topic = world.client("sns").create_topic(Name="bench")["TopicArn"]
        if table:
            from remediator.adapters.dynamo import create_table

            create_table(boto3.client("dynamodb"), table)
        handler = _configure_handler(topic, "arn:aws:kms:*:111122223333:key/*", table)
        # the same client setup as the engine's adapter
        clients = {s: boto3.client(s, config=RETRY_CONFIG) for s in ("kms", "sns")}
        handler_s, floor_s = [], []
        for i in range(warmup + events):  # interleaved, one fresh key each
            key = world.key()
            event = load_event(CASE1, {SAMPLE_KEY_ARN: key})
            event["id"] = event["detail"]["eventID"] = f"bench-{i}"  # distinct failures
            start = time.perf_counter()
            result = _quiet(lambda e=event: handler.handler(e, FakeContext()))
            elapsed = time.perf_counter() - start
            if result["outcome"] != "remediated":
                raise RuntimeError(f"handler did not remediate: {result['reason']}")
            other = world.key()
            start = time.perf_counter()
            floor_fix(clients, other, slr, topic)
            floor_elapsed = time.perf_counter() - start
            if i >= warmup:
                handler_s.append(elapsed)
                floor_s.append(floor_elapsed)
    return {
        "events": events,
        "state_table": bool(table),
        "handler_ms": median_ms(handler_s),
        "floor_ms": median_ms(floor_s),
        "ratio": round(statistics.median(handler_s) / statistics.median(floor_s), 2),
    }


# --- 3. AWS calls per case ----------------------------------------------------------------------

# The fewest calls that could fix each case, and why the engine makes each call above them.
FLOORS: dict[str, list[str]] = {
    "key-policy (cases 1, 2, 5, 6)": [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "sns:Publish",
    ],
    "grant (cases 3, 4)": ["kms:CreateGrant", "sns:Publish"],
    "EC2 state change": [
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "autoscaling:DescribeAutoScalingGroups",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "sns:Publish",
    ],
    "Auto Scaling failure": [
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeLaunchTemplateVersions",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "sns:Publish",
    ],
}
REASONS = {
    "kms:DescribeKey": "resolve the key and refuse AWS-managed, disabled or pending keys",
    "kms:GetKeyPolicy": "read back to verify (and, with a state table, re-read under the lock)",
    "kms:ListGrants": "the key's grants, which authorize too; a new grant is read back",
    "iam:GetRole": "refuse a principal that does not exist (KMS accepts unknown ARNs in moto)",
    "iam:GetUser": "refuse a principal that does not exist",
    "iam:ListRolePolicies": "the principal's inline policies: they decide with the key policy",
    "iam:ListAttachedRolePolicies": "the principal's managed policies: they decide too",
    "sts:GetCallerIdentity": "this account, from STS and not from the event (once per adapter)",
    "ec2:GetEbsEncryptionByDefault": "whether a volume without a key id takes the default key",
    "ec2:DescribeImages": "find keys of the AMI's snapshots",
    "ec2:DescribeSnapshots": "find keys of the AMI's snapshots",
    "ec2:DescribeLaunchTemplateVersions": "find keys named in the launch template",
    "access-analyzer:ValidatePolicy": "vet the new policy (unavailable in the emulator: called once)",
    "access-analyzer:CheckAccessNotGranted": "vet the added statements for admin actions",
    "dynamodb:Query": "anti-loop: changes to this key in the last hour",
    "dynamodb:PutItem": "per-key lock, audit record, idempotency record",
    "dynamodb:DeleteItem": "release the per-key lock",
    "dynamodb:UpdateItem": "idempotency: store the result",
    "dynamodb:GetItem": "idempotency",
}


INCIDENT_REASONS = {
    "kms:GetKeyPolicy": "has the key policy changed since the incident was decided? (digest)",
}


def calls_per_case() -> list[dict[str, Any]]:
    import boto3

    from remediator.adapters.aws import AwsAdapter
    from remediator.config import parse_config
    from remediator.pipeline import Remediator
    from tests.support.allowlists import every_key_of, every_principal_of
    from tests.support.world import (
        ACCOUNT,
        OTHER_ACCOUNT,
        SAMPLE_INSTANCE_ID,
        SAMPLE_KEY_ARN,
        SAMPLE_OTHER_KEY_ARN,
        World,
        load_event,
    )

    rows = []
    with emulator():
        world = World()
        world.autoscaling_slr()
        topic = world.client("sns").create_topic(Name="bench")["TopicArn"]
        config = parse_config(
            {
                "allow": {
                    "principals": every_principal_of(ACCOUNT),
                    "keys": every_key_of(ACCOUNT, OTHER_ACCOUNT),
                }
            }
        )

        def count(kind: str, event: dict[str, Any]) -> None:
            calls: Counter[str] = Counter()
            session = boto3.Session(region_name="eu-west-1")
            session.events.register(
                "before-call.*.*",
                lambda model, **_: calls.update(
                    [f"{model.service_model.signing_name}:{model.name}"]
                ),
            )
            [report] = Remediator(AwsAdapter(session=session), config, topic_arn=topic).handle(
                event
            )
            floor = FLOORS[kind]
            extras = calls - Counter(floor)
            rows.append(
                {
                    "case": kind,
                    "outcome": report.outcome.value,
                    "calls": sum(calls.values()),
                    "floor": len(floor),
                    "extra": [
                        {"call": c, "count": n, "reason": REASONS.get(c, "?")}
                        for c, n in sorted(extras.items())
                    ],
                }
            )

        count("key-policy (cases 1, 2, 5, 6)", load_event(CASE1, {SAMPLE_KEY_ARN: world.key()}))
        count(
            "grant (cases 3, 4)",
            load_event(
                "case3_cross_account_asg_create_grant.json",
                {SAMPLE_OTHER_KEY_ARN: world.key(OTHER_ACCOUNT)},
            ),
        )
        instance = world.failed_instance(world.key(), group="web-asg")
        count(
            "EC2 state change",
            load_event("ec2_state_change_stopped.json", {SAMPLE_INSTANCE_ID: instance}),
        )
        world.autoscaling_group(world.launch_template(world.key()))
        event = load_event("asg_launch_unsuccessful_client_internal_error.json")
        event["detail"]["EC2InstanceId"] = ""
        count("Auto Scaling failure", event)

        # A duplicate of an event already handled, through the idempotent pipeline
        from remediator.adapters.dynamo import DynamoState, create_table
        from remediator.report import summary

        create_table(boto3.client("dynamodb"), "bench-calls")
        calls: Counter[str] = Counter()
        session = boto3.Session(region_name="eu-west-1")
        session.events.register(
            "before-call.*.*",
            lambda model, **_: calls.update([f"{model.service_model.signing_name}:{model.name}"]),
        )
        state = DynamoState("bench-calls", client=session.client("dynamodb"))
        engine = Remediator(AwsAdapter(session=session), config, topic_arn=topic, state=state)
        process = state.idempotent(lambda event: summary(engine.handle(event)))
        event = load_event(CASE1, {SAMPLE_KEY_ARN: world.key()})
        process(event=event, context=FakeContext())
        calls.clear()
        process(event=event, context=FakeContext())
        rows.append(
            {
                "case": "duplicate event (state table)",
                "outcome": "cached result",
                "calls": sum(calls.values()),
                "floor": 1,
                "extra": [],
                "made": dict(sorted(calls.items())),
                "kms_calls": sum(n for c, n in calls.items() if c.startswith("kms:")),
            }
        )

        # Another event (other ids) of the incident that first event opened and decided
        from remediator.adapters.incidents import DynamoIncidents

        incidents = DynamoIncidents("bench-calls", session.client("dynamodb"))
        engine = Remediator(
            AwsAdapter(session=session), config, topic_arn=topic, state=state, incidents=incidents
        )
        event = load_event(CASE1, {SAMPLE_KEY_ARN: world.key()})
        engine.handle(event)
        event = {**event, "id": "another", "detail": {**event["detail"], "eventID": "another"}}
        calls.clear()
        [report] = engine.handle(event)
        rows.append(
            {
                "case": "event of an open incident (state table)",
                "outcome": report.outcome.value,
                "calls": sum(calls.values()),
                "floor": 1,
                "extra": [
                    {"call": c, "count": n, "reason": INCIDENT_REASONS.get(c, "?")}
                    for c, n in sorted((calls - Counter(["dynamodb:UpdateItem"])).items())
                ],
                "made": dict(sorted(calls.items())),
                "kms_calls": sum(n for c, n in calls.items() if c.startswith("kms:")),
            }
        )
    return rows


# --- 4. storms ---------------------------------------------------------------------------------


def storms(duplicates: int, principals: int) -> dict[str, Any]:
    import boto3
    from moto.kms.models import KmsBackend

    from remediator.adapters.dynamo import create_table
    from tests.support.world import SAMPLE_KEY_ARN, World, load_event

    puts: list[str] = []
    original = KmsBackend.put_key_policy

    def counting(self: Any, key_id: str, policy: str) -> None:
        puts.append(key_id)
        original(self, key_id, policy)

    KmsBackend.put_key_policy = counting  # type: ignore[method-assign]
    try:
        with emulator():
            world = World()
            world.autoscaling_slr()
            topic = world.client("sns").create_topic(Name="bench")["TopicArn"]
            create_table(boto3.client("dynamodb"), "bench-state")
            # 100 distinct principals on one key within minutes would trip the anti-loop limit
            # (default 10 changes per key per hour): raise it for this measure
            handler = _configure_handler(
                topic, "arn:aws:kms:*:111122223333:key/*", "bench-state", max_changes=1000
            )

            world.user()
            key = world.key()
            event = load_event(
                "case5_user_start_instances_create_grant.json", {SAMPLE_KEY_ARN: key}
            )
            start = time.perf_counter()
            for _ in range(duplicates):
                _quiet(lambda: handler.handler(event, FakeContext()))
            dup_seconds = time.perf_counter() - start
            dup_writes = len(puts)

            key = world.key()
            events = []
            for i in range(principals):
                name = f"bench-user-{i:03d}"
                world.user(name)
                one = load_event(
                    "case5_user_start_instances_create_grant.json",
                    {SAMPLE_KEY_ARN: key, "user/ops-alice": f"user/{name}"},
                )
                one["id"], one["detail"]["eventID"] = f"evt-{i}", f"ct-{i}"
                events.append(one)
            puts.clear()
            start = time.perf_counter()
            for one in events:
                _quiet(lambda e=one: handler.handler(e, FakeContext()))
            distinct_seconds = time.perf_counter() - start
            named = {
                p
                for s in world.policy(key)["Statement"]
                if s.get("Sid") == "KmsLaunchRemediatorAttach"
                for p in s["Principal"]["AWS"]
            }
    finally:
        KmsBackend.put_key_policy = original  # type: ignore[method-assign]
    return {
        "duplicates": {
            "events": duplicates,
            "seconds": round(dup_seconds, 2),
            "events_per_second": round(duplicates / dup_seconds, 1),
            "policy_writes": dup_writes,
        },
        "distinct_principals": {
            "events": principals,
            "seconds": round(distinct_seconds, 2),
            "events_per_second": round(principals / distinct_seconds, 1),
            "policy_writes": len(puts),
            "principals_in_policy": len(named),
        },
    }


# --- 4b. an incident storm --------------------------------------------------------------------


def incident_storm(events: int, parallel: int) -> dict[str, Any]:
    """Distinct events for one (key, principal) (CloudTrail denials, EC2 state changes, Auto
    Scaling failures, each with its own ids) through ``replay --state-table``, ``parallel``
    processes at a time: one incident, so one key write and one notification."""
    import boto3

    from remediator.adapters.dynamo import create_table
    from tests.support.storm import run_storm
    from tests.support.world import World

    with emulator() as endpoint, tempfile.TemporaryDirectory() as workdir:
        world = World()
        create_table(boto3.client("dynamodb"), "bench-incidents")
        topic, inbox = world.notifications_topic()
        storm = run_storm(
            world,
            endpoint=endpoint,
            table="bench-incidents",
            topic=topic,
            inbox=inbox,
            workdir=Path(workdir),
            count=events,
            parallel=parallel,
        )
    if storm.errors:
        raise RuntimeError(f"replay failed: {storm.errors[0]}")
    return storm.figures()


def access_analyzer_available() -> bool:
    """Whether the emulator answers IAM Access Analyzer (moto has no such service)."""
    from remediator.adapters.aws import AwsAdapter

    with emulator():
        adapter_log = logging.getLogger("remediator.adapters.aws")
        previous = adapter_log.level
        adapter_log.setLevel(logging.ERROR)  # said once, by the caller, in words
        try:
            return AwsAdapter(region="eu-west-1").validate_policy('{"Statement": []}') is not None
        finally:
            adapter_log.setLevel(previous)


# --- 5. footprint --------------------------------------------------------------------------------


def asset_zip_bytes() -> int:
    """The Lambda asset as CDK zips it (the stack excludes caches), without the Powertools layer."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(LAMBDAS.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(LAMBDAS))
    return len(buffer.getvalue())


_ONE_INVOCATION = """
import json, sys, io

def high_water_kb():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

from remediator import handler
class Ctx:
    function_name = "remediator"; memory_limit_in_mb = 256; aws_request_id = "x"
    def get_remaining_time_in_millis(self): return 60000
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111122223333:function:remediator"
event = json.loads(sys.stdin.read())
before = high_water_kb()
out, sys.stdout = sys.stdout, io.StringIO()
result = handler.handler(event, Ctx())
sys.stdout = out
after = high_water_kb()
print(json.dumps({"outcome": result["outcome"], "rss_after_import_kb": before, "peak_rss_kb": after}))
"""


def peak_rss() -> dict[str, Any]:
    """One invocation in a fresh interpreter (the emulator runs in this process, not in it)."""
    from tests.support.world import SAMPLE_KEY_ARN, World, load_event

    with emulator():
        world = World()
        world.autoscaling_slr()
        topic = world.client("sns").create_topic(Name="bench")["TopicArn"]
        _configure_handler(topic, "arn:aws:kms:*:111122223333:key/*", None)
        event = load_event(CASE1, {SAMPLE_KEY_ARN: world.key()})
        env = {**os.environ, "PYTHONPATH": f"{LAMBDAS}{os.pathsep}{ROOT}"}
        out = subprocess.run(
            [sys.executable, "-c", _ONE_INVOCATION],
            input=json.dumps(event),
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures
