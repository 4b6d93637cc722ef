"""CreateThread, UpdateThread, AppendThreadMessages, DeleteThreadMessage over a real core
(SQLite) through the SDK: what the gateway's conversations are built on."""

from __future__ import annotations

import pytest

import chatrpc
from tests.servers import CoreThread


@pytest.fixture
async def client(core_server: CoreThread):
    async with chatrpc.AsyncClient(core_server.target) as client:
        yield client


def prompt(scripted) -> list[tuple[str, str]]:
    return [(m.role.value, m.content) for m in scripted.calls[-1].prompt.messages]


async def test_a_created_thread_is_the_history_of_its_first_turn(client, scripted):
    thread = await client.create_thread(
        "conv-1",
        [{"role": "user", "content": "my name is Ann"}, {"role": "assistant", "content": "hi Ann"}],
        metadata={"app": "tea"},
    )
    assert [m.seq for m in thread.messages] == [0, 1] and thread.metadata == {"app": "tea"}
    await client.chat("who am I?", model="scripted", thread_id="conv-1")
    assert prompt(scripted) == [
        ("user", "my name is Ann"),
        ("assistant", "hi Ann"),
        ("user", "who am I?"),
    ]
    got = await client.get_thread("conv-1")
    assert len(got.messages) == 4 and got.metadata == {"app": "tea"}


async def test_appended_and_deleted_messages_shape_the_next_turn(client, scripted):
    await client.create_thread("conv-2")
    added = await client.append_thread_messages(
        "conv-2", [chatrpc.Message("user", text) for text in ("one", "two", "three")]
    )
    assert [m.seq for m in added] == [0, 1, 2] and added[1].message.content == "two"
    await client.delete_thread_message("conv-2", 1)
    await client.chat("four", model="scripted", thread_id="conv-2")
    assert prompt(scripted) == [("user", "one"), ("user", "three"), ("user", "four")]
    with pytest.raises(chatrpc.NotFoundError):
        await client.delete_thread_message("conv-2", 1)


async def test_bad_requests_name_their_field(client):
    await client.create_thread("conv-4")
    with pytest.raises(chatrpc.ConflictError):
        await client.create_thread("conv-4")
    too_many = {f"k{i}": "v" for i in range(17)}
    with pytest.raises(chatrpc.InvalidRequestError) as caught:
        await client.create_thread("conv-5", metadata=too_many)
    assert caught.value.metadata["field"] == "metadata"
    with pytest.raises(chatrpc.InvalidRequestError) as caught:
        await client.append_thread_messages("conv-4", [])
    assert caught.value.metadata["field"] == "messages"
    with pytest.raises(chatrpc.InvalidRequestError) as caught:
        await client.create_thread("bad id!")
    assert caught.value.metadata["field"] == "thread_id"
    with pytest.raises(chatrpc.NotFoundError):
        await client.append_thread_messages("conv-nope", "x")
