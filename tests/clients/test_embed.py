"""The SDK's embed() on Client and AsyncClient against a real core."""

from __future__ import annotations

import pytest

import chatrpc
from tests.conftest import EMBEDDED, EMBEDDED_DIMENSIONS, SCRIPTED
from tests.servers import CoreThread


def dot(a: chatrpc.Embedding, b: chatrpc.Embedding) -> float:
    return sum(x * y for x, y in zip(a.values, b.values, strict=True))


@pytest.mark.model
def test_sync_embed_returns_typed_vectors_in_input_order(core_server: CoreThread):
    with chatrpc.Client(core_server.target) as client:
        result = client.embed(["green tea", "black tea"], model=EMBEDDED, user="u-1")
        single = client.embed("black tea", model=EMBEDDED)
    assert isinstance(result, chatrpc.Embeddings) and result.model == EMBEDDED
    assert [e.index for e in result.embeddings] == [0, 1]
    assert all(isinstance(e, chatrpc.Embedding) for e in result.embeddings)
    assert {len(e.values) for e in result.embeddings} == {EMBEDDED_DIMENSIONS}
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 0
    # The same text alone or in a batch: the same (unit) vector.
    assert dot(result.embeddings[1], single.embeddings[0]) > 0.9999


@pytest.mark.model
async def test_async_embed_equals_sync_embed(core_server: CoreThread):
    async with chatrpc.AsyncClient(core_server.target) as client:
        result = await client.embed(["oolong"], model=EMBEDDED)
    with chatrpc.Client(core_server.target) as client:
        again = client.embed(["oolong"], model=EMBEDDED)
    assert result.usage == again.usage
    assert dot(result.embeddings[0], again.embeddings[0]) > 0.9999


@pytest.mark.parametrize(
    ("inputs", "options", "field"),
    [
        ([], {"model": EMBEDDED}, "inputs"),
        (["ok", ""], {"model": EMBEDDED}, "inputs[1]"),
        (["ok"], {"model": EMBEDDED, "dimensions": 8}, "dimensions"),
        (["ok"], {"model": SCRIPTED}, "model"),
    ],
)
async def test_bad_input_raises_invalid_request_naming_the_field(
    core_server: CoreThread, inputs, options, field
):
    async with chatrpc.AsyncClient(core_server.target) as client:
        with pytest.raises(chatrpc.InvalidRequestError) as caught:
            await client.embed(inputs, **options)
    assert caught.value.metadata["field"] == field


def test_list_models_says_which_models_embed(core_server: CoreThread):
    with chatrpc.Client(core_server.target) as client:
        models = {m.id: m for m in client.list_models()}
    assert models[EMBEDDED].embedding_dimensions == EMBEDDED_DIMENSIONS
    assert models[SCRIPTED].embedding_dimensions == 0


@pytest.mark.model
def test_a_callers_own_receive_limit_wins_over_the_sdks_default(core_server: CoreThread):
    small = [("grpc.max_receive_message_length", 1024)]  # one 576-float vector is 2.3 KB
    with (
        chatrpc.Client(core_server.target, options=small) as client,
        pytest.raises(chatrpc.RateLimitError, match="larger than max"),
    ):
        client.embed("tea", model=EMBEDDED)
