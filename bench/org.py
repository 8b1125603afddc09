"""The organization benchmark: member accounts x regions through the hub's SQS handler on the
emulator (``python -m bench.org [--quick] [--out FILE]``; ``make bench`` runs it as one step).

The organization (tests/support/org.py): a hub in moto's default account, ``accounts`` members,
each with the member role the StackSets deploy, its Auto Scaling service-linked role and a user,
and in every region two keys: one its own launches use, one the previous member's launches use
across accounts. One member in five has no allowlist (nothing may change there). The others
allow their own Auto Scaling role and the previous member's on their own keys, and their own
role on the next member's keys.

Per member and region, four real-shaped events, shuffled, through ``remediator.hub.handler`` in
the hub's batches of 5, with the state table (as the hub stack deploys it):
- a same-account case (case 1: the Auto Scaling role, the member's own key);
- a refusal: a user's StartInstances on that key (case 5), whose principal no allowlist names;
- the cross-account case (case 3: the Auto Scaling role, the next member's key), and the key
  owner's copy of that same call (same ``sharedEventID``), which must change nothing more.

It measures, with their goals:
- cross-account mistakes (goal 0): every key's policy and grants in every account and region
  before and after, and every KMS write the emulator received with its account and caller,
  judged against what each event justifies (tests/support/org_checks.py);
- remedies per incident (goal 1): an incident is one (key, principal) pair; a remedy is an event
  the hub reported ``remediated``; every incident an allowlist covers must get exactly one;
- events per second per Lambda instance: one process, the handler's time only;
- AWS calls per incident against the floor, counted per account at the emulator (the hub's own
  and each member's), the floor stated per kind of event in ``FLOORS``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import measure

ACCOUNTS, REGIONS = 50, ("eu-west-1", "us-east-1", "ap-southeast-2")
QUICK_ACCOUNTS, QUICK_REGIONS = 5, ("eu-west-1",)
FIRST_MEMBER = 210_000_000_000  # member account ids: 12 digits, none of the fixtures' own
UNLISTED_EVERY = 5  # one member in five has no allowlist
TABLE = "bench-org-state"
SEED = 13
CASE1 = "case1_asg_slr_create_grant_access_denied.json"
CASE3 = "case3_cross_account_asg_create_grant.json"
CASE5 = "case5_user_start_instances_create_grant.json"
# The fewest AWS calls each kind of event could be handled with, whatever the implementation:
# - a key-policy fix: measure.FLOORS' four (DescribeKey to refuse AWS-managed, disabled or
#   pending keys; GetKeyPolicy and PutKeyPolicy, KMS having no conditional write; Publish),
#   plus the AssumeRole that gives the member's credentials;
# - the cross-account fix: the same in K, then A's CreateGrant on the key ARN, one AssumeRole
#   per account, one notification for the incident;
# - a refusal by the allowlist: decided on the event alone, then notified;
# - the owner's copy of a call already handled: one read of the idempotency record.
KEY_POLICY_FLOOR = [*measure.FLOORS["key-policy (cases 1, 2, 5, 6)"], "sts:AssumeRole"]
FLOORS: dict[str, list[str]] = {
    "same-account fix": KEY_POLICY_FLOOR,
    "cross-account fix": [*KEY_POLICY_FLOOR, "sts:AssumeRole", "kms:CreateGrant"],
    "refusal": ["sns:Publish"],
    "owner's copy": ["dynamodb:GetItem"],
}


@dataclass(frozen=True)
class Sent:
    """One event of the simulation: its kind and the incident (key, principal) it belongs to."""

    event: dict[str, Any]
    kind: str  # a key of FLOORS
    incident: tuple[str, str]
    justified: bool  # the accounts' allowlists cover it: it must be fixed, once


def member_ids(count: int) -> list[str]:
    return [str(FIRST_MEMBER + i) for i in range(count)]


def listed(index: int) -> bool:
    return index % UNLISTED_EVERY != UNLISTED_EVERY - 1


def config(members: Sequence[str]) -> dict[str, Any]:
    """Per member: its own and the previous member's Auto Scaling roles on its own keys and the
    next member's. Nothing outside ``accounts`` (the unlisted members) may change."""
    from tests.support import org as o

    accounts = {}
    for i, account in enumerate(members):
        if not listed(i):
            continue
        previous, following = members[i - 1], members[(i + 1) % len(members)]
        principals = [f"{o.slr_arn(account)}*", f"{o.slr_arn(previous)}*"]
        keys = [o.keys_of(account), o.keys_of(following)]
        accounts[account] = {"allow": {"principals": principals, "keys": keys}}
    return {"mode": "enforce", "member_role": o.MEMBER_ROLE, "allow": {}, "accounts": accounts}


def provision(members: Sequence[str], regions: Sequence[str]) -> tuple[list[Sent], list[Any]]:
    """The organization's accounts, roles and keys; the events, shuffled; what they justify."""
    from remediator.config import parse_config
    from tests.support import org as o
    from tests.support.org_checks import Justification
    from tests.support.world import World

    widest = parse_config(config(members)).widest_allowlist()
    home = World()
    for account in members:
        o.member_role(home, account, widest.keys, widest.principals)
        o.autoscaling_slr(home, account)
        with home.account(account):
            home.user()
    sent, justified = [], []
    for region in regions:
        world = World(region=region)
        own = {account: world.key(account) for account in members}
        theirs = {account: world.key(account) for account in members}  # for the previous one
        for i, account in enumerate(members):
            following = members[(i + 1) % len(members)]
            slr, user = o.slr_arn(account), f"arn:aws:iam::{account}:user/ops-alice"
            label = f"{account}/{region}"
            same = o.member_event(
                CASE1, launcher=account, key_arn=own[account], region=region, label=f"{label}/same"
            )
            refusal = o.member_event(
                CASE5, launcher=account, key_arn=own[account], region=region, label=f"{label}/user"
            )
            cross = o.member_event(
                CASE3,
                launcher=account,
                key_arn=theirs[following],
                region=region,
                label=f"{label}/cross",
            )
            both = listed(i) and listed((i + 1) % len(members))
            sent += [
                Sent(same, "same-account fix", (own[account], slr), listed(i)),
                Sent(refusal, "refusal", (own[account], user), False),
                Sent(cross, "cross-account fix", (theirs[following], slr), both),
                Sent(
                    o.owners_copy(cross, f"{label}/owner"),
                    "owner's copy",
                    (theirs[following], slr),
                    both,
                ),
            ]
            if listed(i):
                justified.append(Justification(own[account], slr, slr, account))
            if both:
                justified.append(
                    Justification(theirs[following], o.member_role_arn(account), slr, account)
                )
    random.Random(SEED).shuffle(sent)
    return sent, justified


def simulate(accounts: int, regions: Sequence[str]) -> dict[str, Any]:
    from tests.support import org as o
    from tests.support.emulator_calls import CallRecorder
    from tests.support.oracle import LAUNCH_OPERATIONS
    from tests.support.org_checks import changes, mistakes

    recorder = CallRecorder()
    members = member_ids(accounts)
    with measure.emulator(wrap=recorder.wrap), _restored_environment():
        import boto3

        from remediator.adapters.dynamo import create_table
        from tests.support.world import World

        world = World()
        with world.account(o.HUB):
            create_table(boto3.client("dynamodb"), TABLE)
            topic = world.client("sns").create_topic(Name="bench-org")["TopicArn"]
        sent, justified = provision(members, regions)
        hub = o.Hub(config(members), topic, TABLE)
        before = o.snapshot()
        with recorder.recording() as calls:
            start = time.perf_counter()
            failed = hub.deliver([s.event for s in sent])
            seconds = time.perf_counter() - start
        seen = changes(before, o.snapshot())
    found = mistakes(
        seen, calls, justified, hub_account=o.HUB, operations=frozenset(LAUNCH_OPERATIONS)
    )
    return {
        "accounts": accounts,
        "regions": list(regions),
        "events": len(sent),
        "failed_records": len(failed),
        "failures": sorted(set(hub.errors.values()))[:5],
        "seconds": round(seconds, 2),
        "events_per_second": round(len(sent) / seconds, 1),
        "cross_account_mistakes": len(found),
        "mistakes": found[:5],
        "changes": len(seen),
        "fixes_not_seen": not_seen(justified, seen),
        "remedies": remedies(sent, hub),
        "outcomes": outcomes(sent, hub),
        "calls": calls_per_incident(sent, calls, o.HUB),
    }


@contextmanager
def _restored_environment() -> Any:
    """The hub's settings are environment variables: put back what the other measures set."""
    import os

    names = ("REMEDIATOR_CONFIG", "NOTIFY_TOPIC_ARN", "STATE_TABLE_NAME", "MOTO_ACCOUNT_ID")
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        from remediator import handler

        handler.remediator.cache_clear()
        handler.pipeline.cache_clear()


def not_seen(justified: Sequence[Any], seen: Sequence[Any]) -> int:
    """Fixes the emulator does not show: a justified key without a statement naming whom its
    event justifies or, across accounts, without the grant to the launcher."""
    missing = 0
    for j in justified:
        on_key = [c for c in seen if c.key_arn == j.key_arn]
        named = any(c.what == "statement" and j.policy_principal in c.principals for c in on_key)
        granted = any(c.what == "grant" and c.principals == (j.grantee,) for c in on_key)
        missing += not named or (j.policy_principal != j.grantee and not granted)
    return missing


def remedies(sent: Sequence[Sent], hub: Any) -> dict[str, Any]:
    """Per incident, the events the hub reported ``remediated``."""
    fixed: Counter[tuple[str, str]] = Counter()
    for one in sent:
        if any(line["outcome"] == "remediated" for line in hub.outcomes(one.event["id"])):
            fixed[one.incident] += 1
    to_fix = {s.incident for s in sent if s.justified}
    others = {s.incident for s in sent} - to_fix
    counts = [fixed[incident] for incident in to_fix]
    return {
        "incidents": len(to_fix | others),
        "incidents_to_fix": len(to_fix),
        "per_incident": round(sum(counts) / len(counts), 2) if counts else 0.0,
        "max": max(counts, default=0),
        "fixed_once": sum(1 for n in counts if n == 1),
        "more_than_once": sum(1 for n in counts if n > 1),
        "never": sum(1 for n in counts if n == 0),
        "outside_the_allowlists": sum(fixed[incident] for incident in others),
    }


def outcomes(sent: Sequence[Sent], hub: Any) -> dict[str, dict[str, int]]:
    """kind of event -> outcome -> how many (``none``: no report, answered from a first copy)."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for one in sent:
        lines = hub.outcomes(one.event["id"])
        found[one.kind].update({line["outcome"] for line in lines} or {"none"})
    return {kind: dict(sorted(counts.items())) for kind, counts in sorted(found.items())}


def calls_per_incident(
    sent: Sequence[Sent], calls: Sequence[Any], hub_account: str
) -> dict[str, Any]:
    """The calls the emulator received while the hub ran, per incident, against the floor."""
    incidents = len({s.incident for s in sent})
    floor = Counter(name for s in sent for name in FLOORS[s.kind])
    made = Counter(call.name for call in calls)
    in_hub = sum(1 for call in calls if call.account == hub_account)
    per_member = Counter(call.account for call in calls if call.account != hub_account)
    extra = made - floor
    return {
        "per_incident": round(len(calls) / incidents, 2),
        "floor_per_incident": round(sum(floor.values()) / incidents, 2),
        "ratio": round(len(calls) / max(1, sum(floor.values())), 2),
        "hub_account_per_incident": round(in_hub / incidents, 2),
        "member_accounts_per_incident": round((len(calls) - in_hub) / incidents, 2),
        "busiest_member": max(per_member.values(), default=0),
        "members_called": len(per_member),
        "extra_per_incident": [
            {"call": name, "per_incident": round(n / incidents, 2)}
            for name, n in extra.most_common(8)
        ],
        "floors": FLOORS,
    }


def run(quick: bool) -> dict[str, Any]:
    if quick:
        return simulate(QUICK_ACCOUNTS, QUICK_REGIONS)
    return simulate(ACCOUNTS, REGIONS)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The benchmark table's rows for the organization figures."""
    scale = f"{f['accounts']} accounts x {len(f['regions'])} regions, {f['events']} events"
    r, c = f["remedies"], f["calls"]
    return [
        (
            f"Organization ({scale}): cross-account mistakes",
            f"{f['cross_account_mistakes']} ({f['changes']} changes judged, "
            f"{f['fixes_not_seen']} fixes not seen)",
            "0",
            verdict(f["cross_account_mistakes"] == 0),
        ),
        (
            "Organization: remedies per incident",
            f"{r['per_incident']} (max {r['max']}; {r['fixed_once']} of {r['incidents_to_fix']} "
            f"fixed once, {r['never']} never, {r['outside_the_allowlists']} outside allowlists)",
            "1",
            verdict(r["fixed_once"] == r["incidents_to_fix"] and r["outside_the_allowlists"] == 0),
        ),
        (
            "Organization: events per second, one Lambda instance",
            f"{f['events_per_second']} ev/s ({f['seconds']} s, {f['failed_records']} failed records)",
            "-",
            "-",
        ),
        (
            "Organization: AWS calls per incident / floor",
            f"{c['per_incident']} / {c['floor_per_incident']} = {c['ratio']}x "
            f"(hub {c['hub_account_per_incident']}, members {c['member_accounts_per_incident']})",
            "- (floor below)",
            "-",
        ),
    ]


def details(f: dict[str, Any]) -> list[str]:
    c = f["calls"]
    lines = ["Organization: the floor per kind of event (calls), and the calls above it:"]
    for kind, floor in c["floors"].items():
        lines.append(f"  {kind}: {', '.join(floor)}")
    for extra in c["extra_per_incident"]:
        lines.append(f"    +{extra['per_incident']} {extra['call']} per incident")
    lines.append(f"  outcomes per kind: {json.dumps(f['outcomes'], sort_keys=True)}")
    for mistake in f["mistakes"]:
        lines.append(f"  mistake: {mistake}")
    for failure in f["failures"]:
        lines.append(f"  a failed record: {failure}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.org", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ACCOUNTS} accounts, 1 region")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "org.json"))
    args = parser.parse_args()
    figures = run(args.quick)
    for row in rows(figures):
        print(" | ".join(row))
    print("\n".join(details(figures)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"\nfigures written to {out}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
