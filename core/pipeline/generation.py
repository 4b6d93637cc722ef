"""Backend chunks → chat events: text, tool calls (native or parsed from text), finish, usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from core.errors import BackendUnavailableError
from core.tools.base import ParseEvent, ToolCallParser
from core.types import (
    BackendChunk,
    ChatEvent,
    FinishReason,
    TextDelta,
    ToolCallDelta,
    TurnFinish,
    TurnUsage,
    Usage,
)


def merge_call_deltas(events: Sequence[ParseEvent]) -> list[ParseEvent]:
    """Consecutive fragments of one call, ready together, as one delta (id and name kept).

    A parsed call is complete when it is emitted, so clients get it in one chunk with its
    name: OpenAI's shape allows that, and naive clients that read `function.name` on every
    tool-call delta (the LightLLM seed's example) keep working.
    """
    merged: list[ParseEvent] = []
    for event in events:
        last = merged[-1] if merged else None
        if (
            isinstance(event, ToolCallDelta)
            and isinstance(last, ToolCallDelta)
            and last.index == event.index
        ):
            merged[-1] = replace(last, arguments=last.arguments + event.arguments)
        else:
            merged.append(event)
    return merged


class _CallFilter:
    """Keeps the first tool call only when parallel calls are off (vLLM drops the rest too)."""

    def __init__(self, parallel: bool) -> None:
        self._parallel = parallel
        self.seen = False

    def keep(self, delta: ToolCallDelta) -> bool:
        self.seen = True
        return self._parallel or delta.index == 0


async def generation_events(
    chunks: AsyncIterator[BackendChunk],
    parser: ToolCallParser | None = None,
    *,
    parallel_tool_calls: bool = True,
) -> AsyncIterator[ChatEvent]:
    """The events of one generation, ending with TurnFinish and TurnUsage.

    With a `parser`, text is parsed into text and tool-call deltas as it streams (models that
    write calls as text); native tool-call deltas pass through. A reply with any tool call
    finishes with TOOL_CALLS.
    """
    calls = _CallFilter(parallel_tool_calls)
    finish: FinishReason | None = None
    usage = Usage()
    async for chunk in chunks:
        if parser is None:  # the common, per-token path: no parsing, rarely a native call
            if chunk.text:
                yield TextDelta(chunk.text)
            events: Sequence[ParseEvent] = chunk.tool_calls
        else:
            events = (*merge_call_deltas(parser.feed(chunk.text)), *chunk.tool_calls)
        for event in events:
            if isinstance(event, TextDelta) or calls.keep(event):
                yield event
        if chunk.finish_reason is not None:
            finish, usage = chunk.finish_reason, chunk.usage or usage
    if parser is not None:
        for event in merge_call_deltas(parser.finish()):
            if isinstance(event, TextDelta) or calls.keep(event):
                yield event
    if finish is None:
        raise BackendUnavailableError("The model stopped without finishing its reply.")
    if calls.seen and finish is FinishReason.STOP:
        finish = FinishReason.TOOL_CALLS
    yield TurnFinish(finish)
    yield TurnUsage(usage)
