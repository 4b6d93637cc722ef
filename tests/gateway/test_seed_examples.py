"""The seed README's own examples (000-lang-agent-chat-api), run as written against the gateway.

Only the base URL changes (the test server listens on a free port); the model name
`qwen-flash` is served by a catalog entry of that name: the scripted model for the memory
tests, and, for the reply-budget tests, the shipped catalog entry (DashScope through
openai_compat) in front of a fake upstream that enforces DashScope's published output cap.

The seed says "thread_id用于多轮对话,相同的thread_id会保持对话上下文": every example that
carries a thread_id here runs two turns and checks that the second turn's prompt, as the
model received it, holds the first turn's question and reply.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import requests
from openai import OpenAI

from core.backends import create_backend
from core.catalog import load_specs, resolve_key
from core.types import Role
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread, with_models
from tests.upstream import QWEN_FLASH, FakeUpstream, Scenario, finish_chunk, text_chunk

ROOT = Path(__file__).resolve().parents[2]
INTRO = "你好!我是小盏,是半盏青年茶馆的智能助手。"
QUESTION = "你好,请介绍一下你自己。"
SYSTEM = "你是一个有用的助手。"
DASHSCOPE_KEY = "sk-dashscope-test-0001"
# The seed's openai snippet, as written, but for its thread_id (each test passes that its way).
SNIPPET = {
    "model": "qwen-flash",
    "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
    "temperature": 0.7,
}


def prompt_of(scripted, turn: int) -> list[tuple[Role, str]]:
    """The messages the model received on `turn` (0-based)."""
    return [(m.role, m.content) for m in scripted.calls[turn].prompt.messages]


def stored(gateway, thread_id) -> list[tuple[str, str]]:
    thread = httpx.get(f"{gateway.url}/v1/threads/{thread_id}", timeout=10).json()
    return [(m["role"], m["content"]) for m in thread["messages"]]


REMEMBERED = [(Role.USER, QUESTION), (Role.ASSISTANT, INTRO), (Role.USER, QUESTION)]


# --- curl and requests, with the request format's "thread_id": 3 ------------------------------


def test_seed_curl_example_with_thread_id_keeps_the_conversation(gateway, scripted):
    scripted.enqueue([INTRO[:6], INTRO[6:]])
    scripted.enqueue(["我还是小盏。"])
    command = f"""curl -X POST "{gateway.url}/v1/chat/completions" \\
-H "Content-Type: application/json" \\
-d '{{
"model": "qwen-flash",
"messages": [
{{
"role": "user",
"content": "你好,请介绍一下你自己。"
}}
],
"thread_id": 3
}}'"""
    bodies = []
    for _ in range(2):  # the same command twice: the second turn is on thread 3 too
        out = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
        )
        bodies.append(json.loads(out.stdout))
    first = bodies[0]
    assert first["object"] == "chat.completion" and first["model"] == "qwen-flash"
    assert first["choices"][0]["message"] == {
        "role": "assistant",
        "content": INTRO,
        "refusal": None,
    }
    assert first["choices"][0]["finish_reason"] == "stop"
    assert bodies[1]["choices"][0]["message"]["content"] == "我还是小盏。"
    assert prompt_of(scripted, 0) == [(Role.USER, QUESTION)]
    assert prompt_of(scripted, 1) == REMEMBERED
    assert len(stored(gateway, 3)) == 4


def test_seed_requests_example_with_thread_id_keeps_the_conversation(gateway, scripted):
    scripted.enqueue([INTRO])
    scripted.enqueue(["我还是小盏。"])
    url = f"{gateway.url}/v1/chat/completions"
    headers = {"Content-Type": "application/json"}
    data = {
        "model": "qwen-flash",
        "messages": [{"role": "user", "content": "你好,请介绍一下你自己。"}],
        "thread_id": 3,
    }
    first = requests.post(url, headers=headers, json=data, timeout=30)
    second = requests.post(url, headers=headers, json=data, timeout=30)
    assert first.json()["choices"][0]["message"]["content"] == INTRO
    assert second.json()["choices"][0]["message"]["content"] == "我还是小盏。"
    assert first.json()["thread_id"] == second.json()["thread_id"] == "3"
    assert prompt_of(scripted, 1) == REMEMBERED


def test_seed_request_format_example_verbatim_keeps_the_conversation(gateway, scripted):
    """The seed's 请求格式 JSON as written: system + user, temperature, max_tokens, stream
    false and thread_id 3. The system message leads every turn's prompt and is never stored."""
    scripted.enqueue([INTRO])
    scripted.enqueue(["我还是小盏。"])
    body = """{
"model": "qwen-flash",
"messages": [
{
"role": "system",
"content": "你是一个有用的助手。"
},
{
"role": "user",
"content": "你好,请介绍一下你自己。"
}
],
"temperature": 0.7,
"max_tokens": 1000,
"stream": false,
"thread_id": 3
}"""
    for _ in range(2):
        response = requests.post(
            f"{gateway.url}/v1/chat/completions",
            headers={"Content-Type": "application/json"},
            data=body.encode(),
            timeout=30,
        )
        assert response.status_code == 200, response.text
    assert prompt_of(scripted, 1) == [(Role.SYSTEM, SYSTEM), *REMEMBERED]
    assert (scripted.calls[1].params.temperature, scripted.calls[1].params.max_tokens) == (
        0.7,
        1000,
    )
    assert stored(gateway, 3) == [
        ("user", QUESTION),
        ("assistant", INTRO),
        ("user", QUESTION),
        ("assistant", "我还是小盏。"),
    ]


# --- the openai snippet ------------------------------------------------------------------------


def test_seed_openai_snippet_as_written_raises_type_error_before_sending(gateway, scripted):
    """`thread_id=1` is not a keyword of today's openai SDK: it refuses it before any request
    (so README shows extra_body / X-Thread-Id instead)."""
    sent: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [sent.append]}) as http:
        client = OpenAI(api_key="your-api-key", base_url=f"{gateway.url}/v1", http_client=http)
        with pytest.raises(TypeError, match="thread_id"):
            client.chat.completions.create(
                **SNIPPET,
                thread_id=1,  # 用于多轮对话
            )
    assert sent == [] and scripted.calls == []


@pytest.mark.parametrize(
    "thread",
    [{"extra_body": {"thread_id": 1}}, {"extra_headers": {"X-Thread-Id": "1"}}],
    ids=["extra_body", "x_thread_id_header"],
)
def test_seed_openai_snippet_with_thread_id_keeps_the_conversation(gateway, scripted, thread):
    """The seed's snippet with its `thread_id=1` in a form the SDK sends; two turns."""
    scripted.enqueue([INTRO])
    scripted.enqueue(["我还是小盏。"])
    client = OpenAI(api_key="your-api-key", base_url=f"{gateway.url}/v1")
    replies = [
        client.chat.completions.create(
            **SNIPPET,
            **thread,  # 用于多轮对话
        )
        for _ in range(2)
    ]
    client.close()
    assert replies[0].choices[0].message.content == INTRO
    assert replies[1].choices[0].message.content == "我还是小盏。"
    assert all(r.model_extra and r.model_extra["thread_id"] == "1" for r in replies)
    assert prompt_of(scripted, 0) == [(Role.SYSTEM, SYSTEM), (Role.USER, QUESTION)]
    assert prompt_of(scripted, 1) == [(Role.SYSTEM, SYSTEM), *REMEMBERED]
    assert scripted.calls[1].params.temperature == 0.7
    assert len(stored(gateway, 1)) == 4


def test_seed_streaming_is_really_streamed(gateway, scripted):
    """The seed's note "stream=true still returns non-streaming" is not true here."""
    scripted.enqueue(["你", "好", "!"])
    response = requests.post(
        f"{gateway.url}/v1/chat/completions",
        json={
            "model": "qwen-flash",
            "messages": [{"role": "user", "content": "你好"}],
            "stream": True,
        },
        stream=True,
        timeout=30,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.decode() for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    deltas = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert "".join(d or "" for d in deltas) == "你好!"


# --- qwen-flash as shipped, in front of an upstream that enforces DashScope's output cap -------


@pytest.fixture
def dashscope() -> Iterator[FakeUpstream]:
    server = FakeUpstream(keys={DASHSCOPE_KEY}, models={"qwen-flash": QWEN_FLASH})
    reply = (text_chunk(INTRO[:6]), text_chunk(INTRO[6:]), finish_chunk("stop"))
    server.reset(Scenario(chunks=reply))
    yield server
    server.stop()


@pytest.fixture
def qwen_flash_gateway(catalog, sqlite_url, dashscope) -> Iterator[GatewayThread]:
    """Core and gateway whose "qwen-flash" is config/models.toml's entry, pointed at the fake
    DashScope (only base_url changes; the key comes from ALI_API_KEY as in production)."""
    (shipped,) = [s for s in load_specs(ROOT / "config" / "models.toml") if s.name == "qwen-flash"]
    assert shipped.backend == "openai_compat"
    spec = replace(shipped, options={**shipped.options, "base_url": dashscope.url})
    options, missing = resolve_key(spec, {"ALI_API_KEY": DASHSCOPE_KEY})
    assert not missing
    served = with_models(catalog, (spec, create_backend(spec.backend, options)))
    core = CoreThread(served, database_url=sqlite_url)
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    yield gateway
    gateway.stop()
    core.stop()


def assert_reply_budget_accepted(dashscope: FakeUpstream) -> None:
    (sent,) = dashscope.chat_requests
    assert sent.headers["authorization"] == f"Bearer {DASHSCOPE_KEY}"
    assert sent.body["model"] == "qwen-flash"
    for field in ("max_tokens", "max_completion_tokens"):
        assert sent.body.get(field) is None or sent.body[field] <= 32768, (
            f"{field}={sent.body[field]} sent upstream; DashScope's qwen-flash caps output at 32768"
        )
    assert sent.status == 200


def test_seed_openai_snippet_without_max_tokens_is_accepted_by_dashscope(
    qwen_flash_gateway, dashscope
):
    """openai SDK → gateway → core → openai_compat → an upstream with qwen-flash's limits: a
    request without max_tokens must not make the core ask for more than the model can write."""
    client = OpenAI(api_key="your-api-key", base_url=f"{qwen_flash_gateway.url}/v1", max_retries=0)
    response = client.chat.completions.create(
        **SNIPPET,
        extra_body={"thread_id": 1},  # 用于多轮对话
    )
    client.close()
    assert response.choices[0].message.content == INTRO
    assert_reply_budget_accepted(dashscope)


def test_seed_requests_example_without_max_tokens_is_accepted_by_dashscope(
    qwen_flash_gateway, dashscope
):
    url = f"{qwen_flash_gateway.url}/v1/chat/completions"
    headers = {"Content-Type": "application/json"}
    data = {
        "model": "qwen-flash",
        "messages": [{"role": "user", "content": "你好,请介绍一下你自己。"}],
    }
    response = requests.post(url, headers=headers, json=data, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == INTRO
    assert_reply_budget_accepted(dashscope)
