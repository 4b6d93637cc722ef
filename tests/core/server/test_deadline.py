"""Every RPC runs under the client's deadline capped by the server's maximum
(core/server/deadline.py): a one-year deadline is cut, generation stops, nothing is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import chatrpc
from core.catalog import ModelCatalog
from core.settings import Settings
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread

YEAR = 365 * 24 * 3600.0
MAX_DEADLINE = 0.6
SLOW = ["a", "b", "c", "d", "e", "f"]  # at 0.25 s a piece: 1.5 s, well past the maximum


@pytest.fixture
def capped(catalog: ModelCatalog, sqlite_url: str) -> Iterator[CoreThread]:
    server = CoreThread(
        catalog, database_url=sqlite_url, settings=Settings(max_deadline=MAX_DEADLINE)
    )
    yield server
    server.stop()


def run(client: chatrpc.Client, stream: bool) -> None:
    """One slow turn with a one-year deadline, streamed or not."""
    if stream:
        list(client.chat_stream("hi", model="scripted", timeout=YEAR))
    else:
        client.chat("hi", model="scripted", timeout=YEAR)


@pytest.mark.parametrize("stream", [False, True])
def test_a_one_year_deadline_is_cut_to_the_servers_maximum_and_generation_stops(
    capped: CoreThread, scripted: ScriptedBackend, stream: bool
) -> None:
    scripted.enqueue(SLOW, delay=0.25)
    with chatrpc.Client(capped.target) as client:
        started = time.monotonic()
        with pytest.raises(chatrpc.DeadlineExceededError) as caught:
            run(client, stream)
        elapsed = time.monotonic() - started
    assert caught.value.reason == "DEADLINE_EXCEEDED" and caught.value.domain == "chatrpc"
    assert MAX_DEADLINE - 0.1 < elapsed < MAX_DEADLINE + 1
    record = scripted.calls[-1]
    assert record.closed_at is not None and record.produced < len(SLOW)  # it stopped


def test_the_core_stops_before_the_clients_own_deadline(
    core_server: CoreThread, scripted: ScriptedBackend
) -> None:
    scripted.enqueue(SLOW, delay=0.25)
    with (
        chatrpc.Client(core_server.target) as client,
        pytest.raises(chatrpc.DeadlineExceededError) as caught,
    ):
        client.chat("hi", model="scripted", timeout=0.5)
    assert caught.value.domain == "chatrpc"  # the core's answer, not gRPC's own expiry
    assert scripted.calls[-1].closed_at is not None


def test_a_turn_past_its_deadline_is_not_stored(
    capped: CoreThread, scripted: ScriptedBackend
) -> None:
    with chatrpc.Client(capped.target) as client:
        first = client.chat("one", model="scripted", thread_id="new")
        scripted.enqueue(SLOW, delay=0.25)
        with pytest.raises(chatrpc.DeadlineExceededError):
            client.chat("two", model="scripted", thread_id=first.thread_id)
        thread = client.get_thread(first.thread_id)
    assert [m.message.content for m in thread.messages] == ["one", "ok"]
