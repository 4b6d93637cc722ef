"""JSON-Schema `pattern` values, checked before a schema goes to a model or an upstream.

A pattern must be short, compile, and not be ReDoS-shaped: a quantified group whose body is
itself quantified (`(a+)+`, `(\\w*\\s?)*`, `(?:x+){2,}`) backtracks exponentially in most
regex engines on a near-miss input, so whichever engine later runs it (a grammar compiler,
the upstream's validator, the client's) would be at risk. The shape test reads the pattern's
own text (escapes and character classes skipped), not a parse tree of a private module.
"""

from __future__ import annotations

import re

MAX_PATTERN_CHARS = 512
_QUANTIFIERS = frozenset("*+?{")


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is refused, or None if it is acceptable."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is longer than {MAX_PATTERN_CHARS} characters"
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"is not a valid regular expression ({exc})"
    if _nested_quantifier(pattern):
        return "nests a repeated group inside a repetition (catastrophic backtracking)"
    return None


def _nested_quantifier(pattern: str) -> bool:
    """True if a group holding an unbounded quantifier is itself repeated."""
    inner: list[bool] = []  # per open group: does its body repeat anything?
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i) + 1
            continue
        if char == "(":
            inner.append(False)
        elif char == ")" and inner:
            repeats = inner.pop()
            following = pattern[i + 1 : i + 2]
            if following and following in _QUANTIFIERS and _repeats(pattern, i + 1):
                if repeats:
                    return True
                if inner:
                    inner[-1] = True
            elif repeats and inner:
                inner[-1] = True
        elif char in "*+{" and inner and _repeats(pattern, i):
            inner[-1] = True
        i += 1
    return False


def _repeats(pattern: str, at: int) -> bool:
    """The quantifier at `at` allows more than one repetition (`?` and `{0,1}` do not)."""
    char = pattern[at]
    if char in "*+":
        return True
    if char != "{":
        return False
    match = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[at:])
    if match is None:
        return False  # a literal brace
    low, comma, high = match.groups()
    return (bool(comma) and (not high or int(high) > 1)) or (not comma and int(low or 0) > 1)


def _class_end(pattern: str, start: int) -> int:
    """The index of the `]` closing the character class opened at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i
