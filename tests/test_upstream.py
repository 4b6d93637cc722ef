"""The fake upstream (tests/upstream.py) refuses what hosted upstreams refuse, as the official
openai SDK sees it: these refusals are what the backend and gateway tests lean on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.upstream import (
    QWEN_FLASH,
    FakeUpstream,
    ModelLimits,
    Scenario,
    finish_chunk,
    reset_each_test,
    streamed_tool_call,
)

KEY = "sk-fake-upstream-key-1"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(
        keys={KEY}, models={"qwen-flash": None, "small": ModelLimits(100, context_window=200)}
    )
    yield upstream
    upstream.stop()


upstream = reset_each_test("server")


@pytest.fixture
def client(upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=upstream.url, api_key=KEY, max_retries=0, timeout=5) as sdk:
        yield sdk


def test_qwen_flash_gets_dashscopes_published_limits_by_default(upstream):
    assert upstream.models["qwen-flash"] == QWEN_FLASH
    assert (QWEN_FLASH.max_output_tokens, QWEN_FLASH.context_window) == (32_768, 1_000_000)
    assert QWEN_FLASH.max_input_tokens == 997_952
    capped = FakeUpstream(keys={KEY}, models={"qwen-flash": 8192, "other": 10})
    capped.stop()
    assert capped.models["qwen-flash"] == ModelLimits(8192, 1_000_000, 997_952)
    assert capped.models["other"] == ModelLimits(10)


@pytest.mark.parametrize("key", [None, "sk-someone-elses-key"])
def test_a_missing_or_wrong_key_is_401_in_openais_envelope(upstream, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        upstream.url + "/chat/completions",
        json={"model": "qwen-flash", "messages": HI},
        headers=headers,
        timeout=5,
    )
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert key is None or key not in response.text
    with (
        openai.OpenAI(base_url=upstream.url, api_key=key or "x", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.chat.completions.create(model="qwen-flash", messages=HI)


def test_an_unknown_model_is_404_model_not_found(client, upstream):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="qwen-max", messages=HI)
    assert caught.value.code == "model_not_found"
    assert [r.status for r in upstream.chat_requests] == [404]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_output_above_dashscopes_cap_is_400_naming_the_field(client, upstream, field):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="qwen-flash", messages=HI, **{field: 32_769})
    assert caught.value.param == field and "32768" in caught.value.message
    reply = client.chat.completions.create(model="qwen-flash", messages=HI, **{field: 32_768})
    assert reply.choices[0].message.content == "Hello, world"
    assert [(r.body[field], r.status) for r in upstream.chat_requests] == [
        (32_769, 400),
        (32_768, 200),
    ]


def test_a_prompt_over_the_context_window_is_context_length_exceeded(client):
    long = [{"role": "user", "content": "word " * 200}]  # at least 250 tokens, window 200
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="small", messages=long)
    assert caught.value.code == "context_length_exceeded"
    medium = [{"role": "user", "content": "word " * 80}]  # at least 100 tokens
    client.chat.completions.create(model="small", messages=medium)
    with pytest.raises(openai.BadRequestError, match="context length"):
        client.chat.completions.create(model="small", messages=medium, max_tokens=100)


def chat(**fields: object) -> bytes:
    return json.dumps({"model": "qwen-flash", "messages": HI, **fields}).encode()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", "body"),
        (json.dumps({"messages": HI}).encode(), "model"),
        (chat(messages=[]), "messages"),
        (chat(messages=[{"role": "robot", "content": "hi"}]), "messages[0].role"),
        (chat(messages=[{"role": "user"}]), "messages[0].content"),
        (chat(messages=[{"role": "user", "content": 3}]), "messages[0].content"),
        (chat(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_tokens=True), "max_tokens"),
        (chat(max_completion_tokens=1.5), "max_completion_tokens"),
        (chat(temperature=3), "temperature"),
        (chat(stream="yes"), "stream"),
        (chat(stream_options={"include_usage": True}), "stream_options"),
        (chat(tool_choice="auto"), "tool_choice"),
        (chat(tools=[{"type": "function"}]), "tools"),
        (chat(stop=["a", "b", "c", "d", "e"]), "stop"),
    ],
)
def test_a_body_that_is_not_a_valid_chat_request_is_400(upstream, body, param):
    response = httpx.post(
        upstream.url + "/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert upstream.requests[-1].status == 400


def test_every_request_is_recorded_with_headers_body_and_status(client, upstream):
    client.chat.completions.create(model="qwen-flash", messages=HI, temperature=0.3)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HI)
    assert [m.id for m in client.models.list()] == ["qwen-flash", "small"]
    first, second, models = upstream.requests
    assert (first.method, first.path, first.status) == ("POST", "/v1/chat/completions", 200)
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.body == {"model": "qwen-flash", "messages": HI, "temperature": 0.3}
    assert (second.body["model"], second.status) == ("nope", 404)
    assert (models.method, models.path, models.status) == ("GET", "/v1/models", 200)


def test_native_tool_calls_stream_in_fragments_with_the_name_on_the_first_delta_only(
    client, upstream
):
    arguments = '{"expression": "25 * 4 + 10"}'
    chunks = (
        *streamed_tool_call(0, "call_1", "calculate", arguments, 4),
        finish_chunk("tool_calls"),
    )
    upstream.reset(Scenario(chunks=chunks))
    deltas = [
        call
        for chunk in client.chat.completions.create(model="qwen-flash", messages=HI, stream=True)
        for call in chunk.choices[0].delta.tool_calls or ()
    ]
    assert len(deltas) == 5
    assert (deltas[0].id, deltas[0].function.name, deltas[0].function.arguments) == (
        "call_1",
        "calculate",
        "",
    )
    assert all(d.id is None and d.function.name is None for d in deltas[1:])
    assert "".join(d.function.arguments for d in deltas) == arguments
    folded = client.chat.completions.create(model="qwen-flash", messages=HI)
    assert folded.choices[0].finish_reason == "tool_calls"
    (call,) = folded.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "calculate",
        arguments,
    )
