"""Mistral tool calls: ``[TOOL_CALLS][{"name": …, "arguments": {…}}]`` or ``…name[ARGS]{…}``.

Text may come before, between and after calls. After ``[TOOL_CALLS]`` (and optional
whitespace) comes either

* a JSON array of call objects (a single call object is accepted too), all valid or all text; or
* a function name (letters, digits, ``_``, ``-``, ``.``; at most 64 characters), ``[ARGS]`` and
  the arguments object, as the v11+ tokenizers write it; each call has its own ``[TOOL_CALLS]``.

A candidate that breaks this shape is text up to the first character that breaks it; scanning
for the next ``[TOOL_CALLS]`` resumes at that character.
"""

from __future__ import annotations

import re
from typing import ClassVar

from core.tools.base import ParseEvent
from core.tools.calls import call_from_json, canonical_arguments
from core.tools.events import EventParser
from core.tools.json_span import JSON_WHITESPACE, JsonSpan, decode_json, skip_whitespace
from core.tools.marker import MarkerSplitter, extend_match

TOOL_CALLS = "[TOOL_CALLS]"
ARGS = "[ARGS]"
_ARGUMENT_KEYS = ("arguments",)
_MAX_NAME_LENGTH = 64  # OpenAI's limit for function names
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


class MistralToolCallParser(EventParser):
    """Parses ``[TOOL_CALLS]`` tool calls of Mistral models (both the JSON-array and [ARGS] forms).

    Text is emitted at once except a possible partial ``[TOOL_CALLS]`` at its end; a candidate
    call is held back from its marker to the end of its JSON. ``tools`` is not consulted.
    """

    kind: ClassVar[str] = "mistral"
    call_syntax: ClassVar[str] = (
        '[TOOL_CALLS][{"name": "<function name>", "arguments": {<arguments>}}]'
    )

    def finish(self) -> list[ParseEvent]:
        self._events.text(self._marker.flush() + "".join(self._lead))
        if self._span is not None:
            self._events.text(self._span.text)
        self._reset_call()
        return self._events.take()

    def _reset_call(self) -> None:
        self._marker = MarkerSplitter(TOOL_CALLS)  # idle between candidates: it has matched
        self._in_call = False
        self._lead: list[str] = []  # raw text of the candidate before its JSON
        self._name = ""
        self._args = 0  # characters of ARGS matched after the name
        self._span: JsonSpan | None = None

    def _scan(self, text: str, pos: int) -> int:
        if self._span is not None:
            return self._scan_json(self._span, text, pos)
        if self._in_call:
            return self._scan_lead(text, pos)
        return self._scan_text(text, pos)

    def _scan_text(self, text: str, pos: int) -> int:
        before, after = self._marker.feed(text, pos)
        self._events.text(before)
        if after == -1:
            return len(text)
        self._in_call = True
        self._lead = [TOOL_CALLS]
        return after

    def _scan_lead(self, text: str, pos: int) -> int:
        """Read what follows ``[TOOL_CALLS]`` up to the JSON: whitespace, or a name and [ARGS]."""
        if self._args:
            return self._scan_args(text, pos)
        char = text[pos]
        if not self._name:
            if char in JSON_WHITESPACE:
                end = skip_whitespace(text, pos)
                self._lead.append(text[pos:end])
                return end
            if char in "[{":
                self._span = JsonSpan("[{")
                return pos
        elif char == "[":
            return self._scan_args(text, pos)
        m = _NOT_NAME.search(text, pos)
        end = len(text) if m is None else m.start()
        limit = pos + _MAX_NAME_LENGTH - len(self._name)
        self._name += text[pos : min(end, limit)]
        self._lead.append(text[pos : min(end, limit)])
        return self._give_up(min(end, limit)) if end == pos or end > limit else end

    def _scan_args(self, text: str, pos: int) -> int:
        matched = extend_match(ARGS, self._args, text, pos)
        end = pos + matched - self._args
        self._lead.append(text[pos:end])
        self._args = matched
        if matched == len(ARGS):
            self._span = JsonSpan("{")
        elif end < len(text):
            return self._give_up(end)
        return end

    def _scan_json(self, span: JsonSpan, text: str, pos: int) -> int:
        end = span.feed(text, pos)
        if end == -1:
            return len(text)
        self._span = None
        calls = None if span.failed else self._calls_in(decode_json(span.text))
        if calls is None:
            self._lead.append(span.text)
            return self._give_up(end)
        for name, arguments in calls:
            self._events.call(name, arguments)
        self._reset_call()
        return end

    def _calls_in(self, value: object) -> list[tuple[str, str]] | None:
        """The calls a complete JSON value holds, or None if it is not a valid call block."""
        if self._name:
            arguments = canonical_arguments(value)
            return None if arguments is None else [(self._name, arguments)]
        items = value if isinstance(value, list) else [value]
        calls = [call_from_json(item, _ARGUMENT_KEYS) for item in items]
        valid = [call for call in calls if call is not None]
        return valid if valid and len(valid) == len(calls) else None

    def _give_up(self, pos: int) -> int:
        """The candidate is no call: emit what was read as text and scan on from ``pos``."""
        self._events.text("".join(self._lead))
        self._reset_call()
        return pos
