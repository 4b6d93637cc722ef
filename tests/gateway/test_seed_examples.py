"""The seed README's own examples (000-lang-agent-chat-api), run verbatim against the gateway.

Only the base URL changes (the test server listens on a free port); the model name
`qwen-flash` is served by a catalog entry of that name.
"""

from __future__ import annotations

import json
import subprocess

import requests
from openai import OpenAI

INTRO = "你好!我是小盏,是半盏青年茶馆的智能助手。"


def test_seed_curl_example(gateway, scripted):
    scripted.enqueue([INTRO[:6], INTRO[6:]])
    command = f"""curl -X POST "{gateway.url}/v1/chat/completions" \\
-H "Content-Type: application/json" \\
-d '{{
"model": "qwen-flash",
"messages": [
{{
"role": "user",
"content": "你好,请介绍一下你自己。"
}}
]
}}'"""
    out = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
    )
    body = json.loads(out.stdout)
    assert body["object"] == "chat.completion" and body["model"] == "qwen-flash"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": INTRO, "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"


def test_seed_requests_example(gateway, scripted):
    scripted.enqueue([INTRO])
    url = f"{gateway.url}/v1/chat/completions"
    headers = {"Content-Type": "application/json"}
    data = {
        "model": "qwen-flash",
        "messages": [{"role": "user", "content": "你好,请介绍一下你自己。"}],
    }
    response = requests.post(url, headers=headers, json=data)
    assert response.json()["choices"][0]["message"]["content"] == INTRO


def test_seed_openai_example_with_the_request_format_fields(gateway, scripted):
    """The seed's openai snippet (system + user, temperature 0.7), and its JSON format fields."""
    scripted.enqueue([INTRO])
    client = OpenAI(api_key="your-api-key", base_url=f"{gateway.url}/v1")
    response = client.chat.completions.create(
        model="qwen-flash",
        messages=[
            {"role": "system", "content": "你是一个有用的助手。"},
            {"role": "user", "content": "你好,请介绍一下你自己。"},
        ],
        temperature=0.7,
        max_tokens=1000,
    )
    assert response.choices[0].message.content == INTRO
    sent = scripted.calls[0]
    assert [m.content for m in sent.prompt.messages] == [
        "你是一个有用的助手。",
        "你好,请介绍一下你自己。",
    ]
    assert (sent.params.temperature, sent.params.max_tokens) == (0.7, 1000)
    client.close()


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
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.decode() for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    deltas = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert "".join(d or "" for d in deltas) == "你好!"
