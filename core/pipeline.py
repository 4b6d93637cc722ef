"""ChatPipeline.run(turn, caller): one turn as a stream of events; unary replies fold it."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from core.aggregate import ReplyBuilder
from core.backends.base import Backend
from core.catalog import ModelCatalog, ModelSpec
from core.errors import UnimplementedError
from core.generation import generation_events, plan_tools
from core.prompt import fit_to_context, reply_budget, with_defaults
from core.settings import Limits
from core.threads import ThreadMemory, TurnSession, replay_events
from core.types import (
    DEFAULT_OWNER,
    Caller,
    ChatEvent,
    ChatMode,
    Message,
    Prompt,
    Turn,
    TurnFinish,
    TurnStart,
    TurnUsage,
)
from core.validation import validate_turn

_ALPHABET = string.ascii_letters + string.digits


def new_reply_id() -> str:
    """ "chatcmpl-" + 24 random alphanumerics, the shape OpenAI clients expect."""
    return "chatcmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


class ChatPipeline:
    """Sequences the stages of a turn: validate, load the thread, build and fit the prompt,
    generate, emit events, and store the completed turn."""

    def __init__(
        self,
        catalog: ModelCatalog,
        limits: Limits | None = None,
        *,
        memory: ThreadMemory | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_reply_id,
    ) -> None:
        self.catalog = catalog
        self.memory = memory
        self._limits = limits or Limits()
        self._clock = clock
        self._new_id = new_id

    async def run(self, turn: Turn, caller: Caller | None = None) -> AsyncIterator[ChatEvent]:
        """Yields TurnStart, deltas, TurnFinish and TurnUsage; raises ChatError on failure.

        Everything that can reject the request happens before the first event. With a thread,
        TurnFinish and TurnUsage follow the turn's commit: a stream that ends without them
        was not stored.
        """
        caller = caller or Caller(DEFAULT_OWNER)
        spec = self.catalog.get(turn.model)
        validate_turn(turn, spec, self._limits)
        _check_served(turn, threads=self.memory is not None)
        backend = self.catalog.backend(spec.name)
        if not turn.thread_id or self.memory is None:
            async for event in self._generate(turn, spec, backend, None):
                yield event
            return
        async with self.memory.session(caller, turn) as session:
            if session.replay is not None:
                for event in replay_events(session.replay):
                    yield event
                return
            async for event in self._generate_in_thread(turn, spec, backend, session):
                yield event

    async def _generate_in_thread(
        self, turn: Turn, spec: ModelSpec, backend: Backend, session: TurnSession
    ) -> AsyncIterator[ChatEvent]:
        builder = ReplyBuilder()
        held: list[ChatEvent] = []
        async for event in self._generate(turn, spec, backend, session):
            builder.add(event)
            if isinstance(event, TurnFinish | TurnUsage):
                held.append(event)  # released once the turn is stored
            else:
                yield event
        await session.commit(builder.build())
        for event in held:
            yield event

    async def _generate(
        self,
        turn: Turn,
        spec: ModelSpec,
        backend: Backend,
        session: TurnSession | None,
    ) -> AsyncIterator[ChatEvent]:
        async def count(candidate: tuple[Message, ...]) -> int:
            return await backend.count_tokens(Prompt(messages=candidate))

        if session is None:
            messages, trimmed = turn.messages, 0
            prompt_tokens = await count(messages)
        else:
            reserve = turn.params.max_tokens or spec.defaults.max_tokens or 1
            messages, trimmed, prompt_tokens = await fit_to_context(
                session.instructions,
                session.history,
                session.new,
                count,
                spec.context_window - reserve,
            )
        prompt, parser = plan_tools(turn, spec, backend.supports_tools, messages)
        if prompt.messages != messages:  # tool instructions were added: count them too
            prompt_tokens = await count(prompt.messages)
        params = reply_budget(
            prompt_tokens, turn.params, spec.defaults.max_tokens, spec.context_window
        )
        params = with_defaults(params, spec.defaults)

        yield TurnStart(
            id=self._new_id(),
            model=spec.name,
            created=int(self._clock()),
            thread_id=turn.thread_id,
            trimmed=trimmed,
        )
        async with aclosing(backend.stream(prompt, params)) as chunks:
            events = generation_events(chunks, parser, parallel_tool_calls=turn.parallel_tool_calls)
            async for event in events:
                yield event


def _check_served(turn: Turn, *, threads: bool) -> None:
    """Rejects declared contract fields this server does not serve yet, instead of ignoring them."""
    unserved = [
        ("thread_id", bool(turn.thread_id) and not threads, "thread memory"),
        ("mode", turn.mode is not ChatMode.NORMAL, "chat modes other than normal"),
    ]
    for field, used, feature in unserved:
        if used:
            raise UnimplementedError(f"{feature} is not served yet ({field}).", field=field)
