"""Property tests (hypothesis): the policy merge keeps its invariants on arbitrary key policies,
and no event, however malformed, makes the pipeline raise unexpectedly or write to AWS."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.access import Access, evaluate
from remediator.arns import Principal, principal_from_arn
from remediator.config import RemediatorConfig, parse_config
from remediator.events import parse_event
from remediator.outcomes import Outcome
from remediator.pipeline import RemediationFailed, Remediator
from remediator.policy import (
    LAUNCH_ACTIONS,
    TOOL_SIDS,
    add_principal,
    non_tool_statements,
    remove_principal,
    statements,
)
from tests.support.allowlists import every_key_of, every_principal_of
from tests.support.world import EVENTS_DIR, load_event
from tests.unit.fakes import TOPIC_ARN, RecordingAws

KEY_ACCOUNT = "111122223333"
REGION = "eu-west-1"
ACCOUNTS = ("111122223333", "444455556666", "999988887777")

# --- strategies: principals and key policies -----------------------------------------------

iam_names = st.from_regex(r"\A[A-Za-z0-9+=,.@_-]{1,24}\Z")
paths = st.lists(st.from_regex(r"\A[A-Za-z0-9_.-]{1,10}\Z"), max_size=2).map(
    lambda parts: "".join(f"{p}/" for p in parts)
)


@st.composite
def principals(draw: st.DrawFn) -> Principal:
    account = draw(st.sampled_from(ACCOUNTS))
    kind = draw(st.sampled_from(["user", "role", "slr", "root"]))
    if kind == "root":
        arn = f"arn:aws:iam::{account}:root"
    elif kind == "slr":
        suffix = draw(st.sampled_from(["", "_web", "_blue-1"]))
        arn = (
            f"arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/"
            f"AWSServiceRoleForAutoScaling{suffix}"
        )
    else:
        arn = f"arn:aws:iam::{account}:{kind}/{draw(paths)}{draw(iam_names)}"
    return principal_from_arn(arn)


principal_values = st.one_of(
    st.just("*"),
    st.fixed_dictionaries(
        {
            "AWS": st.one_of(
                st.sampled_from(["*", "111122223333", "arn:aws:iam::111122223333:root"]),
                principals().map(lambda p: p.arn),
                st.lists(principals().map(lambda p: p.arn), min_size=1, max_size=3),
            )
        }
    ),
    st.fixed_dictionaries(
        {"Service": st.sampled_from(["ec2.amazonaws.com", "logs.amazonaws.com"])}
    ),
)
actions = st.sampled_from(
    [
        "kms:*",
        "*",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
        "kms:PutKeyPolicy",
        "KMS:Create*",
        "ec2:RunInstances",
    ]
)
condition_keys = st.sampled_from(
    [
        "kms:ViaService",
        "kms:CallerAccount",
        "kms:GrantIsForAWSResource",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:SourceVpce",
        "kms:EncryptionContext:team",
    ]
)
operators = st.sampled_from(
    [
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "ArnLike",
        "Bool",
        "Null",
        "StringEqualsIfExists",
        "ForAnyValue:StringEquals",
        "NumericLessThan",
    ]
)
condition_values = st.one_of(
    st.sampled_from(["true", "false", "ec2.eu-west-1.amazonaws.com", "111122223333", "*"]),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.text(max_size=8), max_size=2),
)
conditions = st.dictionaries(
    operators, st.dictionaries(condition_keys, condition_values, min_size=1, max_size=2), max_size=2
)
# Sids of statements this tool did not write: anything but the tool's own.
foreign_sids = st.one_of(
    st.text(max_size=12), st.sampled_from(["KmsLaunchRemediator", "kmslaunchremediatoruse"])
).filter(lambda sid: sid not in TOOL_SIDS)


@st.composite
def foreign_statements(draw: st.DrawFn) -> dict[str, Any]:
    stmt: dict[str, Any] = {}
    if draw(st.booleans()):
        stmt["Sid"] = draw(foreign_sids)
    stmt["Effect"] = draw(st.sampled_from(["Allow", "Deny"]))
    if draw(st.integers(0, 5)) == 0:
        stmt["NotPrincipal"] = draw(principal_values)
    else:
        stmt["Principal"] = draw(principal_values)
    action = draw(st.one_of(actions, st.lists(actions, min_size=1, max_size=4)))
    stmt["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = action
    stmt["Resource"] = "*"
    if draw(st.booleans()):
        stmt["Condition"] = draw(conditions)
    return stmt


policies = st.fixed_dictionaries(
    {"Version": st.just("2012-10-17"), "Statement": st.lists(foreign_statements(), max_size=6)}
)
policies_any_shape = st.one_of(
    policies, foreign_statements().map(lambda s: {"Version": "2012-10-17", "Statement": s})
)
POLICY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _tool_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in statements(policy) if s.get("Sid") in TOOL_SIDS]


# --- (a) the policy merge ------------------------------------------------------------------


@POLICY_SETTINGS
@given(policy=policies_any_shape, principal=principals())
def test_properties_add_principal_never_changes_foreign_statements(
    policy: dict[str, Any], principal: Principal
) -> None:
    original = copy.deepcopy(policy)
    change = add_principal(policy, principal, KEY_ACCOUNT, REGION)
    assert policy == original  # input untouched
    assert non_tool_statements(change.after) == statements(original)  # same content, same order
    assert change.after["Statement"][: len(statements(original))] == statements(original)
    assert {k: v for k, v in change.after.items() if k != "Statement"} == {
        k: v for k, v in original.items() if k != "Statement"
    }


@POLICY_SETTINGS
@given(policy=policies_any_shape, chosen=st.lists(principals(), min_size=1, max_size=4))
def test_properties_add_principal_never_adds_a_star_principal(
    policy: dict[str, Any], chosen: list[Principal]
) -> None:
    for principal in chosen:
        policy = add_principal(policy, principal, KEY_ACCOUNT, REGION).after
    tool = _tool_statements(policy)
    assert 2 <= len(tool) <= 3
    named: set[str] = set()
    for stmt in tool:
        assert stmt["Effect"] == "Allow"
        assert set(stmt["Principal"]) == {"AWS"}
        names = stmt["Principal"]["AWS"]
        assert isinstance(names, list)
        assert names == sorted(set(names))
        assert all("*" not in name and "?" not in name for name in names)
        named.update(names)
    assert named == {p.arn for p in chosen}


@POLICY_SETTINGS
@given(policy=policies_any_shape, principal=principals())
def test_properties_add_principal_twice_equals_once(
    policy: dict[str, Any], principal: Principal
) -> None:
    once = add_principal(policy, principal, KEY_ACCOUNT, REGION)
    twice = add_principal(once.after, principal, KEY_ACCOUNT, REGION)
    assert once.is_noop is False
    assert twice.is_noop is True
    assert twice.after == once.after


@POLICY_SETTINGS
@given(
    policy=policies,
    chosen=st.lists(principals(), min_size=1, max_size=4, unique_by=lambda p: p.arn),
    data=st.data(),
)
def test_properties_remove_undoes_add(
    policy: dict[str, Any], chosen: list[Principal], data: st.DataObject
) -> None:
    # Given a policy without tool statements, and several principals added in turn
    after = policy
    for principal in chosen:
        after = add_principal(after, principal, KEY_ACCOUNT, REGION).after
    # When they are removed in any order
    for principal in data.draw(st.permutations(chosen)):
        after = remove_principal(after, principal.arn)
    # Then the policy is JSON-equal to the original
    assert json.dumps(after, sort_keys=True) == json.dumps(policy, sort_keys=True)


@POLICY_SETTINGS
@given(policy=policies_any_shape, principal=principals())
def test_properties_added_statements_allow_the_launch_unless_denied(
    policy: dict[str, Any], principal: Principal
) -> None:
    after = add_principal(policy, principal, KEY_ACCOUNT, REGION).after
    verdict = evaluate(after, principal, LAUNCH_ACTIONS, REGION)
    assert verdict.access in (Access.ALLOWED, Access.DENIED)
    if evaluate(policy, principal, LAUNCH_ACTIONS, REGION).access is Access.DENIED:
        assert verdict.access is Access.DENIED


# --- (b) fuzzing events --------------------------------------------------------------------

FIXTURES = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
EMPTY_ALLOWLIST = RemediatorConfig()
assert EMPTY_ALLOWLIST.allow.principals == () and EMPTY_ALLOWLIST.allow.keys == ()
DRY_RUN_EVERYTHING = parse_config(
    {
        "mode": "dry-run",
        "allow": {
            "principals": every_principal_of("111122223333", "444455556666"),
            "keys": every_key_of("111122223333", "444455556666"),
        },
    }
)
NO_CHANGE_OUTCOMES = {Outcome.IGNORED, Outcome.REFUSED, Outcome.ALREADY_ALLOWED}

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "*",
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::111122223333:role/a*",
            "arn:aws:sts::111122223333:assumed-role/R/s",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/aws/ebs",
            "AccessDenied",
            "AccessDeniedException",
            "Client.InternalError",
            "i-0123456789abcdef0",
            "stopped",
            "111122223333",
            "eu-west-1",
        ]
    ),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
ODD_SUFFIXES = [
    "*",
    "?",
    " ",
    "\n",
    "\t",
    '"',
    "'",
    "\u00e9",
    "\u0430",
    "\x00",
    "\u202e",
    "/..",
    ":",
]
FIELD_NAMES = [
    "id",
    "account",
    "region",
    "source",
    "detail-type",
    "detail",
    "eventName",
    "errorCode",
    "errorMessage",
    "awsRegion",
    "userIdentity",
    "type",
    "arn",
    "sessionContext",
    "sessionIssuer",
    "requestParameters",
    "keyId",
    "granteePrincipal",
    "resources",
    "ARN",
    "sharedEventID",
    "eventID",
    "instance-id",
    "state",
    "StatusMessage",
    "AutoScalingGroupName",
    "EC2InstanceId",
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _container(event: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        event = event[part]
    return event


def _retype(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if value is None:
        return {}
    return str(value)


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> Any:
    event: Any = load_event(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(1, 5))):
        if not isinstance(event, (dict, list)) or not list(_paths(event)):
            break
        path = draw(st.sampled_from(list(_paths(event))))
        parent, last = _container(event, path), path[-1]
        current = parent[last]
        how = draw(
            st.sampled_from(
                ["drop", "replace", "retype", "wildcard", "odd", "huge", "swap", "add-field"]
            )
        )
        if how == "drop":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif how == "replace":
            parent[last] = draw(json_values)
        elif how == "retype":
            parent[last] = _retype(current)
        elif how == "wildcard" and isinstance(current, str):
            cut = draw(st.integers(0, len(current)))
            parent[last] = (
                current[:cut] + draw(st.sampled_from(["*", "?", "[a-z]", "*:*"])) + current[cut:]
            )
        elif how == "odd" and isinstance(current, str):
            odd = draw(st.sampled_from(ODD_SUFFIXES))
            parent[last] = draw(
                st.sampled_from([current + odd, odd + current, current.replace("-", odd, 1)])
            )
        elif how == "huge":
            size = draw(st.sampled_from([3000, 5000, 100_000]))
            seed = current[:16] if isinstance(current, str) and current else "A"
            parent[last] = (seed * size)[:size]
        elif how == "swap":
            parent[last] = draw(json_leaves)
        elif how == "add-field" and isinstance(current, dict):
            current[draw(st.sampled_from(FIELD_NAMES))] = draw(json_values)
    return event


envelopes = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["6d9e78f0-1ceb-48e6-9e5a-6fd7c3050972", "x"]),
        "account": st.sampled_from(["111122223333", "444455556666"]),
        "region": st.sampled_from(["eu-west-1", "us-east-1"]),
        "source": st.sampled_from(["aws.kms", "aws.ec2", "aws.autoscaling"]),
        "detail-type": st.sampled_from(
            [
                "AWS API Call via CloudTrail",
                "EC2 Instance State-change Notification",
                "EC2 Instance Launch Unsuccessful",
            ]
        ),
        "detail": st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
    }
)
random_events = st.one_of(json_values, envelopes)


def _run_pipeline(event: Any, config: RemediatorConfig) -> RecordingAws:
    snapshot = copy.deepcopy(event)
    parse_event(event)  # never raises
    aws = RecordingAws()
    remediator = Remediator(aws, config, topic_arn=TOPIC_ARN)
    try:
        reports = remediator.handle(event)
    except RemediationFailed as failed:  # the one exception handle may raise
        reports = failed.reports
    assert aws.writes == []
    assert {r.outcome for r in reports} <= NO_CHANGE_OUTCOMES | (
        {Outcome.DRY_RUN} if config.dry_run else set()
    )
    published = [r for r in reports if r.outcome is not Outcome.IGNORED]
    assert len(aws.published) == len(published)
    assert _equal_json(event, snapshot)  # the event itself is not modified
    return aws


def _equal_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(
        b, sort_keys=True, default=repr
    )


FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FUZZ_SETTINGS, max_examples=1000)
@given(event=mutated_fixtures())
def test_properties_mutated_fixtures_never_raise_or_write(event: Any) -> None:
    _run_pipeline(event, EMPTY_ALLOWLIST)


@settings(FUZZ_SETTINGS, max_examples=500)
@given(event=random_events)
def test_properties_random_events_never_raise_or_write(event: Any) -> None:
    _run_pipeline(event, EMPTY_ALLOWLIST)


@settings(FUZZ_SETTINGS, max_examples=500)
@given(event=mutated_fixtures())
def test_properties_dry_run_never_writes_even_when_allowlisted(event: Any) -> None:
    _run_pipeline(event, DRY_RUN_EVERYTHING)


IGNORED_FIXTURES = {
    "asg_launch_unsuccessful_other_error.json",
    "ec2_state_change_running.json",
    "kms_create_grant_success.json",
    "kms_decrypt_access_denied.json",
    "laptop_user_create_grant_for_spot_slr.json",
}


@pytest.mark.parametrize("name", FIXTURES, ids=lambda n: n.removesuffix(".json"))
def test_properties_every_fixture_is_refused_or_ignored_under_empty_allowlist(name: str) -> None:
    # Deterministic companion of the fuzz tests: each real fixture, unmutated.
    event = load_event(name)
    aws = RecordingAws()
    reports = Remediator(aws, EMPTY_ALLOWLIST, topic_arn=TOPIC_ARN).handle(event)
    expected = Outcome.IGNORED if name in IGNORED_FIXTURES else Outcome.REFUSED
    assert [r.outcome for r in reports] == [expected] * len(reports)
    if expected is Outcome.REFUSED:
        assert all("not in the allowlist (allow.keys)" in r.reason for r in reports)
        assert all(r.suggested_fix for r in reports)
    assert aws.writes == []
