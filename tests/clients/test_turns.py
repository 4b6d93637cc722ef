"""Stored turns over gRPC through the SDK: GetTurn, DeleteTurn, previous_turn_id and store."""

from __future__ import annotations

import pytest

import chatrpc
from core.types import FinishReason as CoreFinish
from tests.fakes import tool_call_chunks


def sent(scripted) -> list[tuple[str, str]]:
    """(role, content) of every message the backend was given in its last call."""
    return [(m.role.value, m.content) for m in scripted.calls[-1].prompt.messages]


def test_get_turn_returns_what_the_turn_stored_and_where_it_sits(core_server, scripted):
    scripted.enqueue(["A1"])
    scripted.enqueue(["A2"])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q1", thread_id="g-1")
        second = client.chat(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q2"}],
            thread_id="g-1",
            user="u-7",
            metadata={"k": "v"},
        )
        turn = client.get_turn(second.id)
        older = client.get_turn(first.id)
    assert isinstance(turn, chatrpc.StoredTurn)
    assert (turn.turn_id, turn.thread_id, turn.model) == (second.id, "g-1", "scripted")
    assert turn.input_messages == (chatrpc.Message(chatrpc.Role.USER, "Q2"),)
    assert turn.reply == chatrpc.Message(chatrpc.Role.ASSISTANT, "A2")
    assert (turn.instructions, turn.user, dict(turn.metadata)) == ("Be brief.", "u-7", {"k": "v"})
    assert (turn.previous_turn_id, turn.latest) == (first.id, True)
    assert turn.usage == second.usage and turn.finish_reason is chatrpc.FinishReason.STOP
    assert (older.previous_turn_id, older.latest) == ("", False)


def test_previous_turn_id_continues_that_turns_thread(core_server, scripted):
    scripted.enqueue(["A1"])
    scripted.enqueue(["A2"])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q1", thread_id="p-1")
        events = list(client.chat_stream("Q2", previous_turn_id=first.id))
        thread = client.get_thread("p-1")
    assert sent(scripted) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    start = events[0]
    assert isinstance(start, chatrpc.StreamStart) and start.thread_id == "p-1"
    assert [m.message.content for m in thread.messages] == ["Q1", "A1", "Q2", "A2"]


def test_a_tool_call_turn_is_continued_with_its_tool_result(core_server, scripted):
    scripted.enqueue(
        tool_call_chunks(0, "call_abc", "lookup", '{"q": "tea"}'), finish=CoreFinish.TOOL_CALLS
    )
    scripted.enqueue(["Longjing."])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Which tea?", thread_id="tc-1", tools=[chatrpc.Tool("lookup")])
        result = chatrpc.Message(chatrpc.Role.TOOL, '{"tea": "longjing"}', tool_call_id="call_abc")
        second = client.chat([result], previous_turn_id=first.id, tools=[chatrpc.Tool("lookup")])
        assert client.get_turn(first.id).reply.tool_calls == first.tool_calls
    prompt = scripted.calls[-1].prompt.messages
    assert [m.role.value for m in prompt] == ["user", "assistant", "tool"]
    assert prompt[1].tool_calls[0].id == "call_abc" and second.content == "Longjing."


def test_continuing_from_an_earlier_turn_is_refused_before_any_model_work(core_server, scripted):
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q1", thread_id="b-1")
        client.chat("Q2", thread_id="b-1")
        calls = len(scripted.calls)
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            client.chat("branch", previous_turn_id=first.id)
        assert caught.value.reason == "TURN_NOT_LATEST"
        assert caught.value.metadata["field"] == "previous_turn_id"
        with pytest.raises(chatrpc.NotFoundError) as missing:
            client.chat("Q", previous_turn_id="chatcmpl-000000000000000000000000")
        assert missing.value.reason == "TURN_NOT_FOUND"
        with pytest.raises(chatrpc.InvalidRequestError) as both:
            client.chat("Q", previous_turn_id=first.id, thread_id="b-1")
        assert both.value.metadata["field"] == "previous_turn_id"
        assert client.get_thread("b-1").message_count == 4
    assert len(scripted.calls) == calls


def test_a_retried_continuation_replays_its_stored_turn(core_server, scripted):
    scripted.enqueue(["A1"])
    scripted.enqueue(["A2 once"])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q1", thread_id="r-1")
        again = [
            client.chat("Q2", previous_turn_id=first.id, idempotency_key="k-2") for _ in range(2)
        ]
        assert again[0] == again[1] and again[0].content == "A2 once"
        with pytest.raises(chatrpc.InvalidRequestError):  # no key: an earlier turn is refused
            client.chat("Q2", previous_turn_id=first.id)
    assert len(scripted.calls) == 2


def test_another_owner_cannot_see_continue_or_delete_a_turn(scripted, catalog, sqlite_url):
    from core.auth import KeyRing, digest
    from tests.servers import CoreThread

    keys = KeyRing({"alice": digest("key-a"), "bob": digest("key-b")})
    core = CoreThread(catalog, database_url=sqlite_url, keys=keys)
    try:
        with chatrpc.Client(core.target, api_key="key-a") as alice:
            reply = alice.chat("mine", thread_id="o-1")
        with chatrpc.Client(core.target, api_key="key-b") as bob:
            for call in (
                lambda: bob.get_turn(reply.id),
                lambda: bob.delete_turn(reply.id),
                lambda: bob.chat("theirs?", previous_turn_id=reply.id),
            ):
                with pytest.raises(chatrpc.NotFoundError):
                    call()
    finally:
        core.stop()


def test_store_false_reads_the_thread_and_stores_nothing(core_server, scripted):
    scripted.enqueue(["A1"])
    scripted.enqueue(["not kept"])
    with chatrpc.Client(core_server.target) as client:
        first = client.chat("Q1", thread_id="s-1")
        reply = client.chat("Q2", previous_turn_id=first.id, store=False)
        assert reply.thread_id == ""
        with pytest.raises(chatrpc.NotFoundError):
            client.get_turn(reply.id)
        assert client.get_thread("s-1").message_count == 2
        assert client.get_turn(first.id).latest
    assert sent(scripted) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]


async def test_delete_turn_takes_the_latest_turn_only_and_an_empty_thread_goes(core_server):
    async with chatrpc.AsyncClient(core_server.target) as client:
        first = await client.chat("Q1", thread_id="d-1")
        second = await client.chat("Q2", previous_turn_id=first.id)
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            await client.delete_turn(first.id)
        assert caught.value.reason == "TURN_NOT_LATEST"
        await client.delete_turn(second.id)
        assert (await client.get_turn(first.id)).latest
        third = await client.chat("Q3", previous_turn_id=first.id)
        assert (await client.get_turn(third.id)).previous_turn_id == first.id
        await client.delete_turn(third.id)
        await client.delete_turn(first.id)
        with pytest.raises(chatrpc.NotFoundError):
            await client.get_thread("d-1")
        with pytest.raises(chatrpc.InvalidRequestError):
            await client.get_turn("../x")
