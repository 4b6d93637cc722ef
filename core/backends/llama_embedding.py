"""LlamaEmbedder: the embedded model's embedding mode, a llama.cpp context of its own.

Chat generation keeps its context (and its KV cache) to itself: embeddings run in a second
`llama_cpp.Llama` over the same GGUF, opened with `embedding=True` and a pooling type on the
first call (the weights are memory-mapped, so the file's pages are shared, not copied), on a
worker thread of its own, so an embedding call never waits for a chat turn to finish. Each
input is checked against the context's token limit before anything is decoded; llama.cpp
then batches as many inputs into one decode as fit. Vectors are L2-normalised to unit
length, as OpenAI's are (cosine similarity is then a dot product); a shorter `dimensions`
(only where the catalog allows it) keeps the first components and normalises again, as
OpenAI's text-embedding-3 models do. A cancelled call stops between groups of inputs.

Token-id inputs are fed to llama.cpp as they are, after a range check against the
vocabulary: llama-cpp-python's `embed` takes only texts, which it tokenizes itself, so for a
token call the context's `tokenize` is shadowed (on the one worker thread that owns the
context, for that call only) by a lookup of the caller's ids; its batching and pooling stay.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from core.backends.base import EmbedInputs
from core.errors import (
    BackendUnavailableError,
    ChatError,
    ConfigError,
    ContextLengthExceededError,
    InvalidArgumentError,
)
from core.types import EmbeddingBatch

POOLING = {"mean": 1, "cls": 2, "last": 3}  # llama.cpp's LLAMA_POOLING_TYPE_* values
DEFAULT_POOLING = "mean"
DEFAULT_MAX_TOKENS = 512
GROUP = 32  # inputs per llama.cpp call: a cancelled request stops after at most one group


class EmbeddingLlama(Protocol):
    """The part of a `llama_cpp.Llama(embedding=True)` the embedder uses."""

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def n_vocab(self) -> int: ...

    def embed(
        self,
        input: list[str],
        normalize: bool = False,
        truncate: bool = True,
        return_count: bool = False,
    ) -> Any: ...

    def close(self) -> None: ...


class LlamaEmbedder:
    """Embeds texts with a lazily opened embedding context (`open_llama` opens it)."""

    def __init__(
        self, open_llama: Callable[[], EmbeddingLlama], *, max_tokens: int, group: int = GROUP
    ) -> None:
        self._open = open_llama
        self._llama: EmbeddingLlama | None = None
        self.max_tokens = max_tokens
        self._group = group
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-embed")

    @classmethod
    def from_options(
        cls, options: Mapping[str, object], open_llama: Callable[..., Any]
    ) -> LlamaEmbedder:
        """Checks `embedding_pooling` and `embedding_max_tokens` now (a typo fails at start),
        and opens the context with `open_llama(options, pooling=…, max_tokens=…)` later."""
        pooling = str(options.get("embedding_pooling") or DEFAULT_POOLING)
        if pooling not in POOLING:
            raise ConfigError(
                f"embedding_pooling must be one of {sorted(POOLING)}, not {pooling!r}"
            )
        try:
            max_tokens = int(str(options.get("embedding_max_tokens") or DEFAULT_MAX_TOKENS))
        except ValueError:
            max_tokens = 0
        if max_tokens < 1:
            raise ConfigError("embedding_max_tokens must be a positive integer")

        def open_context() -> EmbeddingLlama:
            llama: EmbeddingLlama = open_llama(
                options, pooling=POOLING[pooling], max_tokens=max_tokens
            )
            return llama

        return cls(open_context, max_tokens=max_tokens)

    async def embed(self, texts: EmbedInputs, dimensions: int | None) -> EmbeddingBatch:
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()
        job = loop.run_in_executor(self._executor, self._run, list(texts), dimensions, cancelled)
        try:
            return await job
        except ChatError:
            raise
        except Exception as exc:  # llama.cpp's own failures (decode errors, allocation)
            raise BackendUnavailableError(
                "The embedded model failed while embedding.", backend="llama_cpp"
            ) from exc
        finally:
            cancelled.set()  # the worker stops at its next group; a queued job never starts

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._llama is not None:
            await asyncio.to_thread(self._llama.close)
            self._llama = None

    def _run(
        self, inputs: list[Any], dimensions: int | None, cancelled: threading.Event
    ) -> EmbeddingBatch:
        """Runs on the worker thread: checks every input's length, then embeds group by group.
        Once `cancelled` is set nobody awaits the result: the job just ends (CancelledError)."""
        if cancelled.is_set():
            raise asyncio.CancelledError
        llama = self._context()
        texts, ids = self._checked(llama, inputs)
        vectors: list[tuple[float, ...]] = []
        tokens = 0
        for start in range(0, len(texts), self._group):
            if cancelled.is_set():
                raise asyncio.CancelledError
            if ids:  # "0", "1", … stand for the id lists; `tokenize` gives each its ids
                vars(llama)["tokenize"] = lambda text, *args, **kwargs: ids[int(text)]
            try:
                group, count = llama.embed(
                    texts[start : start + self._group],
                    normalize=True,
                    truncate=False,
                    return_count=True,
                )
            finally:
                vars(llama).pop("tokenize", None)
            vectors.extend(shorten(vector, dimensions) for vector in group)
            tokens += count
        return EmbeddingBatch(vectors=tuple(vectors), prompt_tokens=tokens)

    def _checked(self, llama: EmbeddingLlama, inputs: list[Any]) -> tuple[list[str], list[Any]]:
        """(what `embed` is given, the id lists of a token call or []) once every input is
        within the token limit and every id within the vocabulary."""
        tokens = bool(inputs) and not isinstance(inputs[0], str)
        field = "token_inputs" if tokens else "inputs"
        vocabulary = llama.n_vocab() if tokens else 0
        for i, item in enumerate(inputs):
            count = len(item) if tokens else len(llama.tokenize(item.encode("utf-8")))
            if count > self.max_tokens:
                raise ContextLengthExceededError(
                    f"{field}[{i}] has {count} tokens; this model embeds at most "
                    f"{self.max_tokens} tokens per input.",
                    field=f"{field}[{i}]",
                )
            if tokens and not all(0 <= t < vocabulary for t in item):
                raise InvalidArgumentError(
                    f"{field}[{i}] holds a token id outside the model's vocabulary "
                    f"(0-{vocabulary - 1}).",
                    field=f"{field}[{i}]",
                )
        if tokens:
            return [str(i) for i in range(len(inputs))], [list(item) for item in inputs]
        return list(inputs), []

    def _context(self) -> EmbeddingLlama:
        if self._llama is None:  # only ever on the one worker thread: no race
            self._llama = self._open()
        return self._llama


def shorten(vector: Sequence[float], dimensions: int | None) -> tuple[float, ...]:
    """`vector` (unit length) cut to its first `dimensions` components and normalised again."""
    if dimensions is None or dimensions >= len(vector):
        return tuple(vector)
    head = vector[:dimensions]
    norm = math.sqrt(math.fsum(v * v for v in head))
    return tuple(v / norm for v in head) if norm else tuple(head)
