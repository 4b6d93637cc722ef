"""EventBuilder: collects a parser's output as ParseEvents in the OpenAI delta shape; and
EventParser, the frame of every format's parser."""

from __future__ import annotations

from collections.abc import Callable

from core.tools.base import ParseEvent, new_tool_call_id
from core.types import TextDelta, ToolCallDelta, ToolSpec


class EventBuilder:
    """Collects the events of one ``feed()``/``finish()``; numbers calls for the whole turn.

    Adjacent text is merged into one ``TextDelta`` and empty text is dropped.
    """

    def __init__(self, new_call_id: Callable[[], str]) -> None:
        self._new_call_id = new_call_id
        self._next_index = 0
        self._events: list[ParseEvent] = []
        self._text: list[str] = []

    def text(self, text: str) -> None:
        if text:
            self._text.append(text)

    def call(self, name: str, arguments: str) -> None:
        """Emit a complete call: id and name on the first delta, arguments on the second."""
        self._flush_text()
        index = self._next_index
        self._next_index += 1
        self._events.append(ToolCallDelta(index=index, id=self._new_call_id(), name=name))
        self._events.append(ToolCallDelta(index=index, arguments=arguments))

    @property
    def calls(self) -> int:
        """How many calls have been emitted this turn."""
        return self._next_index

    def take(self) -> list[ParseEvent]:
        """Return the events collected since the last call and start a new list."""
        self._flush_text()
        events, self._events = self._events, []
        return events

    def _flush_text(self) -> None:
        if self._text:
            self._events.append(TextDelta("".join(self._text)))
            self._text = []


class EventParser:
    """The frame of every format's parser (a ToolCallParser): its constructor, the
    EventBuilder (`_events`) that feed() and finish() fill, and feed()'s loop.

    A format reads on from a position in `_scan(text, pos)`, which returns where it stopped
    (always further on); sets up the state of the next call in `_reset_call()` (run here for
    the first one); and emits what it holds back in `finish()`. ``tools`` is not consulted
    unless a format overrides ``__init__`` (glm4 does).
    """

    def __init__(
        self, tools: tuple[ToolSpec, ...], new_call_id: Callable[[], str] = new_tool_call_id
    ) -> None:
        del tools
        self._events = EventBuilder(new_call_id)
        self._reset_call()

    def feed(self, text: str) -> list[ParseEvent]:
        pos = 0
        while pos < len(text):
            pos = self._scan(text, pos)
        return self._events.take()

    def _scan(self, text: str, pos: int) -> int:
        raise NotImplementedError

    def _reset_call(self) -> None:
        raise NotImplementedError
