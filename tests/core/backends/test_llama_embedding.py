"""The embedded model's embedding mode: the real SmolLM2 GGUF in a llama.cpp context of its own."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from core.backends.llama_cpp import LlamaCppBackend
from core.backends.llama_embedding import POOLING, LlamaEmbedder, shorten
from core.backends.llama_loading import load_llama
from core.errors import ConfigError, ContextLengthExceededError, UnimplementedError
from core.types import EmbeddingBatch, GenerationParams, Message, Prompt, Role
from tests.conftest import EMBEDDED_DIMENSIONS
from tests.fakes import FakeLlama, render_plain

TEXTS = (
    "The cat sat on the mat.",
    "A kitten was sitting on the rug.",
    "Quarterly revenue grew by eight percent.",
)


def norm(vector) -> float:
    return math.sqrt(sum(v * v for v in vector))


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


@pytest.fixture(scope="module")
def batch(embedded_backend) -> EmbeddingBatch:
    """TEXTS embedded once for the module (the embedded model is slow on a shared CPU)."""
    return asyncio.run(embedded_backend.embed(TEXTS, None))


@pytest.mark.model
def test_vectors_have_the_models_dimension_and_unit_length(batch):
    assert len(batch.vectors) == len(TEXTS)
    assert {len(v) for v in batch.vectors} == {EMBEDDED_DIMENSIONS}
    assert all(abs(norm(v) - 1) < 1e-5 for v in batch.vectors)
    assert len(set(batch.vectors)) == len(TEXTS)
    assert batch.prompt_tokens >= sum(len(text.split()) for text in TEXTS)


@pytest.mark.model
def test_similar_texts_are_closer_than_unrelated_ones(batch):
    cat, kitten, revenue = batch.vectors
    assert cosine(cat, kitten) > cosine(cat, revenue)
    assert cosine(cat, kitten) > cosine(kitten, revenue)


@pytest.mark.model
async def test_a_text_alone_gets_the_vector_it_gets_in_a_batch(embedded_backend, batch):
    alone = await embedded_backend.embed(TEXTS[2:], None)
    assert cosine(alone.vectors[0], batch.vectors[2]) > 0.9999


@pytest.mark.model
async def test_inputs_split_over_several_llama_calls_keep_their_order_and_tokens(batch):
    embedder = LlamaEmbedder(
        lambda: load_llama({}, pooling=POOLING["mean"], max_tokens=512), max_tokens=512, group=2
    )
    try:
        grouped = await embedder.embed(TEXTS, None)  # two llama.cpp calls: 2 texts, then 1
    finally:
        await embedder.aclose()
    for vector, expected in zip(grouped.vectors, batch.vectors, strict=True):
        assert cosine(vector, expected) > 0.9999
    assert grouped.prompt_tokens == batch.prompt_tokens


@pytest.mark.model
async def test_an_input_over_the_token_limit_is_refused_naming_it(embedded_backend):
    too_long = "word " * 600  # the embedding context holds 512 tokens per input
    with pytest.raises(ContextLengthExceededError, match="at most 512 tokens") as caught:
        await embedded_backend.embed(["fine", too_long], None)
    assert caught.value.field == "inputs[1]"


@pytest.mark.model
async def test_chat_generation_is_the_same_before_and_after_embedding(embedded_backend):
    prompt = Prompt(messages=(Message(Role.USER, "Name a colour."),))
    params = GenerationParams(max_tokens=8, temperature=0.0)

    async def reply() -> str:
        return "".join([c.text async for c in embedded_backend.stream(prompt, params)])

    before = await reply()
    await embedded_backend.embed(["A short text."], None)
    assert await reply() == before


@pytest.mark.model
async def test_dimensions_cut_the_vector_and_normalise_it_again(embedded_backend, batch):
    full = batch.vectors[0]
    short = (await embedded_backend.embed(TEXTS[:1], 64)).vectors[0]
    assert len(short) == 64 and abs(norm(short) - 1) < 1e-6
    assert cosine(short, full[:64]) > 0.9999


def test_shorten_keeps_the_head_at_unit_length():
    assert shorten((0.6, 0.0, 0.8), None) == (0.6, 0.0, 0.8)
    assert shorten((0.6, 0.0, 0.8), 1) == (1.0,)
    assert shorten((0.0, 0.6, 0.8), 1) == (0.0,)  # a zero head stays zero, no division


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"embedding_pooling": "max"}, "embedding_pooling must be one of"),
        ({"embedding_max_tokens": "0"}, "positive integer"),
        ({"embedding_max_tokens": "many"}, "positive integer"),
    ],
)
def test_bad_embedding_options_fail_at_start(options, message):
    with pytest.raises(ConfigError, match=message):
        LlamaEmbedder.from_options(options, load_llama)


async def test_a_backend_without_an_embedding_context_says_so():
    backend = LlamaCppBackend(FakeLlama(), render_plain)
    with pytest.raises(UnimplementedError, match="without an embedding context"):
        await backend.embed(["x"], None)
    await backend.aclose()


class CountingEmbeddings:
    """Wraps the real embedding context to count (and signal) its embed() calls."""

    def __init__(self, llama, started: threading.Event) -> None:
        self._llama = llama
        self.calls = 0
        self.started = started

    def embed(self, *args, **kwargs):
        self.calls += 1
        self.started.set()
        return self._llama.embed(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._llama, name)


@pytest.mark.model
async def test_a_cancelled_call_stops_at_the_next_group_of_inputs():
    opened: list[CountingEmbeddings] = []
    started = threading.Event()

    def open_llama() -> CountingEmbeddings:
        llama = load_llama({}, pooling=POOLING["mean"], max_tokens=512)
        opened.append(CountingEmbeddings(llama, started))
        return opened[0]

    embedder = LlamaEmbedder(open_llama, max_tokens=512, group=1)
    texts = [f"text number {i}" for i in range(200)]
    task = asyncio.create_task(embedder.embed(texts, None))
    assert await asyncio.to_thread(started.wait, 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await embedder.aclose()  # waits for the worker to leave its loop
    assert opened[0].calls < 50  # one llama.cpp call per input: it stopped long before 200
