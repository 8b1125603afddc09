"""Organization mode on an embedded AWS emulator: ``make demo-org`` (``python -m tests.e2e.demo_org``).

One hub and three member accounts in moto's server (tests/support/org.py): the hub's remediator
runs with its own credentials in account 123456789012 and reaches each member through the member
role the StackSets deploy there (``KmsLaunchRemediatorMember``, trusting the hub role, with the
StackSet's permissions: the engine's reads and the KMS writes on the union of the allowlists).

- member A (111122223333) launches: its Auto Scaling service-linked role, two keys of its own
  (one in a launch template of its group ``web-asg``);
- member K (444455556666) owns the key A's group launches with across accounts;
- member B (555566667777) is in the organization but has no allowlist: nothing may change there.

Real-shaped events (tests/events, rewritten to the members) go to ``remediator.hub.handler`` as
SQS batches, as the hub's queue delivers them: first A's two same-account failures, A's copy of
the cross-account CreateGrant on K's key and B's failure in one batch; then, in a second batch, K's
copy of that same cross-account call (same ``sharedEventID``). The hub runs as deployed: enforce,
the state table (lock, audit, idempotency, incidents) and the topic in the hub account.

Each row is judged against what organization mode must do, from what the emulator shows (every
key's policy and grants before and after each batch, and every call it received, with its account
and caller), not from what the remediator says it did:

- a same-account case in A changes that key of A, and only that key, written in A;
- the cross-account case ends with K's narrowly conditioned statement for A's member role
  (written in K) and a grant for A's service-linked role created from A, on the key ARN;
- K's copy of the same call writes nothing more, and the launch stays allowed;
- B's failure is refused for B's allowlist and writes nowhere;
- over both batches, no write that no event justifies (tests/support/org_checks.py).

An evaluator written elsewhere (tests/support/oracle.py, principalmapper) says whether AWS would
authorize the launch's KMS calls afterwards: allowed for A's and K's rows, denied for B's.

Exit codes: 0 every row as expected; 1 at least one was not; 3 the emulator could not be started
or the accounts could not be provisioned.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from remediator.adapters.aws import AwsAdapter
from remediator.adapters.dynamo import create_table
from remediator.config import parse_config
from tests.e2e.demo import Clock, demo_environment, moto_server, probe_access_analyzer
from tests.support import moto_cross_account
from tests.support import org as o
from tests.support.emulator_calls import Call, CallRecorder
from tests.support.kms_authorization import verdicts
from tests.support.oracle import LAUNCH_OPERATIONS
from tests.support.org_checks import (
    Change,
    Justification,
    changes,
    cross_account_statement_problems,
    mistakes,
)
from tests.support.world import ACCOUNT, OTHER_ACCOUNT, REGION, World

EXIT_OK, EXIT_UNEXPECTED, EXIT_EMULATOR = 0, 1, 3
A, K, B = ACCOUNT, OTHER_ACCOUNT, "555566667777"
MEMBERS = (A, K, B)
TABLE, TOPIC = "kms-launch-remediator-hub", "kms-launch-remediator-hub-notifications"
OPERATIONS = frozenset(LAUNCH_OPERATIONS)  # the grant operations AWS documents (oracle.py)
FIXED = {"remediated"}
NOTHING_MORE = {"already_allowed", "folded", "ignored"}  # or no report: the first copy's answer


@dataclass
class Evidence:
    """What one batch did, as the emulator saw it."""

    changes: list[Change]
    calls: list[Call]
    failed: list[str]
    errors: dict[str, str]  # message id -> why its record failed

    def writes(self, key_arn: str | None = None, account: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.is_kms_write
            and (key_arn is None or c.key_id in (key_arn, key_arn.rsplit("/", 1)[1]))
            and (account is None or c.account == account)
        ]


@dataclass
class Row:
    case: str
    title: str
    event: dict[str, Any]
    launcher: str
    key_arn: str
    batch: int
    check: Callable[[Row, Evidence, o.Hub], list[str]]
    expect: str  # what the row must show, in words
    grant_issuer: str | None = None
    oracle_allowed: bool = True
    problems: list[str] = field(default_factory=list)
    outcome: str = "-"
    seen: str = "-"
    oracle: str = "-"

    @property
    def copy_of(self) -> str:
        return str(self.event["account"])


# --- the checks --------------------------------------------------------------------------------


def _outcomes(row: Row, hub: o.Hub) -> list[dict[str, Any]]:
    return hub.outcomes(row.event["id"])


def _record_problems(row: Row, evidence: Evidence) -> list[str]:
    message_id = f"m-{row.event['id']}"
    if message_id not in evidence.failed:
        return []
    why = evidence.errors.get(message_id, "its error was not seen")
    return [f"the hub reported the record failed, to be retried ({why})"]


def same_account(row: Row, evidence: Evidence, hub: o.Hub) -> list[str]:
    """Fixed in the launcher's account, on that key only, with statements naming the launcher."""
    problems = _record_problems(row, evidence)
    outcomes = {line["outcome"] for line in _outcomes(row, hub)}
    if outcomes != FIXED:
        problems.append(f"outcome {sorted(outcomes) or 'none'}, expected remediated")
    on_key = [c for c in evidence.changes if c.key_arn == row.key_arn]
    if not on_key:
        problems.append("the key's policy and grants did not change")
    problems += [f"{c.text()}: not the launcher" for c in on_key if c.principals != (row.launcher,)]
    writes = evidence.writes(row.key_arn)
    problems += [f"{c.name} made in account {c.account}" for c in writes if c.account != A]
    return problems


def cross_account(row: Row, evidence: Evidence, hub: o.Hub) -> list[str]:
    """K's conditioned statement for A's member role, written in K; A's grant, made from A."""
    problems = _record_problems(row, evidence)
    outcomes = {line["outcome"] for line in _outcomes(row, hub)}
    if outcomes != FIXED:
        problems.append(f"outcome {sorted(outcomes) or 'none'}, expected remediated")
    on_key = [c for c in evidence.changes if c.key_arn == row.key_arn]
    added = [c.statement for c in on_key if c.what == "statement" and c.statement]
    if not added:
        problems.append("K's key policy did not change")
    problems += cross_account_statement_problems(
        added,
        member_role_arn=o.member_role_arn(A),
        launcher_arn=row.launcher,
        operations=OPERATIONS,
    )
    grants = [c for c in on_key if c.what == "grant"]
    if [c.principals for c in grants] != [(row.launcher,)]:
        problems.append(f"grants added: {[c.text() for c in grants]}, expected one to the launcher")
    problems += [
        f"{c.text()}: more than documented" for c in grants if not c.operations <= OPERATIONS
    ]
    for call in evidence.writes(row.key_arn):
        expected = A if call.operation == "CreateGrant" else K
        if call.account != expected or not call.caller.startswith(_session_of(expected)):
            problems.append(f"{call.name} made in {call.account} by {call.caller}")
    if not any(c.operation == "CreateGrant" for c in evidence.writes(row.key_arn)):
        problems.append("no CreateGrant was made")
    return problems


def nothing_more(row: Row, evidence: Evidence, hub: o.Hub) -> list[str]:
    """Another copy of a call already fixed: no write at all, no failure, nothing new."""
    problems = _record_problems(row, evidence)
    outcomes = {line["outcome"] for line in _outcomes(row, hub)}
    if not outcomes <= NOTHING_MORE:
        problems.append(f"outcome {sorted(outcomes)}, expected nothing new")
    problems += [f"changed: {c.text()}" for c in evidence.changes]
    problems += [f"{c.name} in {c.account} by {c.caller}" for c in evidence.writes()]
    return problems


def refused_for_allowlist(row: Row, evidence: Evidence, hub: o.Hub) -> list[str]:
    """Refused because B allows nothing, and nothing written in B or on B's key."""
    problems = _record_problems(row, evidence)
    lines = _outcomes(row, hub)
    if {line["outcome"] for line in lines} != {"refused"}:
        problems.append(f"outcome {sorted({line['outcome'] for line in lines})}, expected refused")
    elif not all("allow" in str(line.get("reason")) for line in lines):
        problems.append(f"refused, but not for the allowlist: {lines[0].get('reason')}")
    problems += [f"changed: {c.text()}" for c in evidence.changes if c.key_arn == row.key_arn]
    problems += [f"{c.name} in {c.account}" for c in evidence.writes(account=B)]
    return problems


def _session_of(account: str) -> str:
    """The ARN prefix of the member role's sessions in ``account``."""
    return f"arn:aws:sts::{account}:assumed-role/{o.MEMBER_ROLE}/"


# --- the organization --------------------------------------------------------------------------


def config() -> dict[str, Any]:
    """Nothing may change outside A and K; A may fix its own keys and K's for its Auto Scaling
    role, K its own keys for A's Auto Scaling role."""
    launchers = [f"{o.slr_arn(A)}*"]
    return {
        "mode": "enforce",
        "member_role": o.MEMBER_ROLE,
        "allow": {},
        "accounts": {
            A: {"allow": {"principals": launchers, "keys": [o.keys_of(A), o.keys_of(K)]}},
            K: {"allow": {"principals": launchers, "keys": [o.keys_of(K)]}},
        },
    }


def provision(world: World, clock: Clock) -> list[Row]:
    widest = parse_config(config()).widest_allowlist()
    for account in MEMBERS:
        o.member_role(world, account, widest.keys, widest.principals)
    clock.say(f"members {', '.join(MEMBERS)}: member role {o.MEMBER_ROLE} trusting the hub role")
    launcher, b_launcher = o.autoscaling_slr(world, A), o.autoscaling_slr(world, B)
    same, in_template, k_key, b_key = world.key(A), world.key(A), world.key(K), world.key(B)
    with world.account(A):
        world.autoscaling_group(world.launch_template(in_template, "web-lt"), "web-asg")
    clock.say(f"A: {launcher.rsplit('/', 1)[1]}, keys, group web-asg; K: a key; B: a key")

    case1 = "case1_asg_slr_create_grant_access_denied.json"
    crossing = o.member_event(
        "case3_cross_account_asg_create_grant.json", launcher=A, key_arn=k_key, label="cross-a"
    )
    group_failure = o.member_event(
        "asg_launch_unsuccessful_client_internal_error.json",
        launcher=A,
        key_arn=in_template,
        label="a-asg",
    )
    group_failure["detail"]["EC2InstanceId"] = ""  # Auto Scaling often names no instance
    return [
        Row(
            "a-same",
            "A: Auto Scaling SLR, A's key (denied CreateGrant)",
            o.member_event(case1, launcher=A, key_arn=same, label="a-same"),
            launcher,
            same,
            1,
            same_account,
            "remediated in A, only that key",
        ),
        Row(
            "a-asg",
            "A: group web-asg failed to launch, A's key in its template",
            group_failure,
            launcher,
            in_template,
            1,
            same_account,
            "remediated in A, only that key",
        ),
        Row(
            "cross-a",
            "A's copy: A's Auto Scaling SLR, K's key",
            crossing,
            launcher,
            k_key,
            1,
            cross_account,
            "K: statement for A's member role; A: grant",
            grant_issuer=o.member_role_arn(A),
        ),
        Row(
            "b-refused",
            "B: Auto Scaling SLR, B's key; B has no allowlist",
            o.member_event(case1, launcher=B, key_arn=b_key, label="b-refused"),
            b_launcher,
            b_key,
            1,
            refused_for_allowlist,
            "refused, nothing written",
            oracle_allowed=False,
        ),
        Row(
            "cross-k",
            "K's copy of the same call (same sharedEventID)",
            o.owners_copy(crossing, "cross-k"),
            launcher,
            k_key,
            2,
            nothing_more,
            "nothing more written",
            grant_issuer=o.member_role_arn(A),
        ),
    ]


def justifications(rows: Sequence[Row]) -> list[Justification]:
    """What the events justify writing (tests/support/org_checks.py)."""
    found = []
    for row in rows:
        if row.check is same_account:
            found.append(Justification(row.key_arn, row.launcher, row.launcher, A))
        elif row.check is cross_account:
            found.append(Justification(row.key_arn, o.member_role_arn(A), row.launcher, A))
    return found


# --- running it --------------------------------------------------------------------------------


def run(clock: Clock, recorder: CallRecorder) -> int:
    # The demo's environment names one account for every call; here moto must take each call's
    # account from its credentials (the hub's own, or a member role's session).
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    moto_cross_account.install()
    world = World()
    try:
        rows = provision(world, clock)
        with world.account(o.HUB):
            create_table(boto3.client("dynamodb"), TABLE)
            topic, inbox = world.notifications_topic()
    except Exception as err:  # noqa: BLE001 (any provisioning error ends the demo, exit 3)
        print(f"error: could not provision the organization: {err!r}", file=sys.stderr)
        return EXIT_EMULATOR
    hub = o.Hub(config(), topic, TABLE)
    clock.say(f"hub {o.HUB}: remediator.hub.handler, enforce, member_role {o.MEMBER_ROLE}")
    probe_access_analyzer(AwsAdapter(region=REGION), clock)

    all_changes: list[Change] = []
    all_calls: list[Call] = []
    for batch in sorted({row.batch for row in rows}):
        members = [row for row in rows if row.batch == batch]
        before = o.snapshot()
        with recorder.recording() as calls:
            failed = hub.deliver([row.event for row in members])
        evidence = Evidence(changes(before, o.snapshot()), calls, failed, hub.errors)
        all_changes += evidence.changes
        all_calls += calls
        clock.say(
            f"batch {batch}: {len(members)} records, {len(calls)} AWS calls, "
            f"{len(failed)} reported failed (batchItemFailures)"
        )
        for row in members:
            judge(world, row, evidence, hub)
            clock.say(
                f"{row.case:<10} {row.title}: {row.outcome} [{'ok' if not row.problems else 'NOT AS EXPECTED'}]"
            )

    unjustified = mistakes(
        all_changes, all_calls, justifications(rows), hub_account=o.HUB, operations=OPERATIONS
    )
    print_table(rows)
    print_details(rows, all_changes, all_calls)
    print_notifications(world, inbox)
    return verdict(rows, unjustified)


def judge(world: World, row: Row, evidence: Evidence, hub: o.Hub) -> None:
    row.outcome = ",".join(sorted({line["outcome"] for line in _outcomes(row, hub)})) or (
        "no new report"
    )
    row.seen = seen_text(row, evidence)
    row.problems = row.check(row, evidence, hub)
    found = verdicts(world, row.launcher, row.key_arn, "asg", row.grant_issuer)
    denied = [call.split(":", 1)[1] for call, ok in found.items() if not ok]
    row.oracle = "allowed" if not denied else f"denied ({len(denied)} of {len(found)} calls)"
    if (not denied) is not row.oracle_allowed:
        row.problems.append(f"the oracle says the launch is {row.oracle}")


def seen_text(row: Row, evidence: Evidence) -> str:
    writes = evidence.writes(row.key_arn) if row.check is not refused_for_allowlist else []
    writes += evidence.writes(account=B) if row.check is refused_for_allowlist else []
    if row.check is nothing_more:
        writes = evidence.writes()
    parts = []
    for call in writes:
        who = call.caller.split("/")[1] if call.caller.startswith("arn:") else call.caller
        parts.append(f"{call.operation} in {_short_account(call.account)} as {who}")
    return "; ".join(parts) or "no write"


def _short_account(account: str) -> str:
    return {A: "A", K: "K", B: "B", o.HUB: "hub"}.get(account, account)


def print_table(rows: Sequence[Row]) -> None:
    header = ("case", "copy", "key", "principal", "outcome", "oracle", "writes seen")
    lines = [
        (
            row.case,
            _short_account(row.copy_of),
            f"{_short_account(row.key_arn.split(':')[4])}:key/{row.key_arn.rsplit('/', 1)[1][:8]}",
            f"{_short_account(row.launcher.split(':')[4])}:{row.launcher.rsplit('/', 1)[1]}",
            row.outcome + ("" if not row.problems else f" <-- expected {row.expect}"),
            row.oracle,
            row.seen,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header) - 1)]
    print()
    for line in [header, tuple("-" * len(h) for h in header), *lines]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])


def print_details(rows: Sequence[Row], changes: Sequence[Change], calls: Sequence[Call]) -> None:
    """Every change the emulator shows, in one line each; the statements added to the key of
    another account in full (what its owner will read in the key policy)."""
    crossing = {row.key_arn for row in rows if row.check is cross_account}
    print("\nChanges, as the emulator holds them:")
    for change in changes:
        print(f"  {change.text()}")
        if change.statement is not None and change.key_arn in crossing:
            for line in json.dumps(change.statement, indent=2, sort_keys=True).splitlines():
                print(f"      {line}")
    if not changes:
        print("  none")
    sessions = sorted({c.caller for c in calls if c.caller.startswith("arn:")})
    print("\nMember-role sessions the hub used (the session name carries the event id):")
    for session in sessions or ["none"]:
        print(f"  {session}")


def print_notifications(world: World, inbox: str) -> None:
    with world.account(o.HUB):
        notes = world.received(inbox)
    print(f"\nNotifications received on the hub's topic ({len(notes)}):")
    for note in notes:
        print(f"  {note['attributes'].get('outcome', '?'):<16} {note['subject']}")


def verdict(rows: Sequence[Row], unjustified: Sequence[str]) -> int:
    print(f"\nWrites that no event justifies: {len(unjustified)}")
    for problem in unjustified:
        print(f"  {problem}")
    unexpected = [row for row in rows if row.problems]
    print()
    for row in unexpected:
        print(f"NOT AS EXPECTED: {row.case} ({row.expect}): " + "; ".join(row.problems))
    if unexpected or unjustified:
        return EXIT_UNEXPECTED
    print(f"OK: all {len(rows)} rows ended as expected, and nothing was written unjustified.")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options
    clock = Clock()
    recorder = CallRecorder()
    try:
        with moto_server(clock, wrap=recorder.wrap) as endpoint, demo_environment(endpoint):
            return run(clock, recorder)
    finally:
        print(f"\nElapsed: {clock.elapsed():.1f}s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
