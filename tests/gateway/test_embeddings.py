"""POST /v1/embeddings with the official openai SDK: the embedded model and a strict fake
upstream behind a real core; bodies validated against OpenAI's CreateEmbeddingResponse."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from dataclasses import replace

import httpx
import openai
import pytest

from core.catalog import EmbeddingSpec, ModelCatalog
from tests.conftest import EMBEDDED, EMBEDDED_DIMENSIONS, SCRIPTED
from tests.servers import upstream_model, with_models
from tests.upstream import EmbeddingModel, FakeUpstream, fake_embedding, reset_each_test

UPSTREAM_KEY = "sk-upstream-embeddings-1"
UPSTREAM = "text-embedding-3-small"  # our catalog name and the upstream's
TEXTS = ["The cat sat on the mat.", "A kitten was sitting on the rug.", "Revenue grew 8%."]


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream(
        keys={UPSTREAM_KEY},
        models={"chat-model": 4096},
        embedding_models={UPSTREAM: EmbeddingModel(dimensions=1536)},
    )
    yield server
    server.stop()


upstream = reset_each_test("upstream_server")


@pytest.fixture
def catalog(catalog: ModelCatalog, upstream: FakeUpstream) -> ModelCatalog:
    """The gateway's catalog plus text-embedding-3-small on the fake upstream."""
    spec, backend = upstream_model(UPSTREAM, upstream.url, UPSTREAM, UPSTREAM_KEY)
    embeds = replace(spec, embeddings=EmbeddingSpec(dimensions=1536, shortening=True))
    return with_models(catalog, (embeds, backend))


def post(gateway, body: object) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/embeddings", json=body, timeout=60)


def decode(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.mark.model
def test_the_embedded_model_answers_float_vectors_of_its_dimension(openai_client, gateway, openapi):
    result = openai_client.embeddings.create(model=EMBEDDED, input=TEXTS, encoding_format="float")
    assert result.model == EMBEDDED and [d.index for d in result.data] == [0, 1, 2]
    vectors = [d.embedding for d in result.data]
    assert {len(v) for v in vectors} == {EMBEDDED_DIMENSIONS}
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in vectors)
    cat, kitten, revenue = vectors
    assert cosine(cat, kitten) > cosine(cat, revenue)
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    raw = post(gateway, {"model": EMBEDDED, "input": TEXTS[0]})
    openapi.validate(raw.json(), "CreateEmbeddingResponse")
    assert cosine(raw.json()["data"][0]["embedding"], cat) > 0.9999


@pytest.mark.model
def test_base64_is_little_endian_float32_and_the_sdk_decodes_it_itself(
    openai_client, gateway, openapi
):
    body = post(gateway, {"model": EMBEDDED, "input": TEXTS[:2], "encoding_format": "base64"})
    payload = body.json()
    floats = post(gateway, {"model": EMBEDDED, "input": TEXTS[:2]}).json()
    assert all(isinstance(d["embedding"], str) for d in payload["data"])
    decoded = [decode(d["embedding"]) for d in payload["data"]]
    for vector, expected in zip(decoded, floats["data"], strict=True):
        assert cosine(vector, expected["embedding"]) > 0.9999
    # The schema types `embedding` as numbers; the base64 form is that array's bytes.
    for item, vector in zip(payload["data"], decoded, strict=True):
        item["embedding"] = vector
    openapi.validate(payload, "CreateEmbeddingResponse")
    # Without encoding_format the SDK asks for base64 and decodes it into floats.
    sdk = openai_client.embeddings.create(model=EMBEDDED, input=TEXTS[:2])
    for item, vector in zip(sdk.data, decoded, strict=True):
        assert cosine(item.embedding, vector) > 0.9999


def test_upstream_vectors_usage_and_dimensions_pass_through(
    openai_client, upstream, gateway, openapi
):
    result = openai_client.embeddings.create(
        model=UPSTREAM, input=TEXTS, dimensions=256, encoding_format="float", user="u-7"
    )
    assert [d.embedding for d in result.data] == [fake_embedding(t, 1536, 256) for t in TEXTS]
    tokens = sum(max(1, len(t) // 4) for t in TEXTS)  # the fake upstream's count
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (tokens, tokens)
    assert result.model == UPSTREAM
    (sent,) = upstream.requests
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.body == {
        "model": UPSTREAM,
        "input": TEXTS,
        "encoding_format": "float",
        "dimensions": 256,
    }
    sdk_default = openai_client.embeddings.create(model=UPSTREAM, input="tea")  # base64
    assert sdk_default.data[0].embedding == fake_embedding("tea", 1536)
    openapi.validate(
        post(gateway, {"model": UPSTREAM, "input": ["tea"]}).json(), "CreateEmbeddingResponse"
    )


async def test_the_async_sdk_embeds_through_the_upstream(async_openai_client, upstream):
    result = await async_openai_client.embeddings.create(model=UPSTREAM, input=["a", "b"])
    assert [d.embedding for d in result.data] == [fake_embedding(t, 1536) for t in "ab"]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": UPSTREAM, "input": ["ok", 7]}, "input", "a list of lists of integers"),
        ({"model": UPSTREAM, "input": [[1, 2], 3]}, "input", "a list of lists of integers"),
        ({"model": UPSTREAM, "input": [[1, 2], []]}, "input[1]", "must not be empty"),
        ({"model": UPSTREAM, "input": [[1, -2]]}, "input[0]", "negative token id"),
        ({"model": EMBEDDED, "input": [[1, 10**9]]}, "input[0]", "outside the model's vocab"),
        ({"model": UPSTREAM, "input": []}, "input", "at least one"),
        ({"model": UPSTREAM, "input": ""}, "input[0]", "must not be empty"),
        ({"model": UPSTREAM, "input": ["a", ""]}, "input[1]", "must not be empty"),
        ({"model": UPSTREAM, "input": ["a"] * 2049}, "input", "more than 2048"),
        ({"model": UPSTREAM, "input": "a", "dimensions": 0}, "dimensions", "between 1"),
        ({"model": UPSTREAM, "input": "a", "dimensions": 1537}, "dimensions", "1536"),
        ({"model": EMBEDDED, "input": "a", "dimensions": 64}, "dimensions", "does not support"),
        ({"model": SCRIPTED, "input": "a"}, "model", "does not compute embeddings"),
        ({"model": UPSTREAM, "input": "a", "encoding_format": "int8"}, "encoding_format", ""),
        ({"model": UPSTREAM, "input": "a", "dimensions": "8"}, "dimensions", ""),
        ({"model": UPSTREAM, "input": "a", "normalize": True}, "normalize", "Unrecognized"),
        ({"model": UPSTREAM}, "input", ""),
    ],
)
def test_bad_input_is_a_400_naming_the_param_before_any_model_work(
    gateway, upstream, openapi, body, param, message
):
    response = post(gateway, body)
    assert response.status_code == 400, response.text
    openapi.validate(response.json(), "ErrorResponse")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert message in error["message"]
    assert upstream.requests == []


@pytest.mark.model
def test_an_input_over_the_embedded_models_token_limit_is_a_400(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model=EMBEDDED, input=["fine", "word " * 600])
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "input[1]"


def test_an_upstream_refusal_is_a_400_without_the_upstreams_text(openai_client, upstream):
    too_long = "x" * 40_000  # over 8192 tokens for the fake (one per 4 characters at least)
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model=UPSTREAM, input=too_long)
    assert "maximum context length" not in caught.value.message
    assert upstream.requests[0].status == 400


def test_embeddings_need_a_key_where_keys_are_required(dbgpt):
    response = httpx.post(dbgpt.url + "/v1/embeddings", json={"input": "a"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_large_batch_fits_the_grpc_messages(openai_client, upstream):
    """700 vectors of 1536 float32 are 4.3 MB: over gRPC's default 4 MB message limit."""
    texts = [f"text {i}" for i in range(700)]
    result = openai_client.embeddings.create(model=UPSTREAM, input=texts)
    assert len(result.data) == 700 and result.data[699].embedding == fake_embedding(
        texts[699], 1536
    )


def test_token_arrays_embed_as_the_texts_they_encode_on_the_embedded_model(
    openai_client, real_llama, openapi, gateway
):
    texts = ["green tea", "black tea"]
    ids = [real_llama.tokenize(t.encode("utf-8")) for t in texts]
    by_text = openai_client.embeddings.create(model=EMBEDDED, input=texts, encoding_format="float")
    by_tokens = openai_client.embeddings.create(model=EMBEDDED, input=ids, encoding_format="float")
    assert [d.embedding for d in by_tokens.data] == [d.embedding for d in by_text.data]
    assert by_tokens.usage.prompt_tokens == sum(map(len, ids))
    one = openai_client.embeddings.create(model=EMBEDDED, input=ids[0], encoding_format="float")
    assert one.data[0].embedding == by_text.data[0].embedding
    openapi.validate(
        post(gateway, {"model": EMBEDDED, "input": ids}).json(), "CreateEmbeddingResponse"
    )


def test_token_arrays_pass_through_to_the_upstream(openai_client, upstream):
    result = openai_client.embeddings.create(
        model=UPSTREAM, input=[[1, 2, 3], [42]], encoding_format="float"
    )
    (request,) = upstream.requests
    assert request.body["input"] == [[1, 2, 3], [42]]
    assert [d.embedding for d in result.data] == [
        fake_embedding("1 2 3", 1536),
        fake_embedding("42", 1536),
    ]
