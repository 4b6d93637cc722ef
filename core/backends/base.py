"""The Backend protocol: a model that turns a prompt into a stream of chunks."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import ClassVar, Protocol, TypeAlias, runtime_checkable

from core.types import BackendChunk, EmbeddingBatch, GenerationParams, Prompt

EmbedInputs: TypeAlias = "Sequence[str] | Sequence[tuple[int, ...]]"  # texts, or token ids


class Backend(Protocol):
    """A model that turns a prompt into a stream of text (or native tool-call) chunks.

    `stream` yields chunks as the model produces them; the last chunk carries `finish_reason`
    and `usage`. Closing the iterator early (the caller was cancelled) must stop generation
    within a token or two. Backends raise only `core.errors.ChatError` subclasses on purpose.
    `count_tokens` returns the prompt's token count as `stream` would see it, so the
    pipeline can check the context window before any generation starts.

    `embed` returns one vector per text, in order, `dimensions` long when given (the catalog
    lets only models that support it be asked; None: the model's own length). It is called
    only for models whose catalog entry embeds; the texts have passed the core's checks, and
    a text over the model's input limit is the backend's InvalidArgumentError. `texts` may
    instead be token-id sequences (an EmbedRequest's token_inputs): ids outside the model's
    vocabulary are the backend's InvalidArgumentError naming `token_inputs[i]`.
    """

    kind: ClassVar[str]
    supports_tools: ClassVar[bool]

    def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]: ...

    async def count_tokens(self, prompt: Prompt) -> int: ...

    async def embed(self, texts: EmbedInputs, dimensions: int | None) -> EmbeddingBatch: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Queueing(Protocol):
    """A backend that serves one turn at a time: `admit()` holds a turn's place around its
    stream, yielding its queue position (0: runs at once), and raises OverloadedError when
    its bounded queue is full (core/backends/admission.py)."""

    def admit(self) -> AbstractAsyncContextManager[int]: ...
