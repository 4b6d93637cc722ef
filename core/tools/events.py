"""EventBuilder: collects a parser's output as ParseEvents in the OpenAI delta shape."""

from __future__ import annotations

from collections.abc import Callable

from core.tools.base import ParseEvent
from core.types import TextDelta, ToolCallDelta


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

    def take(self) -> list[ParseEvent]:
        """Return the events collected since the last call and start a new list."""
        self._flush_text()
        events, self._events = self._events, []
        return events

    def _flush_text(self) -> None:
        if self._text:
            self._events.append(TextDelta("".join(self._text)))
            self._text = []
