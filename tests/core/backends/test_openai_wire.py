"""openai_wire: the SSE splitter and the chunk folder (pure; no server needed)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from core.backends import openai_wire
from core.backends.openai_wire import ChunkFolder, SseSplitter
from core.types import FinishReason


def chunk(delta: dict, finish: str | None = None, **extra: object) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


CHUNKS = st.lists(
    st.one_of(
        st.builds(lambda t: chunk({"content": t}), st.text(max_size=5)),
        st.builds(lambda t: chunk({"role": "assistant", "content": t}), st.text(max_size=3)),
        st.builds(lambda t: chunk({"content": t}, "stop"), st.text(max_size=3)),
        st.just(chunk({}, "length")),
        st.builds(
            lambda a: chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": a}}
                    ]
                }
            ),
            st.text(max_size=4),
        ),
        st.just({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    ),
    max_size=12,
)


@given(CHUNKS)
def test_the_plain_text_fast_path_folds_exactly_like_the_general_one(chunks):
    fast = ChunkFolder()
    slow = ChunkFolder()
    original = openai_wire._plain_text
    try:
        openai_wire._plain_text = lambda chunk: None  # every chunk takes the general path
        expected = slow.fold(chunks)
    finally:
        openai_wire._plain_text = original
    assert fast.fold(chunks) == expected
    assert (fast.finish, fast.usage, fast.deltas) == (slow.finish, slow.usage, slow.deltas)


def test_events_split_on_blank_lines_whatever_the_line_ends():
    splitter = SseSplitter()
    assert splitter.feed(b'data: {"a": 1}\n\ndata: {"b"') == [b'{"a": 1}']
    assert splitter.feed(b": 2}\r\n\r\n: comment\n\nevent: x\ndata: [DONE]\n\n") == [
        b'{"b": 2}',
        b"[DONE]",
    ]


def test_text_that_arrived_together_is_one_chunk_and_the_finish_is_remembered():
    folder = ChunkFolder()
    out = folder.fold([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                       chunk({"content": "lo"}), chunk({}, "stop")])  # fmt: skip
    assert [c.text for c in out] == ["Hello"] and folder.finish is FinishReason.STOP
