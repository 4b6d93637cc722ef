"""Thread data over gRPC through the SDK: search with a count, UpdateThread, ExportThreads,
EraseData (the rows checked in the database past the server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

import chatrpc
from core.auth import load_keyring
from core.catalog import ModelCatalog
from tests.core.memory.tables import audit, owner_rows
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"


@pytest.fixture
def keyed_core(catalog: ModelCatalog, sqlite_url: str) -> Iterator[CoreThread]:
    """A core whose keys are alice's and bob's (their names are their owners)."""
    keys = load_keyring("required", "", f"alice={ALICE},bob={BOB}")
    server = CoreThread(catalog, database_url=sqlite_url, keys=keys)
    yield server
    server.stop()


def test_list_threads_filters_by_user_and_metadata_and_counts(core_server, scripted):
    scripted.echo = True
    with chatrpc.Client(core_server.target) as client:
        for i in range(5):
            client.chat(f"q{i}", thread_id=f"s-{i}", user="u1", metadata={"app": "tea"})
        client.chat("other", thread_id="s-x", user="u2", metadata={"app": "coffee"})

        first = client.list_threads(page_size=2, user="u1", metadata={"app": "tea"})
        second = client.list_threads(
            page_size=2, page_token=first.next_page_token, user="u1", metadata={"app": "tea"}
        )
        coffee = client.list_threads(metadata={"app": "coffee"})

    assert (first.total_count, second.total_count) == (5, 5)
    assert [t.thread_id for t in first.threads + second.threads] == ["s-4", "s-3", "s-2", "s-1"]
    assert first.threads[0].user == "u1" and first.threads[0].metadata == {"app": "tea"}
    assert [t.thread_id for t in coffee.threads] == ["s-x"] and coffee.total_count == 1


def test_update_thread_sets_retention_keys_and_refuses_bad_ones(core_server, scripted):
    scripted.echo = True
    with chatrpc.Client(core_server.target) as client:
        client.chat("q", thread_id="u-1", metadata={"app": "tea"})
        updated = client.update_thread("u-1", {"app": "tea", "ttl_seconds": "86400"})
        assert updated.metadata == {"app": "tea", "ttl_seconds": "86400"}
        assert client.get_thread("u-1").metadata == updated.metadata
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            client.update_thread("u-1", {"keep_latest": "two"})
        assert caught.value.metadata["field"] == "metadata.keep_latest"
        with pytest.raises(chatrpc.NotFoundError):
            client.update_thread("nope", {})
        calls = len(scripted.calls)
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            client.chat("q", thread_id="u-2", metadata={"ttl_seconds": "-5"})
        assert caught.value.metadata["field"] == "metadata.ttl_seconds"
        assert len(scripted.calls) == calls  # refused before any model work


def test_export_streams_json_lines_that_round_trip(core_server, scripted):
    scripted.echo = True
    with chatrpc.Client(core_server.target) as client:
        for i in range(30):
            client.chat(f"question {i} 茶", thread_id=f"e-{i:02}")
            client.chat(f"again {i}", thread_id=f"e-{i:02}")
        pieces = list(client.export_threads())
        one = b"".join(client.export_threads("e-07"))
        with pytest.raises(chatrpc.NotFoundError):
            list(client.export_threads("missing"))

    assert all(piece.endswith(b"\n") for piece in pieces)
    lines = [json.loads(line) for piece in pieces for line in piece.splitlines()]
    assert sum(x["object"] == "thread" for x in lines) == 30
    messages = [(x["thread_id"], x["content"]) for x in lines if x["object"] == "message"]
    for i in range(30):
        thread = f"e-{i:02}"
        assert [c for t, c in messages if t == thread] == [
            f"question {i} 茶",
            f"echo: question {i} 茶",
            f"again {i}",
            f"echo: again {i}",
        ]
    assert [json.loads(x)["object"] for x in one.splitlines()][:3] == ["thread", "turn", "message"]


async def test_the_async_client_exports_the_same_lines(core_server, scripted):
    scripted.echo = True
    async with chatrpc.AsyncClient(core_server.target) as client:
        await client.chat("q", thread_id="a-1")
        pieces = [piece async for piece in client.export_threads()]
    with chatrpc.Client(core_server.target) as sync:
        assert pieces == list(sync.export_threads())


def test_erasing_an_owner_leaves_no_row_of_theirs_in_any_table(
    keyed_core: CoreThread, scripted: ScriptedBackend, sqlite_url: str
) -> None:
    scripted.echo = True
    with chatrpc.Client(keyed_core.target, api_key=ALICE) as alice:
        for i in range(3):
            alice.chat(f"alice secret {i}", thread_id=f"t-{i}", user="u1")
        alice.create_space("notes")
        alice.add_document("notes", "a.md", "# Notes\n\nAlice's private notes.")
    with chatrpc.Client(keyed_core.target, api_key=BOB) as bob:
        bob.chat("bob's", thread_id="t-0")
        bob.create_space("notes")
        bob.add_document("notes", "b.md", "# Bob\n\nBob's notes.")
    bob_before = asyncio.run(owner_rows(sqlite_url, "bob"))

    with chatrpc.Client(keyed_core.target, api_key=ALICE) as alice:
        erased = alice.erase_data("owner")
        again = alice.erase_data("owner")
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            alice.erase_data("user")
        assert caught.value.metadata["field"] == "user"

    assert {k: erased.deleted[k] for k in ("threads", "turns", "messages")} == {
        "threads": 3,
        "turns": 3,
        "messages": 6,
    }
    assert erased.deleted["knowledge_spaces"] == 1 and erased.deleted["knowledge_documents"] == 1
    assert set(again.deleted.values()) == {0}
    rows = asyncio.run(owner_rows(sqlite_url, "alice"))
    assert rows.pop("erasures") == 2
    assert set(rows.values()) == {0}, rows
    assert {"threads", "knowledge_chunks"} <= set(rows)  # every store's tables were looked at
    assert asyncio.run(owner_rows(sqlite_url, "bob")) == bob_before
    entries = asyncio.run(audit(sqlite_url))
    assert [(e["owner"], e["actor"]) for e in entries] == [("alice", "alice")] * 2
    assert "secret" not in json.dumps(entries) and "private" not in json.dumps(entries)


def test_erasing_one_user_keeps_the_owners_other_users(core_server, scripted):
    scripted.echo = True
    with chatrpc.Client(core_server.target) as client:
        client.chat("mine", thread_id="x-1", user="u1")
        client.chat("theirs", thread_id="x-2", user="u2")
        erased = client.erase_data("user", user="u1")
        left = client.list_threads()
    assert erased.deleted["threads"] == 1 and "knowledge_spaces" not in erased.deleted
    assert [t.thread_id for t in left.threads] == ["x-2"]
