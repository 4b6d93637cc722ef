"""SyntheticBackend: a model that streams a fixed reply of N tokens as fast as it can.

Every bench server (the chatrpc core, the bare chain, the mock OpenAI upstream) produces the
reply of `reply_tokens(n)`, so the load generator can check each response for completeness.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import ClassVar

from core.types import BackendChunk, FinishReason, GenerationParams, Prompt, Usage

BENCH_MODEL = "bench-model"
DEFAULT_TOKENS = 64


def reply_tokens(n: int) -> list[str]:
    """The N "tokens" of the fixed reply: "w0", " w1", " w2", ..."""
    return [f"w{i}" if i == 0 else f" w{i}" for i in range(n)]


def expected_text(n: int) -> str:
    """The whole fixed reply of N tokens."""
    return "".join(reply_tokens(n))


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
