"""Background turns over a real core (SQLite) through the SDK: start, watch, get, cancel."""

from __future__ import annotations

import asyncio
import time

import pytest

import chatrpc
from core.errors import ChatError
from core.memory.background import BackgroundRun, RunStatus
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread


@pytest.fixture
async def client(core_server: CoreThread):
    async with chatrpc.AsyncClient(core_server.target) as client:
        yield client


async def events_of(client: chatrpc.AsyncClient, chat_id: str, after: int = 0):
    return [e async for e in client.watch_background_chat(chat_id, after_sequence=after)]


async def test_a_background_turn_logs_numbered_events_and_is_stored(client, scripted):
    scripted.enqueue(["a", "b", "c"], delay=0.05)
    chat = await client.start_background_chat("hi", model="scripted", thread_id="bg-1")
    assert chat.status is chatrpc.BackgroundStatus.IN_PROGRESS
    assert chat.chat_id.startswith("chatcmpl-") and chat.thread_id == "bg-1"
    logged = await events_of(client, chat.chat_id)
    assert [e.sequence for e in logged] == list(range(1, len(logged) + 1))
    assert isinstance(logged[0].event, chatrpc.StreamStart)
    assert logged[0].event.id == chat.chat_id
    text = "".join(e.event.content for e in logged if isinstance(e.event, chatrpc.MessageDelta))
    assert text == "abc"
    assert isinstance(logged[-1].event, chatrpc.Usage)
    done = await client.get_background_chat(chat.chat_id)
    assert done.status is chatrpc.BackgroundStatus.COMPLETED
    assert done.last_sequence == len(logged)
    assert (await client.get_turn(chat.chat_id)).reply.content == "abc"
    later = await events_of(client, chat.chat_id, after=2)
    assert [e.sequence for e in later] == [e.sequence for e in logged[2:]]


async def test_watchers_joining_mid_turn_get_every_event_once(client, scripted):
    scripted.enqueue([f"w{i} " for i in range(20)], delay=0.02)
    chat = await client.start_background_chat("hi", model="scripted", thread_id="bg-2")
    await asyncio.sleep(0.15)
    first, second = await asyncio.gather(
        events_of(client, chat.chat_id), events_of(client, chat.chat_id, after=3)
    )
    assert [e.sequence for e in first] == list(range(1, len(first) + 1))
    assert [e.sequence for e in second] == list(range(4, len(first) + 1))
    assert second == first[3:]


async def test_a_stateless_request_needs_store(client):
    with pytest.raises(chatrpc.InvalidRequestError) as caught:
        await client.start_background_chat("hi", model="scripted", store=False)
    assert caught.value.metadata.get("field") == "store"


async def test_a_refused_request_fails_the_start_call(client):
    with pytest.raises(chatrpc.NotFoundError):
        await client.start_background_chat("hi", model="no-such-model")


async def test_cancel_stops_generation_and_stores_nothing(client, scripted: ScriptedBackend):
    scripted.enqueue([f"w{i} " for i in range(200)], delay=0.05)
    chat = await client.start_background_chat("hi", model="scripted", thread_id="bg-3")
    await asyncio.sleep(0.2)
    cancelled = await client.cancel_background_chat(chat.chat_id)
    assert cancelled.status is chatrpc.BackgroundStatus.CANCELLED
    record = scripted.calls[-1]
    for _ in range(250):  # the writer's next write (within one poll of the cancel) stops it
        if record.closed_at is not None:
            break
        await asyncio.sleep(0.02)
    assert record.closed_at is not None and record.produced < 200
    logged = await events_of(client, chat.chat_id)  # ends plainly, without usage
    assert not any(isinstance(e.event, chatrpc.Usage) for e in logged)
    with pytest.raises(chatrpc.NotFoundError):
        await client.get_turn(chat.chat_id)


async def test_a_failed_turn_ends_its_watch_with_its_error(client, scripted):
    scripted.enqueue(["a", "b", "c"], fail_after=2, error=ChatError("boom"), delay=0.01)
    chat = await client.start_background_chat("hi", model="scripted", thread_id="bg-4")
    seen: list[chatrpc.BackgroundEvent] = []

    async def watch() -> None:
        async for logged in client.watch_background_chat(chat.chat_id):
            seen.append(logged)

    with pytest.raises(chatrpc.InternalError):
        await watch()
    assert seen and isinstance(seen[0].event, chatrpc.StreamStart)
    assert (
        await client.get_background_chat(chat.chat_id)
    ).status is chatrpc.BackgroundStatus.FAILED


async def test_a_turn_whose_lease_expired_reads_as_failed(client, core_server: CoreThread):
    now = time.time()
    run = BackgroundRun(
        owner="default",
        run_id="chatcmpl-" + "d" * 24,
        thread_id="bg-5",
        model="scripted",
        status=RunStatus.IN_PROGRESS,
        lease_owner="a-replica-that-died",
        lease_expires=now - 1,
        created=now - 31,
        updated=now - 31,
        expires=now + 3600,
    )
    assert core_server.store is not None
    core_server.run(core_server.store.create_run(run))
    chat = await client.get_background_chat(run.run_id)
    assert chat.status is chatrpc.BackgroundStatus.FAILED
    with pytest.raises(chatrpc.UnavailableError) as caught:
        await events_of(client, run.run_id)
    assert caught.value.reason == "REPLICA_LOST"


async def test_an_unknown_chat_is_not_found(client):
    with pytest.raises(chatrpc.NotFoundError):
        await client.get_background_chat("chatcmpl-" + "0" * 24)
    with pytest.raises(chatrpc.NotFoundError):
        await client.cancel_background_chat("chatcmpl-" + "0" * 24)
