"""SyntheticBackend: a model that streams a fixed reply of N tokens as fast as it can.

It is the one part of the bench written against the core's internals (the Backend protocol
and core.types), for `bench.synthetic_core`; everything else drives the service through its
processes. The reply itself lives in `bench.reply`, which imports nothing from the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import ClassVar

from bench.reply import BENCH_MODEL, DEFAULT_TOKENS, expected_text, reply_tokens
from core.types import BackendChunk, FinishReason, GenerationParams, Prompt, Usage

__all__ = ["BENCH_MODEL", "DEFAULT_TOKENS", "SyntheticBackend", "expected_text", "reply_tokens"]


def prompt_token_count(prompt: Prompt) -> int:
    """A cheap, deterministic token count: words plus a per-message overhead of 4."""
    return sum(4 + len(message.content.split()) for message in prompt.messages)


class SyntheticBackend:
    """A Backend (core.backends.base.Backend) replaying `reply_tokens(tokens)`, one chunk each.

    `delay` seconds are slept before each token (0: no sleep at all, as fast as possible).
    `max_tokens` truncates the reply with finish_reason LENGTH, as a real model would.
    """

    kind: ClassVar[str] = "synthetic"
    supports_tools: ClassVar[bool] = False

    def __init__(self, tokens: int = DEFAULT_TOKENS, delay: float = 0.0) -> None:
        if tokens < 1:
            raise ValueError("tokens must be at least 1")
        self._pieces = reply_tokens(tokens)
        self._delay = delay

    async def count_tokens(self, prompt: Prompt) -> int:
        return prompt_token_count(prompt)

    async def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]:
        pieces = self._pieces
        finish = FinishReason.STOP
        if params.max_tokens is not None and params.max_tokens < len(pieces):
            pieces, finish = pieces[: params.max_tokens], FinishReason.LENGTH
        for piece in pieces:
            if self._delay:
                await asyncio.sleep(self._delay)
            yield BackendChunk(text=piece)
        usage = Usage(prompt_tokens=prompt_token_count(prompt), completion_tokens=len(pieces))
        yield BackendChunk(finish_reason=finish, usage=usage)

    async def aclose(self) -> None:
        return None
