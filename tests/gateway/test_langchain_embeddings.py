"""LangChain's OpenAIEmbeddings with its defaults against the embedded model: it tokenizes with
tiktoken and sends token arrays. tiktoken's vocabulary files cannot be downloaded here, so the
test gives tiktoken a local encoding of the embedded model's own vocabulary (its tokens' bytes,
ranked by id), registered under the model's name as tiktoken registers its own."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import EMBEDDED

langchain_openai = pytest.importorskip("langchain_openai")
tiktoken = pytest.importorskip("tiktoken")

# GPT-2's pre-tokenizer split (SmolLM2's tokenizer is a GPT-2-style byte-level BPE).
PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)


def local_encoding(llama: Any) -> Any:
    """A tiktoken Encoding over `llama`'s vocabulary: each token's bytes ranked by its id."""
    ranks: dict[bytes, int] = {}
    for token in range(llama.n_vocab()):
        raw = llama.detokenize([token])
        if raw and raw not in ranks:
            ranks[raw] = token
    return tiktoken.Encoding(
        "smollm2-local", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens={}
    )


@pytest.fixture
def local_tiktoken(real_llama, monkeypatch) -> Any:
    encoding = local_encoding(real_llama)
    monkeypatch.setitem(tiktoken.registry.ENCODINGS, encoding.name, encoding)
    monkeypatch.setitem(tiktoken.model.MODEL_TO_ENCODING, EMBEDDED, encoding.name)
    return encoding


def test_openai_embeddings_with_its_defaults_sends_token_arrays_and_gets_the_models_vectors(
    gateway, openai_client, local_tiktoken, real_llama
):
    texts = ["green tea", "black tea and biscuits"]
    sent: list[Any] = []

    def record(request: Any) -> None:  # what LangChain's openai client puts on the wire
        sent.append(json.loads(request.read()))

    http_client = httpx.Client(event_hooks={"request": [record]})
    embeddings = langchain_openai.OpenAIEmbeddings(
        model=EMBEDDED, base_url=gateway.url + "/v1", api_key="unused", http_client=http_client
    )
    vectors = embeddings.embed_documents(texts)
    http_client.close()
    assert [body["input"] for body in sent] == [[local_tiktoken.encode(t) for t in texts]]
    assert sent[0]["input"][0] == real_llama.tokenize(b"green tea", add_bos=False)
    by_text = openai_client.embeddings.create(model=EMBEDDED, input=texts, encoding_format="float")
    for ours, theirs in zip(vectors, by_text.data, strict=True):
        assert ours == pytest.approx(theirs.embedding, abs=1e-5)
