"""ChatPipeline.run(turn, caller): one turn as a stream of events; unary replies fold it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace

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
    GenerationParams,
    Message,
    Prompt,
    Turn,
    TurnFinish,
    TurnStart,
    TurnUsage,
)
from core.validation import check_mode, validate_turn
from core.variants import Preparation, Variants


def new_reply_id() -> str:
    """ "chatcmpl-" + 24 random alphanumerics (hex digits: 96 random bits), as OpenAI's."""
    return "chatcmpl-" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class _Context:
    """The prompt's parts: instructions (kept), history (trimmable), new messages (kept)."""

    instructions: tuple[Message, ...]
    history: tuple[Message, ...]
    new: tuple[Message, ...]


class ChatPipeline:
    """Sequences a turn: resolve its mode's steps and model, validate, load the thread, run
    the steps, fit the prompt, generate, emit events, store the completed turn."""

    def __init__(
        self,
        catalog: ModelCatalog,
        limits: Limits | None = None,
        *,
        memory: ThreadMemory | None = None,
        variants: Variants | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_reply_id,
    ) -> None:
        self.catalog = catalog
        self.memory = memory
        self.variants = variants or Variants()
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
        check_mode(turn)
        steps = self.variants.steps(turn)
        spec = self.catalog.get(turn.model or self.variants.model_for(steps))
        validate_turn(turn, spec, self._limits)
        if turn.thread_id and self.memory is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        backend = self.catalog.backend(spec.name)

        async def ask(messages: list[Message]) -> str:
            return await _side_answer(backend, messages)

        if not turn.thread_id or self.memory is None:  # a stateless turn
            prep = await self.variants.prepare(steps, turn, caller.owner, ask)
            context = _Context(tuple(prep.instructions), (), turn.messages)
            async for event in self._generate(turn, spec, backend, prep, context):
                yield event
            return
        async with self.memory.session(caller, turn) as session:
            if session.replay is not None:
                for event in replay_events(session.replay):
                    yield event
                return
            prep = await self.variants.prepare(steps, turn, caller.owner, ask)
            context = _Context(
                (*prep.instructions, *session.instructions), session.history, session.new
            )
            async for event in self._stored(
                self._generate(turn, spec, backend, prep, context), session
            ):
                yield event

    async def _stored(
        self, events: AsyncIterator[ChatEvent], session: TurnSession
    ) -> AsyncIterator[ChatEvent]:
        """Passes `events` on, holding TurnFinish/TurnUsage until the turn is committed."""
        builder = ReplyBuilder()
        held: list[ChatEvent] = []
        async for event in events:
            builder.add(event)
            if isinstance(event, TurnFinish | TurnUsage):
                held.append(event)
            else:
                yield event
        await session.commit(builder.build())
        for event in held:
            yield event

    async def _generate(
        self, turn: Turn, spec: ModelSpec, backend: Backend, prep: Preparation, context: _Context
    ) -> AsyncIterator[ChatEvent]:
        async def count(candidate: tuple[Message, ...]) -> int:
            return await backend.count_tokens(Prompt(messages=candidate))

        turn = replace(turn, tools=turn.tools or prep.tools)
        default_max = prep.defaults.max_tokens or spec.defaults.max_tokens
        reserve = turn.params.max_tokens or default_max or 1
        messages, trimmed, prompt_tokens = await fit_to_context(
            context.instructions, context.history, context.new, count, spec.context_window - reserve
        )
        prompt, parser = plan_tools(turn, spec, backend.supports_tools, messages)
        if prompt.messages != messages:  # tool instructions were added: count them too
            prompt_tokens = await count(prompt.messages)
        params = reply_budget(prompt_tokens, turn.params, default_max, spec.context_window)
        params = with_defaults(with_defaults(params, prep.defaults), spec.defaults)

        yield TurnStart(
            id=self._new_id(),
            model=spec.name,
            created=int(self._clock()),
            thread_id=turn.thread_id,
            trimmed=trimmed,
            sources=tuple(prep.sources),
        )
        async with aclosing(backend.stream(prompt, params)) as chunks:
            events = generation_events(chunks, parser, parallel_tool_calls=turn.parallel_tool_calls)
            async for event in events:
                yield event


async def _side_answer(backend: Backend, messages: list[Message]) -> str:
    """A short, greedy, unstreamed answer to a side prompt (a flow's rewrite step)."""
    params = GenerationParams(max_tokens=64, temperature=0.0)
    parts: list[str] = []
    async with aclosing(backend.stream(Prompt(messages=tuple(messages)), params)) as chunks:
        async for chunk in chunks:
            parts.append(chunk.text)
    return "".join(parts)
