"""The whole loop on an embedded AWS emulator: ``make demo`` (``python -m tests.e2e.demo``).

It starts moto's server in this process on 127.0.0.1 (a free port), points boto3 at it with
``AWS_ENDPOINT_URL`` and fake credentials (account 111122223333, region eu-west-1), and builds
every case of ``shared/domain.md`` that moto can represent (``tests/support/world.py``): keys in
this account and in 444455556666, the Auto Scaling service-linked roles, a user and roles,
launch templates, groups and instances left in the failed state. It then creates the three
EventBridge rules of ``remediator.patterns.RULES`` (exactly those patterns), each with an SQS
target, puts the real-shaped fixture events of ``tests/events`` on the default bus, and runs the
remediator on what the rules deliver. It prints a table (case -> key and principal -> outcome ->
change -> the oracle's verdict), the SNS notifications an operator received, and a diff of every
changed key policy. The oracle (``tests/support/oracle.py``, an evaluator written elsewhere) says
whether AWS would now authorize every KMS call of the case's launch; a case ends as expected only
if it agrees with the outcome: allowed after ``remediated`` or ``already_allowed``, denied after
anything else.

Besides cases 1-6, the EC2 state-change and the Auto Scaling launch-failure paths, it sends a
Karpenter-style launch (the controller role's GenerateDataKeyWithoutPlaintext denied for a volume
of an instant EC2 Fleet's instance) and a group whose volumes use the account's default EBS key
(encrypted without a key id), and controls: an AWS-managed key (must be refused), a capacity failure (ignored), and three events
no rule may deliver. Each case has its own principal where the fixture allows it (case 3's role
and case 4's user are renamed by plain replacement), so that breaking a case breaks only that
case; the EC2 and Auto Scaling paths use the group's default service-linked role (moto reports
no other), the principal of case 1. moto's SQS delivery omits the envelope's ``account``; the
demo puts it back (the bus's account) before the remediator sees the event.

The emulator has no IAM Access Analyzer: the demo finds that out once, says so in one line, and
the remediator vets new policies with its local checks only (``tests/support/emulator.py``
answers Access Analyzer's requests as an endpoint without the operation would, so no emulator
traceback lands in the output).

Run from the repository root (``make demo`` sets PYTHONPATH)::

    PYTHONPATH=lambdas python -m tests.e2e.demo              # every case must end as expected
    PYTHONPATH=lambdas python -m tests.e2e.demo --break case5
    make demo DEMO_BREAK=case5       # case 5's principal leaves the allowlist: refused, as
                                     # expected then, with the fix an operator would apply

Exit codes:
    0  every case ended with its expected outcome (a case broken with --break: refused)
    1  at least one case did not
    2  bad usage (unknown case for --break / DEMO_BREAK)
    3  the emulator could not be started or the cases could not be provisioned
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from remediator.adapters.aws import AwsAdapter
from remediator.config import parse_config
from remediator.outcomes import Outcome
from remediator.patterns import RULES
from remediator.pipeline import RemediationFailed, Remediator
from remediator.ports import AwsPort
from tests.support import moto_cross_account, moto_ebs_default_key
from tests.support import world as w
from tests.support.emulator import EmulatorServer, WsgiApp
from tests.support.kms_authorization import key_owner_policy, remediator_role, verdicts
from tests.support.world import ACCOUNT, OTHER_ACCOUNT, REGION, World, load_event

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_EMULATOR = 0, 1, 2, 3
BREAK_ENV = "DEMO_BREAK"

# What the demo sets while it runs (and restores afterwards).
DEMO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "MOTO_ACCOUNT_ID": "111122223333",
}
DEMO_UNSET = ("AWS_PROFILE", "AWS_SECURITY_TOKEN")


@dataclass
class Row:
    """One case: how it was provisioned, what was sent, and how it ended."""

    case: str
    title: str
    fixture: str
    expected: str  # an Outcome value, or NOT_DELIVERED
    expected_rule: str | None
    launch: str | None = None  # the oracle's kind of launch (oracle.LAUNCH_CALLS)
    key_arn: str | None = None
    principal_arn: str | None = None
    replacements: dict[str, str] = field(default_factory=dict)
    edit: Callable[[dict[str, Any]], None] | None = None
    delivered_by: list[str] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)
    policy_before: dict[str, Any] | None = None
    policy_after: dict[str, Any] | None = None
    grants_after: list[dict[str, Any]] = field(default_factory=list)
    oracle: dict[str, bool] | None = None  # the oracle's verdict per KMS call, after the run

    @property
    def oracle_text(self) -> str:
        if self.oracle is None:
            return "-"
        refused = [call.split(":", 1)[1] for call, ok in self.oracle.items() if not ok]
        return "allowed" if not refused else f"denied ({', '.join(refused)})"

    @property
    def oracle_agrees(self) -> bool:
        """After remediated or already_allowed every call is allowed; otherwise one is not."""
        if self.oracle is None:
            return True
        fixed = {r.outcome for r in self.reports} <= {Outcome.REMEDIATED, Outcome.ALREADY_ALLOWED}
        return all(self.oracle.values()) is (fixed and bool(self.reports))

    @property
    def outcome(self) -> str:
        if not self.delivered_by:
            return NOT_DELIVERED
        return ",".join(sorted({r.outcome.value for r in self.reports})) or "none"

    @property
    def as_expected(self) -> bool:
        rule_ok = self.delivered_by == ([self.expected_rule] if self.expected_rule else [])
        return (
            rule_ok and self.outcome == self.expected and self.change_visible and self.oracle_agrees
        )

    @property
    def change_visible(self) -> bool:
        """A remediation is taken at its word only if the emulator shows it: the key policy
        changed, or a grant names the principal."""
        for report in self.reports:
            if report.outcome is not Outcome.REMEDIATED:
                continue
            if "grant_id" in (report.changes or {}):
                grantees = {g.get("GranteePrincipal") for g in self.grants_after}
                if report.principal_arn not in grantees:
                    return False
            elif self.policy_after == self.policy_before:
                return False
        return True


NOT_DELIVERED = "not delivered"


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {text}", flush=True)


# --- the emulator --------------------------------------------------------------------------


@contextlib.contextmanager
def demo_environment(endpoint: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*DEMO_ENV, *DEMO_UNSET, "AWS_ENDPOINT_URL")}
    os.environ.update(DEMO_ENV, AWS_ENDPOINT_URL=endpoint)
    for name in DEMO_UNSET:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def moto_server(clock: Clock, wrap: Callable[[WsgiApp], WsgiApp] | None = None) -> Iterator[str]:
    """moto's HTTP server in this process, on loopback, on a port the OS picks (``wrap``: a
    middleware in front of it, see EmulatorServer)."""
    server = EmulatorServer(wrap=wrap)
    server.start()
    endpoint = server.endpoint()
    try:
        # A clean emulator even if this process ran moto before (the in-process backends).
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        clock.say(f"moto server listening on {endpoint}")
        yield endpoint
    finally:
        server.stop()
        clock.say("moto server stopped")


# A policy Access Analyzer would accept, to ask once whether it is there.
PROBE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


def probe_access_analyzer(aws: AwsPort, clock: Clock) -> None:
    """Ask Access Analyzer once, through the engine's own adapter, and say the answer in one
    line. (The adapter logs its own warning too; the demo says it in words instead.)"""
    adapter_log = logging.getLogger("remediator.adapters.aws")
    previous = adapter_log.level
    adapter_log.setLevel(logging.ERROR)
    try:
        available = aws.validate_policy(PROBE_POLICY) is not None
    finally:
        adapter_log.setLevel(previous)
    if available:
        clock.say("IAM Access Analyzer: available; it vets every new key policy")
    else:
        clock.say(
            "IAM Access Analyzer: not in the emulator; new key policies are vetted by the "
            "local checks only"
        )


# --- the cases -----------------------------------------------------------------------------


def build_rows() -> list[Row]:
    """Every case in the order the table shows them. Provisioning fills in keys and events."""
    remediated, refused, ignored = (
        Outcome.REMEDIATED.value,
        Outcome.REFUSED.value,
        Outcome.IGNORED.value,
    )
    grant, state, asg = "KmsCallDenied", "InstanceStoppedOrTerminated", "AsgLaunchUnsuccessful"
    return [
        Row(
            "case1",
            "Auto Scaling SLR, same-account key",
            "case1_asg_slr_create_grant_access_denied.json",
            remediated,
            grant,
            "asg",
        ),
        Row(
            "case2",
            "custom-suffix Auto Scaling SLR, same-account key",
            "case2_asg_custom_slr_create_grant_access_denied_exception.json",
            remediated,
            grant,
            "asg",
        ),
        Row(
            "case3",
            "Auto Scaling SLR, key in another account",
            "case3_cross_account_asg_create_grant.json",
            remediated,
            grant,
            "asg",
        ),
        Row(
            "case4",
            "user, AMI copied with another account's key",
            "case4_copied_ami_user_create_grant.json",
            refused,  # both sides must allow across accounts: the fix is for two administrators
            grant,
            "run",
        ),
        Row(
            "case5",
            "user's StartInstances, same-account key",
            "case5_user_start_instances_create_grant.json",
            remediated,
            grant,
            "start",
        ),
        Row(
            "case6",
            "third-party scheduler role, same-account key",
            "case6_saas_scheduler_role_create_grant.json",
            remediated,
            grant,
            "start",
        ),
        Row(
            "ec2-state",
            "EC2 state change of a group's instance",
            "ec2_state_change_stopped.json",
            remediated,
            state,
            "asg",
        ),
        Row(
            "asg-launch",
            "Auto Scaling launch unsuccessful",
            "asg_launch_unsuccessful_client_internal_error.json",
            remediated,
            asg,
            "asg",
        ),
        Row(
            "karpenter",
            "Karpenter controller role (CreateFleet), denied data key",
            "karpenter_controller_role_generate_data_key_without_plaintext.json",
            remediated,
            grant,
            "run",
        ),
        Row(
            "default-key",
            "Auto Scaling volume on the account's default EBS key",
            "asg_launch_unsuccessful_client_internal_error.json",
            remediated,
            asg,
            "asg",
        ),
        Row(
            "aws-managed",
            "control: AWS-managed key (never fixable)",
            "case5_user_start_instances_create_grant.json",
            refused,
            grant,
            "start",
        ),
        Row(
            "asg-capacity",
            "control: Auto Scaling capacity failure",
            "asg_launch_unsuccessful_other_error.json",
            ignored,
            asg,
        ),
        Row(
            "grant-ok",
            "control: successful CreateGrant",
            "kms_create_grant_success.json",
            NOT_DELIVERED,
            None,
        ),
        Row(
            "decrypt",
            "control: denied Decrypt not made for a launch",
            "kms_decrypt_access_denied.json",
            ignored,
            grant,
        ),
        Row(
            "running",
            "control: instance running",
            "ec2_state_change_running.json",
            NOT_DELIVERED,
            None,
        ),
    ]


def provision(world: World, rows: list[Row], clock: Clock) -> None:
    """Build each case in the emulator, as domain.md describes it."""
    by_case = {row.case: row for row in rows}
    ec2 = world.client("ec2")
    slr = world.autoscaling_slr()
    slr_web = world.autoscaling_slr("web")
    slr_xacct = world.autoscaling_slr("xacct")
    alice, builder = world.user("ops-alice"), world.user("ami-builder")
    saas = world.role("SaaSSchedulerRole")
    clock.say(
        "IAM: Auto Scaling service-linked roles (default, _web, _xacct), users ops-alice, "
        "ami-builder and ops-carol, role SaaSSchedulerRole (trusted by the vendor's account)"
    )

    def done(row: Row, key: str, principal: str, what: str) -> None:
        row.key_arn, row.principal_arn = key, principal
        row.policy_before = world.policy(key)
        clock.say(f"{row.case:<12} key {short_key(key)}, {what}")

    def asg_case(row: Row, key: str, principal: str, group: str) -> None:
        world.autoscaling_group(world.launch_template(key, f"{group}-lt"), group)
        instance = world.failed_instance(key, group=group, stopped=False)
        sample = w.SAMPLE_KEY_ARN if key.split(":")[4] == ACCOUNT else w.SAMPLE_OTHER_KEY_ARN
        row.replacements = {sample: key, w.SAMPLE_INSTANCE_ID: instance}
        done(row, key, principal, f"group {group}, {instance} terminated (Client.InternalError)")

    asg_case(by_case["case1"], world.key(), slr, "case1-asg")
    asg_case(by_case["case2"], world.key(), slr_web, "case2-asg")
    # The key owner lets this account describe its key and grant exactly the launch's
    # operations to the launcher (what the remediator suggests to a key owner, fixes.py).
    case3_key = world.key(OTHER_ACCOUNT, key_owner_policy(OTHER_ACCOUNT, *let_grant(slr_xacct)))
    asg_case(by_case["case3"], case3_key, slr_xacct, "case3-asg")
    # Case 3's fixture names the default role; here the group uses its own custom-suffix one.
    by_case["case3"].replacements["AWSServiceRoleForAutoScaling"] = (
        "AWSServiceRoleForAutoScaling_xacct"
    )

    row, key = by_case["case4"], world.key(OTHER_ACCOUNT)
    image = world.encrypted_image(key)  # the copied AMI: its snapshot is on the other's key
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    world.set_state_reason(instance["InstanceId"], w.FAILED_LAUNCH)
    row.replacements = {
        w.SAMPLE_OTHER_KEY_ARN: key,
        w.SAMPLE_INSTANCE_ID: instance["InstanceId"],
        "ops-alice": "ami-builder",  # its own user, so that breaking case 5 leaves it alone
    }
    done(row, key, builder, f"copied AMI {image}, {instance['InstanceId']} terminated")

    for case, principal in (("case5", alice), ("case6", saas)):
        row, key = by_case[case], world.key()
        instance_id = world.failed_instance(key, stopped=True)
        row.replacements = {w.SAMPLE_KEY_ARN: key, w.SAMPLE_INSTANCE_ID: instance_id}
        done(row, key, principal, f"{instance_id} stopped (Client.InternalError)")

    row, key = by_case["ec2-state"], world.key()
    world.autoscaling_group(world.launch_template(key, "ec2-state-lt"), "ec2-state-asg")
    instance_id = world.failed_instance(key, group="ec2-state-asg", stopped=True)
    row.replacements = {w.SAMPLE_INSTANCE_ID: instance_id}
    done(row, key, slr, f"group ec2-state-asg, {instance_id} stopped (Client.InternalError)")

    row, key = by_case["asg-launch"], world.key()
    world.autoscaling_group(world.launch_template(key, "web-lt"), w.SAMPLE_GROUP)

    def no_instance(event: dict[str, Any]) -> None:
        event["detail"]["EC2InstanceId"] = ""  # Auto Scaling often names no instance

    row.edit = no_instance
    done(row, key, slr, f"group {w.SAMPLE_GROUP} whose launch template uses the key")

    row, key = by_case["karpenter"], world.key()
    world.role("KarpenterControllerRole-prod")
    template = world.launch_template(key, "karpenter-lt")
    fleet = world.fleet(template, "instant")
    instance_id = world.launched_instance(
        template_id=template, tags={"aws:ec2:fleet-id": fleet}, stopped=True
    )
    volume = world.volume_of(instance_id)
    row.replacements = {w.SAMPLE_KEY_ARN: key, w.SAMPLE_VOLUME_ID: volume}
    done(row, key, w.KARPENTER_ROLE_ARN, f"instant fleet {fleet}, {instance_id}, {volume}")

    row, key = by_case["default-key"], world.key()
    world.ebs_default_key(key)
    nokey = world.template_from("default-key-lt", world.template_data(None))
    world.group(
        "default-key-asg", LaunchTemplate={"LaunchTemplateId": nokey, "Version": "$Default"}
    )

    def default_key_group(event: dict[str, Any]) -> None:
        event["detail"]["AutoScalingGroupName"] = "default-key-asg"
        event["detail"]["EC2InstanceId"] = ""

    row.edit = default_key_group
    done(
        row,
        key,
        slr,
        "the account's default EBS key; group default-key-asg encrypts without a key id",
    )

    row, key = by_case["aws-managed"], world.key()
    world.set_key(key, manager="AWS")
    carol = world.user("ops-carol")
    row.replacements = {w.SAMPLE_KEY_ARN: key, "ops-alice": "ops-carol"}
    done(row, key, carol, "AWS-managed (its policy cannot be edited)")


def let_grant(grantee: str) -> list[dict[str, Any]]:
    """A key owner's statements that let this account describe the key and create exactly the
    launcher's grant: no kms:GrantIsForAWSResource (the grant is for a role)."""
    root = f"arn:aws:iam::{ACCOUNT}:root"
    operations = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"]
    return [
        {
            "Sid": "LetAccountGrantItsLauncher",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:GranteePrincipal": grantee},
                "ForAllValues:StringEquals": {"kms:GrantOperations": [*operations, "CreateGrant"]},
            },
        },
        {
            "Sid": "LetAccountDescribeKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


# --- EventBridge -----------------------------------------------------------------------------


def create_rules(world: World, clock: Clock) -> dict[str, str]:
    """The stack's rules, patterns unchanged, each with an SQS queue as target: name -> URL."""
    events, sqs = world.client("events"), world.client("sqs")
    queues = {}
    for name, pattern in RULES.items():
        url = sqs.create_queue(QueueName=f"rule-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "remediator", "Arn": arn}])
        queues[name] = url
    clock.say(f"EventBridge: rules {', '.join(RULES)} (remediator.patterns.RULES) -> SQS")
    return queues


def send(world: World, row: Row, queues: dict[str, str]) -> list[dict[str, Any]]:
    """Put the fixture on the default bus; return the envelopes the rules delivered."""
    event = load_event(row.fixture, row.replacements)
    if row.edit:
        row.edit(event)
    response = world.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"put_events failed for {row.case}: {response['Entries']}")
    delivered = []
    sqs = world.client("sqs")
    for name, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            envelope = json.loads(message["Body"])  # the full EventBridge envelope
            # moto's default SQS delivery leaves out "account" (its DEFAULT_EVENT_INPUT_TEMPLATE
            # lacks it); EventBridge always sends it: the account of the bus.
            envelope.setdefault("account", ACCOUNT)
            delivered.append(envelope)
            row.delivered_by.append(name)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


# --- output ----------------------------------------------------------------------------------


def short_key(arn: str | None) -> str:
    if not arn:
        return "-"
    parts = arn.split(":")
    return f"{parts[4]}:key/{arn.rsplit('/', 1)[-1][:8]}"


def short_principal(arn: str | None) -> str:
    if not arn:
        return "-"
    return f"{arn.split(':')[4]}:{arn.rsplit('/', 1)[-1]}"


def change_text(row: Row) -> str:
    texts = []
    for report in row.reports:
        changes = report.changes or {}
        if report.outcome.value == "remediated" and "statements" in changes:
            sids = ", ".join(s["Sid"] for s in changes["statements"])
            texts.append(f"key policy +{sids}")
        elif report.outcome.value == "remediated" and "grant_id" in changes:
            texts.append(f"grant {', '.join(changes['operations'])}")
        elif report.outcome.value == "refused":
            texts.append(f"none: {report.reason}")
    return "; ".join(texts) or "-"


def print_table(rows: list[Row]) -> None:
    header = ("case", "detected key", "principal", "outcome", "oracle", "change")
    lines = []
    for row in rows:
        report = row.reports[0] if row.reports else None
        key = short_key(report.key_arn if report and report.key_arn else None)
        who = short_principal(report.principal_arn if report else None)
        mark = "" if row.as_expected else f" <-- expected {row.expected}"
        oracle = row.oracle_text + ("" if row.oracle_agrees else " <-- disagrees")
        lines.append((row.case, key, who, row.outcome + mark, oracle, change_text(row)))
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(5)]
    print()
    print("  ".join(h.ljust(widths[i]) for i, h in enumerate(header[:5])) + "  " + header[5])
    print("  ".join("-" * width for width in widths) + "  " + "-" * 6)
    for line in lines:
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(line[:5])) + "  " + line[5])


def print_notifications(notes: list[dict[str, Any]]) -> None:
    print(f"\nNotifications received on the operators' topic ({len(notes)}):")
    for note in notes:
        outcome = note["attributes"].get("outcome", "?")
        print(f"  {outcome:<16} {note['subject']}")


def print_changes(rows: list[Row]) -> None:
    print("\nChanges:")
    for row in rows:
        for report in row.reports:
            if report.outcome.value != "remediated":
                continue
            changes = report.changes or {}
            if "grant_id" in changes:
                print(f"\n{row.case}: grant on {report.key_arn}")
                print(f"  grantee     {changes['grantee']}")
                print(f"  operations  {' '.join(changes['operations'])}")
                print(f"  name        {changes['grant_name']} (id {changes['grant_id']})")
                same = row.policy_after == row.policy_before
                print(
                    f"  key policy  {'unchanged' if same else 'CHANGED'} (written only by its owner)"
                )
                print(f"  undo        {(report.undo or {}).get('cli')}")
                continue
            before = json.dumps(row.policy_before, indent=2, sort_keys=True).splitlines()
            after = json.dumps(row.policy_after, indent=2, sort_keys=True).splitlines()
            print(f"\n{row.case}: key policy of {report.key_arn}")
            for line in difflib.unified_diff(
                before, after, "key policy (before)", "key policy (after)", lineterm=""
            ):
                print(f"  {line}")


def print_refusals(rows: list[Row], broken: str | None) -> None:
    """The refusals an operator did not expect (and the one asked for with --break), each with
    the fix to apply by hand."""
    for row in rows:
        if row.as_expected and row.case != broken:
            continue
        for report in row.reports:
            if report.outcome.value == "refused" and report.suggested_fix:
                print(f"\n{row.case} was refused: {report.reason}")
                print("  suggested fix:")
                for line in json.dumps(report.suggested_fix, indent=2).splitlines():
                    print(f"    {line}")
                if "allow.principals" in report.reason:
                    print(f"  or let the remediator apply it: add {report.principal_arn} to")
                    print("  allow.principals in the configuration.")


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None, cases: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--break",
        dest="broken",
        metavar="CASE",
        default=os.environ.get(BREAK_ENV) or None,
        help=f"remove this case's principal from the allowlist ({', '.join(cases)}); "
        f"default ${BREAK_ENV}",
    )
    args = parser.parse_args(argv)
    if args.broken is not None and args.broken not in cases:
        parser.error(f"unknown case {args.broken!r} for --break; one of {', '.join(cases)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    clock = Clock()
    rows = build_rows()
    breakable = [r.case for r in rows if r.expected == "remediated"]
    try:
        args = parse_args(argv, breakable)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        with moto_server(clock) as endpoint, demo_environment(endpoint):
            return run(rows, args.broken, clock)
    finally:
        print(f"\nElapsed: {clock.elapsed():.1f}s")


def run(rows: list[Row], broken: str | None, clock: Clock) -> int:
    moto_cross_account.install()
    moto_ebs_default_key.install()
    world = World()
    try:
        provision(world, rows, clock)
        issuer = remediator_role(world, [f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/*"])
        queues = create_rules(world, clock)
        topic, inbox = world.notifications_topic()
    except Exception as err:  # noqa: BLE001 (any provisioning error ends the demo, exit 3)
        print(f"error: could not provision the cases in the emulator: {err!r}", file=sys.stderr)
        return EXIT_EMULATOR

    # Every case's principal: what a case ends with is the engine's decision, not the allowlist's.
    principals = sorted({r.principal_arn for r in rows} - {None})
    removed = None
    if broken:
        row = next(r for r in rows if r.case == broken)
        removed, row.expected = row.principal_arn, Outcome.REFUSED.value
        principals = [p for p in principals if p != removed]
        shared = [r.case for r in rows if r.principal_arn == removed and r.case != broken]
        also = f" (also the principal of {', '.join(shared)})" if shared else ""
        clock.say(f"BREAK {broken}: removed {removed} from allow.principals{also}; expect refused")
    config = parse_config(
        {
            "mode": "enforce",
            "allow": {
                "principals": principals,
                "keys": [
                    f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
                    f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/*",
                ],
            },
        }
    )
    clock.say(f"config: mode enforce, {len(principals)} principals and 2 key globs allowlisted")
    engine = Remediator(AwsAdapter(region=REGION), config, topic_arn=topic)
    probe_access_analyzer(engine.aws, clock)

    for row in rows:
        for envelope in send(world, row, queues):
            try:
                row.reports += engine.handle(envelope)
            except RemediationFailed as failure:
                row.reports += failure.reports
        if row.key_arn:
            row.policy_after = world.policy(row.key_arn)
            row.grants_after = world.grants(row.key_arn)
        if row.key_arn and row.principal_arn and row.launch and row.delivered_by:
            row.oracle = verdicts(world, row.principal_arn, row.key_arn, row.launch, issuer)
        via = ", ".join(row.delivered_by) or "no rule"
        verdict = "ok" if row.as_expected else f"UNEXPECTED (expected {row.expected})"
        clock.say(f"{row.case:<12} {row.title}: {via} -> {row.outcome} [{verdict}]")

    print_table(rows)
    print_notifications(world.received(inbox))
    print_changes(rows)
    print_refusals(rows, broken)

    unexpected = [r for r in rows if not r.as_expected]
    print()
    if not unexpected:
        print(f"OK: all {len(rows)} cases ended as expected.")
        if broken:
            print(
                f"({broken} was broken on purpose: {removed} left the allowlist, so it was "
                "refused, with the fix above.)"
            )
        return EXIT_OK
    for row in unexpected:
        print(
            f"NOT AS EXPECTED: {row.case} ended {row.outcome}, expected {row.expected}"
            + (f" (delivered by {', '.join(row.delivered_by) or 'no rule'})")
        )
    return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
