"""The official openai SDK against the gateway (real uvicorn) in front of a real core."""

from __future__ import annotations

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from core.types import FinishReason
from tests.fakes import tool_call_chunks

HELLO = [{"role": "user", "content": "hello"}]


def test_non_stream_parses_into_chat_completion(openai_client, scripted, openapi, gateway):
    scripted.enqueue(["Hi", " there"], prompt_tokens=9)
    completion = openai_client.chat.completions.create(model="scripted", messages=HELLO)
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "scripted"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (9, 2)
    assert completion.usage.total_tokens == 11
    scripted.enqueue(["x"])
    raw = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "scripted", "messages": HELLO}
    )
    openapi.validate(raw.json(), "CreateChatCompletionResponse")


def test_stream_is_role_first_then_deltas_then_finish_then_usage(
    openai_client, scripted, openapi, gateway
):
    scripted.enqueue(["a", "b", "c"])
    chunks = list(
        openai_client.chat.completions.create(
            model="scripted", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    # Pieces that reach the gateway together go out as one chunk (gateway/http/sse.py coalesces),
    # so the text is "abc" over one to three chunks, in order.
    deltas, finish, usage = chunks[1:-2], chunks[-2], chunks[-1]
    assert 1 <= len(deltas) <= 3
    assert "".join(c.choices[0].delta.content or "" for c in [*deltas, finish]) == "abc"
    assert all(c.choices[0].finish_reason is None for c in deltas)
    assert finish.choices[0].finish_reason == "stop"
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])

    scripted.enqueue(["a"])
    body = {"model": "scripted", "messages": HELLO, "stream": True}
    body["stream_options"] = {"include_usage": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    import json

    for line in lines[:-1]:
        openapi.validate(
            json.loads(line.removeprefix("data: ")), "CreateChatCompletionStreamResponse"
        )


def test_stream_without_include_usage_has_no_usage_chunk(openai_client, scripted):
    scripted.enqueue(["a"])
    chunks = list(
        openai_client.chat.completions.create(model="scripted", messages=HELLO, stream=True)
    )
    assert [bool(c.choices) for c in chunks] == [True, True, True]
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_async_sdk_non_stream_and_stream(async_openai_client, scripted):
    scripted.enqueue(["one"])
    scripted.enqueue(["t", "wo"])
    completion = await async_openai_client.chat.completions.create(model="scripted", messages=HELLO)
    assert completion.choices[0].message.content == "one"
    stream = await async_openai_client.chat.completions.create(
        model="scripted", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "two"


def test_sampling_fields_reach_the_core(openai_client, scripted):
    openai_client.chat.completions.create(
        model="scripted",
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        temperature=0.25, top_p=0.5, max_completion_tokens=33, stop="END", seed=7,
        presence_penalty=0.1, frequency_penalty=0.2, n=1, user="u-1", metadata={"k": "v"},
        extra_body={"repetition_penalty": 1.2},
    )  # fmt: skip
    call = scripted.calls[0]
    assert [(m.role.value, m.content) for m in call.prompt.messages] == [
        ("system", "be brief"),
        ("user", "hi"),
    ]
    p = call.params
    assert (p.temperature, p.top_p, p.max_tokens, p.stop, p.seed) == (0.25, 0.5, 33, ("END",), 7)
    assert (p.presence_penalty, p.frequency_penalty, p.repetition_penalty) == (0.1, 0.2, 1.2)


def test_streamed_tool_calls_have_openai_delta_shape(openai_client, scripted):
    scripted.enqueue(
        [*tool_call_chunks(0, "call_" + "a" * 24, "get_weather", '{"city": "北京"}')],
        finish=FinishReason.TOOL_CALLS,
    )
    chunks = list(
        openai_client.chat.completions.create(model="scripted", messages=HELLO, stream=True)
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls[0].index == 0 and calls[0].id == "call_" + "a" * 24 and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    # Later deltas carry no id and an empty name: accumulating clients (the SDK concatenates
    # strings) keep the name once, and loops that read function.name on each delta work.
    assert calls[1].id is None and calls[1].function.name == ""
    assert "".join(c.function.arguments or "" for c in calls) == '{"city": "北京"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_non_stream_tool_calls(openai_client, scripted):
    scripted.enqueue([*tool_call_chunks(0, "call_1", "f", "{}")], finish=FinishReason.TOOL_CALLS)
    message = (
        openai_client.chat.completions.create(model="scripted", messages=HELLO).choices[0].message
    )
    assert message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].function.name == "f"


@pytest.mark.parametrize(
    "text",
    [
        "line one\n\ndata: [DONE]\n\nstill text",
        "crlf\r\n\r\nevent: error\r\n",
        "tab\tand 🍵 and \u2028",
    ],
)
def test_model_text_cannot_break_sse_framing(openai_client, scripted, text):
    scripted.enqueue([text[:5], text[5:]])
    chunks = list(
        openai_client.chat.completions.create(model="scripted", messages=HELLO, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text


def test_models_list_and_retrieve(openai_client, openapi, gateway):
    models = openai_client.models.list()
    ids = [m.id for m in models.data]
    assert ids[:2] == ["scripted", "smollm2-135m-instruct"] and "qwen-flash" in ids
    assert openai_client.models.retrieve("qwen-flash").id == "qwen-flash"
    openapi.validate(httpx.get(gateway.url + "/v1/models").json(), "ListModelsResponse")


@pytest.mark.model
def test_embedded_model_through_the_whole_stack(openai_client):
    completion = openai_client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=8,
    )
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens <= 8
