"""The Responses API in front of an OpenAI-compatible upstream (the strict fake of
tests/upstream.py): function calls out and their results back, streamed and continued."""

from __future__ import annotations

import time

import httpx
import pytest

from core.catalog import ModelCatalog
from tests.upstream import (
    FakeUpstream,
    Scenario,
    finish_chunk,
    text_chunk,
    tool_chunk,
    with_upstream,
)

CALL_ID = "call_" + "w" * 24
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    return with_upstream(catalog, upstream)


def test_a_streamed_function_call_is_answered_through_previous_response_id(openai_client, upstream):
    upstream.reset(
        Scenario(
            chunks=(
                tool_chunk(0, id=CALL_ID, name="get_weather"),
                tool_chunk(0, arguments='{"city": '),
                tool_chunk(0, arguments='"杭州"}'),
                finish_chunk("tool_calls"),
            )
        )
    )
    with openai_client.responses.stream(
        model="upstream", input="Weather in Hangzhou?", tools=[WEATHER]
    ) as stream:
        arguments = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        first = stream.get_final_response()
    (call,) = first.output
    assert (call.type, call.call_id, call.arguments) == (
        "function_call",
        CALL_ID,
        '{"city": "杭州"}',
    )
    assert "".join(arguments) == call.arguments
    assert upstream.chat_requests[0].body["tools"][0]["function"]["name"] == "get_weather"

    upstream.reset(Scenario(chunks=(text_chunk("Sunny."), finish_chunk("stop"))))
    second = openai_client.responses.create(
        model="upstream",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": CALL_ID, "output": '{"sky": "sunny"}'}],
    )
    assert second.output_text == "Sunny." and second.usage.total_tokens == 13
    messages = upstream.chat_requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == CALL_ID
    assert messages[2] == {"role": "tool", "content": '{"sky": "sunny"}', "tool_call_id": CALL_ID}


def test_client_disconnect_from_a_response_stream_closes_the_upstream(gateway, upstream):
    upstream.reset(Scenario(mode="endless"))
    body = {"model": "upstream", "input": "hello", "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/responses", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("event: response.output_text.delta"):
                break
        left = time.monotonic()
    assert upstream.disconnected.wait(3), "the upstream stream stayed open"
    assert upstream.disconnects[0] - left < 1.0
