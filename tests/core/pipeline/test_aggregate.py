"""fold(): any chunking of the same reply folds to the same Reply."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from core.errors import ChatError
from core.pipeline.aggregate import ReplyBuilder, fold
from core.types import (
    FinishReason,
    TextDelta,
    ToolCallDelta,
    TurnFinish,
    TurnStart,
    TurnUsage,
    Usage,
)

START = TurnStart(id="chatcmpl-x", model="m", created=1, thread_id="t")
END = [TurnFinish(FinishReason.TOOL_CALLS), TurnUsage(Usage(3, 4))]


def fold_all(events):
    """fold() for events already in memory."""
    builder = ReplyBuilder()
    for event in events:
        builder.add(event)
    return builder.build()


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(text)]:
        pieces.append(text[last:p])
        last = p
    return [p for p in pieces if p]


@given(
    text=st.text(max_size=60),
    args=st.text(max_size=30),
    cuts=st.lists(st.integers(0, 100), max_size=8),
)
def test_any_chunking_folds_to_the_same_reply(text, args, cuts):
    events = [START, *(TextDelta(p) for p in split(text, cuts))]
    events.append(ToolCallDelta(index=0, id="call_1", name="f"))
    events.extend(ToolCallDelta(index=0, arguments=p) for p in split(args, cuts))
    reply = fold_all([*events, *END])
    assert reply.content == text
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [("call_1", "f", args)]
    assert (reply.finish_reason, reply.usage, reply.thread_id) == (
        FinishReason.TOOL_CALLS,
        Usage(3, 4),
        "t",
    )


def test_parallel_calls_fold_in_index_order():
    events = [
        START,
        ToolCallDelta(index=1, id="call_b", name="b"),
        ToolCallDelta(index=0, id="call_a", name="a"),
        ToolCallDelta(index=1, arguments="{}"),
        ToolCallDelta(index=0, arguments='{"x": 1}'),
        *END,
    ]
    reply = fold_all(events)
    assert [(c.id, c.arguments) for c in reply.tool_calls] == [
        ("call_a", '{"x": 1}'),
        ("call_b", "{}"),
    ]


async def test_async_fold_matches_and_an_unfinished_stream_is_an_error():
    async def events(items):
        for item in items:
            yield item

    reply = await fold(events([START, TextDelta("hi"), *END]))
    assert reply.content == "hi"
    with pytest.raises(ChatError):
        await fold(events([START, TextDelta("hi")]))
