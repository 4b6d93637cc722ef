"""Embedder: every Embed request is checked against its model's catalog entry before the
backend is asked for anything."""

from __future__ import annotations

import pytest

from core.catalog import EmbeddingSpec, ModelCatalog, ModelSpec
from core.errors import InvalidArgumentError, ModelNotFoundError
from core.pipeline.embeddings import Embedder
from core.settings import Limits
from core.types import EmbedRequest
from tests.fakes import ScriptedBackend

LIMITS = Limits(max_embed_inputs=4, max_embed_input_chars=10, max_embed_total_chars=25)


def catalog(backend: ScriptedBackend) -> ModelCatalog:
    specs = [
        ModelSpec("fixed", "scripted", 4096, embeddings=EmbeddingSpec(dimensions=3)),
        ModelSpec("short", "scripted", 4096, embeddings=EmbeddingSpec(3, shortening=True)),
        ModelSpec("chat-only", "scripted", 4096),
    ]
    models = ModelCatalog(specs)
    for spec in specs:
        models.attach(spec.name, backend)
    return models


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def embedder(backend: ScriptedBackend) -> Embedder:
    return Embedder(catalog(backend), LIMITS)


async def test_embeds_in_input_order_with_the_backends_token_count(embedder, backend):
    result = await embedder.run(EmbedRequest(inputs=("a cat", "dog"), model="fixed"))
    assert result.model == "fixed"
    assert result.batch.vectors == ((5.0, 2.0, 1.0), (3.0, 1.0, 0.0))
    assert result.batch.prompt_tokens == 3
    assert backend.embed_calls == [(("a cat", "dog"), None)]


async def test_the_empty_model_name_selects_the_default_model(embedder, backend):
    assert (await embedder.run(EmbedRequest(inputs=("x",)))).model == "fixed"


async def test_dimensions_reach_a_model_that_may_shorten(embedder, backend):
    result = await embedder.run(EmbedRequest(inputs=("tea",), model="short", dimensions=2))
    assert result.batch.vectors == ((3.0, 2.0),)
    assert backend.embed_calls == [(("tea",), 2)]


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (EmbedRequest(inputs=("x",), model="chat-only"), "model", "does not compute embeddings"),
        (EmbedRequest(inputs=()), "inputs", "at least one"),
        (EmbedRequest(inputs=("a",) * 5), "inputs", "more than 4"),
        (EmbedRequest(inputs=("a", "")), "inputs[1]", "must not be empty"),
        (EmbedRequest(inputs=("a", "b" * 11)), "inputs[1]", "longer than 10"),
        (EmbedRequest(inputs=("a" * 9, "b" * 9, "c" * 9)), "inputs", "more than 25"),
        (EmbedRequest(inputs=("a",), dimensions=2), "dimensions", "does not support"),
        (EmbedRequest(inputs=("a",), model="short", dimensions=0), "dimensions", "between 1"),
        (EmbedRequest(inputs=("a",), model="short", dimensions=4), "dimensions", "model's 3"),
        (EmbedRequest(inputs=("a",), user="u" * 257), "user", "longer than 256"),
    ],
)
async def test_bad_requests_are_refused_before_the_backend_is_asked(
    embedder, backend, request_, field, message
):
    with pytest.raises(InvalidArgumentError, match=message) as caught:
        await embedder.run(request_)
    assert caught.value.field == field
    assert backend.embed_calls == []


async def test_an_unknown_model_is_model_not_found(embedder, backend):
    with pytest.raises(ModelNotFoundError):
        await embedder.run(EmbedRequest(inputs=("x",), model="nope"))
    assert backend.embed_calls == []
