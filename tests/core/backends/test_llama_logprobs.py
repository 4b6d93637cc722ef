"""Logprobs of the embedded backend: a log-softmax of the sampled position's logits, the top
alternatives, paid only when asked (FakeLlama's byte tokens, logits given per position)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.backends.llama_cpp import LlamaCppBackend, token_logprob
from core.errors import InvalidArgumentError
from core.types import GenerationParams, Message, Prompt, Role
from tests.fakes import FakeLlama, render_plain

PROMPT = Prompt(messages=(Message(Role.USER, "hi"),))
VOCABULARY = 257  # FakeLlama's 256 byte tokens and its EOS


class Logits:
    """Logits that favour the token FakeLlama yields next (by a known margin); counts reads."""

    def __init__(self, script: bytes) -> None:
        self.script = script
        self.reads = 0

    def __call__(self) -> np.ndarray:
        row = np.zeros(VOCABULARY, dtype=np.float32)
        row[self.script[self.reads]] = math.log(3.0)  # three times as likely as any other
        row[ord("?")] = math.log(2.0)
        self.reads += 1
        return row


def test_token_logprob_is_a_log_softmax_with_the_likeliest_first():
    logits = np.zeros(VOCABULARY, dtype=np.float32)
    logits[ord("a")], logits[ord("b")] = math.log(3.0), math.log(2.0)
    total = 3.0 + 2.0 + (VOCABULARY - 2)
    entry = token_logprob(FakeLlama(), logits, ord("b"), top=2)
    assert (entry.token, entry.token_bytes) == ("b", b"b")
    assert entry.logprob == pytest.approx(math.log(2.0 / total), abs=1e-6)
    assert [(t.token, t.token_bytes) for t in entry.top] == [("a", b"a"), ("b", b"b")]
    assert entry.top[0].logprob == pytest.approx(math.log(3.0 / total), abs=1e-6)
    assert token_logprob(FakeLlama(), logits, ord("b"), top=0).top == ()


async def test_stream_carries_one_logprob_per_generated_token_when_asked():
    logits = Logits(b"ok")
    backend = LlamaCppBackend(FakeLlama(b"ok"), render_plain, logits=logits)
    params = GenerationParams(logprobs=True, top_logprobs=2)
    chunks = [c async for c in backend.stream(PROMPT, params)]
    await backend.aclose()
    tokens = [t for c in chunks for t in c.logprobs]
    assert [t.token for t in tokens] == ["o", "k"]
    assert all(t.top[0].token == t.token and t.top[1].token == "?" for t in tokens)
    assert logits.reads == 2  # once per generated token, none for EOS


async def test_nothing_is_computed_when_logprobs_are_not_asked():
    logits = Logits(b"ok")
    backend = LlamaCppBackend(FakeLlama(b"ok"), render_plain, logits=logits)
    chunks = [c async for c in backend.stream(PROMPT, GenerationParams())]
    await backend.aclose()
    assert logits.reads == 0 and all(c.logprobs == () for c in chunks)


async def test_a_backend_without_logits_refuses_logprobs_before_generating():
    llama = FakeLlama(b"ok")
    backend = LlamaCppBackend(llama, render_plain)
    with pytest.raises(InvalidArgumentError):
        async for _ in backend.stream(PROMPT, GenerationParams(logprobs=True)):
            pass
    await backend.aclose()
    assert llama.yielded == 0
