"""ARN globs: "*" and "?" stay inside one field or path segment, nothing else is special, the
whole text must match, and matching takes linear time on any input."""

from __future__ import annotations

import time
from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediator.globs import compile_glob, glob_matches, has_glob

SEPARATORS = "/:"


def reference_match(pattern: str, text: str) -> bool:
    """The semantics written as plainly as possible (exponential: short inputs only)."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return reference_match(rest, text) or (
            bool(text) and text[0] not in SEPARATORS and reference_match(pattern, text[1:])
        )
    if not text:
        return False
    if head == "?":
        return text[0] not in SEPARATORS and reference_match(rest, text[1:])
    return head == text[0] and reference_match(rest, text[1:])


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("arn:aws:iam::111122223333:user/ops-*", "arn:aws:iam::111122223333:user/ops-x", True),
        (
            "arn:aws:iam::111122223333:user/ops-*",
            "arn:aws:iam::111122223333:user/ops-x/../admin",
            False,
        ),
        ("arn:aws:iam::111122223333:user/ops-*", "arn:aws:iam::111122223333:user/ops/x", False),
        ("arn:aws:iam::*:role/x", "arn:aws:iam::111122223333:role/x", True),
        ("arn:aws:iam::*:role/x", "arn:aws:iam::1111:2222:role/x", False),
        ("arn:aws:iam::*:role/x", "arn:aws:iam:::role/x", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("a?c", "a:c", False),
        ("a?c", "ac", False),
        ("a*", "a", True),
        ("a/*", "a/", True),
        ("*", "", True),
        ("", "", True),
        ("", "a", False),
        ("**", "abc", True),
        ("**", "a/c", False),
        ("*a*", "bab", True),
        ("a*b*c", "axbxc", True),
        ("a*b*c", "axbx/c", False),
        ("[ab]", "a", False),
        ("[ab]", "[ab]", True),
        ("[!a]", "b", False),
        ("user/Ops-*", "user/ops-alice", False),
        ("ops", "xops", False),
        ("ops", "opsx", False),
        ("a/b", "a/b", True),
        ("a/b", "a:b", False),
        ("a*", "a\n", True),
    ],
    ids=[
        "star-in-segment",
        "star-does-not-climb-a-path",
        "star-does-not-cross-slash",
        "star-account",
        "star-does-not-cross-colon",
        "star-matches-empty-field",
        "question-one-char",
        "question-not-slash",
        "question-not-colon",
        "question-exactly-one",
        "star-empty-at-end",
        "star-empty-after-separator",
        "star-empty-text",
        "empty-both",
        "empty-pattern",
        "double-star-is-star",
        "double-star-does-not-cross",
        "star-both-sides",
        "stars-backtrack",
        "stars-backtrack-not-across-slash",
        "bracket-is-literal",
        "bracket-text-literal",
        "negated-class-is-literal",
        "case-sensitive",
        "anchored-at-start",
        "anchored-at-end",
        "separators-literal",
        "separators-distinct",
        "newline-is-an-ordinary-char",
    ],
)
def test_globs_match_table(pattern: str, text: str, expected: bool) -> None:
    assert glob_matches(pattern, text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a*", True), ("a?", True), ("arn:aws:iam::111122223333:root", False), ("[a]", False)],
    ids=["star", "question", "literal-arn", "brackets-are-not-globs"],
)
def test_globs_has_glob_names_star_and_question_only(text: str, expected: bool) -> None:
    assert has_glob(text) is expected


GLOB_ALPHABET = st.sampled_from("ab/:*?[")
TEXT_ALPHABET = st.sampled_from("ab/:*?[")


@given(
    pattern=st.text(GLOB_ALPHABET, max_size=8),
    text=st.text(TEXT_ALPHABET, max_size=10),
)
def test_globs_agree_with_the_reference_on_short_inputs(pattern: str, text: str) -> None:
    # Given any short pattern and text over separators, globs and literals
    # When both matchers decide
    # Then they agree
    assert glob_matches(pattern, text) is reference_match(pattern, text)


@given(pattern=st.text(st.sampled_from("ab*?"), max_size=8), text=st.text("ab", max_size=10))
def test_globs_agree_with_fnmatch_where_nothing_separates(pattern: str, text: str) -> None:
    # Given no separator and no bracket, the rules are those of the shell
    assert glob_matches(pattern, text) is fnmatchcase(text, pattern)


@given(
    pattern=st.text(GLOB_ALPHABET, max_size=8),
    text=st.text(TEXT_ALPHABET, max_size=10),
)
def test_globs_a_match_keeps_every_separator_of_the_pattern(pattern: str, text: str) -> None:
    # When a pattern matches a text, the text's separators are exactly the pattern's, in order:
    # no glob consumed one
    if glob_matches(pattern, text):
        assert [c for c in text if c in SEPARATORS] == [c for c in pattern if c in SEPARATORS]


ADVERSARIAL = [
    # Every "*" can start at every position; a backtracking matcher explores them all.
    ("a*" * 1023 + "b", "a" * 2048),
    ("*a" * 1024, "a" * 2047 + "b"),
    ("*?" * 1024, "x" * 2047 + "/"),
    ("arn:aws:iam::*:role/" + "*a" * 1000 + "*b", "arn:aws:iam::1:role/" + "a" * 2028),
]


@pytest.mark.parametrize(
    ("pattern", "text"), ADVERSARIAL, ids=["a-star-b", "star-a", "star-question", "arn-shaped"]
)
def test_globs_match_adversarial_2048_char_input_in_bounded_time(pattern: str, text: str) -> None:
    # Given a pattern and a text of about 2,048 characters that defeat backtracking
    assert len(text) >= 2048
    glob = compile_glob(pattern)
    # When matched (best of three, so a busy machine does not fail the test)
    elapsed = []
    for _ in range(3):
        started = time.perf_counter()
        matched = glob.matches(text)
        elapsed.append(time.perf_counter() - started)
    # Then the answer is no, and it comes in well under a tenth of a second
    assert matched is False
    assert min(elapsed) < 0.1
