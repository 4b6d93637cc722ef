"""openai_wire: the SSE splitter and the chunk folder (pure; no server needed)."""

from __future__ import annotations

from core.backends.openai_wire import ChunkFolder, SseSplitter
from core.types import FinishReason


def chunk(delta: dict, finish: str | None = None, **extra: object) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


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
