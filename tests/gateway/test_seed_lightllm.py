"""Seed 003 (LightLLM) streaming function calling, on native tool calls from an upstream.

The gateway sits in front of a fake OpenAI-compatible upstream that streams each tool call
the way hosted upstreams do: id and name on the first delta only, the arguments split over
several later deltas. The seed's own loop (requests + iter_lines) reads
`tool_call['function']['name']` on every tool-call delta, so every delta must carry a name;
the openai SDK's stream accumulation must still end with each name exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from core.catalog import ModelCatalog
from tests.gateway.seed_tools import CALC_TOOLS as tools  # the seed's name for it
from tests.servers import upstream_model, with_models
from tests.upstream import FakeUpstream, Scenario, finish_chunk, streamed_tool_call

UPSTREAM_KEY = "sk-upstream-lightllm-01"
ARGS = '{"expression": "25 * 4 + 10"}'
SECOND_ARGS = '{"expression": "(25 * 4 + 10) / 2"}'
CALL_ID = "call_" + "c" * 24
SECOND_ID = "call_" + "d" * 24

ONE_CALL = (*streamed_tool_call(0, CALL_ID, "calculate", ARGS, pieces=3),)
# Two parallel calls, interleaved as vLLM and OpenAI may send them.
_a, _a1, _a2, _a3 = streamed_tool_call(0, CALL_ID, "calculate", ARGS, pieces=3)
_b, _b1, _b2, _b3, _b4 = streamed_tool_call(1, SECOND_ID, "calculate", SECOND_ARGS, pieces=4)
TWO_CALLS = (_a, _a1, _b, _a2, _b1, _b2, _a3, _b3, _b4)
SCRIPTS = {
    "one_call": (ONE_CALL, [(CALL_ID, ARGS)]),
    "two_parallel_calls": (TWO_CALLS, [(CALL_ID, ARGS), (SECOND_ID, SECOND_ARGS)]),
}


@pytest.fixture(params=sorted(SCRIPTS))
def script(request) -> tuple[tuple, list[tuple[str, str]]]:
    return SCRIPTS[request.param]


@pytest.fixture
def upstream(script) -> Iterator[FakeUpstream]:
    server = FakeUpstream(keys={UPSTREAM_KEY}, models={"lightllm-qwen": 32768})
    server.reset(Scenario(chunks=(*script[0], finish_chunk("tool_calls"))))
    yield server
    server.stop()


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    """The shared catalog plus "your_model_name" (the seed's placeholder) on the upstream."""
    served = upstream_model(
        "your_model_name", upstream.url, "lightllm-qwen", UPSTREAM_KEY, timeout=10
    )
    return with_models(catalog, served)


def seed_streaming_function_calling(url: str) -> tuple[str, list[dict]]:
    """Seed 003's "2. 流式 Function Calling" example, verbatim but for the URL (and a timeout);
    returns its two buffers."""
    # fmt: off
    headers = {"Content-Type": "application/json"}

    data = {
        "model": "your_model_name",
        "messages": [
            {"role": "user", "content": "请计算 25 * 4 + 10 的结果"}
        ],
        "tools": tools,
        "tool_choice": "auto",
        "stream": True,
        "temperature": 0.7,
        "max_tokens": 1000
    }

    response = requests.post(url, headers=headers, json=data, stream=True, timeout=30)

    if response.status_code == 200:
        content_buffer = ""
        tool_calls_buffer = []

        for line in response.iter_lines():
            if line:
                line = line.decode('utf-8')
                if line.startswith('data: '):
                    data_str = line[6:]
                    if data_str == '[DONE]':
                        break
                    try:
                        chunk = json.loads(data_str)
                        delta = chunk['choices'][0]['delta']

                        # 处理内容
                        if delta.get('content'):
                            content_buffer += delta['content']
                            print(delta['content'], end='', flush=True)

                        # 处理函数调用
                        if delta.get('tool_calls'):
                            for tool_call in delta['tool_calls']:
                                tool_calls_buffer.append(tool_call)
                                print(f"\n[函数调用: {tool_call['function']['name']}]")
                                if tool_call['function'].get('arguments'):
                                    print(f"参数: {tool_call['function']['arguments']}")

                    except json.JSONDecodeError:
                        continue
    else:
        print("错误:", response.status_code, response.text)
        raise AssertionError(f"HTTP {response.status_code}: {response.text}")
    # fmt: on
    return content_buffer, tool_calls_buffer


def test_seed_streaming_function_calling_loop_on_native_fragmented_calls(
    gateway, upstream, script, capsys
):
    """Fails with KeyError 'name' while the gateway passes the upstream's later deltas through
    without a name; the seed's loop needs `function.name` on every tool-call delta."""
    content, buffer = seed_streaming_function_calling(f"{gateway.url}/v1/chat/completions")
    expected = script[1]
    assert content == ""
    by_index: dict[int, str] = {}
    for tool_call in buffer:
        by_index[tool_call["index"]] = by_index.get(tool_call["index"], "") + (
            tool_call["function"].get("arguments") or ""
        )
    assert [by_index[i] for i in sorted(by_index)] == [args for _, args in expected]
    ids = [tc["id"] for tc in buffer if tc.get("id")]
    assert ids == [call_id for call_id, _ in expected]  # each id once, on its first delta
    names = {tc["function"]["name"] for tc in buffer}
    assert names <= {"calculate", ""}  # a name, or "" on the deltas after the first
    assert [tc["function"]["name"] for tc in buffer if tc.get("id")] == ["calculate"] * len(ids)
    printed = capsys.readouterr().out
    assert printed.count("[函数调用: calculate]") == len(expected)
    (sent,) = upstream.chat_requests
    assert sent.body["tools"][0]["function"]["name"] == "calculate"
    assert sent.body["max_tokens"] == 1000 and sent.body["temperature"] == 0.7


def test_openai_sdk_stream_accumulates_native_fragmented_calls_exactly(openai_client, script):
    with openai_client.chat.completions.stream(
        model="your_model_name",
        messages=[{"role": "user", "content": "请计算 25 * 4 + 10 的结果"}],
        tools=tools,
        tool_choice="auto",
        temperature=0.7,
        max_tokens=1000,
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls]
    assert calls == [(call_id, "calculate", args) for call_id, args in script[1]]
