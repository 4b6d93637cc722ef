"""The Conversations API through the official openai SDK against the gateway and a real core:
CRUD, items, `conversation` on /v1/responses, per-key isolation, a core restart; every body
validated against OpenAI's OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from core.auth import KeyRing, digest
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread


def prompt(scripted) -> list[tuple[str, str]]:
    return [(m.role.value, m.content) for m in scripted.calls[-1].prompt.messages]


def dump(model) -> dict:
    return model.model_dump(mode="json", exclude_unset=True)


def test_crud_and_items_round_trip(openai_client, openapi):
    created = openai_client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "I like oolong."},
            {"type": "message", "role": "assistant", "content": "Noted."},
        ],
        metadata={"topic": "tea"},
    )
    openapi.validate(dump(created), "ConversationResource")
    assert created.id.startswith("conv_") and created.metadata == {"topic": "tea"}
    got = openai_client.conversations.retrieve(created.id)
    assert got.id == created.id and got.created_at == created.created_at
    updated = openai_client.conversations.update(created.id, metadata={"topic": "green tea"})
    assert updated.metadata == {"topic": "green tea"}
    added = openai_client.conversations.items.create(
        created.id, items=[{"type": "message", "role": "user", "content": "And puer?"}]
    )
    openapi.validate(dump(added), "ConversationItemList")
    assert [i.id for i in added.data] == ["msg_00000002"]
    page = openai_client.conversations.items.list(created.id, order="asc")
    openapi.validate(dump(page), "ConversationItemList")
    texts = [item.content[0].text for item in page.data]
    assert texts == ["I like oolong.", "Noted.", "And puer?"]
    assert [i.role for i in page.data] == ["user", "assistant", "user"]
    item = openai_client.conversations.items.retrieve("msg_00000001", conversation_id=created.id)
    openapi.validate(dump(item), "ConversationItem")
    after = openai_client.conversations.items.delete("msg_00000001", conversation_id=created.id)
    assert after.id == created.id
    page = openai_client.conversations.items.list(created.id, order="asc")
    assert [i.id for i in page.data] == ["msg_00000000", "msg_00000002"]
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.items.retrieve("msg_00000001", conversation_id=created.id)
    deleted = openai_client.conversations.delete(created.id)
    openapi.validate(dump(deleted), "DeletedConversationResource")
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.retrieve(created.id)


def test_responses_on_a_conversation_read_and_grow_it(openai_client, scripted, openapi):
    conversation = openai_client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "My name is Lin."}]
    )
    scripted.enqueue(["Hello Lin."])
    first = openai_client.responses.create(
        model="scripted", input="What is my name?", conversation=conversation.id
    )
    assert first.conversation is not None and first.conversation.id == conversation.id
    openapi.validate(dump(first), "Response")
    assert prompt(scripted) == [("user", "My name is Lin."), ("user", "What is my name?")]
    scripted.enqueue(["Still Lin."])
    openai_client.responses.create(
        model="scripted", input="Again?", conversation={"id": conversation.id}
    )
    assert prompt(scripted)[-3:] == [
        ("user", "What is my name?"),
        ("assistant", "Hello Lin."),
        ("user", "Again?"),
    ]
    items = openai_client.conversations.items.list(conversation.id, order="asc").data
    assert [i.content[0].text for i in items] == [
        "My name is Lin.",
        "What is my name?",
        "Hello Lin.",
        "Again?",
        "Still Lin.",
    ]


def test_conversation_requests_that_cannot_work_are_refused(openai_client, scripted):
    conversation = openai_client.conversations.create()
    done = openai_client.responses.create(model="scripted", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="scripted",
            input="hi",
            conversation=conversation.id,
            previous_response_id=done.id,
        )
    assert caught.value.body["param"] == "conversation"
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(
            model="scripted", input="hi", conversation="conv_" + "0" * 24
        )
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.conversations.create(
            items=[{"type": "message", "role": "user", "content": "x"}] * 21
        )
    assert caught.value.body["param"] == "items"
    with pytest.raises(openai.BadRequestError):
        openai_client.conversations.update(conversation.id, metadata={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.items.retrieve("nope", conversation_id=conversation.id)
    assert len(scripted.calls) == 1


@pytest.fixture
def two_keys(catalog, sqlite_url) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    keys = KeyRing({"ann": digest("key-ann"), "bob": digest("key-bob")})
    core = CoreThread(catalog, database_url=sqlite_url, keys=keys)
    gateway = GatewayThread(create_app(Settings(core_target=core.target)))
    clients = [
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        for key in ("key-ann", "key-bob")
    ]
    yield clients[0], clients[1]
    gateway.stop()
    core.stop()


def test_a_conversation_belongs_to_the_key_that_made_it(two_keys, scripted):
    ann, bob = two_keys
    conversation = ann.conversations.create(metadata={"who": "ann"})
    for attempt in (
        lambda: bob.conversations.retrieve(conversation.id),
        lambda: bob.conversations.update(conversation.id, metadata={}),
        lambda: bob.conversations.items.list(conversation.id),
        lambda: bob.conversations.delete(conversation.id),
        lambda: bob.responses.create(model="scripted", input="hi", conversation=conversation.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert ann.conversations.retrieve(conversation.id).metadata == {"who": "ann"}
    assert scripted.calls == []


def test_a_conversation_outlives_a_core_restart(catalog, scripted, sqlite_url):
    def serve() -> tuple[CoreThread, GatewayThread, openai.OpenAI]:
        core = CoreThread(catalog, database_url=sqlite_url)
        gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
        return core, gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="x")

    core, gateway, client = serve()
    try:
        conversation = client.conversations.create(metadata={"n": "1"})
        scripted.enqueue(["one"])
        client.responses.create(model="scripted", input="first", conversation=conversation.id)
    finally:
        gateway.stop()
        core.stop()
    core, gateway, client = serve()  # a fresh core on the same SQLite file
    try:
        assert client.conversations.retrieve(conversation.id).metadata == {"n": "1"}
        scripted.enqueue(["two"])
        client.responses.create(model="scripted", input="second", conversation=conversation.id)
        assert prompt(scripted) == [("user", "first"), ("assistant", "one"), ("user", "second")]
        texts = [
            i.content[0].text
            for i in client.conversations.items.list(conversation.id, order="asc").data
        ]
        assert texts == ["first", "one", "second", "two"]
    finally:
        gateway.stop()
        core.stop()
