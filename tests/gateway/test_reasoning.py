"""Reasoning through both faces: upstream `reasoning_content` (DashScope's shape) and `<think>`
text split by the catalog's reasoning format, streamed and unary, stored or not."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from core.backends.llama_cpp import LlamaCppBackend
from core.catalog import ModelCatalog, ModelSpec
from core.settings import Settings as CoreSettings
from core.types import BackendChunk, FinishReason
from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes import FakeLlama, ScriptedBackend, render_plain
from tests.servers import CoreThread, GatewayThread, upstream_model, with_models
from tests.upstream import FakeUpstream, Scenario, answer_chunk, finish_chunk, reasoning_chunk

LENGTH = FinishReason.LENGTH
UPSTREAM_KEY = "sk-upstream-secret-0002"
HELLO = [{"role": "user", "content": "what is 2 + 2?"}]
THINKING = (
    reasoning_chunk("The user asks 2 + 2. "),
    reasoning_chunk("That is 4."),
    answer_chunk("It is "),
    answer_chunk("4."),
    finish_chunk("stop"),
)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(keys={UPSTREAM_KEY}, models={"qwen-plus": 32768})
    server.reset(Scenario(chunks=THINKING))
    yield server
    server.stop()


@pytest.fixture
def thinker() -> ScriptedBackend:
    """A text model that writes its thinking inline: <think>…</think> cut across chunks."""
    return ScriptedBackend()


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream, thinker) -> ModelCatalog:
    """The shared catalog plus "qwen-plus" on the fake upstream, "thinker" (scripted, with the
    think format) and "thinker-llama" (the llama.cpp backend over a fake Llama whose output
    has a <think> block, with the think format)."""
    served = upstream_model("qwen-plus", upstream.url, "qwen-plus", UPSTREAM_KEY)
    text = ModelSpec("thinker", "scripted", 4096, reasoning_format="think")
    llama = LlamaCppBackend(FakeLlama(b"<think>\nhm, a greeting\n</think>\n\nHi!"), render_plain)
    local = ModelSpec("thinker-llama", "llama_cpp", 512, reasoning_format="think")
    return with_models(catalog, served, (text, thinker), (local, llama))


def reasoning_of(chunks: list[ChatCompletionChunk]) -> tuple[str, str]:
    """(reasoning, content) accumulated from chunks the openai SDK parsed."""
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return reasoning, content


def sse_payloads(url: str, body: dict) -> list[dict]:
    with httpx.stream("POST", url, json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def test_upstream_reasoning_content_streams_as_its_own_delta_field(openai_client, openapi, gateway):
    chunks = list(
        openai_client.chat.completions.create(model="qwen-plus", messages=HELLO, stream=True)
    )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert reasoning_of(chunks) == ("The user asks 2 + 2. That is 4.", "It is 4.")
    first_answer = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    assert all(
        not (c.choices[0].delta.model_extra or {}).get("reasoning_content")
        for c in chunks[first_answer:]
    )
    body = {"model": "qwen-plus", "messages": HELLO, "stream": True}
    for payload in sse_payloads(gateway.url + "/v1/chat/completions", body):
        openapi.validate(payload, "CreateChatCompletionStreamResponse")


def test_upstream_reasoning_is_the_reply_messages_reasoning_content(
    openai_client, openapi, gateway
):
    completion = openai_client.chat.completions.create(model="qwen-plus", messages=HELLO)
    assert isinstance(completion, ChatCompletion)
    message = completion.choices[0].message
    assert message.content == "It is 4."
    assert (message.model_extra or {})["reasoning_content"] == "The user asks 2 + 2. That is 4."
    raw = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "qwen-plus", "messages": HELLO}
    ).json()
    openapi.validate(raw, "CreateChatCompletionResponse")


def test_the_sdk_reply_keeps_reasoning_apart(core_server):
    import chatrpc

    with chatrpc.Client(core_server.target) as client:
        reply = client.chat("what is 2 + 2?", model="qwen-plus")
        events = list(client.chat_stream("what is 2 + 2?", model="qwen-plus"))
    assert (reply.reasoning, reply.content) == ("The user asks 2 + 2. That is 4.", "It is 4.")
    assert reply.choices[0].message.reasoning == reply.reasoning
    deltas = [e for e in events if isinstance(e, chatrpc.MessageDelta)]
    assert "".join(d.reasoning for d in deltas) == reply.reasoning
    assert "".join(d.content for d in deltas) == reply.content


@pytest.mark.parametrize("model", ["thinker", "thinker-llama"])
def test_think_tags_are_split_off_by_the_catalogs_reasoning_format(openai_client, thinker, model):
    pieces = ["<th", "ink>\nhm, a greeting\n</", "think>", "\n\nHi", "!"]
    thinker.enqueue(pieces)
    thinker.enqueue(pieces)
    chunks = list(openai_client.chat.completions.create(model=model, messages=HELLO, stream=True))
    assert reasoning_of(chunks) == ("\nhm, a greeting\n", "Hi!")
    completion = openai_client.chat.completions.create(model=model, messages=HELLO)
    message = completion.choices[0].message
    assert message.content == "Hi!" and message.model_extra["reasoning_content"] == (
        "\nhm, a greeting\n"
    )


def test_a_think_block_never_closed_is_all_reasoning(openai_client, thinker):
    thinker.enqueue(["<think>still thinking when the", " token limit came"], finish=LENGTH)
    completion = openai_client.chat.completions.create(model="thinker", messages=HELLO)
    assert completion.choices[0].finish_reason == "length"
    message = completion.choices[0].message
    assert message.content == ""
    assert message.model_extra["reasoning_content"] == "still thinking when the token limit came"


def test_a_model_without_a_reasoning_format_keeps_think_tags_in_its_text(openai_client, scripted):
    scripted.enqueue(["<think>x</think>y"])
    completion = openai_client.chat.completions.create(model="scripted", messages=HELLO)
    assert completion.choices[0].message.content == "<think>x</think>y"
    assert "reasoning_content" not in (completion.choices[0].message.model_extra or {})


def test_threads_store_the_answer_not_the_thinking(openai_client, gateway):
    openai_client.chat.completions.create(
        model="qwen-plus", messages=HELLO, extra_body={"thread_id": "t-think"}
    )
    stored = httpx.get(gateway.url + "/v1/threads/t-think").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == "It is 4." and "reasoning_content" not in stored[1]


def test_threads_keep_the_thinking_when_configured(catalog, sqlite_url, upstream):
    import chatrpc

    settings = CoreSettings(host="127.0.0.1", port=0, store_reasoning=True)
    core = CoreThread(catalog, database_url=sqlite_url, settings=settings)
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    try:
        body = {"model": "qwen-plus", "messages": HELLO, "thread_id": "t-kept"}
        httpx.post(gateway.url + "/v1/chat/completions", json=body).raise_for_status()
        stored = httpx.get(gateway.url + "/v1/threads/t-kept").json()["messages"]
        assert stored[1]["reasoning_content"] == "The user asks 2 + 2. That is 4."
        with chatrpc.Client(core.target) as client:
            thread = client.get_thread("t-kept")
        assert thread.messages[1].message.reasoning == "The user asks 2 + 2. That is 4."
        # The stored reasoning is never sent back to the model with the history.
        body["messages"] = [{"role": "user", "content": "and 3 + 3?"}]
        httpx.post(gateway.url + "/v1/chat/completions", json=body).raise_for_status()
    finally:
        gateway.stop()
        core.stop()
    history = upstream.chat_requests[-1].body["messages"]
    assert history[1] == {"role": "assistant", "content": "It is 4."}


def test_the_dbgpt_face_ignores_reasoning_unless_asked(gateway, upstream):
    url = gateway.url + "/api/v2/chat/completions"
    plain = httpx.post(url, json={"model": "qwen-plus", "messages": "what is 2 + 2?"}).json()
    assert plain["choices"][0]["message"] == {
        "role": "assistant",
        "content": "It is 4.",
        "refusal": None,
    }
    stream = sse_payloads(url, {"model": "qwen-plus", "messages": "hi", "stream": True})
    assert all("reasoning_content" not in p["choices"][0]["delta"] for p in stream)
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in stream) == "It is 4."
    asked = {"model": "qwen-plus", "messages": "hi", "include_reasoning": True}
    message = httpx.post(url, json=asked).json()["choices"][0]["message"]
    assert message["reasoning_content"] == "The user asks 2 + 2. That is 4."
    stream = sse_payloads(url, asked | {"stream": True})
    reasoning = "".join(p["choices"][0]["delta"].get("reasoning_content", "") for p in stream)
    assert reasoning == "The user asks 2 + 2. That is 4."


def test_reasoning_sent_back_in_the_history_is_accepted_and_not_forwarded(openai_client, upstream):
    history = [
        *HELLO,
        {"role": "assistant", "content": "It is 4.", "reasoning_content": "That is 4."},
        {"role": "user", "content": "and 3 + 3?"},
    ]
    openai_client.chat.completions.create(model="qwen-plus", messages=history)
    sent = upstream.chat_requests[-1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": "It is 4."}


def test_scripted_reasoning_chunks_fold_like_upstream_ones(openai_client, scripted):
    scripted.enqueue([BackendChunk(reasoning="r1 "), BackendChunk(reasoning="r2"), "done"])
    completion = openai_client.chat.completions.create(model="scripted", messages=HELLO)
    assert completion.choices[0].message.model_extra["reasoning_content"] == "r1 r2"
    assert completion.choices[0].message.content == "done"
