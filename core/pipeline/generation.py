"""Backend chunks → chat events: text, tool calls (native or parsed from text), finish, usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from core.catalog import ModelSpec
from core.errors import BackendUnavailableError, UnimplementedError
from core.prompt import build_prompt, tool_instructions, with_instructions
from core.tools import create_parser
from core.tools.base import ParseEvent, ToolCallParser
from core.types import (
    BackendChunk,
    ChatEvent,
    FinishReason,
    Message,
    Prompt,
    TextDelta,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    Turn,
    TurnFinish,
    TurnUsage,
    Usage,
)


def plan_tools(
    turn: Turn, spec: ModelSpec, native_tools: bool, messages: tuple[Message, ...]
) -> tuple[Prompt, ToolCallParser | None]:
    """The prompt's tool settings and the text parser, per the model's catalog entry.

    A backend with native tool calling gets the tools as they are; a model with a text
    `tool_format` gets them described in a system message and its output parsed; any other
    model refuses tools. tool_choice "none" sends no tools at all.
    """
    if not turn.tools or turn.tool_choice.mode is ToolChoiceMode.NONE:
        return replace(build_prompt(turn, messages), tools=(), tool_choice=ToolChoice()), None
    if native_tools:
        return build_prompt(turn, messages), None
    if not spec.tool_format:
        raise UnimplementedError(f"The model {spec.name!r} cannot call tools.", field="tools")
    if turn.tool_choice.mode is not ToolChoiceMode.AUTO:
        raise UnimplementedError(
            f"The model {spec.name!r} writes tool calls as text and cannot be forced to call"
            " one; use tool_choice auto.",
            field="tool_choice",
        )
    described = with_instructions(messages, tool_instructions(turn.tools, spec.tool_format))
    return build_prompt(turn, described), create_parser(spec.tool_format, turn.tools)


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
