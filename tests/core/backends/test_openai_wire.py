"""openai_wire: the SSE splitter and the chunk folder (pure; no server needed)."""

from __future__ import annotations

from core.backends.openai_wire import ChunkFolder, SseSplitter, request_body
from core.types import (
    FinishReason,
    GenerationParams,
    Message,
    Prompt,
    ResponseFormat,
    ResponseFormatType,
    Role,
    ToolSpec,
)


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


def _body(params: GenerationParams, *, field: str = "", **prompt: object) -> dict:
    messages = (Message(Role.USER, "hi"),)
    return request_body(
        "m",
        Prompt(messages=messages, **prompt),  # type: ignore[arg-type]
        params,
        tools=True,
        repetition_penalty=False,
        extra={"enable_thinking": True},
        max_tokens_field=field,
    )


def test_the_cap_goes_under_the_configured_name_else_under_the_callers():
    asked = GenerationParams(max_tokens=9, max_tokens_field="max_completion_tokens")
    assert _body(asked)["max_completion_tokens"] == 9 and "max_tokens" not in _body(asked)
    plain = GenerationParams(max_tokens=9)
    assert _body(plain)["max_tokens"] == 9
    renamed = _body(plain, field="max_completion_tokens")
    assert renamed["max_completion_tokens"] == 9 and "max_tokens" not in renamed
    assert "max_tokens" not in _body(GenerationParams())


def test_strict_is_sent_only_when_said_and_caller_extras_win_over_the_operators():
    tool = ToolSpec("f", parameters={"type": "object"}, strict=True)
    fmt = ResponseFormat(ResponseFormatType.JSON_SCHEMA, "s", {"type": "object"}, strict=False)
    params = GenerationParams(extra={"enable_thinking": False, "top_k": 20})
    body = _body(params, tools=(tool,), response_format=fmt)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["response_format"]["json_schema"]["strict"] is False
    assert (body["enable_thinking"], body["top_k"]) == (False, 20)
    unsaid = _body(GenerationParams(), tools=(ToolSpec("f"),))
    assert "strict" not in unsaid["tools"][0]["function"]
    assert unsaid["enable_thinking"] is True


def test_content_filter_is_its_own_finish_reason():
    folder = ChunkFolder()
    folder.fold([chunk({"content": "x"}), chunk({}, "content_filter")])
    assert folder.finish is FinishReason.CONTENT_FILTER
