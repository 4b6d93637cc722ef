"""ChatPipeline.run(turn): one turn as a stream of events. Unary replies fold this stream."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from core.catalog import ModelCatalog
from core.errors import BackendUnavailableError, UnimplementedError
from core.prompt import build_prompt, reply_budget, with_defaults
from core.settings import Limits
from core.types import (
    ChatEvent,
    ChatMode,
    FinishReason,
    ResponseFormatType,
    TextDelta,
    ToolChoiceMode,
    Turn,
    TurnFinish,
    TurnStart,
    TurnUsage,
    Usage,
)
from core.validation import validate_turn

_ALPHABET = string.ascii_letters + string.digits


def new_reply_id() -> str:
    """ "chatcmpl-" + 24 random alphanumerics, the shape OpenAI clients expect."""
    return "chatcmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


class ChatPipeline:
    """Sequences the stages of a turn: validate, build the prompt, generate, emit events."""

    def __init__(
        self,
        catalog: ModelCatalog,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_reply_id,
    ) -> None:
        self.catalog = catalog
        self._limits = limits or Limits()
        self._clock = clock
        self._new_id = new_id

    async def run(self, turn: Turn) -> AsyncIterator[ChatEvent]:
        """Yields TurnStart, deltas, TurnFinish and TurnUsage; raises ChatError on failure.

        Everything that can reject the request happens before the first event, so callers
        see a clean error status instead of a started reply.
        """
        spec = self.catalog.get(turn.model)
        validate_turn(turn, spec, self._limits)
        _check_served(turn)
        backend = self.catalog.backend(spec.name)
        prompt = build_prompt(turn)
        prompt_tokens = await backend.count_tokens(prompt)
        default_max = spec.defaults.max_tokens
        params = reply_budget(prompt_tokens, turn.params, default_max, spec.context_window)
        params = with_defaults(params, spec.defaults)

        yield TurnStart(
            id=self._new_id(), model=spec.name, created=int(self._clock()), thread_id=turn.thread_id
        )
        finish: FinishReason | None = None
        usage = Usage()
        async with aclosing(backend.stream(prompt, params)) as chunks:
            async for chunk in chunks:
                if chunk.text:
                    yield TextDelta(chunk.text)
                for call in chunk.tool_calls:
                    yield call
                if chunk.finish_reason is not None:
                    finish, usage = chunk.finish_reason, chunk.usage or usage
        if finish is None:
            raise BackendUnavailableError("The model stopped without finishing its reply.")
        yield TurnFinish(finish)
        yield TurnUsage(usage)


def _check_served(turn: Turn) -> None:
    """Rejects declared contract fields this server does not serve yet, instead of ignoring them."""
    unserved = [
        ("thread_id", bool(turn.thread_id), "thread memory"),
        ("tools", bool(turn.tools), "tool calling"),
        ("tool_choice", turn.tool_choice.mode is not ToolChoiceMode.AUTO, "tool choice"),
        (
            "response_format",
            turn.response_format.type is not ResponseFormatType.TEXT,
            "structured output",
        ),
        ("mode", turn.mode is not ChatMode.NORMAL, "chat modes other than normal"),
    ]
    for field, used, feature in unserved:
        if used:
            raise UnimplementedError(f"{feature} is not served yet ({field}).", field=field)
