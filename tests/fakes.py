"""The only fakes in the suite: a scripted model backend and a fake llama_cpp.Llama."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.errors import ChatError
from core.types import (
    BackendChunk,
    EmbeddingBatch,
    FinishReason,
    GenerationParams,
    Prompt,
    ToolCallDelta,
    Usage,
)


@dataclass
class Script:
    """What the next stream() call produces."""

    pieces: Sequence[str | BackendChunk]
    delay: float = 0.0
    fail_after: int | None = None
    error: ChatError | None = None
    finish: FinishReason = FinishReason.STOP
    prompt_tokens: int | None = None


@dataclass
class StreamRecord:
    """One stream() call as the backend saw it."""

    prompt: Prompt
    params: GenerationParams
    produced: int = 0
    closed_at: float | None = None
    produced_at: list[float] = field(default_factory=list)


class ScriptedBackend:
    """A model that replays scripted chunks; records every call (llm's MockModel pattern).

    `enqueue()` scripts the next call; without a script a call answers "ok". Each piece is
    one "token": `produced_at` records when it was yielded, so tests can count tokens
    produced after a cancel.
    """

    kind: ClassVar[str] = "scripted"
    supports_tools: ClassVar[bool] = True

    def __init__(
        self,
        *,
        echo: bool = False,
        native_tools: bool = True,
        delay: float = 0.0,
        slow_delay: float = 0.0,
        pace: float = 0.0,
    ) -> None:
        self.echo = echo  # unscripted calls answer "echo: <last message>" instead of "ok"
        self.delay = delay  # of unscripted calls, per piece
        self.slow_delay = slow_delay  # instead, when the last message starts with "slow"
        self.pace = pace  # unscripted calls yield a word per `pace` seconds (not one piece)
        self.supports_tools = native_tools  # False: the core parses tool calls from the text
        self.scripts: deque[Script] = deque()
        self.calls: list[StreamRecord] = []
        self.token_counts = 0
        self.embed_calls: list[tuple[tuple[str, ...], int | None]] = []

    def enqueue(self, pieces: Sequence[str | BackendChunk], **options: Any) -> None:
        self.scripts.append(Script(pieces=pieces, **options))

    async def count_tokens(self, prompt: Prompt) -> int:
        self.token_counts += 1
        return sum(4 + len(m.content.split()) for m in prompt.messages) + len(prompt.raw.split())

    async def stream(self, prompt: Prompt, params: GenerationParams) -> AsyncIterator[BackendChunk]:
        record = StreamRecord(prompt=prompt, params=params)
        self.calls.append(record)
        last = prompt.messages[-1].content if prompt.messages else prompt.raw  # raw: a completion
        default = f"echo: {last}" if self.echo else "ok"
        slow = last.startswith("slow")
        delay = self.slow_delay if slow and self.slow_delay else self.pace or self.delay
        words = re.findall(r"\S+\s*", default) if self.pace else [default]
        script = self.scripts.popleft() if self.scripts else Script(words, delay)
        try:
            for piece in script.pieces:
                if script.fail_after is not None and record.produced >= script.fail_after:
                    raise script.error or ChatError("scripted failure")
                if script.delay:
                    await asyncio.sleep(script.delay)
                record.produced += 1
                record.produced_at.append(time.monotonic())
                yield piece if isinstance(piece, BackendChunk) else BackendChunk(text=piece)
            if script.error is not None and script.fail_after is None:
                raise script.error
            prompt_tokens = script.prompt_tokens
            if prompt_tokens is None:
                prompt_tokens = await self.count_tokens(prompt)
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=record.produced)
            yield BackendChunk(finish_reason=script.finish, usage=usage)
        finally:
            record.closed_at = time.monotonic()

    async def embed(self, texts: Sequence[str], dimensions: int | None) -> EmbeddingBatch:
        """One 3-component vector per text (its length, vowels and spaces), cut to
        `dimensions`; one token per word. Records each call."""
        self.embed_calls.append((tuple(texts), dimensions))
        vectors = tuple(
            (float(len(t)), float(sum(c in "aeiou" for c in t)), float(t.count(" ")))[:dimensions]
            for t in texts
        )
        return EmbeddingBatch(vectors=vectors, prompt_tokens=sum(len(t.split()) for t in texts))

    async def aclose(self) -> None:
        return None


def tool_call_chunks(index: int, call_id: str, name: str, arguments: str) -> list[BackendChunk]:
    """A native tool call as an upstream would stream it: name first, then the arguments."""
    return [
        BackendChunk(tool_calls=(ToolCallDelta(index=index, id=call_id, name=name),)),
        BackendChunk(tool_calls=(ToolCallDelta(index=index, arguments=arguments),)),
    ]


class FakeLlama:
    """Stands in for llama_cpp.Llama: a byte-per-token vocabulary that replays `script`.

    Token ids are byte values (0-255); EOS is 256. `generate` yields the script's bytes,
    then EOS (unless `eos` is False), and counts what it yielded.
    """

    EOS = 256

    def __init__(self, script: bytes = b"", *, n_ctx: int = 512, eos: bool = True) -> None:
        self.script = script
        self._n_ctx = n_ctx
        self.eos = eos
        self.yielded = 0
        self.seeds: list[int] = []
        self.kwargs: list[dict[str, Any]] = []
        self.closed = False
        self.gate: threading.Event | None = None  # if set, each token waits for it

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(text)

    def detokenize(
        self, tokens: list[int], prev_tokens: list[int] | None = None, special: bool = False
    ) -> bytes:
        return bytes(t for t in tokens if t < 256)

    def generate(self, tokens: Sequence[int], **kwargs: Any) -> Iterator[int]:
        self.kwargs.append(kwargs)
        for byte in self.script:
            if self.gate is not None:
                self.gate.wait(5)
            self.yielded += 1
            yield byte
        if self.eos:
            yield self.EOS

    def set_seed(self, seed: int) -> None:
        self.seeds.append(seed)

    def token_eos(self) -> int:
        return self.EOS

    def n_ctx(self) -> int:
        return self._n_ctx

    def close(self) -> None:
        self.closed = True


def render_plain(messages: list[dict[str, Any]]) -> str:
    """A trivial chat template for FakeLlama: "role: content" lines plus the reply cue."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
