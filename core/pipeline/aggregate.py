"""fold(events) -> Reply: the only definition of "non-streaming" in chatrpc."""

from __future__ import annotations

from collections.abc import AsyncIterable

from core.errors import ChatError
from core.types import (
    ChatEvent,
    FinishReason,
    Reply,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    TurnFinish,
    TurnStart,
    TurnUsage,
    Usage,
)


class ReplyBuilder:
    """Accumulates the events of one turn; `build()` once the turn has finished."""

    def __init__(self) -> None:
        self._start: TurnStart | None = None
        self._text: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None

    def add(self, event: ChatEvent) -> None:
        if isinstance(event, TurnStart):
            self._start = event
        elif isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            parts = self._calls.setdefault(event.index, ["", ""])
            parts[0] = parts[0] or event.id
            parts[1] = parts[1] or event.name
            parts.append(event.arguments)
        elif isinstance(event, TurnFinish):
            self._finish = event.finish_reason
        elif isinstance(event, TurnUsage):
            self._usage = event.usage

    def build(self) -> Reply:
        start, finish, usage = self._start, self._finish, self._usage
        if start is None or finish is None or usage is None:
            raise ChatError("The reply ended before it was complete.")
        calls = tuple(
            ToolCall(id=parts[0], name=parts[1], arguments="".join(parts[2:]))
            for _, parts in sorted(self._calls.items())
        )
        return Reply(
            id=start.id,
            model=start.model,
            created=start.created,
            thread_id=start.thread_id,
            content="".join(self._text),
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
            trimmed=start.trimmed,
            sources=start.sources,
        )


async def fold(events: AsyncIterable[ChatEvent]) -> Reply:
    """Aggregates a turn's event stream into its Reply."""
    builder = ReplyBuilder()
    async for event in events:
        builder.add(event)
    return builder.build()
