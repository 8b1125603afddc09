"""exact_json: strict reading (no duplicate names, no non-finite numbers, no non-standard
constants), exact numbers (Decimal), writing that reads back the same, exact comparison."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator import exact_json
from remediator.exact_json import JsonTextError
from remediator.policy import PolicyError, parse_policy

# --- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "repeats the name 'a'"),
        ('{"Statement": [{"Effect": "Deny", "Effect": "Allow"}]}', "repeats the name 'Effect'"),
        ('[{"x": {"y": [{"k": 1, "k": 1}]}}]', "repeats the name 'k'"),
        ('{"Effect": "Deny", "Eff\\u0065ct": "Allow"}', "repeats the name 'Effect'"),
        ('{"n": NaN}', "has NaN, which is not JSON"),
        ('{"n": Infinity}', "has Infinity, which is not JSON"),
        ('{"n": -Infinity}', "has -Infinity, which is not JSON"),
        ('{"n": 1e400}', "infinite as a double"),
        ('{"n": -1.5E+309}', "infinite as a double"),
        ('{"n": ' + "9" * 400 + "}", "infinite as a double"),
        ('{"n": ' + "9" * 5000 + "}", "infinite as a double"),
        ("{", "is not JSON"),
        ("{'a': 1}", "is not JSON"),
        ('{"a": True}', "is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=[
        "duplicate-name",
        "duplicate-effect",
        "duplicate-deep",
        "duplicate-by-escape",
        "nan",
        "infinity",
        "minus-infinity",
        "1e400",
        "beyond-double-range",
        "400-digit-integer",
        "5000-digit-integer",
        "truncated",
        "single-quotes",
        "python-true",
        "deep-nesting",
    ],
)
def test_exact_json_loads_refuses(text: str, message: str) -> None:
    # Given text that JSON readers disagree on, or that is no JSON at all
    # When it is read, Then it is refused with the reason
    with pytest.raises(JsonTextError, match=message):
        exact_json.loads(text)


def test_exact_json_loads_keeps_numbers_exactly() -> None:
    # Given numbers a double would round or reformat
    text = '{"a": 1.10, "b": 0.1000000000000000000001, "c": 1E+5, "d": 10, "e": 1e-400}'

    # When read
    value = exact_json.loads(text)

    # Then non-integers are Decimals with every digit, integers are ints
    assert value == {
        "a": Decimal("1.10"),
        "b": Decimal("0.1000000000000000000001"),
        "c": Decimal("1E+5"),
        "d": 10,
        "e": Decimal("1e-400"),
    }
    assert [type(v) for v in value.values()] == [Decimal, Decimal, Decimal, int, Decimal]
    assert exact_json.dumps(value) == (
        '{"a":1.10,"b":0.1000000000000000000001,"c":1E+5,"d":10,"e":1E-400}'
    )


# --- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        float("inf"),
        float("-inf"),
        float("nan"),
        Decimal("Infinity"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("1e400"),
        10**400,
        {1: "x"},
        {"a"},
        object(),
    ],
    ids=[
        "inf",
        "minus-inf",
        "nan",
        "decimal-infinity",
        "decimal-nan",
        "decimal-snan",
        "decimal-1e400",
        "huge-int",
        "int-name",
        "set",
        "object",
    ],
)
def test_exact_json_dumps_refuses_what_json_cannot_hold(value: Any) -> None:
    # Given a value that would come out as Infinity, NaN or not at all
    # When written, Then it is refused (never written as text that is no JSON)
    with pytest.raises(JsonTextError):
        exact_json.dumps({"Statement": [{"Condition": value}]})


# Plain JSON values (no Decimal): what json.dumps writes too.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
plain_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(value=plain_values, indent=st.sampled_from([None, 2]))
def test_exact_json_dumps_lays_out_like_json_dumps(value: Any, indent: int | None) -> None:
    # Given a value json.dumps can write
    # When written, Then the text is json.dumps's (indented, or compact)
    expected = (
        json.dumps(value, separators=(",", ":")) if indent is None else json.dumps(value, indent=2)
    )
    assert exact_json.dumps(value, indent=indent) == expected


# Values as exact_json reads them: Decimal non-integers, int integers, no floats.
decimals = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: abs(d) < Decimal("1e300") and (d == 0 or abs(d) > Decimal("1e-300"))
)
exact_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | decimals
    | st.text(max_size=8)
)
exact_values = st.recursive(
    exact_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """Key-policy-shaped documents with numbers in their conditions."""
    statement = st.fixed_dictionaries(
        {
            "Sid": st.text(max_size=6),
            "Effect": st.sampled_from(["Allow", "Deny"]),
            "Principal": st.fixed_dictionaries({"AWS": st.text(max_size=10)}),
            "Action": st.lists(st.text(max_size=8), max_size=3),
            "Resource": st.just("*"),
        },
        optional={"Condition": st.dictionaries(st.text(max_size=10), exact_values, max_size=2)},
    )
    return {
        "Version": "2012-10-17",
        "Statement": draw(st.lists(statement, max_size=4)),
        **draw(
            st.dictionaries(
                st.text(max_size=6).filter(lambda k: k not in ("Version", "Statement")),
                exact_values,
                max_size=2,
            )
        ),
    }


@settings(max_examples=300)
@given(policy=policies(), indent=st.sampled_from([None, 2]))
def test_exact_json_loads_of_dumps_is_the_same_policy(
    policy: dict[str, Any], indent: int | None
) -> None:
    # Given a policy with Decimal numbers
    # When written and read back
    text = exact_json.dumps(policy, indent=indent)
    again = exact_json.loads(text)

    # Then it is the same value, number for number (and the same text when written again)
    assert exact_json.same(again, policy)
    assert again == policy
    assert exact_json.dumps(again, indent=indent) == text


# --- any text with a duplicate name anywhere is refused ------------------------------------

# A JSON document as a tree whose objects are lists of (name, value) pairs, so that it can
# hold duplicate names; written with json.dumps for every leaf and name.
Tree = Any


def tree_text(tree: Tree) -> str:
    kind, content = tree
    if kind == "object":
        return "{" + ",".join(f"{json.dumps(n)}:{tree_text(v)}" for n, v in content) + "}"
    if kind == "array":
        return "[" + ",".join(tree_text(v) for v in content) + "]"
    return json.dumps(content)


leaf_trees = st.tuples(st.just("leaf"), json_scalars)
names = st.text(max_size=4)
trees = st.recursive(
    leaf_trees,
    lambda inner: (
        st.tuples(st.just("array"), st.lists(inner, max_size=3))
        | st.tuples(
            st.just("object"),
            st.lists(st.tuples(names, inner), max_size=3, unique_by=lambda pair: pair[0]),
        )
    ),
    max_leaves=12,
)


@st.composite
def trees_with_a_duplicate(draw: st.DrawFn) -> Tree:
    """A tree with one object holding some name twice, placed at any depth."""
    name = draw(names)
    others = draw(st.lists(st.tuples(names.filter(lambda n: n != name), trees), max_size=3))
    first, second = draw(trees), draw(trees)
    pairs = [*others, (name, first), (name, second)]
    pairs = draw(st.permutations(pairs))
    node: Tree = ("object", list(pairs))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        siblings = draw(st.lists(trees, max_size=2))
        if draw(st.booleans()):
            at = draw(st.integers(min_value=0, max_value=len(siblings)))
            node = ("array", [*siblings[:at], node, *siblings[at:]])
        else:
            wrapper = [(f"n{i}", sibling) for i, sibling in enumerate(siblings)]
            node = ("object", [*wrapper, ("inner", node)])
    return node


@settings(max_examples=300)
@given(tree=trees_with_a_duplicate())
def test_exact_json_loads_refuses_any_duplicate_name(tree: Tree) -> None:
    # Given text with a name repeated in one object, anywhere in the document
    text = tree_text(tree)

    # When read, alone or as a key policy's statement, Then it is refused, naming the name
    with pytest.raises(JsonTextError, match="repeats the name"):
        exact_json.loads(text)
    with pytest.raises(PolicyError, match="key policy repeats the name"):
        parse_policy('{"Version": "2012-10-17", "Statement": [' + text + "]}")


@settings(max_examples=300)
@given(tree=trees)
def test_exact_json_loads_reads_what_json_reads_without_duplicates(tree: Tree) -> None:
    # Given text without duplicate names or non-finite numbers
    text = tree_text(tree)

    # When read, Then it is what json reads, floats aside (read as exact Decimals)
    assert exact_json.same(exact_json.loads(text), json.loads(text, parse_float=Decimal))


# --- comparing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (True, 1, False),
        (False, 0, False),
        ("1", 1, False),
        (None, False, False),
        (1, Decimal("1.0"), True),
        (Decimal("1.10"), Decimal("1.1"), True),
        (Decimal("1.10"), Decimal("1.2"), False),
        (Decimal("0.1"), 0.1, False),  # a double is not exactly one tenth
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ([1, 2], [2, 1], False),
        ([{"x": [True]}], [{"x": [1]}], False),
        ({"Statement": {"a": 1}}, {"Statement": [{"a": 1}]}, False),
    ],
    ids=[
        "true-is-not-1",
        "false-is-not-0",
        "string-is-not-number",
        "null-is-not-false",
        "1-is-1.0",
        "1.10-is-1.1",
        "changed-number",
        "decimal-is-not-double",
        "name-order-ignored",
        "added-name",
        "array-order-kept",
        "nested-true-is-not-1",
        "object-is-not-array",
    ],
)
def test_exact_json_same_compares_json_values_exactly(a: Any, b: Any, same: bool) -> None:
    assert exact_json.same(a, b) is same
    assert exact_json.same(b, a) is same
