"""Shell-style globs over ARNs, as the allowlist uses them.

``*`` matches any run of characters and ``?`` any one character, but neither ever matches
``/`` or ``:``. A glob therefore stays inside one ARN field or one path segment:
``arn:aws:iam::111122223333:user/ops-*`` matches ``user/ops-alice`` but neither
``user/ops-x/../admin`` nor ``user/ops/x``. There are no character classes: every other
character, ``[`` and ``]`` included, stands for itself. A pattern matches the whole text or
nothing, and case matters.

Matching is the textbook dynamic programme over pattern positions ("which prefixes of the
pattern match the text read so far"), one row per character of the text, with the row held as
the bits of one integer. Each character costs a few shifts and masks, so the time is linear in
the text (times the pattern's length in machine words) for any pattern: nothing backtracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

GLOB_CHARACTERS = frozenset("*?")
SEPARATORS = frozenset("/:")


@dataclass(frozen=True)
class Glob:
    """A compiled pattern. Bit ``i`` of a state stands for "the first ``i`` tokens matched"."""

    pattern: str
    # Per literal character, the bits of the tokens that are that character.
    literals: dict[str, int]
    # The bits of the "?" tokens and of the "*" tokens.
    any_one: int
    stars: int
    # The bit of the state where every token has matched.
    accept: int

    def matches(self, text: str) -> bool:
        state = self._close(1)
        for char in text:
            if char in SEPARATORS:
                # Only a literal separator token can consume a separator.
                state = self._close((state << 1) & self.literals.get(char, 0))
            else:
                advance = (state << 1) & (self.literals.get(char, 0) | self.any_one)
                state = self._close(advance | (state & self.stars))
            if not state:
                return False
        return bool(state & self.accept)

    def _close(self, state: int) -> int:
        # A "*" may match nothing: a state before a "*" token is also a state after it. Runs of
        # "*" are collapsed when compiling, so one step reaches every such state.
        return state | ((state << 1) & self.stars)


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> Glob:
    """Compile a pattern; compiling is pure, so compiled patterns are shared."""
    literals: dict[str, int] = {}
    any_one = stars = 0
    position = 0
    previous = ""
    for char in pattern:
        if char == "*" and previous == "*":
            continue  # "**" means the same as "*" when neither crosses a separator
        position += 1
        bit = 1 << position
        if char == "*":
            stars |= bit
        elif char == "?":
            any_one |= bit
        else:
            literals[char] = literals.get(char, 0) | bit
        previous = char
    return Glob(pattern, literals, any_one, stars, 1 << position)


def glob_matches(pattern: str, text: str) -> bool:
    """True when ``text`` as a whole matches ``pattern`` (see the module's docstring)."""
    return compile_glob(pattern).matches(text)


def has_glob(text: str) -> bool:
    """True when ``text`` contains a glob character, so that it names more than itself."""
    return any(char in GLOB_CHARACTERS for char in text)
