"""pattern_problem(): JSON-Schema patterns that are too long, invalid or ReDoS-shaped."""

from __future__ import annotations

import pytest

from core.pipeline.patterns import MAX_PATTERN_CHARS, pattern_problem


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "(a*)*",
        "^(\\w+\\s?)*$",
        "(?:x*){2,}y",
        "((ab)+c?)+",
        "(a{2,})+",
        "((a+))+",
        "(.*a){3}",
    ],
)
def test_nested_repetition_is_refused(pattern):
    problem = pattern_problem(pattern)
    assert problem is not None and "backtracking" in problem


@pytest.mark.parametrize(
    "pattern",
    [
        "^[a-z]+$",
        "^\\d{3}-\\d{4}$",
        "(ab)+",
        "(a+)?",
        "(a|b)?c*",
        "[(+)]+",  # the brackets are a class, not a group
        "\\(a+\\)+",  # escaped parentheses
        "(x{1})+",
        "(a+){1}",
        "^[^\\]]+$",
    ],
)
def test_ordinary_patterns_pass(pattern):
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize("pattern", ["(unclosed", "[z-a]", "a{2,1}", "*a"])
def test_invalid_patterns_are_refused(pattern):
    problem = pattern_problem(pattern)
    assert problem is not None and "not a valid regular expression" in problem


def test_long_patterns_are_refused():
    assert pattern_problem("a" * MAX_PATTERN_CHARS) is None
    assert "longer" in (pattern_problem("a" * (MAX_PATTERN_CHARS + 1)) or "")
