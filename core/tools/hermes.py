"""Hermes tool calls: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, anywhere."""

from __future__ import annotations

from typing import ClassVar

from core.tools.base import ParseEvent
from core.tools.calls import call_from_json
from core.tools.events import EventParser
from core.tools.json_span import decode_json
from core.tools.marker import MarkerSplitter

START = "<tool_call>"
END = "</tool_call>"
_ARGUMENT_KEYS = ("arguments",)


class HermesToolCallParser(EventParser):
    """Parses ``<tool_call>`` blocks (NousResearch Hermes 2 Pro and the models trained on it).

    Everything outside the tags is text, including whitespace between blocks. A block's body
    must be one JSON call object with an ``arguments`` object; a block that is not, or is still
    open at ``finish()``, is text, tags included. A body ends at the first ``</tool_call>``, so
    an argument string that contains that tag ends the block early (and the block is text).
    ``tools`` is not consulted: the block names its function.
    """

    kind: ClassVar[str] = "hermes"
    call_syntax: ClassVar[str] = (
        '<tool_call>\n{"name": "<function name>", "arguments": {<arguments>}}\n</tool_call>'
    )

    def finish(self) -> list[ParseEvent]:
        if self._end is None:
            self._events.text(self._start.flush())
        else:
            self._events.text(START + "".join(self._body) + self._end.flush())
        self._reset_call()
        return self._events.take()

    def _reset_call(self) -> None:
        self._start = MarkerSplitter(START)  # idle between blocks: it has just matched
        self._end: MarkerSplitter | None = None  # set while inside a block
        self._body: list[str] = []

    def _scan(self, text: str, pos: int) -> int:
        if self._end is None:
            return self._scan_text(text, pos)
        return self._scan_block(self._end, text, pos)

    def _scan_text(self, text: str, pos: int) -> int:
        before, after = self._start.feed(text, pos)
        self._events.text(before)
        if after == -1:
            return len(text)
        self._end = MarkerSplitter(END)
        return after

    def _scan_block(self, end: MarkerSplitter, text: str, pos: int) -> int:
        before, after = end.feed(text, pos)
        self._body.append(before)
        if after == -1:
            return len(text)
        body = "".join(self._body)
        self._reset_call()
        call = call_from_json(decode_json(body), _ARGUMENT_KEYS)
        if call is None:
            self._events.text(START + body + END)
        else:
            self._events.call(*call)
        return after
