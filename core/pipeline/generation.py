"""Backend chunks → chat events: text, reasoning, logprobs, tool calls (native or parsed from
text), finish, usage; and several choices of one turn, one after another."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace

from core.errors import BackendUnavailableError
from core.reasoning.base import ReasoningParser
from core.tools.base import ParseEvent, ToolCallParser
from core.types import (
    BackendChunk,
    ChoiceEvent,
    FinishReason,
    GenerationParams,
    LogprobsDelta,
    ReasoningDelta,
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


@dataclass(frozen=True, slots=True)
class Readers:
    """How one generation's text is read: its reasoning split off first, then tool calls."""

    tools: ToolCallParser | None = None
    reasoning: ReasoningParser | None = None


class _TextReader:
    """A generation's text → text, reasoning and tool-call events, in order."""

    def __init__(self, readers: Readers) -> None:
        self._tools = readers.tools
        self._reasoning = readers.reasoning

    def feed(self, text: str) -> list[ChoiceEvent]:
        if self._reasoning is None:
            return self._parse(text)
        return self._split(self._reasoning.feed(text))

    def finish(self) -> list[ChoiceEvent]:
        events = self._split(self._reasoning.finish()) if self._reasoning is not None else []
        if self._tools is not None:
            events.extend(merge_call_deltas(self._tools.finish()))
        return events

    def _split(self, events: Sequence[TextDelta | ReasoningDelta]) -> list[ChoiceEvent]:
        out: list[ChoiceEvent] = []
        for event in events:
            out.extend(self._parse(event.text) if isinstance(event, TextDelta) else (event,))
        return out

    def _parse(self, text: str) -> list[ChoiceEvent]:
        if self._tools is None:
            return [TextDelta(text)] if text else []
        return list(merge_call_deltas(self._tools.feed(text)))


async def generation_events(
    chunks: AsyncIterator[BackendChunk],
    readers: Readers = Readers(),
    *,
    parallel_tool_calls: bool = True,
) -> AsyncGenerator[ChoiceEvent | TurnUsage, None]:
    """The events of one generation (choice 0), ending with TurnFinish and TurnUsage.

    Upstream reasoning passes through as ReasoningDelta; with a reasoning parser, text is
    split into reasoning and answer first; with a tool parser, the answer is parsed into text
    and tool-call deltas as it streams (models that write calls as text); native tool-call
    deltas pass through. A reply with any tool call finishes with TOOL_CALLS.
    """
    calls = _CallFilter(parallel_tool_calls)
    plain = readers.tools is None and readers.reasoning is None
    reader = _TextReader(readers)
    finish: FinishReason | None = None
    usage = Usage()
    async for chunk in chunks:
        if chunk.reasoning:
            yield ReasoningDelta(chunk.reasoning)
        if plain:  # the common, per-token path: no parsing, rarely a native call
            if chunk.text:
                yield TextDelta(chunk.text)
            events: Sequence[ChoiceEvent] = chunk.tool_calls
        else:
            events = (*reader.feed(chunk.text), *chunk.tool_calls)
        for event in events:
            if not isinstance(event, ToolCallDelta) or calls.keep(event):
                yield event
        if chunk.logprobs:
            yield LogprobsDelta(chunk.logprobs)
        if chunk.finish_reason is not None:
            finish, usage = chunk.finish_reason, chunk.usage or usage
    for event in reader.finish():
        if not isinstance(event, ToolCallDelta) or calls.keep(event):
            yield event
    if finish is None:
        raise BackendUnavailableError("The model stopped without finishing its reply.")
    if calls.seen and finish is FinishReason.STOP:
        finish = FinishReason.TOOL_CALLS
    yield TurnFinish(finish)
    yield TurnUsage(usage)


GenerationEvent = ChoiceEvent | TurnUsage
Generation = Callable[[GenerationParams], AsyncGenerator[GenerationEvent, None]]


def choice_params(params: GenerationParams, index: int) -> GenerationParams:
    """Choice `index`'s sampling settings: its own seed (seed + index) when a seed is given,
    so a seeded request is reproducible and its choices still differ."""
    if index == 0 or params.seed is None:
        return params
    return replace(params, seed=(params.seed + index + 2**63) % 2**64 - 2**63)  # stays int64


async def choice_events(
    generate: Generation, params: GenerationParams
) -> AsyncGenerator[GenerationEvent, None]:
    """The events of `params.choice_count` generations, one after another, each tagged with
    its choice index, then one TurnUsage: the prompt counted once (as OpenAI counts it), the
    completion tokens summed."""
    count = params.choice_count or 1
    prompt_tokens, completion_tokens = 0, 0
    for index in range(count):
        async with aclosing(generate(choice_params(params, index))) as events:
            async for event in events:
                if isinstance(event, TurnUsage):
                    prompt_tokens = prompt_tokens or event.usage.prompt_tokens
                    completion_tokens += event.usage.completion_tokens
                elif index == 0:
                    yield event
                else:
                    yield replace(event, choice=index)
    yield TurnUsage(Usage(prompt_tokens, completion_tokens))
