"""The fake upstream's /v1/embeddings refuses what OpenAI refuses and answers as OpenAI does,
as the official openai SDK sees it (the backend and gateway embedding tests lean on it)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.upstream import EmbeddingModel, FakeUpstream, fake_embedding

KEY = "sk-fake-embeddings-key-1"
SMALL = "text-embedding-3-small"
ADA = "text-embedding-ada-002"  # no `dimensions`


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(
        keys={KEY},
        models={"chat-model": 100},
        embedding_models={
            SMALL: EmbeddingModel(1536),
            ADA: EmbeddingModel(1536, shortening=False, max_input_tokens=100),
        },
    )
    yield upstream
    upstream.stop()


@pytest.fixture
def client(server: FakeUpstream) -> Iterator[openai.OpenAI]:
    server.reset()
    with openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=5) as sdk:
        yield sdk


def test_vectors_are_unit_length_per_text_and_the_sdk_decodes_base64(client, server):
    floats = client.embeddings.create(model=SMALL, input=["a", "b"], encoding_format="float")
    decoded = client.embeddings.create(model=SMALL, input=["a", "b"])  # the SDK asks for base64
    assert [d.embedding for d in floats.data] == [fake_embedding(t, 1536) for t in "ab"]
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    assert server.requests[1].body["encoding_format"] == "base64"
    assert abs(math.sqrt(sum(v * v for v in floats.data[0].embedding)) - 1) < 1e-6
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 2


def test_dimensions_shorten_and_renormalise(client):
    result = client.embeddings.create(model=SMALL, input="tea", dimensions=8)
    vector = result.data[0].embedding
    assert len(vector) == 8 and abs(math.sqrt(sum(v * v for v in vector)) - 1) < 1e-6
    assert vector == fake_embedding("tea", 1536, 8)


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"model": "nope", "input": "a"}, 404, None),
        ({"model": "chat-model", "input": "a"}, 404, None),
        ({"model": SMALL, "input": ""}, 400, "input"),
        ({"model": SMALL, "input": []}, 400, "input"),
        ({"model": SMALL, "input": ["a", ""]}, 400, "input"),
        ({"model": SMALL, "input": ["a"] * 2049}, 400, "input"),
        ({"model": ADA, "input": "word " * 101}, 400, "input"),
        ({"model": ADA, "input": "a", "dimensions": 8}, 400, "dimensions"),
        ({"model": SMALL, "input": "a", "dimensions": 0}, 400, "dimensions"),
        ({"model": SMALL, "input": "a", "dimensions": 1537}, 400, "dimensions"),
        ({"model": SMALL, "input": "a", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"model": SMALL, "input": "a", "normalize": True}, 400, None),
        ({"input": "a"}, 400, "model"),
    ],
)
def test_what_openai_refuses_is_refused(server, fields, status, param):
    server.reset()
    response = httpx.post(
        server.url + "/embeddings", json=fields, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_a_missing_key_is_401(server):
    response = httpx.post(server.url + "/embeddings", json={"model": SMALL, "input": "a"})
    assert response.status_code == 401
