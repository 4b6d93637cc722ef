"""LlamaCppBackend: the embedded model, an injected llama_cpp.Llama run in a worker thread.

Generation runs token by token on one dedicated thread (a Llama context serves one sequence
at a time, so turns queue on it: `admit()` bounds that queue and tells each turn its place,
core/backends/admission.py). Every token is handed to the event loop as soon as it is
decoded; the consumer drains whatever is ready into one chunk. Closing the stream sets a flag
the worker checks before each next token, so a cancelled turn stops within one token.
`embed` runs in a context of its own, on a thread of its own (core.backends.llama_embedding).

Logprobs, when a turn asks for them, are read from the logits llama.cpp holds for the
position just sampled (they stay until the next decode): one log-softmax over the vocabulary
and a partial sort for the top alternatives per token, on the worker thread. A turn that does
not ask pays nothing (bench/logprobs.py measures the cost).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import secrets
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from core.backends.admission import DEFAULT_MAX_QUEUE, Admission
from core.backends.base import EmbedInputs
from core.backends.llama_embedding import LlamaEmbedder
from core.backends.llama_loading import (
    ChatRenderer,
    Logits,
    chat_template,
    last_logits,
    load_llama,
)
from core.backends.llama_sampling import extra_kwargs, sampling_kwargs
from core.chat_shapes import message_to_template
from core.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidArgumentError,
    UnimplementedError,
)
from core.types import (
    BackendChunk,
    EmbeddingBatch,
    FinishReason,
    GenerationParams,
    Message,
    Prompt,
    ResponseFormat,
    ResponseFormatType,
    TokenLogprob,
    TopLogprob,
    Usage,
)

_ENCODED = 8  # prompts whose tokens are kept


class LlamaLike(Protocol):
    """The part of `llama_cpp.Llama` this backend uses (a fake stands in for it in tests)."""

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def detokenize(
        self, tokens: list[int], prev_tokens: list[int] | None = None, special: bool = False
    ) -> bytes: ...

    def generate(self, tokens: Sequence[int], **kwargs: Any) -> Iterator[int]: ...

    def set_seed(self, seed: int) -> None: ...

    def token_eos(self) -> int: ...

    def n_ctx(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Job:
    """One generation, as the worker thread runs it."""

    tokens: list[int]
    params: GenerationParams
    grammar: object
    cancelled: threading.Event
    emit: Callable[[_Item], None]


@dataclass(slots=True)
class _Result:
    finish_reason: FinishReason
    usage: Usage


_Item = str | TokenLogprob | _Result | BaseException


class LlamaCppBackend:
    """Serves a GGUF model in-process through llama-cpp-python."""

    kind: ClassVar[str] = "llama_cpp"
    supports_tools: ClassVar[bool] = False

    def __init__(
        self,
        llama: LlamaLike,
        render: ChatRenderer,
        *,
        stop: Sequence[str] = (),
        max_queue: int = DEFAULT_MAX_QUEUE,
        embedder: LlamaEmbedder | None = None,
        logits: Logits | None = None,
    ) -> None:
        self._llama = llama
        self._embedder = embedder
        self._logits = logits
        self._render = render
        self._template_stop = tuple(stop)
        self._admission = Admission(max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
        self._encoded: dict[tuple[Message, ...], list[int]] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> LlamaCppBackend:
        """Loads the GGUF named by options["model_path"] (default: the embedded SmolLM2);
        options["max_queue"] bounds the turns waiting for it; its embedding context opens on
        the first `embed` (see core.backends.llama_embedding)."""
        max_queue = options.get("max_queue", DEFAULT_MAX_QUEUE)
        if not isinstance(max_queue, int) or isinstance(max_queue, bool):
            raise ConfigError(f"llama_cpp option max_queue must be an integer, not {max_queue!r}")
        embedder = LlamaEmbedder.from_options(options, load_llama)
        llama = load_llama(options)
        render, stop = chat_template(llama)
        return cls(
            llama,
            render,
            stop=stop,
            max_queue=max_queue,
            embedder=embedder,
            logits=last_logits(llama),
        )

    def admit(self) -> AbstractAsyncContextManager[int]:
        """A turn's place in this model's bounded queue (see core.backends.base.Queueing)."""
        return self._admission.turn()

    async def count_tokens(self, prompt: Prompt) -> int:
        return len(await self._tokens(prompt))

    async def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]:
        extra_kwargs(params.extra)  # refused here, before the turn touches the model
        tokens = await self._tokens(prompt)
        grammar = json_grammar(prompt.response_format)
        if params.logprobs and self._logits is None:
            raise InvalidArgumentError("This model cannot return logprobs.", field="logprobs")
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[_Item] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: _Item) -> None:
            loop.call_soon_threadsafe(ready.put_nowait, item)

        job = loop.run_in_executor(
            self._executor, self._generate, _Job(tokens, params, grammar, cancelled, emit)
        )
        try:
            while True:
                pieces = [await ready.get()]
                while not ready.empty():
                    pieces.append(ready.get_nowait())
                text = "".join(p for p in pieces if isinstance(p, str))
                logprobs = tuple(p for p in pieces if isinstance(p, TokenLogprob))
                end = next((p for p in pieces if isinstance(p, _Result | BaseException)), None)
                if isinstance(end, BaseException):
                    raise BackendUnavailableError(
                        "The embedded model failed while generating.", backend=self.kind
                    ) from end
                if end is not None:
                    yield BackendChunk(
                        text=text,
                        logprobs=logprobs,
                        finish_reason=end.finish_reason,
                        usage=end.usage,
                    )
                    return
                if text or logprobs:
                    yield BackendChunk(text=text, logprobs=logprobs)
        finally:
            cancelled.set()
            job.cancel()  # still queued behind another turn: never starts

    async def embed(self, texts: EmbedInputs, dimensions: int | None) -> EmbeddingBatch:
        """Unit-length vectors from the model's embedding context (see LlamaEmbedder)."""
        if self._embedder is None:
            raise UnimplementedError(
                "This llama_cpp backend was built without an embedding context.", field="model"
            )
        return await self._embedder.embed(texts, dimensions)

    async def aclose(self) -> None:
        if self._embedder is not None:
            await self._embedder.aclose()
        self._executor.shutdown(wait=True, cancel_futures=True)
        await asyncio.to_thread(self._llama.close)

    async def _tokens(self, prompt: Prompt) -> list[int]:
        """The prompt's tokens; the planner counts the very prompt the turn then streams, so
        the last few encodings are kept (rendering and tokenizing once per turn, not twice)."""
        if prompt.raw:  # a text completion: the text as it is, no template
            raw = prompt.raw.encode("utf-8")
            return await asyncio.to_thread(self._llama.tokenize, raw, True, False)
        key = prompt.messages
        tokens = self._encoded.get(key)
        if tokens is None:
            tokens = await asyncio.to_thread(self._encode, prompt)
            self._encoded[key] = tokens
            if len(self._encoded) > _ENCODED:
                del self._encoded[next(iter(self._encoded))]
        return tokens

    def _encode(self, prompt: Prompt) -> list[int]:
        try:
            text = self._render([message_to_template(m) for m in prompt.messages])
        except Exception as exc:  # jinja2 errors, or the template's raise_exception()
            raise InvalidArgumentError(
                f"The model's chat template rejected the messages: {exc}", field="messages"
            ) from None
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _generate(self, job: _Job) -> None:
        """Runs on the worker thread: samples tokens until a stop, the limit or a cancel."""
        try:
            if job.cancelled.is_set():
                return
            result = self._sample(job)
            if result is not None:
                job.emit(result)
        except Exception as exc:  # handed to the event loop, which raises a ChatError
            job.emit(exc)

    def _sample(self, job: _Job) -> _Result | None:
        tokens, params, grammar = job.tokens, job.params, job.grammar
        llama = self._llama
        budget = llama.n_ctx() - len(tokens)
        limit = min(params.max_tokens, budget) if params.max_tokens is not None else budget
        llama.set_seed(params.seed % 2**32 if params.seed is not None else secrets.randbits(32))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopMatcher((*params.stop, *self._template_stop))
        eos, completion, finish = llama.token_eos(), 0, FinishReason.LENGTH
        kwargs: dict[str, object] = {**sampling_kwargs(params), **extra_kwargs(params.extra)}
        if grammar is not None:
            kwargs["grammar"] = grammar
        top = params.top_logprob_count
        logits = self._logits if top is not None else None
        generator = llama.generate(tokens, **kwargs)
        started = time.perf_counter()
        try:
            for token in generator:
                if job.cancelled.is_set():
                    return None
                if token == eos:
                    finish = FinishReason.STOP
                    break
                completion += 1
                if logits is not None:
                    job.emit(token_logprob(llama, logits(), token, top or 0))
                text, stopped = stops.feed(decoder.decode(llama.detokenize([token])))
                if text:
                    job.emit(text)
                if stopped:
                    finish = FinishReason.STOP
                    break
                if completion >= limit:
                    break
        finally:
            generator.close()  # type: ignore[attr-defined]
            self._admission.record(completion, time.perf_counter() - started)
        if not stops.stopped:
            # Bytes still in the decoder are an incomplete character cut by the limit: dropped.
            tail = stops.flush()
            if tail:
                job.emit(tail)
        return _Result(finish, Usage(prompt_tokens=len(tokens), completion_tokens=completion))


def token_logprob(
    llama: LlamaLike, logits: npt.NDArray[np.float32], token: int, top: int
) -> TokenLogprob:
    """`token`'s log probability under `logits` (a log-softmax), with the `top` likeliest."""
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))

    def entry(tok: int) -> tuple[str, float, bytes]:
        raw = llama.detokenize([tok], special=True)
        return raw.decode("utf-8", errors="replace"), float(logits[tok]) - log_total, raw

    text, logprob, raw = entry(token)
    alternatives: tuple[TopLogprob, ...] = ()
    if top:
        best = np.argpartition(logits, -top)[-top:]
        ranked = best[np.argsort(logits[best])[::-1]]
        alternatives = tuple(TopLogprob(*entry(int(t))) for t in ranked)
    return TokenLogprob(token=text, logprob=logprob, token_bytes=raw, top=alternatives)


class _StopMatcher:
    """Cuts text at the first stop string, holding back a suffix that may begin one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, piece: str) -> tuple[str, bool]:
        if not self._stops:
            return piece, False
        text = self._held + piece
        cut = min((i for i in (text.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held, self.stopped = "", True
            return text[:cut], True
        keep = max((_overlap(text, s) for s in self._stops), default=0)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `stop`."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0


def json_grammar(fmt: ResponseFormat) -> object:
    """A llama.cpp grammar constraining output to JSON (any object, or the given schema)."""
    if fmt.type is ResponseFormatType.TEXT:
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    if fmt.type is ResponseFormatType.JSON_OBJECT or not fmt.schema:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    try:
        return LlamaGrammar.from_json_schema(json.dumps(fmt.schema), verbose=False)
    except Exception as exc:  # the converter raises plain exceptions for unsupported schemas
        raise InvalidArgumentError(
            f"This JSON Schema cannot be enforced by the embedded model: {exc}",
            field="response_format.json_schema",
        ) from None
