"""JSON text read and written exactly: what the tool reads is what it writes back.

Key policies are JSON text that the tool rewrites, so reading must not guess and writing must
not alter what it did not change:

- **Duplicate names are refused.** RFC 8259 section 4: when the names within an object are not
  unique, "the behavior of software that receives such an object is unpredictable": many
  parsers keep the last value, others the first or all of them. Python keeps the last, so a
  policy with two ``"Effect"`` (or two ``"Statement"``) names would be read one way here and
  possibly another way by KMS. No reading is safe, so none is made.
- **Non-finite numbers and non-standard constants are refused.** RFC 8259 section 6: "Numeric
  values that cannot be represented in the grammar below (such as Infinity and NaN) are not
  permitted". Python accepts ``NaN``, ``Infinity`` and ``-Infinity`` and reads ``1e400`` as
  infinity, then writes ``Infinity``: text that is no longer JSON. A number no IEEE 754 double
  holds as a finite value (``1e400``, a 400-digit integer) is refused as well, since a
  double-based reader would see infinity.
- **Numbers keep their value.** Non-integers are read as ``Decimal`` (``1.10`` stays ``1.10``,
  ``0.1000000000000000000001`` is not rounded to a double) and integers as ``int``; both are
  written back digit for digit.

``dumps`` writes what ``loads`` reads (the standard library's encoder cannot write a
``Decimal``), and ``same`` compares two read values exactly. The audit trail should store policy
documents with ``dumps`` and read them with ``loads``, so that a recorded policy survives the
round trip and can be written back as it was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


class JsonTextError(ValueError):
    """Text or a value that this module will not read or write, with the reason."""


# --- Reading -------------------------------------------------------------------------------


def loads(text: str) -> Any:
    """Parse JSON text strictly; raise ``JsonTextError`` saying what is wrong with it."""
    if not isinstance(text, str):
        raise JsonTextError(f"is {type(text).__name__}, not JSON text")
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_names,
            parse_float=_decimal,
            parse_int=_integer,
            parse_constant=_constant,
        )
    except JsonTextError:
        raise
    except json.JSONDecodeError as err:
        raise JsonTextError(f"is not JSON: {err}") from None
    except RecursionError:
        raise JsonTextError("is nested too deeply to be read") from None


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise JsonTextError(
                f"repeats the name {name!r} in one object: JSON readers disagree on which value "
                "counts (RFC 8259, section 4), so it cannot be read safely"
            )
        found[name] = value
    return found


def _decimal(text: str) -> Decimal:
    return _finite(Decimal(text))


def _integer(text: str) -> int:
    # Checked before int(): a huge integer is refused, not left to int()'s digit limit.
    _finite(Decimal(text))
    return int(text)


def _finite(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise JsonTextError(f"has the number {number}, which is not JSON (RFC 8259, section 6)")
    if not math.isfinite(float(number)):
        raise JsonTextError(
            f"has the number {_short(str(number))}, which is infinite as a double: readers of "
            "the text would not agree on its value"
        )
    return number


def _constant(name: str) -> Any:
    raise JsonTextError(f"has {name}, which is not JSON (RFC 8259, section 6)")


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


# --- Writing -------------------------------------------------------------------------------


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text for ``value``: with ``indent``, laid out as ``json.dumps(value, indent=...)``;
    without, compact as ``json.dumps(value, separators=(",", ":"))``. ``Decimal`` numbers are
    written digit for digit; anything ``loads`` would refuse raises ``JsonTextError``."""
    try:
        return _write(value, indent, 0)
    except RecursionError:
        raise JsonTextError("is nested too deeply to be written") from None


def _write(value: Any, indent: int | None, level: int) -> str:
    if isinstance(value, Mapping):
        colon = ":" if indent is None else ": "
        members = [
            _name(name) + colon + _write(item, indent, level + 1) for name, item in value.items()
        ]
        return _layout("{", "}", members, indent, level)
    if isinstance(value, (list, tuple)):
        return _layout("[", "]", [_write(item, indent, level + 1) for item in value], indent, level)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value)
    if isinstance(value, int):
        return str(_finite(Decimal(value)))
    if isinstance(value, Decimal):
        return str(_finite(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            name = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
            raise JsonTextError(f"has the number {name}, which is not JSON (RFC 8259, section 6)")
        return float.__repr__(value)
    raise JsonTextError(f"has a {type(value).__name__}, which JSON cannot hold")


def _name(name: object) -> str:
    if not isinstance(name, str):
        raise JsonTextError(f"has the object name {name!r}, which is not a string")
    return json.dumps(name)


def _layout(start: str, end: str, items: list[str], indent: int | None, level: int) -> str:
    if not items:
        return start + end
    if indent is None:
        return start + ",".join(items) + end
    inner, outer = "\n" + " " * (indent * (level + 1)), "\n" + " " * (indent * level)
    return start + inner + ("," + inner).join(items) + outer + end


# --- Comparing -----------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Whether two values read by ``loads`` are the same JSON value.

    Stricter than ``==``, which holds ``True == 1`` and ``1 == 1.0`` equal: here a boolean
    equals only a boolean, a string only a string, and numbers are equal when their values are
    (``1.10`` and ``1.1`` are one number; ``Decimal`` and ``int`` compare exactly). Arrays are
    compared in order. The order of an object's names is not compared: RFC 8259 section 4 calls
    an object "an unordered collection", and an IAM policy's meaning does not depend on the
    order of its elements (IAM JSON policy grammar: each element is named, not placed), so KMS
    may keep or lay out the names as it likes. With duplicate names refused by ``loads``, a
    mapping holds every name the text had, so comparing mappings misses nothing.
    """
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "object":
        return a.keys() == b.keys() and all(same(a[name], b[name]) for name in a)
    if kind == "array":
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "null" if value is None else type(value).__name__
