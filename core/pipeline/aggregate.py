"""fold(events) -> Reply: the only definition of "non-streaming" in chatrpc."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from core.errors import ChatError
from core.mcp_items import McpItem
from core.types import (
    ChatEvent,
    Choice,
    FinishReason,
    LogprobsDelta,
    ReasoningDelta,
    Reply,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    TurnFinish,
    TurnStart,
    TurnUsage,
    Usage,
)


@dataclass(slots=True)
class _ChoiceParts:
    """One choice's events so far."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, args...]
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish: FinishReason | None = None

    def build(self, index: int) -> Choice:
        if self.finish is None:
            raise ChatError("The reply ended before it was complete.")
        calls = tuple(
            ToolCall(id=parts[0], name=parts[1], arguments="".join(parts[2:]))
            for _, parts in sorted(self.calls.items())
        )
        return Choice(
            index=index,
            content="".join(self.text),
            tool_calls=calls,
            finish_reason=self.finish,
            reasoning="".join(self.reasoning),
            logprobs=tuple(self.logprobs),
        )


class ReplyBuilder:
    """Accumulates the events of one turn; `build()` once the turn has finished."""

    def __init__(self) -> None:
        self._start: TurnStart | None = None
        self._choices: dict[int, _ChoiceParts] = {}
        self._usage: Usage | None = None
        self._mcp: dict[str, McpItem] = {}  # by id, in the order begun; the latest state

    def _choice(self, index: int) -> _ChoiceParts:
        parts = self._choices.get(index)
        if parts is None:
            parts = self._choices[index] = _ChoiceParts()
        return parts

    def add(self, event: ChatEvent) -> None:
        if isinstance(event, TextDelta):
            self._choice(event.choice).text.append(event.text)
        elif isinstance(event, TurnStart):
            self._start = event
        elif isinstance(event, ReasoningDelta):
            self._choice(event.choice).reasoning.append(event.text)
        elif isinstance(event, LogprobsDelta):
            self._choice(event.choice).logprobs.extend(event.tokens)
        elif isinstance(event, ToolCallDelta):
            call = self._choice(event.choice).calls.setdefault(event.index, ["", ""])
            call[0] = call[0] or event.id
            call[1] = call[1] or event.name
            call.append(event.arguments)
        elif isinstance(event, TurnFinish):
            self._choice(event.choice).finish = event.finish_reason
        elif isinstance(event, TurnUsage):
            self._usage = event.usage
        elif isinstance(event, McpItem):
            self._mcp[event.item_id] = event

    def build(self) -> Reply:
        start, usage = self._start, self._usage
        if start is None or usage is None or 0 not in self._choices:
            raise ChatError("The reply ended before it was complete.")
        if sorted(self._choices) != list(range(len(self._choices))):
            raise ChatError("The reply's choices are not numbered from 0.")
        return Reply(
            id=start.id,
            model=start.model,
            created=start.created,
            thread_id=start.thread_id,
            choices=tuple(self._choices[i].build(i) for i in range(len(self._choices))),
            usage=usage,
            trimmed=start.trimmed,
            sources=start.sources,
            mcp_items=tuple(self._mcp.values()),
        )


async def fold(events: AsyncIterable[ChatEvent]) -> Reply:
    """Aggregates a turn's event stream into its Reply."""
    builder = ReplyBuilder()
    async for event in events:
        builder.add(event)
    return builder.build()
