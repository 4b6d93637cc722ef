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


def test_reasoning_travels_apart_from_text_and_keeps_its_place_before_it():
    folder = ChunkFolder()
    out = folder.fold(
        [
            chunk({"content": None, "reasoning_content": "think "}),
            chunk({"content": None, "reasoning": "more"}),  # vLLM's newer name
            chunk({"content": "answer", "reasoning_content": None}),
            chunk({"content": None, "reasoning_content": "late"}),
        ]
    )
    assert [(c.reasoning, c.text) for c in out] == [("think more", "answer"), ("late", "")]


def test_logprobs_of_the_chunks_are_kept_in_order_with_their_bytes():
    scored = {
        "index": 0,
        "delta": {"content": "é"},
        "finish_reason": None,
        "logprobs": {
            "content": [
                {"token": "é", "logprob": -0.5, "bytes": [195, 169], "top_logprobs": []},
                {"token": "x", "logprob": -2, "bytes": None, "top_logprobs": [
                    {"token": "x", "logprob": -2, "bytes": None}]},
            ],
            "refusal": None,
        },
    }  # fmt: skip
    (out,) = ChunkFolder().fold([{"choices": [scored]}])
    assert [(t.token, t.logprob, t.token_bytes) for t in out.logprobs] == [
        ("é", -0.5, "é".encode()),
        ("x", -2.0, b"x"),
    ]
    assert out.logprobs[1].top[0].token == "x"
