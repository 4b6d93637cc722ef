"""Thread memory through the official openai SDK: context, dedup, atomicity, idempotency, order."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import openai
import pytest

from core.errors import BackendUnavailableError
from core.types import Role


def ask(client, content: str, thread_id, **kwargs):
    extra = {"thread_id": thread_id, **kwargs.pop("extra_body", {})}
    return client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": content}],
        extra_body=extra,
        **kwargs,
    )


def stored(gateway, thread_id) -> list[tuple[str, str]]:
    response = httpx.get(f"{gateway.url}/v1/threads/{thread_id}")
    if response.status_code == 404:
        return []
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


@pytest.mark.parametrize("thread_id", [1, "chat-7"])
def test_second_turn_sees_the_first_in_its_prompt(openai_client, scripted, gateway, thread_id):
    scripted.enqueue(["I am 小盏."])
    scripted.enqueue(["You asked who I am."])
    ask(openai_client, "Who are you?", thread_id)
    reply = ask(openai_client, "What did I ask?", thread_id)
    assert reply.choices[0].message.content == "You asked who I am."
    second_prompt = [(m.role, m.content) for m in scripted.calls[1].prompt.messages]
    assert second_prompt == [
        (Role.USER, "Who are you?"),
        (Role.ASSISTANT, "I am 小盏."),
        (Role.USER, "What did I ask?"),
    ]
    assert stored(gateway, thread_id) == [
        ("user", "Who are you?"),
        ("assistant", "I am 小盏."),
        ("user", "What did I ask?"),
        ("assistant", "You asked who I am."),
    ]
    assert reply.model_extra is not None and reply.model_extra["thread_id"] == str(thread_id)


def test_resending_the_whole_history_stores_the_same_rows(openai_client, scripted, gateway):
    for thread, full in (("only-new", False), ("full-history", True)):
        scripted.enqueue(["A1"])
        scripted.enqueue(["A2"])
        ask(openai_client, "Q1", thread)
        messages = [{"role": "user", "content": "Q2"}]
        if full:
            messages = [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1"},
                *messages,
            ]
        openai_client.chat.completions.create(
            model="scripted", messages=messages, extra_body={"thread_id": thread}
        )
    assert stored(gateway, "only-new") == stored(gateway, "full-history")
    assert stored(gateway, "full-history") == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
    ]
    # The system message applied to its turn (first in the prompt) but was not stored.
    last_prompt = scripted.calls[-1].prompt.messages
    assert (last_prompt[0].role, last_prompt[0].content) == (Role.SYSTEM, "Be brief.")
    assert [m.content for m in last_prompt[1:]] == ["Q1", "A1", "Q2"]


def test_thread_id_from_the_x_thread_id_header(gateway, scripted):
    scripted.enqueue(["hi"])
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(
        gateway.url + "/v1/chat/completions", json=body, headers={"X-Thread-Id": "hdr-1"}
    )
    assert response.status_code == 200
    assert stored(gateway, "hdr-1") == [("user", "hello"), ("assistant", "hi")]
    clash = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={**body, "thread_id": "other"},
        headers={"X-Thread-Id": "hdr-1"},
    )
    assert clash.status_code == 400 and clash.json()["error"]["param"] == "thread_id"


def test_backend_failure_mid_stream_leaves_the_thread_as_before(openai_client, scripted, gateway):
    scripted.enqueue(["A1"])
    ask(openai_client, "Q1", "fail-1")
    before = stored(gateway, "fail-1")
    scripted.enqueue(
        ["partial", "more", "never"], fail_after=2, error=BackendUnavailableError("died")
    )
    with pytest.raises(openai.APIError):
        for _ in ask(openai_client, "Q2", "fail-1", stream=True):
            pass
    assert stored(gateway, "fail-1") == before


def test_cancelled_stream_leaves_the_thread_as_before(gateway, scripted, openai_client):
    scripted.enqueue(["A1"])
    ask(openai_client, "Q1", "cancel-1")
    before = stored(gateway, "cancel-1")
    scripted.enqueue([f"t{i} " for i in range(300)], delay=0.01)
    host, port = gateway.url.removeprefix("http://").split(":")
    import json

    payload = json.dumps(
        {
            "model": "scripted",
            "stream": True,
            "thread_id": "cancel-1",
            "messages": [{"role": "user", "content": "Q2"}],
        }
    ).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        received = b""
        while received.count(b"data: ") < 3:
            received += sock.recv(65536)
    record = scripted.calls[-1]
    deadline = time.monotonic() + 3
    while record.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert record.closed_at is not None
    time.sleep(0.1)
    assert stored(gateway, "cancel-1") == before


def test_idempotent_retry_after_a_lost_response_stores_one_turn(gateway, scripted):
    scripted.enqueue(["the one reply"])
    body = {
        "model": "scripted",
        "thread_id": "idem-1",
        "messages": [{"role": "user", "content": "Q"}],
    }
    headers = {"Idempotency-Key": "turn-0001"}
    first = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers).json()
    retry = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers).json()
    assert retry["id"] == first["id"]
    assert retry["choices"][0]["message"]["content"] == "the one reply"
    assert len(scripted.calls) == 1
    assert stored(gateway, "idem-1") == [("user", "Q"), ("assistant", "the one reply")]
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as r:
        text = "".join(r.iter_text())
    assert "the one reply" in text and text.rstrip().endswith("data: [DONE]")
    changed = {**body, "messages": [{"role": "user", "content": "another question"}]}
    conflict = httpx.post(gateway.url + "/v1/chat/completions", json=changed, headers=headers)
    assert conflict.status_code == 409
    assert conflict.headers["x-should-retry"] == "false"
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"


async def test_sixteen_concurrent_turns_on_one_thread_are_serialised(
    async_openai_client, scripted, gateway
):
    for i in range(16):
        scripted.enqueue([f"A{i}"], delay=0.005)

    async def turn(i: int):
        return await async_openai_client.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": f"Q{i}"}],
            extra_body={"thread_id": "busy"},
        )

    replies = await asyncio.gather(*(turn(i) for i in range(16)))
    assert len(replies) == 16
    history = stored(gateway, "busy")
    assert len(history) == 32
    roles = [role for role, _ in history]
    assert roles == ["user", "assistant"] * 16
    questions = [content for role, content in history if role == "user"]
    assert sorted(questions) == sorted(f"Q{i}" for i in range(16))
    # Each turn's prompt held exactly the turns stored before it: nothing interleaved.
    for n, call in enumerate(sorted(scripted.calls, key=lambda c: len(c.prompt.messages))):
        assert len(call.prompt.messages) == 2 * n + 1


def test_thread_routes_list_get_delete(openai_client, scripted, gateway):
    for thread in ("r-1", "r-2", "r-3"):
        scripted.enqueue(["ok"])
        ask(openai_client, "hello", thread)
    page = httpx.get(gateway.url + "/v1/threads", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [t["id"] for t in page["data"]] == ["r-3", "r-2"]
    rest = httpx.get(
        gateway.url + "/v1/threads", params={"limit": 2, "after": page["next_page_token"]}
    ).json()
    assert [t["id"] for t in rest["data"]] == ["r-1"] and rest["has_more"] is False
    thread = httpx.get(gateway.url + "/v1/threads/r-2").json()
    assert thread["object"] == "thread" and thread["message_count"] == 2
    assert thread["messages"][1]["role"] == "assistant" and thread["messages"][1][
        "turn_id"
    ].startswith("chatcmpl-")
    deleted = httpx.delete(gateway.url + "/v1/threads/r-2")
    assert deleted.json() == {"id": "r-2", "object": "thread.deleted", "deleted": True}
    missing = httpx.get(gateway.url + "/v1/threads/r-2")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "thread_not_found"
    assert httpx.delete(gateway.url + "/v1/threads/r-2").status_code == 404
    assert httpx.get(gateway.url + "/v1/threads", params={"limit": 0}).status_code == 400


def test_context_window_trims_oldest_turns_and_says_so(gateway, scripted, openai_client):
    long = " ".join(["word"] * 900)  # the scripted backend counts one token per word
    for i in range(5):  # 5 x ~905 tokens: more than the 4096-token window less max_tokens
        scripted.enqueue([f"A{i}"])
        ask(openai_client, f"Q{i} {long}", "trim-1")
    scripted.enqueue(["last"])
    body = {
        "model": "scripted",
        "thread_id": "trim-1",
        "max_tokens": 200,
        "messages": [
            {"role": "system", "content": "keep me"},
            {"role": "user", "content": "final"},
        ],
    }
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    assert response.status_code == 200
    trimmed = int(response.headers["x-trimmed-messages"])
    prompt = scripted.calls[-1].prompt.messages
    assert trimmed >= 2 and trimmed % 2 == 0
    assert prompt[0].content == "keep me" and prompt[-1].content == "final"
    assert len(prompt) == 1 + (10 - trimmed) + 1
    assert prompt[1].role is Role.USER  # whole turns go, never half a pair
    assert len(stored(gateway, "trim-1")) == 12  # trimming never deletes
