"""The SDK's Client and AsyncClient against a real core: results, streams, cancels, parity."""

from __future__ import annotations

import asyncio
import time

import pytest

import chatrpc
from core.types import FinishReason as CoreFinish
from tests.clients.events import kinds, text
from tests.conftest import EMBEDDED
from tests.fakes import ScriptedBackend, tool_call_chunks
from tests.servers import CoreThread


def script_turn(scripted: ScriptedBackend) -> None:
    scripted.enqueue(
        ["Hi", " there", *tool_call_chunks(0, "call_abc", "lookup", '{"q": "tea"}')],
        finish=CoreFinish.TOOL_CALLS,
        prompt_tokens=7,
    )


def strip_identity(value):
    """Replies (and start events) differ only in id and created time between two runs."""
    from dataclasses import replace

    if isinstance(value, chatrpc.Reply | chatrpc.StreamStart):
        return replace(value, id="", created=0)
    return value


def test_sync_chat_returns_a_typed_reply(core_server: CoreThread, scripted):
    script_turn(scripted)
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat("hello", temperature=0.5, max_tokens=10, stop="END")
    assert isinstance(reply, chatrpc.Reply)
    assert reply.content == "Hi there"
    assert reply.tool_calls == (chatrpc.ToolCall("call_abc", "lookup", '{"q": "tea"}'),)
    assert reply.finish_reason is chatrpc.FinishReason.TOOL_CALLS
    assert reply.usage == chatrpc.Usage(7, 4, 11)
    sent = scripted.calls[0]
    assert [(m.role.value, m.content) for m in sent.prompt.messages] == [("user", "hello")]
    assert (sent.params.temperature, sent.params.max_tokens, sent.params.stop) == (
        0.5,
        10,
        ("END",),
    )


def test_messages_may_be_a_string_dicts_or_message_objects(core_server, scripted):
    history = [
        {"role": "system", "content": "be brief"},
        chatrpc.Message(role="user", content="one"),
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    with chatrpc.Client(core_server.target) as client:
        client.chat(history)
    roles = [(m.role.value, m.content) for m in scripted.calls[0].prompt.messages]
    assert roles == [
        ("system", "be brief"),
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
    ]


def test_sync_stream_yields_start_deltas_finish_usage(core_server, scripted):
    scripted.enqueue(["a", "b"])
    with chatrpc.Client(core_server.target) as client:
        events = list(client.chat_stream("hello"))
    assert kinds(events) == ["start", "delta", "delta", "finish", "usage"]
    start, finish, usage = events[0], events[-2], events[-1]
    assert text(events) == "ab"
    assert isinstance(start, chatrpc.StreamStart) and start.id.startswith("chatcmpl-")
    assert isinstance(finish, chatrpc.StreamFinish)
    assert finish.finish_reason is chatrpc.FinishReason.STOP
    assert isinstance(usage, chatrpc.Usage) and usage.completion_tokens == 2


async def test_async_stream_in_the_dbgpt_shape(core_server, scripted):
    scripted.enqueue(["x", "y"])
    streamed = ""
    async with chatrpc.AsyncClient(core_server.target) as client:
        async for event in client.chat_stream(model="scripted", messages="hello"):
            if isinstance(event, chatrpc.MessageDelta):
                streamed += event.content
    assert streamed == "xy"


def test_sync_and_async_clients_give_equal_results(core_server, scripted):
    """Parity: the same scenario through Client and AsyncClient (llm test_async_parity)."""
    for _ in range(4):
        script_turn(scripted)
    with chatrpc.Client(core_server.target) as client:
        sync_reply = client.chat("hello", seed=1)
        sync_chunks = list(client.chat_stream("hello", seed=1))
        sync_models = client.list_models()

    async def run():
        async with chatrpc.AsyncClient(core_server.target) as client:
            reply = await client.chat("hello", seed=1)
            chunks = [c async for c in client.chat_stream("hello", seed=1)]
            return reply, chunks, await client.list_models()

    async_reply, async_chunks, async_models = asyncio.run(run())
    assert strip_identity(sync_reply) == strip_identity(async_reply)
    assert [strip_identity(c) for c in sync_chunks] == [strip_identity(c) for c in async_chunks]
    assert sync_models == async_models
    assert [m.id for m in sync_models] == ["scripted", EMBEDDED]


def test_breaking_out_of_a_sync_stream_cancels_generation(core_server, scripted):
    scripted.enqueue([f"{i} " for i in range(300)], delay=0.01)
    with chatrpc.Client(core_server.target) as client:
        stream = client.chat_stream("count")
        for event in stream:
            if isinstance(event, chatrpc.MessageDelta):
                break
        produced = scripted.calls[0].produced
        stream.close()
    record = scripted.calls[0]
    deadline = time.monotonic() + 2
    while record.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert record.closed_at is not None
    assert record.produced - produced <= 2


async def test_cancelling_the_async_consumer_cancels_generation(core_server, scripted):
    scripted.enqueue([f"{i} " for i in range(300)], delay=0.01)
    first = asyncio.Event()

    async def consume():
        async with chatrpc.AsyncClient(core_server.target) as client:
            async for event in client.chat_stream("count"):
                if isinstance(event, chatrpc.MessageDelta):
                    first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    produced = scripted.calls[0].produced
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = scripted.calls[0]
    for _ in range(200):
        if record.closed_at is not None:
            break
        await asyncio.sleep(0.01)
    assert record.closed_at is not None
    assert record.produced - produced <= 2


def test_deadline_exceeded_is_raised_as_sdk_error(core_server, scripted):
    scripted.enqueue(["slow"] * 50, delay=0.05)
    with chatrpc.Client(core_server.target) as client, pytest.raises(chatrpc.DeadlineExceededError):
        client.chat("hello", timeout=0.2)


def test_unreachable_server_is_unavailable_error():
    with (
        chatrpc.Client("127.0.0.1:1", timeout=2) as client,
        pytest.raises(chatrpc.UnavailableError),
    ):
        client.chat("hello")


def test_invalid_request_error_carries_reason_and_field(core_server, scripted):
    with (
        chatrpc.Client(core_server.target) as client,
        pytest.raises(chatrpc.InvalidRequestError) as caught,
    ):
        client.chat("hello", temperature=5)
    assert caught.value.reason == "INVALID_ARGUMENT"
    assert caught.value.metadata["field"] == "generation_config.temperature"
    assert scripted.calls == []


def test_unknown_role_is_rejected_locally_with_value_error(core_server):
    with chatrpc.Client(core_server.target) as client, pytest.raises(ValueError, match="role"):
        client.chat([{"role": "root", "content": "x"}])


@pytest.mark.model
def test_embedded_model_through_the_sync_sdk(core_server):
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat("What is the capital of France?", model=EMBEDDED, max_tokens=12)
        streamed = text(client.chat_stream("Say hello.", model=EMBEDDED, max_tokens=8))
    assert reply.content and reply.usage.completion_tokens <= 12
    assert streamed
