"""Function calling through the gateway: the LightLLM seed's examples against a scripted model
that writes each text tool-call format, and native tool calls passed through."""

from __future__ import annotations

import json
import re

import pytest
import requests

from core.catalog import ModelCatalog, ModelSpec
from core.types import FinishReason
from tests.fakes import ScriptedBackend, tool_call_chunks
from tests.gateway.seed_tools import CALC_TOOLS, WEATHER_TOOLS
from tests.servers import with_models

FORMATS = ("hermes", "qwen25", "llama3", "mistral", "glm4")


def render(fmt: str, name: str, args: dict) -> str:
    """How a model of each format writes one call."""
    body = json.dumps(args, ensure_ascii=False)
    return {
        "hermes": f'<tool_call>\n{{"name": "{name}", "arguments": {body}}}\n</tool_call>',
        "qwen25": f'<tool_call>\n{{"name": "{name}", "arguments": {body}}}\n</tool_call>',
        "llama3": f'<|python_tag|>{{"name": "{name}", "parameters": {body}}}',
        "mistral": f'[TOOL_CALLS][{{"name": "{name}", "arguments": {body}}}]',
        "glm4": f"{name}\n{body}",
    }[fmt]


@pytest.fixture
def text_models() -> ScriptedBackend:
    return ScriptedBackend(native_tools=False)


@pytest.fixture
def catalog(catalog: ModelCatalog, text_models: ScriptedBackend) -> ModelCatalog:
    """The shared catalog plus one text-tool-call model per format, all on `text_models`."""
    extra = [
        ModelSpec(name=f"text-{fmt}", backend="scripted", context_window=8192, tool_format=fmt)
        for fmt in FORMATS
    ]
    return with_models(catalog, *((spec, text_models) for spec in extra))


@pytest.mark.parametrize("fmt", FORMATS)
def test_lightllm_weather_example_with_tool_choice_auto(gateway, text_models, fmt):
    text_models.enqueue([render(fmt, "get_current_weather", {"city": "北京"})])
    url = f"{gateway.url}/v1/chat/completions"
    headers = {"Content-Type": "application/json"}
    data = {
        "model": f"text-{fmt}",
        "messages": [{"role": "user", "content": "北京今天天气怎么样?"}],
        "tools": WEATHER_TOOLS,
        "tool_choice": "auto",
        "temperature": 0.7,
        "max_tokens": 1000,
    }
    response = requests.post(url, headers=headers, json=data)
    assert response.status_code == 200, response.text
    result = response.json()
    message = result["choices"][0]["message"]
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] in (None, "")
    (call,) = message["tool_calls"]
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call["id"]) and call["type"] == "function"
    assert call["function"]["name"] == "get_current_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "北京"}
    # The model saw the tools described in the format it writes.
    system = text_models.calls[-1].prompt.messages[0]
    assert "get_current_weather" in system.content


@pytest.mark.parametrize("fmt", FORMATS)
def test_lightllm_streamed_calculator_example(gateway, text_models, fmt, openai_client):
    text = (
        "好的。" + render(fmt, "calculate", {"expression": "25 * 4 + 10"})
        if fmt in ("hermes", "qwen25")
        else render(fmt, "calculate", {"expression": "25 * 4 + 10"})
    )
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]  # a few characters per token
    text_models.enqueue(pieces)
    data = {
        "model": f"text-{fmt}",
        "messages": [{"role": "user", "content": "请计算 25 * 4 + 10 的结果"}],
        "tools": CALC_TOOLS,
        "tool_choice": "auto",
        "stream": True,
        "temperature": 0.7,
        "max_tokens": 1000,
    }
    # The seed's own loop, verbatim in spirit: it reads function.name on every tool-call delta.
    response = requests.post(f"{gateway.url}/v1/chat/completions", json=data, stream=True)
    content_buffer, tool_calls_buffer = "", []
    for line in response.iter_lines():
        if line and line.decode("utf-8").startswith("data: "):
            data_str = line.decode("utf-8")[6:]
            if data_str == "[DONE]":
                break
            chunk = json.loads(data_str)
            delta = chunk["choices"][0]["delta"]
            if delta.get("content"):
                content_buffer += delta["content"]
            for tool_call in delta.get("tool_calls") or ():
                tool_calls_buffer.append(tool_call)
                assert tool_call["function"]["name"] == "calculate"
    assert json.loads("".join(t["function"]["arguments"] for t in tool_calls_buffer)) == {
        "expression": "25 * 4 + 10"
    }
    assert content_buffer == ("好的。" if fmt in ("hermes", "qwen25") else "")

    # The openai SDK's stream accumulator rebuilds the exact call.
    text_models.enqueue(pieces)
    with openai_client.chat.completions.stream(
        model=f"text-{fmt}", messages=data["messages"], tools=CALC_TOOLS, tool_choice="auto"
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "calculate"
    assert json.loads(call.function.arguments) == {"expression": "25 * 4 + 10"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_streamed_and_unary_tool_calls_are_identical(openai_client, text_models):
    two = render("hermes", "calculate", {"expression": "1+1"}) + render(
        "hermes", "calculate", {"expression": "2+2"}
    )
    text_models.enqueue([two])
    text_models.enqueue([two[i : i + 2] for i in range(0, len(two), 2)])
    unary = openai_client.chat.completions.create(
        model="text-hermes", messages=[{"role": "user", "content": "x"}], tools=CALC_TOOLS
    )
    with openai_client.chat.completions.stream(
        model="text-hermes", messages=[{"role": "user", "content": "x"}], tools=CALC_TOOLS
    ) as stream:
        streamed = stream.get_final_completion()

    def calls(c):
        return [(t.function.name, t.function.arguments) for t in c.choices[0].message.tool_calls]

    assert calls(unary) == calls(streamed) and len(calls(unary)) == 2


def test_parallel_tool_calls_false_keeps_the_first_call(openai_client, text_models):
    text_models.enqueue(
        [
            render("hermes", "calculate", {"expression": "1"})
            + render("hermes", "calculate", {"expression": "2"})
        ]
    )
    reply = openai_client.chat.completions.create(
        model="text-hermes",
        messages=[{"role": "user", "content": "x"}],
        tools=CALC_TOOLS,
        parallel_tool_calls=False,
    )
    assert [json.loads(t.function.arguments) for t in reply.choices[0].message.tool_calls] == [
        {"expression": "1"}
    ]


def test_tool_message_continues_the_conversation_and_is_stored(openai_client, text_models, gateway):
    text_models.enqueue([render("hermes", "calculate", {"expression": "25 * 4 + 10"})])
    first = openai_client.chat.completions.create(
        model="text-hermes",
        messages=[{"role": "user", "content": "25*4+10?"}],
        tools=CALC_TOOLS,
        extra_body={"thread_id": "calc"},
    )
    call = first.choices[0].message.tool_calls[0]
    text_models.enqueue(["结果是 110。"])
    final = openai_client.chat.completions.create(
        model="text-hermes",
        tools=CALC_TOOLS,
        extra_body={"thread_id": "calc"},
        messages=[{"role": "tool", "tool_call_id": call.id, "content": "110"}],
    )
    assert final.choices[0].message.content == "结果是 110。"
    prompt = text_models.calls[-1].prompt.messages
    assert [m.role.value for m in prompt] == ["system", "user", "assistant", "tool"]
    assert prompt[2].tool_calls[0].id == call.id and prompt[3].tool_call_id == call.id
    stored = requests.get(f"{gateway.url}/v1/threads/calc").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1]["tool_calls"][0]["id"] == call.id


def test_malformed_tool_call_text_comes_back_as_text(openai_client, text_models):
    broken = '<tool_call>{"name": "calculate", "arguments": {oops}</tool_call>'
    text_models.enqueue([broken])
    reply = openai_client.chat.completions.create(
        model="text-hermes", messages=[{"role": "user", "content": "x"}], tools=CALC_TOOLS
    )
    assert reply.choices[0].message.content == broken
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls


def test_native_tool_calls_pass_tools_through(openai_client, scripted):
    scripted.enqueue(
        tool_call_chunks(0, "call_" + "n" * 24, "calculate", '{"expression": "1"}'),
        finish=FinishReason.TOOL_CALLS,
    )
    reply = openai_client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "x"}],
        tools=CALC_TOOLS,
        tool_choice="required",
    )
    assert reply.choices[0].message.tool_calls[0].id == "call_" + "n" * 24
    sent = scripted.calls[-1].prompt
    assert [t.name for t in sent.tools] == [
        "calculate"
    ] and sent.tool_choice.mode.value == "required"
    assert sent.tools[0].parameters["required"] == ["expression"]


def test_tool_choice_none_sends_no_tools(openai_client, text_models):
    text_models.enqueue(["plain answer"])
    openai_client.chat.completions.create(
        model="text-hermes",
        messages=[{"role": "user", "content": "x"}],
        tools=CALC_TOOLS,
        tool_choice="none",
    )
    sent = text_models.calls[-1].prompt
    assert sent.tools == () and [m.role.value for m in sent.messages] == ["user"]


def test_forcing_a_tool_on_a_text_format_model_is_a_clear_error(openai_client, text_models):
    import openai

    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(
            model="text-hermes",
            messages=[{"role": "user", "content": "x"}],
            tools=CALC_TOOLS,
            tool_choice="required",
        )
    assert caught.value.status_code == 501
    assert text_models.calls == []


def test_a_model_without_tool_support_refuses_tools(openai_client):
    import openai

    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "x"}],
            tools=CALC_TOOLS,
        )
    assert caught.value.status_code in (400, 501)
