"""LifecycleContract: retention sweeps, search, export and erasure, on every memory store.

Mixed into each store's test class beside MemoryStoreContract. Rows are checked past the
store (tests.core.memory.tables): every table with an owner column, read from the catalog.
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from dataclasses import replace

import pytest

from core.errors import InvalidArgumentError, ThreadNotFoundError
from core.memory import MemoryStore, open_store
from core.memory.lifecycle import RetentionPolicy, SweepResult, ThreadFilter
from tests.core.memory.contract import assistant, record, user
from tests.core.memory.tables import audit, owner_rows


async def turn(
    store: MemoryStore,
    owner: str,
    thread_id: str,
    text: str = "hi",
    *,
    by: str = "",
    metadata: dict[str, str] | None = None,
    created: float | None = None,
) -> None:
    """Commit one turn (user `text`, assistant echo) at the thread's head."""
    _, head = await store.load_history(owner, thread_id)
    rec = replace(
        record(thread_id, user(text), assistant(f"re: {text}")),
        user=by,
        metadata=tuple(sorted((metadata or {}).items())),
        created=time.time() if created is None else created,
    )
    await store.commit_turn(owner, head, rec)


async def sweep_all(store: MemoryStore, policy: RetentionPolicy, now: float) -> SweepResult:
    """Sweep until nothing is left to do; the totals of every batch."""
    total: dict[str, int] = {}
    deleted = compacted = 0
    while True:
        result = await store.sweep(policy, now=now, limit=5)
        for kind, n in result.deleted.items():
            total[kind] = total.get(kind, 0) + n
        deleted += result.threads_deleted
        compacted += result.threads_compacted
        if not result.more:
            return SweepResult(total, deleted, compacted, False)


class LifecycleContract:
    """Behaviour of core.memory.base.ThreadLifecycle on every store."""

    # --- retention ---------------------------------------------------------------------

    async def test_a_ttl_deletes_an_idle_thread_with_all_its_rows_in_one_sweep(
        self, store: MemoryStore, store_url: str
    ) -> None:
        policy = RetentionPolicy(thread_ttl=2.0)
        await turn(store, "alice", "old")
        await turn(store, "alice", "old")
        assert (await store.sweep(policy, now=time.time(), limit=100)).threads_deleted == 0
        await asyncio.sleep(2.1)
        await turn(store, "alice", "fresh")

        result = await store.sweep(policy, now=time.time(), limit=100)

        assert result.threads_deleted == 1
        assert dict(result.deleted) == {"threads": 1, "turns": 2, "messages": 4}
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "old")
        assert (await store.get_thread("alice", "fresh")).messages
        rows = await owner_rows(store_url, "alice")
        assert (rows["threads"], rows["turns"], rows["messages"]) == (1, 1, 2)

    async def test_three_sweepers_delete_every_row_once_between_them(self, store_url: str) -> None:
        stores = [await open_store(store_url) for _ in range(3)]
        try:
            for i in range(40):
                await turn(stores[i % 3], "alice", f"t{i}", created=1000.0)
                await turn(stores[i % 3], "alice", f"t{i}", created=1001.0)
            now = time.time() + 10
            policy = RetentionPolicy(thread_ttl=5.0)
            results = await asyncio.gather(*(sweep_all(s, policy, now) for s in stores))
        finally:
            for s in stores:
                await s.aclose()
        totals = {k: sum(r.deleted.get(k, 0) for r in results) for k in ("threads", "turns")}
        totals["messages"] = sum(r.deleted.get("messages", 0) for r in results)
        assert totals == {"threads": 40, "turns": 80, "messages": 160}
        assert sum(r.threads_deleted for r in results) == 40
        rows = await owner_rows(store_url, "alice")
        assert (rows["threads"], rows["turns"], rows["messages"]) == (0, 0, 0)

    async def test_keep_latest_keeps_the_last_two_turns_and_the_thread_still_answers(
        self, store: MemoryStore
    ) -> None:
        for i in range(4):
            await turn(store, "alice", "t", f"q{i}")
        policy = RetentionPolicy(keep_latest=2)

        result = await store.sweep(policy, now=time.time(), limit=10)

        assert (result.threads_compacted, result.threads_deleted) == (1, 0)
        assert dict(result.deleted) == {"turns": 2, "messages": 4}
        history, head = await store.load_history("alice", "t")
        assert [m.content for m in history] == ["q2", "re: q2", "q3", "re: q3"]
        assert head == 4
        await turn(store, "alice", "t", "q4")  # commits at the new head
        thread = await store.get_thread("alice", "t")
        assert [m.seq for m in thread.messages] == list(range(6))
        assert [m.message.content for m in thread.messages][-2:] == ["q4", "re: q4"]
        first = await store.get_turn("alice", thread.messages[0].turn_id)
        assert (first.previous_turn_id, first.end_seq) == ("", 2)
        again = await store.sweep(policy, now=time.time(), limit=10)
        assert again.deleted == {"turns": 1, "messages": 2}
        history, head = await store.load_history("alice", "t")
        assert [m.content for m in history] == ["q3", "re: q3", "q4", "re: q4"]

    async def test_a_per_thread_override_outlives_the_default(self, store: MemoryStore) -> None:
        await turn(store, "alice", "default")
        await turn(store, "alice", "long", metadata={"ttl_seconds": "3600"})
        await turn(store, "alice", "forever", metadata={"ttl_seconds": "0"})
        await turn(store, "alice", "later")
        await store.update_thread("alice", "later", (("ttl_seconds", "3600"),))
        policy = RetentionPolicy(thread_ttl=2.0)

        result = await sweep_all(store, policy, time.time() + 60)

        assert result.threads_deleted == 1
        with pytest.raises(ThreadNotFoundError):
            await store.get_thread("alice", "default")
        for kept in ("long", "forever", "later"):
            assert (await store.get_thread("alice", kept)).messages
        result = await sweep_all(store, policy, time.time() + 7200)
        assert result.threads_deleted == 2  # "long" and "later"; "forever" never expires
        assert (await store.get_thread("alice", "forever")).messages

    async def test_a_per_thread_keep_latest_overrides_the_default(self, store: MemoryStore) -> None:
        for i in range(3):
            await turn(store, "alice", "all", f"a{i}", metadata={"keep_latest": "0"})
            await turn(store, "alice", "one", f"o{i}", metadata={"keep_latest": "1"})
            await turn(store, "alice", "two", f"t{i}")

        await sweep_all(store, RetentionPolicy(keep_latest=2), time.time())

        counts = {t: (await store.load_history("alice", t))[1] for t in ("all", "one", "two")}
        assert counts == {"all": 6, "one": 2, "two": 4}

    async def test_the_response_ttl_drops_old_turns_then_the_thread(
        self, store: MemoryStore
    ) -> None:
        now = time.time()
        for age in (300, 200, 50):
            await turn(store, "alice", "t", f"{age}s ago", created=now - age)
        policy = RetentionPolicy(response_ttl=100.0)

        await sweep_all(store, policy, now)

        history, _ = await store.load_history("alice", "t")
        assert [m.content for m in history] == ["50s ago", "re: 50s ago"]
        result = await sweep_all(store, policy, now + 100)
        assert (result.threads_deleted, result.deleted) == (
            1,
            {"messages": 2, "turns": 1, "threads": 1},
        )

    async def test_nothing_is_swept_under_the_default_policy(self, store: MemoryStore) -> None:
        await turn(store, "alice", "t", created=0.0)
        result = await store.sweep(RetentionPolicy(), now=time.time() + 10**9, limit=10)
        assert (result.threads_deleted, result.threads_compacted) == (0, 0)

    # --- metadata and search -----------------------------------------------------------

    async def test_update_thread_replaces_metadata_and_checks_retention_keys(
        self, store: MemoryStore
    ) -> None:
        await turn(store, "alice", "t", by="u1", metadata={"app": "a"})

        summary = await store.update_thread("alice", "t", (("app", "b"), ("ttl_seconds", "60")))

        assert (summary.user, summary.metadata) == ("u1", (("app", "b"), ("ttl_seconds", "60")))
        with pytest.raises(InvalidArgumentError) as caught:
            await store.update_thread("alice", "t", (("keep_latest", "-1"),))
        assert caught.value.field == "metadata.keep_latest"
        for owner, thread_id in (("bob", "t"), ("alice", "nope")):
            with pytest.raises(ThreadNotFoundError):
                await store.update_thread(owner, thread_id, ())

    async def test_search_by_user_and_metadata_pages_with_a_count(self, store: MemoryStore) -> None:
        for i in range(5):
            await turn(store, "alice", f"a{i}", by="u1", metadata={"app": "tea", "n": str(i)})
        await turn(store, "alice", "other", by="u2", metadata={"app": "tea"})
        await turn(store, "bob", "b0", by="u1", metadata={"app": "tea"})

        where = ThreadFilter(user="u1", metadata=(("app", "tea"),))
        first = await store.search_threads("alice", where, page_size=2)
        assert first.total_count == 5
        seen = [t.thread_id for t in first.threads]
        token = first.next_page_token
        while token:
            page = await store.search_threads("alice", where, page_size=2, page_token=token)
            assert page.total_count == 5
            seen += [t.thread_id for t in page.threads]
            token = page.next_page_token
        assert seen == [f"a{i}" for i in reversed(range(5))]
        one = await store.search_threads(
            "alice", ThreadFilter(metadata=(("n", "3"),)), page_size=10
        )
        assert [t.thread_id for t in one.threads] == ["a3"]
        assert one.threads[0].metadata == (("app", "tea"), ("n", "3"))
        everyone = await store.search_threads("alice", ThreadFilter(), page_size=100)
        assert everyone.total_count == 6
        none = await store.search_threads(
            "alice", ThreadFilter(metadata=(("app", "coffee"),)), page_size=10
        )
        assert (none.threads, none.total_count) == ((), 0)

    # --- export ------------------------------------------------------------------------

    async def test_export_streams_every_thread_turn_and_message_and_round_trips(
        self, store: MemoryStore
    ) -> None:
        for i in range(120):  # more than two export pages
            await turn(store, "alice", f"t{i:03}", f"question {i} 茶", by="u1")
            await turn(store, "alice", f"t{i:03}", f"follow-up {i}")
        await turn(store, "bob", "t000", "not alice's")

        lines = [
            json.loads(line)
            async for chunk in store.export_lines("alice")
            for line in chunk.splitlines()
        ]

        threads = [x for x in lines if x["object"] == "thread"]
        assert [t["thread_id"] for t in threads] == [f"t{i:03}" for i in range(120)]
        assert sum(x["object"] == "turn" for x in lines) == 240
        for i in (0, 77, 119):
            stored = await store.get_thread("alice", f"t{i:03}")
            exported = [
                (m["seq"], m["role"], m["content"], m["turn_id"])
                for m in lines
                if m["object"] == "message" and m["thread_id"] == f"t{i:03}"
            ]
            assert exported == [
                (m.seq, m.message.role.value, m.message.content, m.turn_id) for m in stored.messages
            ]
        assert not any("not alice's" in json.dumps(x, ensure_ascii=False) for x in lines)

    async def test_export_of_one_thread_and_of_an_unknown_one(self, store: MemoryStore) -> None:
        await turn(store, "alice", "t1", "one")
        await turn(store, "alice", "t2", "two")
        chunks = [c async for c in store.export_lines("alice", "t2")]
        objects = [json.loads(line) for c in chunks for line in c.splitlines()]
        assert [o["object"] for o in objects] == ["thread", "turn", "message", "message"]
        assert objects[2]["content"] == "two"
        with pytest.raises(ThreadNotFoundError):
            [c async for c in store.export_lines("bob", "t1")]

    async def test_export_of_a_thousand_threads_holds_one_thread_at_a_time(
        self, store: MemoryStore
    ) -> None:
        text = "x" * 2000
        for i in range(1000):
            await turn(store, "alice", f"t{i:04}", text)
        tracemalloc.start()
        try:
            size = 0
            async for chunk in store.export_lines("alice"):
                size += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert size > 4_000_000
        assert peak < size / 10  # nothing like the whole export is ever held at once

    # --- erasure -----------------------------------------------------------------------

    async def test_erasing_an_owner_leaves_no_row_of_theirs_and_is_audited(
        self, store: MemoryStore, store_url: str
    ) -> None:
        for i in range(3):
            await turn(store, "alice", f"t{i}", "secret", by="u1")
            await turn(store, "bob", f"t{i}", "bob's")
        bob_before = await owner_rows(store_url, "bob")

        erased = await store.erase("alice", actor="admin:ops")

        assert dict(erased.deleted) == {"threads": 3, "turns": 3, "messages": 6, "spend": 0}
        rows = await owner_rows(store_url, "alice")
        assert {t: n for t, n in rows.items() if t != "erasures"} == dict.fromkeys(
            (t for t in rows if t != "erasures"), 0
        )
        assert await owner_rows(store_url, "bob") == bob_before
        (entry,) = await audit(store_url)
        assert (entry["erasure_id"], entry["owner"], entry["actor"]) == (
            erased.erasure_id,
            "alice",
            "admin:ops",
        )
        assert json.loads(entry["counts"]) == dict(erased.deleted)
        assert "secret" not in json.dumps(entry)
        again = await store.erase("alice", actor="admin:ops")
        assert set(again.deleted.values()) == {0}
        assert len(await audit(store_url)) == 2

    async def test_erasing_one_user_leaves_the_owners_other_users(
        self, store: MemoryStore, store_url: str
    ) -> None:
        await turn(store, "alice", "mine", by="u1")
        await turn(store, "alice", "shared", by="u2")
        await turn(store, "alice", "shared", by="u1")  # u1 spoke in it: it goes too
        await turn(store, "alice", "theirs", by="u2")

        erased = await store.erase("alice", user="u1", actor="alice")

        assert erased.deleted["threads"] == 2
        page = await store.search_threads("alice", ThreadFilter(), page_size=10)
        assert [t.thread_id for t in page.threads] == ["theirs"]
        (entry,) = await audit(store_url)
        assert entry["user_hash"] and "u1" not in json.dumps(entry)
