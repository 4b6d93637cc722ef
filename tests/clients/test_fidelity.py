"""The contract's newer request fields through the SDK over gRPC: a text completion (raw
prompt), image parts, provider parameters, strict, the cap's name and token-array embeddings,
as the backend receives them."""

from __future__ import annotations

from dataclasses import replace

import pytest

import chatrpc
from core.catalog import ModelCatalog
from core.types import ContentPart
from tests.conftest import EMBEDDED, SCRIPTED
from tests.servers import with_models

IMAGE = "https://images.example.com/cat.png"


@pytest.fixture
def catalog(catalog: ModelCatalog, scripted) -> ModelCatalog:
    """ "scripted" allows two provider fields and takes images."""
    spec = replace(catalog.get(SCRIPTED), vision=True, extra_params=frozenset({"top_k", "x"}))
    return with_models(catalog, (spec, scripted))


def test_a_text_completion_reaches_the_backend_as_raw_text(core_server, scripted):
    with chatrpc.Client(core_server.target) as client:
        reply = client.chat((), prompt="Once upon a time", model=SCRIPTED, max_tokens=5)
    (call,) = scripted.calls
    assert (call.prompt.raw, call.prompt.messages) == ("Once upon a time", ())
    assert reply.content == "ok" and reply.thread_id == ""
    with chatrpc.Client(core_server.target) as client, pytest.raises(chatrpc.InvalidRequestError):
        client.chat((), prompt="x", thread_id="t-1")


def test_parts_extras_strict_and_the_caps_name_reach_the_backend(core_server, scripted):
    message = chatrpc.Message(
        "user", parts=(chatrpc.ContentPart("What is it?"), chatrpc.ContentPart.image(IMAGE, "low"))
    )
    tool = chatrpc.Tool("f", parameters={"type": "object"}, strict=True)
    with chatrpc.Client(core_server.target) as client:
        client.chat(
            [message],
            model=SCRIPTED,
            tools=[tool],
            max_completion_tokens=7,
            extra_params={"top_k": 20, "x": {"nested": [1, 2.5]}},
        )
    (call,) = scripted.calls
    sent = call.prompt.messages[0]
    assert sent.parts == (
        ContentPart(text="What is it?"),
        ContentPart(image_url=IMAGE, detail="low"),
    )
    assert sent.content == "What is it?"
    assert call.prompt.tools[0].strict is True
    assert (call.params.max_tokens, call.params.max_tokens_field) == (7, "max_completion_tokens")
    assert call.params.extra == {"top_k": 20, "x": {"nested": [1, 2.5]}}


def test_token_arrays_embed_one_or_several_inputs(core_server):
    with chatrpc.Client(core_server.target) as client:
        one = client.embed([5, 6, 7], model=EMBEDDED)
        two = client.embed([[5, 6, 7], [8]], model=EMBEDDED)
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            client.embed([[1, -2]], model=EMBEDDED)
    assert len(one.embeddings) == 1 and len(two.embeddings) == 2
    # The same ids give the same vector (to float32 rounding: a batch of two decodes together).
    assert one.embeddings[0].values == pytest.approx(two.embeddings[0].values, abs=1e-5)
    assert one.usage.prompt_tokens == 3 and two.usage.prompt_tokens == 4
    assert "negative" in str(caught.value)
