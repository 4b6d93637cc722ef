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
from typing import ClassVar

from core.tools.calls import call_from_json
from core.tools.json_span import JSON_WHITESPACE, JsonSpan
from core.tools.leading import LeadingCallsParser
from core.tools.marker import extend_match

PYTHON_TAG = "<|python_tag|>"
_ARGUMENT_KEYS = ("parameters", "arguments")
_SEPARATORS = JSON_WHITESPACE + ";"
_AFTER_WHITESPACE = re.compile(r"[^ \t\r\n]")
_AFTER_SEPARATORS = re.compile(r"[^ \t\r\n;]")


class Llama3ToolCallParser(LeadingCallsParser):
    """Parses Llama 3.x JSON tool calls (optionally behind ``<|python_tag|>``) at the start.

    While a possible call is being read (from its ``{`` or tag to the closing ``}``), its text is
    held back; everything else is emitted at once. ``tools`` is not consulted.
    """

    kind: ClassVar[str] = "llama3"
    call_syntax: ClassVar[str] = (
        '<|python_tag|>{"name": "<function name>", "parameters": {<arguments>}}'
    )

    def _reset_call(self) -> None:
        super()._reset_call()
        self._tag = 0  # characters of PYTHON_TAG matched in the lead

    def _scan_lead(self, text: str, pos: int) -> int:
        """Read what may come before a call: separators, one tag, then the call's ``{``."""
        char = text[pos]
        if 0 < self._tag < len(PYTHON_TAG) or (char == "<" and self._tag == 0):
            return self._scan_tag(text, pos)
        if char in (_SEPARATORS if self._events.calls else JSON_WHITESPACE):
            pattern = _AFTER_SEPARATORS if self._events.calls else _AFTER_WHITESPACE
            m = pattern.search(text, pos)
            end = len(text) if m is None else m.start()
            if self._events.calls or self._lead:
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

    def _call(self, value: object) -> tuple[str, str] | None:
        return call_from_json(value, _ARGUMENT_KEYS)
