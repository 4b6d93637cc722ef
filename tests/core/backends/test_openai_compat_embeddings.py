"""OpenAICompatBackend.embed: `POST /embeddings` against the strict fake upstream, vectors
passed through, errors mapped as a turn's are; and the wire module's shape checks."""

from __future__ import annotations

import pytest

from core.backends.openai_compat import OpenAICompatBackend
from core.backends.openai_wire import embeddings_body, embeddings_from_openai
from core.errors import (
    BackendError,
    BackendUnavailableError,
    ResourceExhaustedError,
)
from tests.upstream import EmbeddingModel, FakeUpstream, Scenario, fake_embedding, reset_each_test

KEY = "sk-embed-key-A"
MODEL = "text-embedding-3-small"
FIXED = "fixed-embedder"  # a model that cannot shorten its vectors


@pytest.fixture(scope="module")
def fake_server():
    server = FakeUpstream(
        keys={KEY},
        models={"chat-model": 4096},
        embedding_models={
            MODEL: EmbeddingModel(dimensions=1536),
            FIXED: EmbeddingModel(dimensions=8, shortening=False),
        },
    )
    yield server
    server.stop()


upstream = reset_each_test("fake_server")


@pytest.fixture
async def make_backend(upstream):
    made: list[OpenAICompatBackend] = []

    def make(model: str = MODEL, key: str = KEY) -> OpenAICompatBackend:
        options = {"base_url": upstream.url, "api_key": key, "upstream_model": model}
        made.append(OpenAICompatBackend.from_options(options | {"timeout": 5}))
        return made[-1]

    yield make
    for backend in made:
        await backend.aclose()


async def test_vectors_and_usage_pass_through_in_input_order(make_backend, upstream):
    texts = ["green tea", "black coffee", "oolong"]
    batch = await make_backend().embed(texts, None)
    assert [list(v) for v in batch.vectors] == [fake_embedding(t, 1536) for t in texts]
    (request,) = upstream.requests
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {"model": MODEL, "input": texts, "encoding_format": "float"}
    assert batch.prompt_tokens == sum(max(1, len(t) // 4) for t in texts)


async def test_dimensions_are_sent_and_the_shortened_vectors_come_back(make_backend, upstream):
    batch = await make_backend().embed(["green tea"], 256)
    assert list(batch.vectors[0]) == fake_embedding("green tea", 1536, 256)
    assert upstream.requests[0].body["dimensions"] == 256


@pytest.mark.parametrize(
    ("scenario", "error", "status"),
    [
        (
            Scenario(mode="status", status=429, headers={"retry-after": "3"}),
            ResourceExhaustedError,
            429,
        ),
        (Scenario(mode="status", status=500), BackendUnavailableError, 500),
        (Scenario(mode="status", status=401), BackendUnavailableError, 401),
        (Scenario(mode="garbage"), BackendUnavailableError, 200),
    ],
)
async def test_upstream_failures_map_as_a_turns_do(make_backend, upstream, scenario, error, status):
    upstream.reset(scenario)
    with pytest.raises(error):
        await make_backend().embed(["x"], None)
    assert upstream.requests[0].status == status


async def test_what_the_upstream_refuses_is_a_backend_error_without_its_text(
    make_backend, upstream
):
    with pytest.raises(BackendError, match=r"HTTP 400: invalid request\)") as caught:
        await make_backend(FIXED).embed(["x"], 4)  # the core lets only catalog models shorten
    assert caught.value.metadata["upstream_status"] == "400"
    with pytest.raises(BackendError, match="HTTP 404"):
        await make_backend("chat-model").embed(["x"], None)
    with pytest.raises(BackendUnavailableError, match="credentials"):
        await make_backend(key="sk-wrong-key-9").embed(["x"], None)


def test_the_request_body_carries_only_embedding_fields():
    assert embeddings_body("m", ["a"], None) == {
        "model": "m",
        "input": ["a"],
        "encoding_format": "float",
    }
    assert embeddings_body("m", ["a"], 8)["dimensions"] == 8


def answer(*items: object, usage: object = None) -> dict[str, object]:
    return {"object": "list", "data": list(items), "usage": usage}


def item(index: object, embedding: object) -> dict[str, object]:
    return {"object": "embedding", "index": index, "embedding": embedding}


def test_vectors_are_put_back_in_input_order_and_usage_estimated_when_missing():
    batch = embeddings_from_openai(answer(item(1, [0.0, 1.0]), item(0, [1, 0])), ["ab", "cd"], None)
    assert batch.vectors == ((1.0, 0.0), (0.0, 1.0))
    assert batch.prompt_tokens == 2  # no usage: ~3 ASCII characters per token, rounded up


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ([], "one embedding per input"),
        (answer(item(0, [1.0])), "one embedding per input"),
        (answer(item(0, [1.0]), item(0, [1.0])), "indices"),
        (answer(item(0, [1.0]), item(2, [1.0])), "indices"),
        (answer(item(0, [1.0]), item(1, [1.0, 2.0])), "length"),
        (answer(item(0, [1.0]), item(1, ["1"])), "finite numbers"),
        (answer(item(0, [1.0]), item(1, [True])), "finite numbers"),
        (answer(item(0, []), item(1, [])), "non-empty list"),
        (answer(item(0, "AAAAAA=="), item(1, [1.0])), "non-empty list"),  # base64: not asked
        (answer(item(0, [1.0]), "not an object"), "an object"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_refused(payload, why):
    with pytest.raises(ValueError, match=why):
        embeddings_from_openai(payload, ["a", "b"], None)


def test_vectors_of_another_length_than_asked_are_refused():
    with pytest.raises(ValueError, match="length"):
        embeddings_from_openai(answer(item(0, [1.0, 0.0])), ["a"], 3)
