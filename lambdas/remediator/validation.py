"""Checking a JSON document field by field, collecting every problem with the dotted path of its
field (``allow.principals.0: ...``), so that one message names everything that is wrong.

Pure, and small on purpose: the configuration is parsed at every cold start, and this is all it
needs (objects with known fields, choices, bounded integers, strings, lists of strings); a
validation library would cost more to import than the rest of the engine. The type problems
are worded as pydantic words them ("Input should be a valid integer"), which Python users know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


def at(path: str, name: str | int) -> str:
    return f"{path}.{name}" if path else str(name)


def alternatives(choices: type[StrEnum]) -> str:
    """``'a', 'b' or 'c'``."""
    quoted = [repr(str(choice.value)) for choice in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Checker:
    """Collects problems; each method returns the checked value, or None when it has one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '(root)'}: {message}")

    def mapping(
        self, value: object, path: str, fields: tuple[str, ...] | None = None
    ) -> Mapping[str, Any] | None:
        """An object; with ``fields``, one whose every name is among them."""
        if not isinstance(value, Mapping):
            self.problem(path, "Input should be a valid dictionary")
            return None
        for name in value:
            if fields is not None and name not in fields:
                self.problem(at(path, str(name)), "unknown field")
        return value

    def choice(self, value: object, path: str, choices: type[E]) -> E | None:
        if isinstance(value, str):
            try:
                return choices(value)
            except ValueError:
                pass
        self.problem(path, f"Input should be {alternatives(choices)}")
        return None

    def integer(self, value: object, path: str, low: int, high: int) -> int | None:
        """An integer (not a boolean, not a float) within [low, high]."""
        if type(value) is not int:
            self.problem(path, "Input should be a valid integer")
            return None
        if value < low:
            self.problem(path, f"Input should be greater than or equal to {low}")
            return None
        if value > high:
            self.problem(path, f"Input should be less than or equal to {high}")
            return None
        return value

    def string(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.problem(path, "Input should be a valid string")
            return None
        return value

    def strings(
        self,
        value: object,
        path: str,
        max_length: int,
        problem_of: Callable[[str], str | None],
    ) -> tuple[str, ...] | None:
        """A list of non-empty strings of at most ``max_length`` characters, each of which
        ``problem_of`` accepts (the first it rejects is the field's problem)."""
        if not isinstance(value, list | tuple):
            self.problem(path, "Input should be a valid tuple")
            return None
        before = len(self.problems)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.problem(at(path, index), "Input should be a valid string")
            elif not item:
                self.problem(at(path, index), "String should have at least 1 character")
            elif len(item) > max_length:
                self.problem(at(path, index), f"String should have at most {max_length} characters")
        if len(self.problems) > before:
            return None
        for item in value:
            problem = problem_of(item)
            if problem:
                self.problem(path, f"{item!r} {problem}")
                return None
        return tuple(value)
