"""MemoryStoreContract: the behaviour every MemoryStore must show, as a mixin of test methods.

A store's test module subclasses it with the mixin of its database (tests.core.storage.contract;
vLLM's ToolParserTests pattern); quirks of one store live beside the subclass.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import replace

import pytest

from core.errors import (
    IdempotencyKeyReusedError,
    InvalidArgumentError,
    ThreadChangedError,
    ThreadNotFoundError,
    TurnNotFoundError,
    TurnNotLatestError,
)
from core.memory import STORES, MemoryStore, open_store
from core.memory.base import ThreadSummary, TurnRecord
from core.types import FinishReason, Message, Role, ToolCall, Usage
from tests.core.memory.stateful import run_memory_state_machine
from tests.core.storage.contract import StoreContract

_clock = itertools.count(1_700_000_000)


def user(text: str, name: str = "") -> Message:
    return Message(role=Role.USER, content=text, name=name)


def assistant(text: str, *calls: ToolCall) -> Message:
    return Message(role=Role.ASSISTANT, content=text, tool_calls=calls)


def record(
    thread_id: str,
    *messages: Message,
    key: str = "",
    request_hash: str = "",
    turn_id: str = "",
) -> TurnRecord:
    return TurnRecord(
        turn_id=turn_id or f"turn_{uuid.uuid4().hex}",
        thread_id=thread_id,
        messages=messages or (user("hi"), assistant("hello")),
        model="scripted",
        finish_reason=FinishReason.STOP,
        usage=Usage(prompt_tokens=7, completion_tokens=3),
        idempotency_key=key,
        request_hash=request_hash,
        created=next(_clock) + 0.25,
    )


async def commit(store: MemoryStore, owner: str, thread_id: str, *messages: Message) -> TurnRecord:
    """Append one turn at the thread's current head."""
    _, head = await store.load_history(owner, thread_id)
    return await store.commit_turn(owner, head, record(thread_id, *messages))


class MemoryStoreContract(StoreContract):
    """Behaviour shared by every memory store; see tests.core.storage.contract."""

    registry = STORES

    @staticmethod
    async def read(store: MemoryStore) -> object:
        return await store.load_history("alice", "t")

    async def test_two_stores_on_one_database_race_like_two_replicas(self, store_url: str) -> None:
        first, second = await open_store(store_url), await open_store(store_url)
        try:
            records = [record("t") for _ in range(16)]
            stores = [first, second] * 8
            results = await asyncio.gather(
                *(s.commit_turn("alice", 0, r) for s, r in zip(stores, records, strict=True)),
                return_exceptions=True,
            )
            assert sum(isinstance(r, TurnRecord) for r in results) == 1
            assert sum(isinstance(r, ThreadChangedError) for r in results) == 15
            assert (await second.load_history("alice", "t"))[1] == 2
        finally:
            await first.aclose()
            await second.aclose()

    # --- round trip and order ------------------------------------------------------------

    async def test_unknown_thread_has_empty_history_at_seq_zero(self, store: MemoryStore) -> None:
        assert await store.load_history("alice", "nope") == ((), 0)

    async def test_commit_round_trips_every_message_field(self, store: MemoryStore) -> None:
        messages = (
            Message(role=Role.SYSTEM, content="你是小盏，半盏青年茶馆的助手。"),
            user("今天有什么茶？ 🍵", name="顾客"),
            assistant(
                "",
                ToolCall(id="call_1", name="menu", arguments='{"店": "半盏", "n": 2}'),
                ToolCall(id="call_2", name="weather", arguments="{}"),
            ),
            Message(role=Role.TOOL, content='{"茶": ["龙井"]}', tool_call_id="call_1"),
            Message(role=Role.TOOL, content="", name="weather", tool_call_id="call_2"),
            assistant('有龙井。\n\t"quoted" \\ back\\slash'),
        )
        turn = record("线程-1", *messages)

        assert await store.commit_turn("alice", 0, turn) == turn

        assert await store.load_history("alice", "线程-1") == (messages, len(messages))
        thread = await store.get_thread("alice", "线程-1")
        assert thread.thread_id == "线程-1"
        assert [m.message for m in thread.messages] == list(messages)
        assert [m.seq for m in thread.messages] == list(range(len(messages)))
        assert {m.turn_id for m in thread.messages} == {turn.turn_id}
        assert {m.created for m in thread.messages} == {turn.created}

    async def test_turns_append_in_order_at_consecutive_seqs(self, store: MemoryStore) -> None:
        first = await store.commit_turn("alice", 0, record("t", user("1"), assistant("one")))
        second = await store.commit_turn("alice", 2, record("t", user("2"), assistant("two")))
        third = await store.commit_turn(
            "alice", 4, record("t", user("3"), Message(Role.TOOL, "x"), assistant("three"))
        )

        history, head = await store.load_history("alice", "t")
        assert head == 7
        assert history == first.messages + second.messages + third.messages
        thread = await store.get_thread("alice", "t")
        assert [m.seq for m in thread.messages] == list(range(7))
        turn_ids = [first.turn_id] * 2 + [second.turn_id] * 2 + [third.turn_id] * 3
        assert [m.turn_id for m in thread.messages] == turn_ids
        assert thread.created <= thread.updated

    # --- optimistic concurrency ----------------------------------------------------------

    async def test_commit_at_a_stale_base_seq_raises_and_writes_nothing(
        self, store: MemoryStore
    ) -> None:
        await store.commit_turn("alice", 0, record("t"))
        before = await store.get_thread("alice", "t")

        for base_seq in (0, 1, 3, 50):
            with pytest.raises(ThreadChangedError):
                await store.commit_turn(
                    "alice", base_seq, record("t", user("late"), assistant("x"))
                )

        assert await store.get_thread("alice", "t") == before

    async def test_commit_past_the_head_of_an_unknown_thread_raises(
        self, store: MemoryStore
    ) -> None:
        with pytest.raises(ThreadChangedError):
            await store.commit_turn("alice", 2, record("new"))
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "new")

    @pytest.mark.parametrize("existing_turns", [0, 1])
    async def test_concurrent_commits_at_one_base_seq_let_exactly_one_win(
        self, store: MemoryStore, existing_turns: int
    ) -> None:
        for _ in range(existing_turns):
            await commit(store, "alice", "race")
        base_seq = 2 * existing_turns
        records = [record("race", user(f"u{i}"), assistant(f"a{i}")) for i in range(16)]

        results = await asyncio.gather(
            *(store.commit_turn("alice", base_seq, r) for r in records), return_exceptions=True
        )

        winners = [r for r in results if isinstance(r, TurnRecord)]
        assert len(winners) == 1
        assert all(isinstance(r, ThreadChangedError) for r in results if r not in winners)
        history, head = await store.load_history("alice", "race")
        assert head == base_seq + 2
        assert history[base_seq:] == winners[0].messages

    # --- turns by id ---------------------------------------------------------------------

    async def test_get_turn_returns_the_record_and_its_place_in_the_thread(
        self, store: MemoryStore
    ) -> None:
        first = await store.commit_turn("alice", 0, record("t", user("1"), assistant("one")))
        second = record("t", user("2"), assistant("", ToolCall("call_1", "menu", "{}")))
        second = await store.commit_turn(
            "alice", 2, replace(second, instructions="Be brief.", user="u-7")
        )

        got = await store.get_turn("alice", second.turn_id)

        assert got.record == second
        assert (got.previous_turn_id, got.end_seq, got.latest) == (first.turn_id, 4, True)
        older = await store.get_turn("alice", first.turn_id)
        assert (older.record, older.previous_turn_id, older.latest) == (first, "", False)

    async def test_get_turn_of_another_owner_or_unknown_raises_not_found(
        self, store: MemoryStore
    ) -> None:
        turn = await store.commit_turn("alice", 0, record("t"))
        for owner, turn_id in (("bob", turn.turn_id), ("alice", "turn_nope")):
            with pytest.raises(TurnNotFoundError):
                await store.get_turn(owner, turn_id)
            with pytest.raises(TurnNotFoundError):
                await store.delete_turn(owner, turn_id)
        assert (await store.get_turn("alice", turn.turn_id)).record == turn

    async def test_delete_turn_rewinds_the_thread_to_its_previous_turn(
        self, store: MemoryStore
    ) -> None:
        first = await store.commit_turn("alice", 0, record("t", user("1"), assistant("one")))
        second = await store.commit_turn("alice", 2, record("t", user("2"), assistant("two")))

        with pytest.raises(TurnNotLatestError):
            await store.delete_turn("alice", first.turn_id)
        await store.delete_turn("alice", second.turn_id)

        assert await store.load_history("alice", "t") == (first.messages, 2)
        assert (await store.get_turn("alice", first.turn_id)).latest
        with pytest.raises(TurnNotFoundError):
            await store.get_turn("alice", second.turn_id)
        third = await store.commit_turn("alice", 2, record("t", user("3"), assistant("three")))
        assert (await store.get_turn("alice", third.turn_id)).previous_turn_id == first.turn_id

    async def test_deleting_the_only_turn_deletes_the_thread(self, store: MemoryStore) -> None:
        turn = await store.commit_turn("alice", 0, record("t"))

        await store.delete_turn("alice", turn.turn_id)

        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "t")
        assert await store.load_history("alice", "t") == ((), 0)
        await store.commit_turn("alice", 0, record("t"))  # the id can start a new thread

    # --- idempotency ---------------------------------------------------------------------

    async def test_retry_with_the_same_key_returns_the_stored_turn_and_writes_once(
        self, store: MemoryStore
    ) -> None:
        first = await store.commit_turn("alice", 0, record("t", key="k1", request_hash="h1"))
        retry = record("t", user("hi"), assistant("a different reply"), key="k1", request_hash="h1")

        for base_seq in (0, 2):  # the retry may have loaded the history before or after
            assert await store.commit_turn("alice", base_seq, retry) == first

        assert await store.load_history("alice", "t") == (first.messages, 2)
        assert await store.find_turn("alice", "k1") == first

    async def test_same_key_with_a_different_hash_raises_and_writes_nothing(
        self, store: MemoryStore
    ) -> None:
        await store.commit_turn("alice", 0, record("t", key="k1", request_hash="h1"))

        with pytest.raises(IdempotencyKeyReusedError):
            await store.commit_turn("alice", 2, record("t", key="k1", request_hash="h2"))
        with pytest.raises(IdempotencyKeyReusedError):
            await store.commit_turn("alice", 0, record("other", key="k1", request_hash="h2"))

        assert (await store.load_history("alice", "t"))[1] == 2
        assert await store.load_history("alice", "other") == ((), 0)

    async def test_concurrent_retries_with_one_key_store_one_turn(self, store: MemoryStore) -> None:
        retries = [record("t", key="k", request_hash="h") for _ in range(16)]

        results = await asyncio.gather(*(store.commit_turn("alice", 0, r) for r in retries))

        assert len(set(results)) == 1
        assert results[0] in retries
        assert (await store.load_history("alice", "t"))[1] == 2

    async def test_a_turn_keeps_its_request_id(self, store: MemoryStore) -> None:
        stored = replace(record("t", key="k-rid", request_hash="h"), request_id="req-77")
        await store.commit_turn("alice", 0, stored)
        found = await store.find_turn("alice", "k-rid")
        assert found is not None and found.request_id == "req-77"

    async def test_find_turn_without_a_stored_key_returns_none(self, store: MemoryStore) -> None:
        await store.commit_turn("alice", 0, record("t"))  # stored without a key
        assert await store.find_turn("alice", "missing") is None
        assert await store.find_turn("alice", "") is None

    async def test_empty_key_turns_never_replay(self, store: MemoryStore) -> None:
        await store.commit_turn("alice", 0, record("t"))
        with pytest.raises(ThreadChangedError):
            await store.commit_turn("alice", 0, record("t"))

    # --- owners --------------------------------------------------------------------------

    async def test_one_thread_id_under_two_owners_is_two_threads(self, store: MemoryStore) -> None:
        mine = await store.commit_turn("alice", 0, record("t", user("mine"), assistant("a")))
        theirs = await store.commit_turn("用户", 0, record("t", user("theirs"), assistant("b")))

        assert await store.load_history("alice", "t") == (mine.messages, 2)
        assert await store.load_history("用户", "t") == (theirs.messages, 2)
        await store.delete_thread("alice", "t")
        assert await store.load_history("用户", "t") == (theirs.messages, 2)

    async def test_another_owner_sees_nothing_of_a_thread(self, store: MemoryStore) -> None:
        await store.commit_turn("alice", 0, record("t", key="k", request_hash="h"))

        assert await store.load_history("bob", "t") == ((), 0)
        assert await store.find_turn("bob", "k") is None
        assert (await store.list_threads("bob", page_size=10)).threads == ()
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("bob", "t")
        with pytest.raises(ThreadNotFoundError):
            await store.delete_thread("bob", "t")
        with pytest.raises(ThreadChangedError):
            await store.commit_turn("bob", 2, record("t"))
        assert (await store.load_history("alice", "t"))[1] == 2

    async def test_idempotency_keys_belong_to_their_owner(self, store: MemoryStore) -> None:
        mine = await store.commit_turn("alice", 0, record("t", key="k", request_hash="h1"))
        theirs = await store.commit_turn("bob", 0, record("u", key="k", request_hash="h2"))

        assert theirs != mine
        assert await store.find_turn("alice", "k") == mine
        assert await store.find_turn("bob", "k") == theirs

    @pytest.mark.parametrize("owner", ["", None])
    async def test_every_method_requires_an_owner(self, store: MemoryStore, owner: str) -> None:
        calls = [
            store.load_history(owner, "t"),
            store.commit_turn(owner, 0, record("t")),
            store.find_turn(owner, "k"),
            store.get_thread(owner, "t"),
            store.list_threads(owner, page_size=10),
            store.delete_thread(owner, "t"),
            store.get_turn(owner, "turn"),
            store.delete_turn(owner, "turn"),
        ]
        for call in calls:
            with pytest.raises(ValueError, match="owner"):
                await call

    # --- validation ----------------------------------------------------------------------

    @pytest.mark.parametrize(
        "messages",
        [(), (user("no reply"),), (assistant("reply"), user("after the reply"))],
        ids=["empty", "no-assistant", "assistant-not-last"],
    )
    async def test_a_turn_must_end_with_the_assistant_reply(
        self, store: MemoryStore, messages: tuple[Message, ...]
    ) -> None:
        bad = TurnRecord("turn", "t", messages, "m", FinishReason.STOP, Usage(), "", "", 1.0)
        with pytest.raises(ValueError, match="assistant"):
            await store.commit_turn("alice", 0, bad)

    async def test_nul_characters_are_rejected_before_writing(self, store: MemoryStore) -> None:
        with pytest.raises(InvalidArgumentError):
            await store.commit_turn("alice", 0, record("t", user("a\x00b"), assistant("x")))
        assert await store.load_history("alice", "t") == ((), 0)

    # --- get / delete --------------------------------------------------------------------

    async def test_get_or_delete_an_unknown_thread_raises_not_found(
        self, store: MemoryStore
    ) -> None:
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "nope")
        with pytest.raises(ThreadNotFoundError):
            await store.delete_thread("alice", "nope")

    async def test_delete_removes_messages_and_turns(self, store: MemoryStore) -> None:
        await store.commit_turn("alice", 0, record("t", key="k", request_hash="h1"))
        await commit(store, "alice", "t")
        await store.commit_turn("alice", 0, record("kept"))

        await store.delete_thread("alice", "t")

        assert await store.load_history("alice", "t") == ((), 0)
        assert await store.find_turn("alice", "k") is None
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "t")
        with pytest.raises(ThreadNotFoundError):
            await store.delete_thread("alice", "t")
        page = await store.list_threads("alice", page_size=10)
        assert [s.thread_id for s in page.threads] == ["kept"]
        # The id and the key are free again: a new thread starts at seq 0.
        again = await store.commit_turn("alice", 0, record("t", key="k", request_hash="h2"))
        assert await store.load_history("alice", "t") == (again.messages, 2)

    # --- listing -------------------------------------------------------------------------

    async def test_list_pages_most_recently_updated_first(self, store: MemoryStore) -> None:
        for i in range(5):
            await commit(store, "alice", f"t{i}")
        await commit(store, "alice", "t1")
        await commit(store, "bob", "t9")

        pages = await _all_pages(store, "alice", page_size=2)

        assert [[s.thread_id for s in p] for p in pages] == [["t1", "t4"], ["t3", "t2"], ["t0"]]
        summaries = [s for p in pages for s in p]
        assert [s.message_count for s in summaries] == [4, 2, 2, 2, 2]
        assert all(a.updated >= b.updated for a, b in itertools.pairwise(summaries))
        assert all(s.created <= s.updated for s in summaries)

    @pytest.mark.parametrize("page_size", [4, 5, 100])
    async def test_the_last_page_has_no_token(self, store: MemoryStore, page_size: int) -> None:
        for i in range(4):
            await commit(store, "alice", f"t{i}")

        pages = await _all_pages(store, "alice", page_size=page_size)

        assert [len(p) for p in pages] == [4]

    async def test_list_cursor_is_stable_while_threads_are_updated(
        self, store: MemoryStore
    ) -> None:
        for i in range(6):
            await commit(store, "alice", f"t{i}")
        first = await store.list_threads("alice", page_size=2)
        assert [s.thread_id for s in first.threads] == ["t5", "t4"]

        await commit(store, "alice", "t5")  # already listed: moves to the front, not repeated
        await commit(store, "alice", "t1")  # not listed yet: moves to the front, before the cursor
        rest = await _all_pages(store, "alice", page_size=2, page_token=first.next_page_token)

        assert [s.thread_id for p in rest for s in p] == ["t3", "t2", "t0"]

    @pytest.mark.parametrize("page_size", [0, -1, 101])
    async def test_list_rejects_a_page_size_out_of_range(
        self, store: MemoryStore, page_size: int
    ) -> None:
        with pytest.raises(InvalidArgumentError) as caught:
            await store.list_threads("alice", page_size=page_size)
        assert caught.value.field == "page_size"

    @pytest.mark.parametrize("token", ["garbage", "!!", "e30=", "WzFd", "WyJ4IiwgMV0="])
    async def test_list_rejects_a_malformed_page_token(
        self, store: MemoryStore, token: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as caught:
            await store.list_threads("alice", page_size=10, page_token=token)
        assert caught.value.field == "page_token"

    # --- everything at random ------------------------------------------------------------

    def test_random_operations_match_a_model_and_never_cross_owners(self, store_url: str) -> None:
        run_memory_state_machine(store_url)


async def _all_pages(
    store: MemoryStore, owner: str, *, page_size: int, page_token: str = ""
) -> list[list[ThreadSummary]]:
    pages = []
    for _ in range(20):  # bounded: a cursor that repeats must fail, not hang
        page = await store.list_threads(owner, page_size=page_size, page_token=page_token)
        pages.append(list(page.threads))
        page_token = page.next_page_token
        if not page_token:
            return pages
    raise AssertionError("paging did not end")
