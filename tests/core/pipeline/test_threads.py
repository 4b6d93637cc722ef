"""ThreadMemory / TurnSession on a real SQLite store: context, serialisation, commit, replay."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import IdempotencyKeyReusedError, ThreadBusyError
from core.memory import open_store
from core.pipeline.threads import ThreadMemory, replay_events, split_messages
from core.types import (
    Caller,
    Choice,
    FinishReason,
    Message,
    Reply,
    Role,
    TextDelta,
    Turn,
    TurnFinish,
    Usage,
)

SYSTEM = Message(Role.SYSTEM, "be brief")
Q1, A1 = Message(Role.USER, "hi"), Message(Role.ASSISTANT, "hello")
Q2 = Message(Role.USER, "again")


@pytest.fixture
async def store(sqlite_url):
    store = await open_store(sqlite_url)
    yield store
    await store.aclose()


def reply(content: str, turn_id: str = "chatcmpl-1") -> Reply:
    return Reply(turn_id, "m", 1, "t-1", (Choice(0, content, (), FinishReason.STOP),), Usage(2, 1))


def test_system_messages_are_instructions_and_a_resent_prefix_is_dropped():
    instructions, new = split_messages((SYSTEM, Q1, A1, Q2), stored=(Q1, A1))
    assert instructions == (SYSTEM,) and new == (Q2,)
    assert split_messages((Q1, Q2), stored=(Q1, A1)) == ((), (Q1, Q2))  # not a prefix: all new


async def test_a_committed_turn_is_the_next_turns_history_with_user_and_metadata(store):
    memory = ThreadMemory(store)
    caller = Caller("alice")
    turn = Turn(messages=(SYSTEM, Q1), thread_id="t-1", user="u-7", metadata=(("k", "v"),))
    async with memory.session(caller, turn) as session:
        assert (session.history, session.instructions, session.new) == ((), (SYSTEM,), (Q1,))
        await session.commit(reply("hello"))
    async with memory.session(caller, Turn(messages=(Q2,), thread_id="t-1")) as session:
        assert session.history == (Q1, A1) and session.new == (Q2,)
    thread = await store.get_thread("alice", "t-1")
    assert [(m.user, m.metadata) for m in thread.messages] == [("u-7", (("k", "v"),))] * 2


async def test_turns_on_one_thread_wait_for_each_other_then_give_up(store):
    memory = ThreadMemory(store, wait=0.2)
    turn = Turn(messages=(Q1,), thread_id="t-1")
    async with memory.session(Caller("a"), turn):
        with pytest.raises(ThreadBusyError):
            async with memory.session(Caller("a"), turn):
                pass
        async with memory.session(Caller("b"), turn):  # another owner's thread: no wait
            pass


async def test_the_second_turn_runs_after_the_first_commits(store):
    memory = ThreadMemory(store)
    order: list[str] = []

    async def run(name: str, message: Message) -> None:
        async with memory.session(Caller("a"), Turn(messages=(message,), thread_id="t-1")) as s:
            order.append(f"{name} sees {len(s.history)}")
            await asyncio.sleep(0.05)
            await s.commit(reply(name, turn_id=f"chatcmpl-{name}"))

    await asyncio.gather(run("first", Q1), run("second", Q2))
    assert order == ["first sees 0", "second sees 2"]


async def test_an_idempotency_key_replays_the_stored_turn_and_refuses_another_body(store):
    memory = ThreadMemory(store)
    caller = Caller("a", idempotency_key="k-1")
    turn = Turn(messages=(Q1,), thread_id="t-1")
    async with memory.session(caller, turn) as session:
        assert session.replay is None
        await session.commit(reply("hello"))
    async with memory.session(caller, turn) as session:
        assert session.replay is not None
        events = list(replay_events(session.replay))
    assert TextDelta("hello") in events and TurnFinish(FinishReason.STOP) in events
    with pytest.raises(IdempotencyKeyReusedError):
        async with memory.session(caller, Turn(messages=(Q2,), thread_id="t-1")):
            pass
