"""The Backend protocol: a model that turns a prompt into a stream of chunks."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import ClassVar, Protocol

from core.types import BackendChunk, GenerationParams, Prompt


class Backend(Protocol):
    """A model that turns a prompt into a stream of text (or native tool-call) chunks.

    `stream` yields chunks as the model produces them; the last chunk carries `finish_reason`
    and `usage`. Closing the iterator early (the caller was cancelled) must stop generation
    within a token or two. Backends raise only `core.errors.ChatError` subclasses on purpose.
    `count_tokens` returns the prompt's token count as `stream` would see it, so the
    pipeline can check the context window before any generation starts.
    """

    kind: ClassVar[str]
    supports_tools: ClassVar[bool]

    def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]: ...

    async def count_tokens(self, prompt: Prompt) -> int: ...

    async def aclose(self) -> None: ...
