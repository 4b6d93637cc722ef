"""Thread memory over gRPC through the SDK: thread RPCs, idempotency metadata, owner scoping."""

from __future__ import annotations

import pytest

import chatrpc
from tests.clients.events import kinds, text


def test_thread_rpcs_get_list_delete(core_server, scripted):
    scripted.enqueue(["A1"])
    scripted.enqueue(["A2"])
    with chatrpc.Client(core_server.target) as client:
        client.chat("Q1", thread_id="g-1")
        reply = client.chat("Q2", thread_id="g-1")
        assert reply.thread_id == "g-1"
        thread = client.get_thread("g-1")
        assert [(m.seq, m.message.role, m.message.content) for m in thread.messages] == [
            (0, chatrpc.Role.USER, "Q1"),
            (1, chatrpc.Role.ASSISTANT, "A1"),
            (2, chatrpc.Role.USER, "Q2"),
            (3, chatrpc.Role.ASSISTANT, "A2"),
        ]
        assert thread.messages[3].turn_id == reply.id and thread.message_count == 4
        page = client.list_threads(page_size=10)
        assert [t.thread_id for t in page.threads] == ["g-1"] and page.next_page_token == ""
        assert page.threads[0].messages == ()
        client.delete_thread("g-1")
        with pytest.raises(chatrpc.NotFoundError) as caught:
            client.get_thread("g-1")
        assert caught.value.reason == "THREAD_NOT_FOUND"
        with pytest.raises(chatrpc.InvalidRequestError):
            client.get_thread("../etc")


def test_idempotency_key_metadata_replays_the_stored_turn(core_server, scripted):
    scripted.enqueue(["only once"])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q", thread_id="i-1", idempotency_key="k-1")
        events = list(client.chat_stream("Q", thread_id="i-1", idempotency_key="k-1"))
        with pytest.raises(chatrpc.ConflictError) as caught:
            client.chat("different", thread_id="i-1", idempotency_key="k-1")
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert isinstance(events[0], chatrpc.StreamStart) and events[0].id == first.id
    assert text(events) == "only once"
    assert len(scripted.calls) == 1


def test_a_failed_turn_stores_nothing_and_the_stream_ends_without_usage(core_server, scripted):
    from core.errors import BackendUnavailableError

    scripted.enqueue(["a", "b", "c"], fail_after=2, error=BackendUnavailableError("died"))
    events = []
    with chatrpc.Client(core_server.target) as client:
        with pytest.raises(chatrpc.UnavailableError):
            events.extend(client.chat_stream("Q", thread_id="f-1"))
        with pytest.raises(chatrpc.NotFoundError):
            client.get_thread("f-1")
    assert kinds(events) == ["start", "delta", "delta"]


def test_nul_in_a_threaded_message_is_refused_before_generation(core_server, scripted):
    with chatrpc.Client(core_server.target) as client, pytest.raises(chatrpc.InvalidRequestError):
        client.chat("bad\x00byte", thread_id="n-1")
    assert scripted.calls == []
