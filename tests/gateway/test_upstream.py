"""openai SDK → gateway → core → openai_compat → an OpenAI-compatible upstream, end to end."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from core.catalog import ModelCatalog
from tests.upstream import (
    CANARY,
    UPSTREAM_KEY,
    FakeUpstream,
    Scenario,
    finish_chunk,
    tool_chunk,
    with_upstream,
)

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    """The shared catalog plus "upstream", served by the fake upstream."""
    return with_upstream(catalog, upstream)


def test_stream_passes_through_with_upstream_usage(openai_client, upstream):
    chunks = list(
        openai_client.chat.completions.create(
            model="upstream",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.2,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 13
    (sent,) = upstream.chat_requests
    assert sent.body["model"] == "upstream-model" and sent.body["temperature"] == 0.2
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_native_tool_calls_and_tool_choice_pass_through(openai_client, upstream):
    upstream.reset(
        Scenario(
            chunks=(
                tool_chunk(0, id="call_" + "u" * 24, name="get_current_weather"),
                tool_chunk(0, arguments='{"city": '),
                tool_chunk(0, arguments='"北京"}'),
                finish_chunk("tool_calls"),
            )
        )
    )
    tools = [
        {
            "type": "function",
            "function": {"name": "get_current_weather", "parameters": {"type": "object"}},
        }
    ]
    with openai_client.chat.completions.stream(
        model="upstream",
        messages=HELLO,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_" + "u" * 24,
        "get_current_weather",
        '{"city": "北京"}',
    )
    body = upstream.chat_requests[0].body
    assert body["tools"][0]["function"]["name"] == "get_current_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_current_weather"}}


def test_upstream_429_is_a_429_with_retry_after_and_one_upstream_call(
    openai_client, upstream, gateway
):
    upstream.reset(Scenario(mode="status", status=429, headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(model="upstream", messages=HELLO)
    response = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "upstream", "messages": HELLO}
    )
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert len(upstream.chat_requests) == 2  # one per client request: nobody retried on our side


@pytest.mark.parametrize(
    ("status", "sdk_error"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_upstream_errors_never_leak_the_upstream_body(
    gateway, upstream, status, sdk_error, openai_client
):
    upstream.reset(Scenario(mode="status", status=status))
    with pytest.raises(sdk_error) as caught:
        openai_client.chat.completions.create(model="upstream", messages=HELLO)
    body = caught.value.response.text
    assert CANARY not in body and "10.1.2.3" not in body and "secret.py" not in body
    assert UPSTREAM_KEY not in body


def test_mid_stream_upstream_error_is_one_error_event(openai_client, upstream):
    upstream.reset(Scenario(mode="error_event"))
    with pytest.raises(openai.APIError):
        for _ in openai_client.chat.completions.create(
            model="upstream", messages=HELLO, stream=True
        ):
            pass


def test_fields_from_a_request_can_never_redirect_the_upstream(gateway, upstream):
    for smuggled in (
        {"api_base": "http://127.0.0.1:9"},
        {"base_url": "http://127.0.0.1:9"},
        {"api_key": "x"},
    ):
        body = {"model": "upstream", "messages": HELLO, **smuggled}
        assert httpx.post(gateway.url + "/v1/chat/completions", json=body).status_code == 400
    assert upstream.chat_requests == []


def test_client_disconnect_closes_the_upstream_stream(gateway, upstream):
    upstream.reset(Scenario(mode="endless"))
    body = {"model": "upstream", "messages": HELLO, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content"' in line:
                break
        left = time.monotonic()
    assert upstream.disconnected.wait(3), "the upstream stream stayed open"
    assert upstream.disconnects[0] - left < 1.0
