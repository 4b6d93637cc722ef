"""ThreadEditsContract: a thread's own edits (what conversations need), on every thread store.

Subclassed beside MemoryStoreContract with the database's mixin; the store fixture is
StoreContract's.
"""

from __future__ import annotations

import asyncio

import pytest

from core.errors import NotFoundError, ThreadExistsError, ThreadNotFoundError
from core.memory import MemoryStore
from core.types import Message, Role
from tests.core.memory.contract import assistant, commit, user

META = (("app", "tea"), ("topic", "oolong"))


class ThreadEditsContract:
    """Creating, re-labelling, growing and hiding parts of threads outside turns."""

    async def test_a_created_thread_holds_its_messages_and_metadata_and_takes_turns(
        self, store: MemoryStore
    ) -> None:
        seeded = (Message(Role.SYSTEM, "be brief"), user("hi"), assistant("hello"))
        thread = await store.create_thread("alice", "c1", seeded, META)
        assert [m.seq for m in thread.messages] == [0, 1, 2]
        got = await store.get_thread("alice", "c1")
        assert [m.message for m in got.messages] == list(seeded)
        assert got.metadata == META
        assert {m.turn_id for m in got.messages} == {""}
        await commit(store, "alice", "c1", user("more"), assistant("sure"))
        history, head = await store.load_history("alice", "c1")
        assert head == 5 and history[-1].content == "sure"

    async def test_an_empty_thread_takes_its_first_turn(self, store: MemoryStore) -> None:
        empty = await store.create_thread("alice", "c2", (), ())
        assert empty.messages == ()
        assert await store.load_history("alice", "c2") == ((), 0)
        await commit(store, "alice", "c2", user("hi"), assistant("hello"))
        assert len((await store.get_thread("alice", "c2")).messages) == 2

    async def test_ids_are_per_owner_and_taken_once(self, store: MemoryStore) -> None:
        await store.create_thread("alice", "c3", (), META)
        with pytest.raises(ThreadExistsError):
            await store.create_thread("alice", "c3", (user("x"),), ())
        await store.create_thread("bob", "c3", (), ())
        assert (await store.get_thread("alice", "c3")).metadata == META
        assert (await store.get_thread("bob", "c3")).metadata == ()

    async def test_appends_take_consecutive_seqs_even_when_concurrent(
        self, store: MemoryStore
    ) -> None:
        await store.create_thread("alice", "c5", (user("a"),), ())
        batches = await asyncio.gather(
            *(
                store.append_messages("alice", "c5", (user(f"u{i}"), user(f"v{i}")))
                for i in range(6)
            )
        )
        seqs = sorted(m.seq for batch in batches for m in batch)
        assert seqs == list(range(1, 13))
        for batch in batches:  # each batch is contiguous, in its order
            assert batch[1].seq == batch[0].seq + 1
        _, head = await store.load_history("alice", "c5")
        assert head == 13
        with pytest.raises(ThreadNotFoundError):
            await store.append_messages("bob", "c5", (user("x"),))

    async def test_a_hidden_message_leaves_history_but_keeps_its_seq(
        self, store: MemoryStore
    ) -> None:
        await store.create_thread("alice", "c6", (user("a"), assistant("b"), user("c")), ())
        await store.hide_message("alice", "c6", 1)
        history, head = await store.load_history("alice", "c6")
        assert [m.content for m in history] == ["a", "c"] and head == 3
        assert [m.seq for m in (await store.get_thread("alice", "c6")).messages] == [0, 2]
        await commit(store, "alice", "c6", user("d"), assistant("e"))
        assert [m.seq for m in (await store.get_thread("alice", "c6")).messages] == [0, 2, 3, 4]
        with pytest.raises(NotFoundError):
            await store.hide_message("alice", "c6", 1)
        with pytest.raises(NotFoundError):
            await store.hide_message("alice", "c6", 99)
        with pytest.raises(ThreadNotFoundError):
            await store.hide_message("bob", "c6", 0)
