"""ChatPipeline.run(turn, caller): one turn as a stream of events; unary replies fold it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, nullcontext
from dataclasses import replace

from core.backends.base import Backend, Queueing
from core.catalog import ModelCatalog, ModelSpec
from core.errors import UnimplementedError
from core.mcp.client import McpConnector
from core.mcp.config import McpConfig, McpServer, resolve
from core.mcp.loop import McpLoop, Step, Transcript, check_approvals
from core.modes.steps import Modes, Preparation
from core.pipeline.aggregate import ReplyBuilder
from core.pipeline.generation import GenerationEvent, choice_events, generation_events
from core.pipeline.metering import metered, tracer
from core.pipeline.planning import Context, TurnPlan, plan_turn
from core.pipeline.threads import ThreadMemory, TurnSession, replay_events
from core.pipeline.validation import check_mode, validate_turn
from core.routing.router import Router
from core.settings import Limits
from core.types import (
    DEFAULT_OWNER,
    Caller,
    ChatEvent,
    GenerationParams,
    Message,
    Prompt,
    ToolChoice,
    ToolSpec,
    Turn,
    TurnFinish,
    TurnQueued,
    TurnStart,
    TurnUsage,
)
from observability.requests import note


def new_reply_id() -> str:
    """ "chatcmpl-" + 24 random alphanumerics (hex digits: 96 random bits), as OpenAI's."""
    return "chatcmpl-" + secrets.token_hex(12)


class ChatPipeline:
    """Sequences a turn: resolve its mode's steps and model, validate, load the thread, run
    the steps, plan the prompt, generate, emit events, store the completed turn."""

    def __init__(
        self,
        catalog: ModelCatalog,
        limits: Limits | None = None,
        *,
        memory: ThreadMemory | None = None,
        modes: Modes | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_reply_id,
        mcp: McpConnector | None = None,
    ) -> None:
        self._catalog = catalog
        self._mcp = mcp or McpConnector(McpConfig())
        self._memory = memory
        self._modes = modes or Modes()
        self._limits = limits or Limits()
        self._clock = clock
        self._new_id = new_id

    async def run(
        self, turn: Turn, caller: Caller | None = None
    ) -> AsyncGenerator[ChatEvent, None]:
        """Yields TurnStart, deltas, TurnFinish and TurnUsage; raises ChatError on failure.
        A turn that waits for its model (a full context) is first told so by TurnQueued.

        Everything that can reject the request happens before the first event. With a thread,
        TurnFinish and TurnUsage follow the turn's commit: a stream that ends without them
        was not stored.
        """
        caller = caller or Caller(DEFAULT_OWNER)
        with tracer.start_as_current_span("validate"):
            check_mode(turn)
            steps = self._modes.steps(turn)
            spec = self._catalog.get(turn.model or self._modes.model_for(steps))
            note(model=spec.name, thread_id=turn.thread_id)
            validate_turn(turn, spec, self._limits)
            servers = resolve(turn.mcp_tools, self._mcp.config)  # before any connection
        if (turn.thread_id or turn.previous_turn_id) and self._memory is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        backend = self._catalog.backend(spec.name)

        async def ask(messages: list[Message]) -> str:
            return await _side_answer(backend, messages)

        if self._memory is None or not (turn.thread_id or turn.previous_turn_id):  # stateless
            check_approvals(turn, (), turn.messages)
            prep = await self._modes.prepare(steps, turn, caller.owner, ask)
            context = Context(tuple(prep.instructions), (), turn.messages)
            generated = self._generate(turn, spec, backend, prep, context, servers)
            async with aclosing(generated) as events:
                async for event in events:
                    yield event
            return
        head: int | None = None
        if turn.previous_turn_id:
            turn, head = await self._memory.continued(caller, turn)
            note(thread_id=turn.thread_id)
        async with self._memory.session(caller, turn, head=head) as session:
            if session.replay is not None:
                for event in replay_events(session.replay):
                    yield event
                return
            check_approvals(turn, session.history, session.new)
            prep = await self._modes.prepare(steps, turn, caller.owner, ask)
            context = Context(
                (*prep.instructions, *session.instructions), session.history, session.new
            )
            events = self._generate(turn, spec, backend, prep, context, servers, session.transcript)
            async with aclosing(self._stored(events, session) if turn.store else events) as out:
                async for event in out:
                    yield event

    async def _stored(
        self, events: AsyncGenerator[ChatEvent, None], session: TurnSession
    ) -> AsyncGenerator[ChatEvent, None]:
        """Passes `events` on, holding TurnFinish/TurnUsage until the turn is committed."""
        builder = ReplyBuilder()
        held: list[ChatEvent] = []
        async with aclosing(events):
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
        self,
        turn: Turn,
        spec: ModelSpec,
        backend: Backend,
        prep: Preparation,
        context: Context,
        servers: tuple[McpServer, ...] = (),
        transcript: Transcript | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        plan = await plan_turn(turn, spec, backend, prep, context)

        async def generate(params: GenerationParams) -> AsyncGenerator[GenerationEvent, None]:
            generation = _generation(backend, plan, params, turn.parallel_tool_calls)
            async with aclosing(generation) as events:
                async for event in events:
                    yield event

        # One admission for every choice: they run one after another on the model.
        async with _admitted(backend) as position:  # a full queue refuses before any output
            if position:
                yield TurnQueued(position)
            start = TurnStart(
                id=self._new_id(),
                model=spec.name,
                created=int(self._clock()),
                thread_id=turn.thread_id if turn.store else "",  # the thread it is stored in
                trimmed=plan.trimmed,
                sources=tuple(prep.sources),
            )
            events = (
                self._mcp_events(turn, spec, backend, prep, context, servers, transcript)
                if servers or turn.mcp_approvals
                else choice_events(generate, plan.params)
            )
            async with (
                aclosing(events) as running,
                aclosing(metered(running, spec.name)) as outputs,
            ):
                if isinstance(backend, Router):
                    # A router knows who answers at the first output: the start leaves with
                    # it, so its headers (initial metadata) can name the deployment, and a
                    # turn no deployment could start fails with a status, not mid-stream.
                    first = await anext(outputs)
                    yield start
                    yield first
                else:
                    yield start
                async for event in outputs:
                    yield event

    def _mcp_events(
        self,
        turn: Turn,
        spec: ModelSpec,
        backend: Backend,
        prep: Preparation,
        context: Context,
        servers: tuple[McpServer, ...],
        transcript: Transcript | None,
    ) -> AsyncGenerator[ChatEvent, None]:
        """The turn's events through the MCP tool loop (core.mcp.loop)."""
        loop = McpLoop(
            self._mcp, servers, turn, (context.history, context.new), transcript or Transcript()
        )
        return loop.run(_steps(turn, spec, backend, prep, context, loop))


def _steps(
    turn: Turn,
    spec: ModelSpec,
    backend: Backend,
    prep: Preparation,
    context: Context,
    loop: McpLoop,
) -> Step:
    """The MCP loop's generations: each planned anew over the messages the loop has added."""

    async def step(tools: tuple[ToolSpec, ...], choice: ToolChoice) -> AsyncIterator[ChatEvent]:
        transcript = loop.transcript
        step_turn = replace(turn, tools=tools, tool_choice=choice)
        new = (*transcript.lead, *context.new, *transcript.steps)
        plan = await plan_turn(step_turn, spec, backend, prep, replace(context, new=new))
        async for event in _generation(backend, plan, plan.params, turn.parallel_tool_calls):
            yield event

    return step


async def _generation(
    backend: Backend, plan: TurnPlan, params: GenerationParams, parallel: bool
) -> AsyncGenerator[GenerationEvent, None]:
    """One generation of `plan`'s prompt with `params`: its events."""
    async with aclosing(backend.stream(plan.prompt, params)) as chunks:
        events = generation_events(chunks, plan.readers(), parallel_tool_calls=parallel)
        async with aclosing(events):
            async for event in events:
                yield event


def _admitted(backend: Backend) -> AbstractAsyncContextManager[int]:
    """The backend's admission for one turn (position 0, at once, if it does not queue)."""
    return backend.admit() if isinstance(backend, Queueing) else nullcontext(0)


async def _side_answer(backend: Backend, messages: list[Message]) -> str:
    """A short, greedy, unstreamed answer to a side prompt (a flow's rewrite step)."""
    params = GenerationParams(max_tokens=64, temperature=0.0)
    parts: list[str] = []
    async with aclosing(backend.stream(Prompt(messages=tuple(messages)), params)) as chunks:
        async for chunk in chunks:
            parts.append(chunk.text)
    return "".join(parts)
