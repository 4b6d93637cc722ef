"""The frame of formats whose calls open the output: a lead (a name, a tag, separators), then a
JSON object, repeated; the first thing that is not a call turns the rest into text."""

from __future__ import annotations

from typing import Any

from core.tools.base import ParseEvent
from core.tools.events import EventParser
from core.tools.json_span import JsonSpan, decode_json


class LeadingCallsParser(EventParser):
    """finish() and the call scanning of glm4 and llama3: subclasses read the lead
    (`_scan_lead`, which opens `_span` at a call's "{"), turn a decoded object into
    (name, arguments) (`_call`) and forget a call's state (`_reset_call`)."""

    _text_only = False  # set for good by the first thing that is not a call

    def finish(self) -> list[ParseEvent]:
        self._events.text("".join(self._lead))
        if self._span is not None:
            self._events.text(self._span.text)
        self._reset_call()
        return self._events.take()

    def _scan(self, text: str, pos: int) -> int:
        if self._text_only:
            self._events.text(text[pos:])
            return len(text)
        if self._span is None:
            return self._scan_lead(text, pos)
        return self._scan_call(self._span, text, pos)

    def _scan_lead(self, text: str, pos: int) -> int:
        raise NotImplementedError

    def _call(self, value: Any) -> tuple[str, str] | None:
        raise NotImplementedError

    def _reset_call(self) -> None:
        self._lead: list[str] = []  # raw text of the next call before its "{"
        self._span: JsonSpan | None = None

    def _scan_call(self, span: JsonSpan, text: str, pos: int) -> int:
        end = span.feed(text, pos)
        if end == -1:
            return len(text)
        self._span = None
        call = self._call(decode_json(span.text))
        if call is None:
            self._lead.append(span.text)
            return self._give_up(end)
        self._events.call(*call)
        self._reset_call()
        return end

    def _give_up(self, pos: int) -> int:
        """What has been read is no call: emit it, and everything from ``pos`` on, as text."""
        self._events.text("".join(self._lead))
        self._reset_call()
        self._text_only = True
        return pos
