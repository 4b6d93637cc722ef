"""Seed 002 (DB-GPT) as its users write it: `from dbgpt.client import Client` (DB-GPT's own
`dbgpt` package, 0.5.x, in .venv-dbgpt05) and the request fields of its parameter table.

Contract of the thread routes used here: each stored message of GET /v1/threads/{id} carries
its turn's `user` (a string, "" if none) and `metadata` (an object of strings, {} if none).
DB-GPT's `user_name` is the turn's user; `sys_code` and `span_id` go into metadata under
those names; /v1's `user` and `metadata` are stored as given.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from core.types import Role
from tests.servers import GatewayThread

ROOT = Path(__file__).resolve().parents[2]
DBGPT05_PYTHON = ROOT / ".venv-dbgpt05" / "bin" / "python"
SCRIPT = Path(__file__).with_name("dbgpt05_seed_calls.py")
AUTH = {"Authorization": "Bearer dbgpt"}


def post(gateway: GatewayThread, path: str, body: dict) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers=AUTH, timeout=30)


def thread_messages(gateway: GatewayThread, thread_id: str) -> list[dict]:
    response = httpx.get(f"{gateway.url}/v1/threads/{thread_id}", headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


# --- the seed's own Python client ------------------------------------------------------------


def test_seed_dbgpt_client_chat_stream_and_chat_as_written(dbgpt, scripted):
    """The seed's chat.py, its notebook variant and its non-streaming call, run by
    dbgpt 0.5.10 with DBGPT_API_BASE pointing at the gateway."""
    assert DBGPT05_PYTHON.exists(), "run `make install`: it creates .venv-dbgpt05 with dbgpt 0.5"
    scripted.enqueue(["Hel", "lo", "!"])
    scripted.enqueue(["Hi", " there"])
    scripted.enqueue(["Hello! How can I assist you today?"])
    env = {**os.environ, "DBGPT_API_BASE": dbgpt.url + "/api/v2"}
    env.pop("DBGPT_API_KEY", None)
    out = subprocess.run(
        [str(DBGPT05_PYTHON), str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["api_url"] == dbgpt.url + "/api/v2"
    # chat.py prints choices[0].delta.content of every chunk: the role chunk's "", the text,
    # and the finish chunk's None.
    assert "".join(line for line in result["stream_printed"] if line != "None") == "Hello!"
    notebook = result["notebook_printed"]  # print(data.choices): one list per chunk
    assert len(notebook) >= 2
    assert all(line.startswith("[ChatCompletionResponseStreamChoice(") for line in notebook)
    assert result["chat_type"] == "ChatCompletionResponse", result["chat"]
    reply = result["chat"]
    assert reply["model"] == "proxyllm" and reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
    }
    assert set(reply["usage"]) == {"prompt_tokens", "total_tokens", "completion_tokens"}
    assert [call.prompt.messages[-1].content for call in scripted.calls] == ["hello"] * 3


# --- the request fields of the seed's parameter table ----------------------------------------


def test_messages_as_a_list_of_strings_are_user_messages_in_order(dbgpt, scripted):
    """DB-GPT's `messages: Union[str, List[str]]`: each string is one user message."""
    scripted.enqueue(["Fine, thanks."])
    response = post(
        dbgpt,
        "/api/v2/chat/completions",
        {"messages": ["Hello", "How are you?"], "model": "proxyllm"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Fine, thanks."
    assert [(m.role, m.content) for m in scripted.calls[0].prompt.messages] == [
        (Role.USER, "Hello"),
        (Role.USER, "How are you?"),
    ]


def test_messages_as_a_list_of_strings_stream_too(dbgpt, scripted):
    scripted.enqueue(["O", "K"])
    body = {"messages": ["Hello", "How are you?"], "model": "proxyllm", "stream": True}
    response = post(dbgpt, "/api/v2/chat/completions", body)
    assert response.status_code == 200, response.text
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "OK"
    assert [m.content for m in scripted.calls[0].prompt.messages] == ["Hello", "How are you?"]


@pytest.mark.parametrize(
    ("mode", "param"), [("chat_app", "xiaozhan"), ("chat_normal", None)], ids=["app", "normal"]
)
def test_the_parameter_tables_chat_model_spelling_works_like_chat_mode(
    dbgpt, scripted, mode, param
):
    """The seed's table spells the mode `chat_model`; DB-GPT's client sends `chat_mode`."""
    for spelling in ("chat_mode", "chat_model"):
        scripted.enqueue(["我是小盏。"])
        body = {"messages": "你是谁？", "model": "proxyllm", spelling: mode}
        if param is not None:
            body["chat_param"] = param
        response = post(dbgpt, "/api/v2/chat/completions", body)
        assert response.status_code == 200, (spelling, response.text)
    by_mode, by_model = scripted.calls
    assert by_model.prompt == by_mode.prompt and by_model.params == by_mode.params
    if mode == "chat_app":
        system = by_model.prompt.messages[0]
        assert system.role is Role.SYSTEM and "你是小盏" in system.content


def test_dbgpt_user_name_sys_code_and_span_id_are_stored_with_the_turn(dbgpt, scripted):
    turns = [
        {"user_name": "mallory", "sys_code": "s1", "span_id": "span-1"},
        {},
    ]
    for i, fields in enumerate(turns):
        scripted.enqueue([f"reply {i}"])
        body = {"messages": f"question {i}", "model": "proxyllm", "conv_uid": "conv-7", **fields}
        assert post(dbgpt, "/api/v2/chat/completions", body).status_code == 200
    messages = thread_messages(dbgpt, "conv-7")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "question 0"),
        ("assistant", "reply 0"),
        ("user", "question 1"),
        ("assistant", "reply 1"),
    ]
    assert [(m["user"], m["metadata"]) for m in messages] == [
        ("mallory", {"sys_code": "s1", "span_id": "span-1"}),
        ("mallory", {"sys_code": "s1", "span_id": "span-1"}),
        ("", {}),
        ("", {}),
    ]


def test_dbgpt_fields_on_a_streamed_turn_are_stored_too(dbgpt, scripted):
    scripted.enqueue(["a", "b"])
    body = {
        "messages": "hi",
        "model": "proxyllm",
        "stream": True,
        "conv_uid": "conv-8",
        "user_name": "ann",
        "span_id": "span-9",
    }
    assert "[DONE]" in post(dbgpt, "/api/v2/chat/completions", body).text
    messages = thread_messages(dbgpt, "conv-8")
    assert [(m["user"], m["metadata"]) for m in messages] == [("ann", {"span_id": "span-9"})] * 2


def test_v1_user_and_metadata_are_stored_with_the_turn(dbgpt, scripted):
    turns = [
        {"user": "user-42", "metadata": {"session": "s-1", "source": "web"}},
        {"user": "user-42"},
    ]
    for i, fields in enumerate(turns):
        scripted.enqueue([f"reply {i}"])
        body = {
            "model": "proxyllm",
            "messages": [{"role": "user", "content": f"question {i}"}],
            "thread_id": "t-v1",
            **fields,
        }
        response = post(dbgpt, "/v1/chat/completions", body)
        assert response.status_code == 200, response.text
    messages = thread_messages(dbgpt, "t-v1")
    assert [(m["user"], m["metadata"]) for m in messages] == [
        ("user-42", {"session": "s-1", "source": "web"}),
        ("user-42", {"session": "s-1", "source": "web"}),
        ("user-42", {}),
        ("user-42", {}),
    ]
