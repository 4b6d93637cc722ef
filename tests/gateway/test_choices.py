"""n > 1: several choices per turn through both the OpenAI face and the SDK, on the scripted
model, the embedded SmolLM2 and an upstream (fanned out, one request per choice)."""

from __future__ import annotations

import json

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import chatrpc
from core.catalog import ModelCatalog
from core.types import FinishReason
from tests.conftest import EMBEDDED
from tests.fakes import tool_call_chunks
from tests.upstream import FakeUpstream, with_upstream

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    return with_upstream(catalog, upstream)


def sse_payloads(url: str, body: dict) -> list[dict]:
    with httpx.stream("POST", url, json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def accumulate(chunks: list[ChatCompletionChunk], n: int) -> tuple[list[str], list[str | None]]:
    """Each choice's text and finish reason, from chunks the openai SDK parsed."""
    texts, finishes = [""] * n, [None] * n
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            finishes[choice.index] = finishes[choice.index] or choice.finish_reason
    return texts, finishes


def test_unary_n_gives_each_choice_its_index_finish_reason_and_sums_usage(
    openai_client, scripted, openapi, gateway
):
    scripted.enqueue(["one"], prompt_tokens=7)
    scripted.enqueue(["two", " words"], prompt_tokens=7, finish=FinishReason.LENGTH)
    scripted.enqueue(["three"], prompt_tokens=7)
    completion = openai_client.chat.completions.create(
        model="scripted", messages=HELLO, n=3, seed=41
    )
    assert isinstance(completion, ChatCompletion)
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "one", "stop"),
        (1, "two words", "length"),
        (2, "three", "stop"),
    ]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 4)
    assert [call.params.seed for call in scripted.calls] == [41, 42, 43]
    assert [call.params.choice_count for call in scripted.calls] == [3, 3, 3]
    scripted.enqueue(["a"])
    scripted.enqueue(["b"])
    raw = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "scripted", "messages": HELLO, "n": 2},
    ).json()
    openapi.validate(raw, "CreateChatCompletionResponse")
    assert [c["message"]["content"] for c in raw["choices"]] == ["a", "b"]


def test_streamed_n_gives_role_chunks_then_each_choice_with_its_finish(
    openai_client, scripted, openapi, gateway
):
    scripted.enqueue(["Hel", "lo"])
    scripted.enqueue(["Bon", "jour"], finish=FinishReason.LENGTH)
    chunks = list(
        openai_client.chat.completions.create(
            model="scripted",
            messages=HELLO,
            n=2,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert [c.index for c in chunks[0].choices] == [0, 1]  # both role deltas first, together
    assert all(c.delta.role == "assistant" for c in chunks[0].choices)
    assert accumulate(chunks, 2) == (["Hello", "Bonjour"], ["stop", "length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    scripted.enqueue(["x"])
    scripted.enqueue(["y"])
    body = {"model": "scripted", "messages": HELLO, "stream": True, "n": 2}
    payloads = sse_payloads(gateway.url + "/v1/chat/completions", body)
    for payload in payloads:
        openapi.validate(payload, "CreateChatCompletionStreamResponse")
    finishes = [(c["index"], c["finish_reason"]) for p in payloads for c in p["choices"]]
    assert [f for f in finishes if f[1]] == [(0, "stop"), (1, "stop")]


def test_each_choice_has_its_own_tool_calls(openai_client, scripted):
    scripted.enqueue(["no call"])
    scripted.enqueue(tool_call_chunks(0, "call_" + "b" * 24, "get_weather", '{"city": "Oslo"}'))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    for stream in (False, True):
        if stream:
            scripted.enqueue(["no call"])
            scripted.enqueue(tool_call_chunks(0, "call_" + "b" * 24, "get_weather", "{}"))
            with openai_client.chat.completions.stream(
                model="scripted", messages=HELLO, n=2, tools=tools
            ) as events:
                completion = events.get_final_completion()
        else:
            completion = openai_client.chat.completions.create(
                model="scripted", messages=HELLO, n=2, tools=tools
            )
        first, second = completion.choices
        assert (first.message.content, first.message.tool_calls, first.finish_reason) == (
            "no call",
            None,
            "stop",
        )
        assert second.finish_reason == "tool_calls"
        assert [c.function.name for c in second.message.tool_calls] == ["get_weather"]


def test_a_thread_stores_choice_zero(openai_client, scripted, gateway):
    scripted.enqueue(["kept"])
    scripted.enqueue(["not stored"])
    openai_client.chat.completions.create(
        model="scripted", messages=HELLO, n=2, extra_body={"thread_id": "t-n"}
    )
    stored = httpx.get(gateway.url + "/v1/threads/t-n").json()["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [("user", "hello"), ("assistant", "kept")]


def test_n_above_the_maximum_is_refused_before_any_generation(openai_client, scripted):
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="scripted", messages=HELLO, n=9)
    assert info.value.body["param"] == "n" and "8" in info.value.body["message"]
    assert scripted.calls == []


def test_the_sdk_reply_lists_every_choice(core_server, scripted):
    scripted.enqueue(["first"])
    scripted.enqueue(["second"])
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat("hi", choice_count=2)
        scripted.enqueue(["third"])
        scripted.enqueue(["fourth"])
        events = list(client.chat_stream("hi", choice_count=2))
    assert reply.content == "first"
    assert [(c.index, c.message.content) for c in reply.choices] == [(0, "first"), (1, "second")]
    finishes = [e for e in events if isinstance(e, chatrpc.StreamFinish)]
    assert [f.choice_index for f in finishes] == [0, 1]
    texts = {
        i: "".join(
            e.content for e in events if isinstance(e, chatrpc.MessageDelta) and e.choice_index == i
        )
        for i in (0, 1)
    }
    assert texts == {0: "third", 1: "fourth"}


def test_upstream_choices_fan_out_one_request_each(openai_client, upstream):
    completion = openai_client.chat.completions.create(
        model="upstream", messages=HELLO, n=2, seed=5
    )
    assert [c.message.content for c in completion.choices] == ["Hello, world"] * 2
    assert [c.index for c in completion.choices] == [0, 1]
    sent = [r.body for r in upstream.chat_requests]
    assert [b.get("seed") for b in sent] == [5, 6] and all("n" not in b for b in sent)
    assert completion.usage is not None and completion.usage.prompt_tokens == 11  # once
    assert completion.usage.completion_tokens == 4


@pytest.mark.model
def test_embedded_model_n_is_seeded_and_streamed_equals_unary(openai_client):
    request = {
        "model": EMBEDDED,
        "messages": [{"role": "user", "content": "Name a colour."}],
        "n": 2,
        "seed": 1234,
        "temperature": 1.0,
        "max_tokens": 8,
    }
    # A warm-up puts the prompt in llama.cpp's cache, so every generation below takes the same
    # path (see test_logprobs.py: a fresh prompt's logits differ a little from a cached one's).
    openai_client.chat.completions.create(**request)
    unary = openai_client.chat.completions.create(**request)
    streamed = list(openai_client.chat.completions.create(**request, stream=True))
    assert [c.index for c in unary.choices] == [0, 1]
    assert accumulate(streamed, 2) == (
        [c.message.content for c in unary.choices],
        [c.finish_reason for c in unary.choices],
    )
    assert all(c.message.content for c in unary.choices)
    assert unary.usage is not None and unary.usage.completion_tokens <= 16
