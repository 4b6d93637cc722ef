"""Llama 3.x JSON tool calls: ``{"name": …, "parameters": {…}}`` at the start of the output.

Accepted shape, after leading whitespace (which is text)::

    [<|python_tag|>] {call} ( (";" | whitespace)* [<|python_tag|>] {call} )* [rest]

A call object has a non-empty string ``name`` and a ``parameters`` (or ``arguments``) object.
Separators between calls belong to the calls; separators not followed by a call are text. The
first thing that is not a call (another character, an object that is not a call, a tag that is
not followed by an object) turns the rest of the output into text, verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from core.tools.base import ParseEvent, new_tool_call_id
from core.tools.calls import call_from_json
from core.tools.events import EventBuilder
from core.tools.json_span import JSON_WHITESPACE, JsonSpan, decode_json
from core.tools.marker import extend_match
from core.types import ToolSpec

PYTHON_TAG = "<|python_tag|>"
_ARGUMENT_KEYS = ("parameters", "arguments")
_SEPARATORS = JSON_WHITESPACE + ";"
_AFTER_WHITESPACE = re.compile(r"[^ \t\r\n]")
_AFTER_SEPARATORS = re.compile(r"[^ \t\r\n;]")


class Llama3ToolCallParser:
    """Parses Llama 3.x JSON tool calls (optionally behind ``<|python_tag|>``) at the start.

    While a possible call is being read (from its ``{`` or tag to the closing ``}``), its text is
    held back; everything else is emitted at once. ``tools`` is not consulted.
    """

    kind: ClassVar[str] = "llama3"
    call_syntax: ClassVar[str] = (
        '<|python_tag|>{"name": "<function name>", "parameters": {<arguments>}}'
    )

    def __init__(
        self, tools: tuple[ToolSpec, ...], new_call_id: Callable[[], str] = new_tool_call_id
    ) -> None:
        del tools
        self._events = EventBuilder(new_call_id)
        self._calls = 0
        self._lead: list[str] = []  # raw text of the next call before its "{": separators, tag
        self._tag = 0  # characters of PYTHON_TAG matched in the lead
        self._span: JsonSpan | None = None
        self._text_only = False

    def feed(self, text: str) -> list[ParseEvent]:
        pos = 0
        while pos < len(text):
            if self._text_only:
                self._events.text(text[pos:])
                break
            if self._span is None:
                pos = self._scan_lead(text, pos)
            else:
                pos = self._scan_call(self._span, text, pos)
        return self._events.take()

    def finish(self) -> list[ParseEvent]:
        self._events.text("".join(self._lead))
        if self._span is not None:
            self._events.text(self._span.text)
        self._lead = []
        self._tag = 0
        self._span = None
        return self._events.take()

    def _scan_lead(self, text: str, pos: int) -> int:
        """Read what may come before a call: separators, one tag, then the call's ``{``."""
        char = text[pos]
        if 0 < self._tag < len(PYTHON_TAG) or (char == "<" and self._tag == 0):
            return self._scan_tag(text, pos)
        if char in (_SEPARATORS if self._calls else JSON_WHITESPACE):
            pattern = _AFTER_SEPARATORS if self._calls else _AFTER_WHITESPACE
            m = pattern.search(text, pos)
            end = len(text) if m is None else m.start()
            if self._calls or self._lead:
                self._lead.append(text[pos:end])
            else:
                self._events.text(text[pos:end])  # leading whitespace cannot start a call
            return end
        if char == "{":
            self._span = JsonSpan("{")
            return pos
        return self._give_up(pos)

    def _scan_tag(self, text: str, pos: int) -> int:
        matched = extend_match(PYTHON_TAG, self._tag, text, pos)
        end = pos + matched - self._tag
        self._lead.append(text[pos:end])
        self._tag = matched
        if matched < len(PYTHON_TAG) and end < len(text):
            return self._give_up(end)
        return end

    def _scan_call(self, span: JsonSpan, text: str, pos: int) -> int:
        end = span.feed(text, pos)
        if end == -1:
            return len(text)
        self._span = None
        call = call_from_json(decode_json(span.text), _ARGUMENT_KEYS)
        if call is None:
            self._lead.append(span.text)
            return self._give_up(end)
        self._events.call(*call)
        self._calls += 1
        self._lead = []
        self._tag = 0
        return end

    def _give_up(self, pos: int) -> int:
        """What has been read is no call: emit it, and everything from ``pos`` on, as text."""
        self._events.text("".join(self._lead))
        self._lead = []
        self._text_only = True
        return pos
