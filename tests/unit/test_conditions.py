"""IAM's wildcard matching and condition operators, as the engine applies them, each row against
the rule of the IAM page it cites."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.conditions import (
    ABSENT,
    UNKNOWN_VALUE,
    ContextValue,
    RequestContext,
    Undecided,
    conditions_hold,
)
from remediator.wildcards import action_like, arn_like, resource_like, string_like

OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
MULTIVALUED = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"
ACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html"
RESOURCE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
)
GLOBAL_KEYS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
)

USER = "arn:aws:iam::111122223333:user/ops-alice"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("ec2.*.amazonaws.com", "ec2.eu-west-1.amazonaws.com", True),
        ("a*c", "a:b/c", True),  # StringLike: * crosses ':' and '/'
        ("*", "", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("EC2.*", "ec2.eu-west-1.amazonaws.com", False),  # case-sensitive
        ("ec2.[e]u-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com", False),  # no classes
        ("ec2.[e]u-west-1.amazonaws.com", "ec2.[e]u-west-1.amazonaws.com", True),
        ("a**b", "ab", True),
        ("*a*a*a*a*a*b", "a" * 40, False),
    ],
)
def test_wildcards_string_like(pattern: str, text: str, matches: bool) -> None:
    assert string_like(pattern, text) is matches, OPERATORS


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("arn:aws:iam::*:user/ops-*", USER, True),
        ("arn:aws:iam::111122223333:*", USER, True),  # the resource component may be *
        ("arn:aws:iam::*", USER, False),  # five components: never matches
        ("arn:aws:*", USER, False),  # fnmatch would match: * does not span components
        ("arn:aws:iam::111122223333*", USER, False),
        ("arn:aws:iam::1111*:role/*", "arn:aws:iam::111122223333:role/path/Launcher", True),
        ("arn:aws:iam:*:111122223333:user/ops-alice", USER, True),  # * matches the empty region
        ("arn:*:iam::111122223333:user/li", "arn:aws-cn:iam::111122223333:user/li", True),
        ("arn:aws:iam::111122223333:user/OPS-*", USER, False),  # case-sensitive
        ("arn:aws:iam::111122223333:user/ops-[a]lice", USER, False),
    ],
)
def test_wildcards_arn_like_matches_each_of_six_components_separately(
    pattern: str, arn: str, matches: bool
) -> None:
    assert arn_like(pattern, arn) is matches, OPERATORS


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("kms:Create*", "kms:CreateGrant", True),
        ("KMS:*", "kms:Decrypt", True),  # case-insensitive
        ("kms:ReEncrypt?????", "kms:ReEncryptFrom", False),
        ("kms:[CD]*", "kms:Decrypt", False),  # no character classes
        ("*", "kms:Decrypt", True),
    ],
)
def test_wildcards_action_like_ignores_case(pattern: str, action: str, matches: bool) -> None:
    assert action_like(pattern, action) is matches, ACTION


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        (KEY, True),
        ("arn:aws:kms:*:111122223333:key/*", True),
        ("arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321", False),
        ("arn:aws:kms:eu-west-1:111122223333:alias/*", False),
    ],
)
def test_wildcards_resource_like(pattern: str, matches: bool) -> None:
    assert resource_like(pattern, KEY) is matches, RESOURCE


def context(**values: ContextValue) -> RequestContext:
    return RequestContext({k.replace("__", ":").lower(): v for k, v in values.items()})


LAUNCH = context(
    kms__viaservice=("ec2.eu-west-1.amazonaws.com",),
    kms__grantoperations=("Decrypt",),
    kms__grantisforawsresource=("true",),
    kms__retiringprincipal=ABSENT,
    kms__encryptioncontext__aws__ebs__id=UNKNOWN_VALUE,
    aws__sourcearn=ABSENT,
)


@pytest.mark.parametrize(
    ("condition", "outcome"),
    [
        # A key absent from the request: false, except negated operators, IfExists and Null
        ({"StringEquals": {"aws:SourceArn": "x"}}, False),
        ({"StringNotEquals": {"aws:SourceArn": "x"}}, True),
        ({"ArnNotLike": {"aws:SourceArn": "arn:*:*:*:*:*"}}, True),
        ({"StringEqualsIfExists": {"aws:SourceArn": "x"}}, True),
        ({"NumericLessThan": {"aws:SourceArn": "3"}}, False),
        ({"Null": {"aws:SourceArn": "true"}}, True),
        ({"Null": {"aws:SourceArn": "false"}}, False),
        ({"Null": {"kms:ViaService": "true"}}, False),
        # ForAllValues is true, ForAnyValue false, for an absent key (MULTIVALUED)
        ({"ForAllValues:StringEquals": {"kms:RetiringPrincipal": "x"}}, True),
        ({"ForAnyValue:StringEquals": {"kms:RetiringPrincipal": "x"}}, False),
        # several values: alternatives; negated: none of them
        ({"StringEquals": {"kms:ViaService": ["rds.x", "ec2.eu-west-1.amazonaws.com"]}}, True),
        ({"StringNotEquals": {"kms:ViaService": ["rds.x", "ec2.eu-west-1.amazonaws.com"]}}, False),
        # several operators and keys must all hold
        (
            {
                "StringLike": {"kms:ViaService": "ec2.*"},
                "Bool": {"kms:GrantIsForAWSResource": True},
            },
            True,
        ),
        (
            {
                "StringLike": {"kms:ViaService": "ec2.*"},
                "Bool": {"kms:GrantIsForAWSResource": False},
            },
            False,
        ),
        # multivalued: set operators compare value by value
        ({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}, True),
        ({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt"]}}, False),
        ({"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}}, True),
        ({"ForAnyValue:StringNotEquals": {"kms:GrantOperations": ["Decrypt"]}}, False),
        # ArnEquals takes wildcards, as ArnLike does
        ({"ArnEquals": {"kms:ViaService": "*"}}, False),  # not an ARN: no six components
        # keys are case-insensitive, values are not (except IgnoreCase and Bool)
        ({"StringEquals": {"KMS:VIASERVICE": "ec2.eu-west-1.amazonaws.com"}}, True),
        ({"StringEquals": {"kms:ViaService": "EC2.eu-west-1.amazonaws.com"}}, False),
        ({"StringEqualsIgnoreCase": {"kms:ViaService": "EC2.eu-west-1.amazonaws.com"}}, True),
        ({"Bool": {"kms:GrantIsForAWSResource": "TRUE"}}, True),
        # present with a value not known in advance: presence is known, the value is not
        ({"Null": {"kms:EncryptionContext:aws:ebs:id": "false"}}, True),
        (
            {"StringEquals": {"kms:EncryptionContext:aws:ebs:id": "vol-1"}},
            Undecided(
                "kms:EncryptionContext:aws:ebs:id", "its value is not known before the launch"
            ),
        ),
    ],
)
def test_conditions_hold_as_iam_evaluates_them(condition: dict[str, Any], outcome: object) -> None:
    assert conditions_hold(condition, LAUNCH) == outcome, OPERATORS


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        ({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}, "aws:PrincipalOrgID"),
        ({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}, "aws:SourceVpce"),
        ({"Null": {"aws:ResourceTag/team": "true"}}, "aws:ResourceTag/team"),
        ({"StringEquals": {"kms:ViaService": "${aws:username}"}}, "kms:ViaService"),
        ({"StringEquals": {"kms:ViaService": 5}}, "kms:ViaService"),
        ({"StringEqualz": {"kms:ViaService": "x"}}, "kms:ViaService"),
        ({"NumericLessThan": {"kms:ViaService": "3"}}, "kms:ViaService"),
        ({"StringEquals": {"kms:GrantOperations": "Decrypt"}}, "kms:GrantOperations"),
        ({"StringEquals": "not-a-map"}, "StringEquals"),
    ],
    ids=[
        "unmodelled-key",
        "unmodelled-key-if-exists",
        "null-on-unmodelled-key",
        "policy-variable",
        "number-value",
        "unknown-operator",
        "numeric-on-a-string-key",
        "multivalued-without-set-operator",
        "operator-without-keys",
    ],
)
def test_conditions_undecided_names_the_key(condition: dict[str, Any], key: str) -> None:
    # Given a condition the tool cannot decide; When evaluated; Then it says so, naming the key,
    # and never guesses true or false
    outcome = conditions_hold(condition, LAUNCH)
    assert isinstance(outcome, Undecided)
    assert outcome.key == key


@pytest.mark.parametrize(
    ("tags", "complete", "condition", "outcome"),
    [
        ({}, True, {"Null": {"aws:PrincipalTag/team": "true"}}, True),
        ({"team": "platform"}, True, {"Null": {"aws:PrincipalTag/team": "true"}}, False),
        ({"Team": "platform"}, True, {"StringEquals": {"aws:PrincipalTag/team": "platform"}}, True),
        ({}, False, {"Null": {"aws:PrincipalTag/team": "true"}}, "undecided"),
        (None, True, {"Null": {"aws:PrincipalTag/team": "true"}}, "undecided"),
    ],
    ids=[
        "user-without-the-tag",
        "user-with-the-tag",
        "tag-key-case-insensitive",
        "role-session-may-carry-session-tags",
        "tags-not-read",
    ],
)
def test_conditions_principal_tags_known_only_where_read_in_full(
    tags: dict[str, str] | None, complete: bool, condition: dict[str, Any], outcome: object
) -> None:
    # GLOBAL_KEYS, aws:PrincipalTag: the principal's tags, and a role session's session tags
    request = RequestContext({}, principal_tags=tags, tags_complete=complete)
    found = conditions_hold(condition, request)
    if outcome == "undecided":
        assert isinstance(found, Undecided), GLOBAL_KEYS
    else:
        assert found is outcome, GLOBAL_KEYS
