"""Policy ``Condition`` blocks against a request context, as IAM evaluates them. Pure.

A condition either holds, does not hold, or cannot be decided (``Undecided``, naming the key):
the tool never guesses. What IAM defines, and this follows
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

- A key absent from the request makes an operator false, except the negated ones
  (``StringNotEquals``, ``ArnNotLike``, ...), which are then true; ``...IfExists`` is true when
  the key is absent; ``Null`` tests presence alone.
- Several operators, and several keys under one operator, must all hold; several values for one
  key are alternatives (for a negated operator: the request's value must match none of them).
- ``ForAnyValue:`` / ``ForAllValues:`` compare a multivalued key value by value; for an absent
  key ``ForAllValues`` is true and ``ForAnyValue`` false
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
- ``ArnEquals`` and ``ArnLike`` are the same operator, and so are ``ArnNotEquals`` and
  ``ArnNotLike`` (the IAM page lists them together, with wildcards for both).

Keys the request context does not model, values it cannot know in advance, policy variables and
operators other than the string, ARN, Bool and Null ones on a present key are ``Undecided``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from remediator.wildcards import arn_like, string_like


class Presence(Enum):
    ABSENT = "absent"  # the request does not carry the key
    UNKNOWN_VALUE = "unknown value"  # it carries the key, with a value not known in advance


ContextValue = tuple[str, ...] | Presence
ABSENT = Presence.ABSENT
UNKNOWN_VALUE = Presence.UNKNOWN_VALUE
PRINCIPAL_TAG_PREFIX = "aws:principaltag/"


@dataclass(frozen=True)
class Undecided:
    """A condition that cannot be decided: the key, and why."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key} ({self.reason})"


@dataclass(frozen=True)
class RequestContext:
    """The request context of one call. ``values`` maps lower-case keys to their values (a
    tuple, single-valued keys have one) or to a ``Presence``; keys not in it are not modelled.
    ``principal_tags`` are the principal's tags where read; ``tags_complete`` says whether a tag
    not among them is absent (False for role sessions, which may carry session tags)."""

    values: Mapping[str, ContextValue]
    principal_tags: Mapping[str, str] | None = None
    tags_complete: bool = False
    _tags: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tags = {k.lower(): v for k, v in (self.principal_tags or {}).items()}
        object.__setattr__(self, "_tags", tags)

    def lookup(self, key: str) -> ContextValue | None:
        """The key's value, or None when the context does not model it."""
        wanted = key.lower()
        if wanted in self.values:
            return self.values[wanted]
        if wanted.startswith(PRINCIPAL_TAG_PREFIX) and self.principal_tags is not None:
            tag = self._tags.get(wanted.removeprefix(PRINCIPAL_TAG_PREFIX))
            if tag is not None:
                return (tag,)
            return ABSENT if self.tags_complete else None
        return None


Outcome = bool | Undecided

_Compare = Callable[[str, str], bool]
_COMPARE: dict[str, _Compare] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringNotEquals": lambda actual, expected: actual == expected,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringNotEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": lambda actual, expected: string_like(expected, actual),
    "StringNotLike": lambda actual, expected: string_like(expected, actual),
    "ArnEquals": lambda actual, expected: arn_like(expected, actual),
    "ArnLike": lambda actual, expected: arn_like(expected, actual),
    "ArnNotEquals": lambda actual, expected: arn_like(expected, actual),
    "ArnNotLike": lambda actual, expected: arn_like(expected, actual),
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
}
# Operators IAM defines whose comparison this module does not make: decidable on an absent key.
_NOT_COMPARED = frozenset(
    {
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
    }
)
_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
    }
)
_SET_OPERATORS = ("ForAnyValue:", "ForAllValues:")
# Keys whose value is a set (KMS and IAM condition key references): without a set operator,
# comparing them is not defined clearly enough to decide.
MULTIVALUED_KEYS = frozenset(
    {
        "kms:grantoperations",
        "kms:encryptioncontextkeys",
        "kms:resourcealiases",
        "aws:calledvia",
        "aws:tagkeys",
        "aws:principalorgpaths",
    }
)


@dataclass(frozen=True)
class _Operator:
    name: str  # as written
    base: str  # without set operator and IfExists
    set_operator: str | None  # "ForAnyValue:" or "ForAllValues:"
    if_exists: bool

    @property
    def negated(self) -> bool:
        return self.base in _NEGATED


def _operator(name: str) -> _Operator:
    set_operator = next((p for p in _SET_OPERATORS if name.startswith(p)), None)
    base = name.removeprefix(set_operator or "")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    return _Operator(
        name, base.removesuffix("IfExists") if if_exists else base, set_operator, if_exists
    )


def conditions_hold(condition: object, context: RequestContext) -> Outcome:
    """Whether a statement's whole ``Condition`` block holds for the request."""
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return Undecided("Condition", "not an object")
    undecided: Undecided | None = None
    for name, clauses in condition.items():
        if not isinstance(name, str) or not isinstance(clauses, Mapping):
            return Undecided(str(name), "not an operator with keys")
        for key, expected in clauses.items():
            outcome = clause_holds(_operator(name), str(key), _values(expected), context)
            if outcome is False:
                return False
            if isinstance(outcome, Undecided):
                undecided = undecided or outcome
    return undecided or True


def clause_holds(
    operator: _Operator, key: str, expected: list[object], context: RequestContext
) -> Outcome:
    """One key under one operator."""
    base = operator.base
    if base not in _COMPARE and base not in _NOT_COMPARED and base != "Null":
        return Undecided(key, f"operator {operator.name} is not an IAM condition operator")
    value = context.lookup(key)
    if value is None:
        return Undecided(key, "a key this tool does not model for a launch's KMS calls")
    if base == "Null":
        return _null(key, expected, present=value is not ABSENT)
    if value is ABSENT:
        return _absent(operator)
    if not isinstance(value, tuple):
        return Undecided(key, "its value is not known before the launch")
    if base in _NOT_COMPARED:
        return Undecided(key, f"{base} is not evaluated by this tool")
    texts = _texts(expected)
    if texts is None:
        return Undecided(key, "a policy value that is not a string or a policy variable")
    return _compare(operator, key, value, texts)


def _null(key: str, expected: list[object], *, present: bool) -> Outcome:
    texts = _texts(expected)
    if texts is None or not texts or any(t.lower() not in ("true", "false") for t in texts):
        return Undecided(key, "Null needs true or false")
    return any((t.lower() == "true") is not present for t in texts)


def _absent(operator: _Operator) -> bool:
    if operator.if_exists:
        return True
    if operator.set_operator == "ForAllValues:":
        return True
    if operator.set_operator == "ForAnyValue:":
        return False
    return operator.negated


def _compare(
    operator: _Operator, key: str, actual: tuple[str, ...], expected: list[str]
) -> Outcome:
    compare = _COMPARE[operator.base]

    def one(value: str) -> bool:
        matched = any(compare(value, e) for e in expected)
        return not matched if operator.negated else matched

    if operator.set_operator == "ForAnyValue:":
        return any(one(v) for v in actual)
    if operator.set_operator == "ForAllValues:":
        return all(one(v) for v in actual)
    if len(actual) != 1 or key.lower() in MULTIVALUED_KEYS:
        return Undecided(key, "a multivalued key compared without ForAnyValue/ForAllValues")
    return one(actual[0])


def _values(expected: object) -> list[object]:
    return list(expected) if isinstance(expected, list) else [expected]


def _texts(values: Iterable[object]) -> list[str] | None:
    """Policy values as IAM compares them: strings, JSON booleans as "true"/"false"; None when
    one is something else, or a policy variable (``${...}``), which this tool does not expand."""
    texts = []
    for value in values:
        if isinstance(value, bool):
            texts.append("true" if value else "false")
        elif isinstance(value, str) and "${" not in value:
            texts.append(value)
        else:
            return None
    return texts
