"""logprobs / top_logprobs in OpenAI's shapes: the embedded SmolLM2 (computed from its logits)
and an upstream (passed through), streamed and unary equal."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from openai.types.chat import ChatCompletionChunk

import chatrpc
from core.catalog import ModelCatalog
from tests.conftest import EMBEDDED
from tests.upstream import (
    FakeUpstream,
    Scenario,
    finish_chunk,
    text_chunk,
    with_logprobs,
    with_upstream,
)

HELLO = [{"role": "user", "content": "hello"}]
SCORED = (
    with_logprobs(text_chunk("Hel"), ("Hel", -0.25)),
    with_logprobs(text_chunk("lo!"), ("lo", -0.5), ("!", -1.0)),
    finish_chunk("stop"),
)


@pytest.fixture
def upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset(Scenario(chunks=SCORED))
    return upstream


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    return with_upstream(catalog, upstream)


def sse_payloads(url: str, body: dict) -> list[dict]:
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def streamed_logprobs(chunks: list[ChatCompletionChunk], index: int = 0) -> list:
    return [
        t
        for c in chunks
        for choice in c.choices
        if choice.index == index and choice.logprobs is not None
        for t in choice.logprobs.content or ()
    ]


def as_tuples(tokens) -> list[tuple[str, float, list[int], list[tuple[str, float]]]]:
    return [
        (t.token, t.logprob, t.bytes, [(a.token, a.logprob) for a in t.top_logprobs])
        for t in tokens
    ]


def test_upstream_logprobs_pass_through_streamed_and_unary(
    openai_client, upstream, openapi, gateway
):
    request = {"model": "upstream", "messages": HELLO, "logprobs": True, "top_logprobs": 2}
    unary = openai_client.chat.completions.create(**request)
    chunks = list(openai_client.chat.completions.create(**request, stream=True))
    tokens = unary.choices[0].logprobs.content
    assert [(t.token, t.logprob) for t in tokens] == [("Hel", -0.25), ("lo", -0.5), ("!", -1.0)]
    assert tokens[0].bytes == list(b"Hel") and tokens[0].top_logprobs[1].token == "~"
    assert as_tuples(streamed_logprobs(chunks)) == as_tuples(tokens)
    sent = upstream.chat_requests[0].body
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    openapi.validate(
        httpx.post(gateway.url + "/v1/chat/completions", json=request, timeout=120).json(),
        "CreateChatCompletionResponse",
    )
    for payload in sse_payloads(gateway.url + "/v1/chat/completions", request | {"stream": True}):
        openapi.validate(payload, "CreateChatCompletionStreamResponse")


def test_logprobs_are_null_unless_asked_and_never_requested_upstream(openai_client, upstream):
    completion = openai_client.chat.completions.create(model="upstream", messages=HELLO)
    assert completion.choices[0].logprobs is None
    chunks = list(
        openai_client.chat.completions.create(model="upstream", messages=HELLO, stream=True)
    )
    assert all(choice.logprobs is None for c in chunks for choice in c.choices)
    assert all("logprobs" not in r.body for r in upstream.chat_requests)


@pytest.mark.model
def test_embedded_logprobs_streamed_equal_unary_and_are_a_distribution(
    openai_client, openapi, gateway
):
    request = {
        "model": EMBEDDED,
        "messages": [{"role": "user", "content": "Say hello."}],
        "seed": 99,
        "temperature": 0.8,
        "max_tokens": 12,
        "logprobs": True,
        "top_logprobs": 3,
    }
    # llama-cpp-python evaluates a new prompt's last token inside a batch but replays it alone
    # when the prompt is cached, and llama.cpp's batched and single-token kernels give logits
    # that differ a little (a few hundredths of a nat here): enough to change a sampled token.
    # One warm-up call puts the prompt in the cache, so both calls below take the same path;
    # then the same seed samples the same tokens, unary or streamed.
    openai_client.chat.completions.create(**request)
    unary = openai_client.chat.completions.create(**request)
    chunks = list(openai_client.chat.completions.create(**request, stream=True))
    tokens = unary.choices[0].logprobs.content
    assert 0 < len(tokens) == unary.usage.completion_tokens
    streamed = streamed_logprobs(chunks)
    assert [t.token for t in streamed] == [t.token for t in tokens]
    for a, b in zip(streamed, tokens, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)
    for token in tokens:
        alternatives = [a.logprob for a in token.top_logprobs]
        assert len(alternatives) == 3 and alternatives == sorted(alternatives, reverse=True)
        assert token.logprob <= 0 and token.logprob <= alternatives[0] + 1e-6
        assert sum(math.exp(x) for x in alternatives) <= 1 + 1e-4
    content = b"".join(bytes(t.bytes) for t in tokens).decode("utf-8", errors="replace")
    assert content.startswith(unary.choices[0].message.content)
    openapi.validate(
        httpx.post(gateway.url + "/v1/chat/completions", json=request, timeout=120).json(),
        "CreateChatCompletionResponse",
    )


@pytest.mark.model
def test_embedded_greedy_picks_the_likeliest_token(openai_client):
    completion = openai_client.chat.completions.create(
        model=EMBEDDED,
        messages=[{"role": "user", "content": "Count: one, two,"}],
        temperature=0,
        max_tokens=6,
        logprobs=True,
        top_logprobs=1,
        n=2,
    )
    for choice in completion.choices:
        for token in choice.logprobs.content:
            assert token.top_logprobs[0].token == token.token
            assert token.top_logprobs[0].logprob == pytest.approx(token.logprob, abs=1e-5)
    assert all(c.logprobs.content for c in completion.choices)


def test_the_sdk_carries_logprobs_per_choice(core_server):
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat("hello", model="upstream", logprobs=True, top_logprobs=2)
        events = list(client.chat_stream("hello", model="upstream", logprobs=True))
    tokens = reply.choices[0].logprobs
    assert [(t.token, t.token_bytes) for t in tokens][:1] == [("Hel", b"Hel")]
    assert tokens[0].top_logprobs[0] == chatrpc.TopLogprob("Hel", -0.25, b"Hel")
    streamed = [t for e in events if isinstance(e, chatrpc.MessageDelta) for t in e.logprobs]
    assert [t.token for t in streamed] == ["Hel", "lo", "!"]
