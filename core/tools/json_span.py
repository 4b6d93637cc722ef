"""Where a JSON object or array ends in streamed text, and decoding it once it has.

``JsonSpan`` balances brackets outside strings with C-level searches, so a long or adversarial
body costs one pass; whether the span is valid JSON is decided once, by ``decode_json``.
"""

from __future__ import annotations

import json
import re
from typing import Any

JSON_WHITESPACE = " \t\r\n"

_NON_WHITESPACE = re.compile(r"[^ \t\r\n]")
_OUTSIDE_STRING = re.compile(r'[\[\]{}"]')
_INSIDE_STRING = re.compile(r'["\\]')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# strict=False accepts raw control characters (a literal newline) inside strings, which models
# write; NaN and Infinity are rejected because they cannot be re-serialised as JSON.
_DECODER = json.JSONDecoder(strict=False, parse_constant=_reject_constant)


def skip_whitespace(text: str, pos: int) -> int:
    """Position of the first non-whitespace character at or after ``pos`` (or ``len(text)``)."""
    m = _NON_WHITESPACE.search(text, pos)
    return len(text) if m is None else m.start()


def decode_json(text: str) -> Any:
    """The JSON value ``text`` holds (surrounding whitespace allowed), or None if it holds none.

    JSON ``null`` also yields None, which no caller accepts as a call.
    """
    start = skip_whitespace(text, 0)
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value if skip_whitespace(text, end) == len(text) else None


class JsonSpan:
    """Collects streamed text until one JSON object or array is complete.

    Leading whitespace is part of the span. If the first other character is not one of
    ``openers``, the span has ``failed``; otherwise it ends at the bracket that balances the
    first one (brackets inside strings do not count).
    """

    def __init__(self, openers: str) -> None:
        self._openers = openers
        self._chunks: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self.failed = False

    @property
    def text(self) -> str:
        """The raw text collected so far."""
        return "".join(self._chunks)

    def feed(self, text: str, pos: int) -> int:
        """Scan ``text[pos:]``: the position where the span ended, or -1 if it needs more text."""
        start = pos
        if self._depth == 0:
            pos = skip_whitespace(text, pos)
            if pos == len(text):
                self._chunks.append(text[start:])
                return -1
            if text[pos] not in self._openers:
                self.failed = True
                self._chunks.append(text[start:pos])
                return pos
        end = self._scan(text, pos)
        self._chunks.append(text[start:] if end == -1 else text[start:end])
        return end

    def _scan(self, text: str, pos: int) -> int:
        n = len(text)
        while pos < n:
            if self._escaped:
                self._escaped = False
                pos += 1
            elif self._in_string:
                m = _INSIDE_STRING.search(text, pos)
                if m is None:
                    return -1
                pos = m.end()
                if text[m.start()] == "\\":
                    self._escaped = True
                else:
                    self._in_string = False
            else:
                m = _OUTSIDE_STRING.search(text, pos)
                if m is None:
                    return -1
                pos = m.end()
                char = text[m.start()]
                if char == '"':
                    self._in_string = True
                elif char in "[{":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        return pos
        return -1
