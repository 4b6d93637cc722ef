"""DB-GPT's /api/v2/chat/completions: the seed's curl verbatim, DB-GPT's own Python client, and
the request fields (string messages, conv_uid, max_new_tokens, chat modes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DBGPT_PYTHON = ROOT / ".venv-dbgpt" / "bin" / "python"
SCRIPT = Path(__file__).with_name("dbgpt_client_calls.py")


def test_the_seed_curl_call_works_verbatim(dbgpt, scripted):
    scripted.enqueue(["Hello", "! How can I", " assist you today?"])
    command = f"""DBGPT_API_KEY="dbgpt"
curl -X POST "{dbgpt.url}/api/v2/chat/completions" \\
    -H "Authorization: Bearer $DBGPT_API_KEY" \\
    -H "accept: application/json" \\
    -H "Content-Type: application/json" \\
    -d "{{\\"messages\\":\\"Hello\\",\\"model\\":\\"chatgpt_proxyllm\\", \\"stream\\": true}}"
"""
    out = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    events = [line.removeprefix("data: ") for line in out.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello! How can I assist you today?"
    assert all(c["model"] == "chatgpt_proxyllm" for c in chunks)
    assert scripted.calls[0].prompt.messages[-1].content == "Hello"


def test_non_stream_shape_and_usage(dbgpt, scripted):
    scripted.enqueue(["Hi!"], prompt_tokens=5)
    response = httpx.post(
        dbgpt.url + "/api/v2/chat/completions",
        json={"messages": "hello", "model": "proxyllm", "max_new_tokens": 40, "temperature": 0.5},
        headers={"Authorization": "Bearer dbgpt"},
    )
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "proxyllm"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi!", "refusal": None}
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    params = scripted.calls[0].params
    assert (params.max_tokens, params.temperature) == (40, 0.5)


def test_conv_uid_is_the_thread_and_body_identity_is_only_recorded(dbgpt, scripted):
    auth = {"Authorization": "Bearer dbgpt"}
    for text in ("first", "second"):
        scripted.enqueue([f"re: {text}"])
        body = {
            "messages": text,
            "model": "proxyllm",
            "conv_uid": "conv-1",
            "user_name": "mallory",
            "sys_code": "s1",
        }
        assert (
            httpx.post(dbgpt.url + "/api/v2/chat/completions", json=body, headers=auth).status_code
            == 200
        )
    assert [m.content for m in scripted.calls[1].prompt.messages] == [
        "first",
        "re: first",
        "second",
    ]
    thread = httpx.get(dbgpt.url + "/v1/threads/conv-1", headers=auth).json()
    assert thread["message_count"] == 4


def test_errors_are_json_not_server_error_text(dbgpt, scripted):
    auth = {"Authorization": "Bearer dbgpt"}
    missing = httpx.post(
        dbgpt.url + "/api/v2/chat/completions",
        json={"messages": "hi", "model": "nope"},
        headers=auth,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    unauthorized = httpx.post(
        dbgpt.url + "/api/v2/chat/completions",
        json={"messages": "hi"},
        headers={"Authorization": "Bearer nope"},
    )
    assert (
        unauthorized.status_code == 401
        and unauthorized.json()["error"]["type"] == "authentication_error"
    )
    from core.errors import BackendUnavailableError

    scripted.enqueue(["a", "b"], fail_after=1, error=BackendUnavailableError("down"))
    body = {"messages": "hi", "model": "proxyllm", "stream": True}
    out = httpx.post(dbgpt.url + "/api/v2/chat/completions", json=body, headers=auth).text
    assert "[SERVER_ERROR]" not in out and "[DONE]" not in out
    assert json.loads(out.strip().splitlines()[-1].removeprefix("data: "))["error"]["type"]


def test_dbgpt_python_client_chat_and_chat_stream(dbgpt, scripted):
    """DB-GPT's own client (dbgpt-client 0.8.2 in .venv-dbgpt, made by `make install`)."""
    assert DBGPT_PYTHON.exists(), "run `make install`: it creates .venv-dbgpt with dbgpt-client"
    scripted.enqueue(["Hello! How can I assist you today?"])
    scripted.enqueue(["Hel", "lo", "!"])
    out = subprocess.run(
        [str(DBGPT_PYTHON), str(SCRIPT), dbgpt.url + "/api/v2", "dbgpt", "proxyllm"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["chat"] == "Hello! How can I assist you today?"
    assert "".join(part or "" for part in result["stream"]) == "Hello!"
