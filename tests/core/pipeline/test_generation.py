"""generation_events(): backend chunks → text, tool calls (native or parsed), finish, usage."""

from __future__ import annotations

import pytest

from core.errors import BackendUnavailableError
from core.pipeline.generation import Readers, generation_events
from core.tools import create_parser
from core.types import (
    BackendChunk,
    FinishReason,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    TurnFinish,
    TurnUsage,
    Usage,
)

USAGE = Usage(5, 3)


async def chunks(*items: BackendChunk):
    for item in items:
        yield item


async def events(*items: BackendChunk, parser=None, parallel=True):
    return [
        e
        async for e in generation_events(
            chunks(*items), Readers(tools=parser), parallel_tool_calls=parallel
        )
    ]


def last(reason: FinishReason = FinishReason.STOP) -> BackendChunk:
    return BackendChunk(finish_reason=reason, usage=USAGE)


async def test_text_streams_as_deltas_then_finish_then_usage():
    got = await events(BackendChunk("Hel"), BackendChunk("lo"), last())
    assert got == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TurnFinish(FinishReason.STOP),
        TurnUsage(USAGE),
    ]


async def test_the_last_chunks_text_is_not_lost():
    got = await events(
        BackendChunk("a"), BackendChunk("b", finish_reason=FinishReason.LENGTH, usage=USAGE)
    )
    assert got[:2] == [TextDelta("a"), TextDelta("b")] and got[2] == TurnFinish(FinishReason.LENGTH)


async def test_native_calls_pass_through_and_stop_becomes_tool_calls():
    first = ToolCallDelta(0, "call_1", "get_weather")
    rest = ToolCallDelta(0, arguments="{}")
    got = await events(BackendChunk(tool_calls=(first,)), BackendChunk(tool_calls=(rest,)), last())
    assert got == [first, rest, TurnFinish(FinishReason.TOOL_CALLS), TurnUsage(USAGE)]


async def test_parsed_calls_come_whole_in_one_delta_between_text():
    parser = create_parser("hermes", (ToolSpec("f"),), lambda: "call_" + "0" * 24)
    text = 'Sure. <tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>'
    got = await events(
        *(BackendChunk(text[i : i + 7]) for i in range(0, len(text), 7)), last(), parser=parser
    )
    calls = [e for e in got if isinstance(e, ToolCallDelta)]
    assert calls == [ToolCallDelta(0, "call_" + "0" * 24, "f", '{"x":1}')]  # canonical JSON
    assert "".join(e.text for e in got if isinstance(e, TextDelta)).strip() == "Sure."
    assert got[-2] == TurnFinish(FinishReason.TOOL_CALLS)


async def test_parallel_calls_off_keeps_only_the_first():
    calls = [ToolCallDelta(0, "call_a", "f", "{}"), ToolCallDelta(1, "call_b", "g", "{}")]
    got = await events(BackendChunk(tool_calls=tuple(calls)), last(), parallel=False)
    assert [e for e in got if isinstance(e, ToolCallDelta)] == calls[:1]


async def test_a_stream_without_finish_is_unavailable():
    with pytest.raises(BackendUnavailableError):
        await events(BackendChunk("half"))
