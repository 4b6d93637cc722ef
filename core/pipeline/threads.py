"""Thread memory as the pipeline sees it: one turn's context from a stored thread, its commit.

Rules (docs/openai/threads.md states them for users):

- The stored thread holds user, assistant and tool messages. System messages in a request are
  instructions for that turn only: placed first in the prompt, never stored.
- A request that repeats the whole stored thread before its new messages (the openai SDK
  habit) has that prefix recognised and not stored twice; otherwise all its messages are new.
- A turn is stored whole (its new messages and the reply) only once the reply is complete;
  a cancelled or failed turn stores nothing.
- Turns on one thread run one at a time in arrival order; a turn that waits longer than
  `wait` seconds fails with ThreadBusyError (ABORTED / 409). Within a process an asyncio lock
  queues them; across replicas sharing one database the store's `hold_thread` does (a
  PostgreSQL advisory lock), within the same `wait`. The store's optimistic commit stays the
  last guard (ThreadChangedError).
- An idempotency key makes a retried turn return the stored reply without generating again.
- A turn may name its thread by a stored turn instead (`previous_turn_id`, the Responses API's
  previous_response_id): that turn must be the thread's latest when the new turn takes the
  thread's lock, as a thread is linear (no branching from an earlier turn).
- A turn with `store` False reads its thread's history and stores nothing.
- A reply with several choices stores choice 0 (a retried turn replays that one only). The
  reply's reasoning is left out of the stored message unless `store_reasoning` is on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace

from core.errors import IdempotencyKeyReusedError, ThreadBusyError, TurnNotFoundError
from core.mcp.loop import Transcript
from core.memory.base import MemoryStore, TurnRecord, check_latest, not_latest
from core.pipeline.metering import queued, store_operation, tracer
from core.types import (
    Caller,
    ChatEvent,
    Message,
    ReasoningDelta,
    Reply,
    Role,
    TextDelta,
    ToolCallDelta,
    Turn,
    TurnFinish,
    TurnStart,
    TurnUsage,
)


def request_hash(turn: Turn) -> str:
    """A stable digest of everything in a request that shapes its turn."""
    canonical = json.dumps(asdict(turn), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def split_messages(
    messages: tuple[Message, ...], stored: tuple[Message, ...]
) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """(instructions, new messages): system messages apart, a repeated stored prefix dropped."""
    instructions = tuple(m for m in messages if m.role is Role.SYSTEM)
    rest = tuple(m for m in messages if m.role is not Role.SYSTEM)
    if stored and len(rest) > len(stored) and rest[: len(stored)] == stored:
        rest = rest[len(stored) :]
    return instructions, rest


@dataclass(slots=True)
class TurnSession:
    """One turn on a thread, inside its lock: the context to prompt with, and its commit."""

    caller: Caller
    thread_id: str
    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    history: tuple[Message, ...] = ()
    instructions: tuple[Message, ...] = ()
    new: tuple[Message, ...] = ()
    head: int = 0
    digest: str = ""
    replay: TurnRecord | None = None
    store_reasoning: bool = False
    transcript: Transcript = field(default_factory=Transcript)  # MCP calls and their results
    _store: MemoryStore | None = field(default=None, repr=False)

    async def commit(self, reply: Reply) -> None:
        """Stores the new messages and the reply's choice 0 as one turn (raises if the thread
        moved)."""
        assert self._store is not None
        answer = Message(
            role=Role.ASSISTANT,
            content=reply.content,
            tool_calls=reply.tool_calls,
            reasoning=reply.reasoning if self.store_reasoning else "",
        )
        lead, steps = tuple(self.transcript.lead), tuple(self.transcript.steps)
        # A turn that ended waiting for approval: its reply is the waiting calls (the last step).
        waiting = bool(steps) and steps[-1].role is Role.ASSISTANT
        record = TurnRecord(
            turn_id=reply.id,
            thread_id=self.thread_id,
            messages=(*lead, *self.new, *steps) if waiting else (*lead, *self.new, *steps, answer),
            model=reply.model,
            finish_reason=reply.finish_reason,
            usage=reply.usage,
            idempotency_key=self.caller.idempotency_key,
            request_hash=self.digest,
            created=time.time(),
            user=self.user,
            metadata=self.metadata,
            instructions="\n\n".join(m.content for m in self.instructions),
            request_id=self.caller.request_id,
        )
        with (
            tracer.start_as_current_span("memory.commit"),
            store_operation(self._store.kind, "commit_turn"),
        ):
            await self._store.commit_turn(self.caller.owner, self.head, record)


class ThreadMemory:
    """Opens TurnSessions over a MemoryStore, serialising turns per (owner, thread)."""

    def __init__(
        self, store: MemoryStore, *, wait: float = 30.0, store_reasoning: bool = False
    ) -> None:
        self.store = store
        self._wait = wait
        self._store_reasoning = store_reasoning
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}

    async def continued(self, caller: Caller, turn: Turn) -> tuple[Turn, int | None]:
        """`turn` on the thread of its previous_turn_id, and the head seq that thread must still
        have when the turn's session opens (the previous turn's end; None for the retry of a
        stored turn)."""
        field_name = "previous_turn_id"
        try:
            previous = await self.store.get_turn(caller.owner, turn.previous_turn_id)
        except TurnNotFoundError as exc:
            raise TurnNotFoundError(exc.message, field=field_name) from None
        if previous.latest:
            return replace(turn, thread_id=previous.record.thread_id), previous.end_seq
        key = caller.idempotency_key
        if key and await self.store.find_turn(caller.owner, key) is not None:
            # A retry of a turn that was stored: its session replays it (or refuses the key).
            return replace(turn, thread_id=previous.record.thread_id), None
        raise not_latest(field_name)

    @asynccontextmanager
    async def session(
        self, caller: Caller, turn: Turn, *, head: int | None = None
    ) -> AsyncIterator[TurnSession]:
        """Holds the thread's lock for the whole turn and loads its context (or its replay);
        `head`, if given, is the head seq the thread must have (see `continued`)."""
        async with self._locked(caller.owner, turn.thread_id):
            session = TurnSession(
                caller,
                turn.thread_id,
                user=turn.user,
                metadata=turn.metadata,
                digest=request_hash(turn),
                store_reasoning=self._store_reasoning,
                _store=self.store,
            )
            with tracer.start_as_current_span("memory.load"):
                await self._load(session, turn, head)
            yield session

    async def _load(self, session: TurnSession, turn: Turn, head: int | None) -> None:
        """The turn's replay (a retried idempotency key), or its thread's history."""
        caller, kind = session.caller, self.store.kind
        if caller.idempotency_key:
            with store_operation(kind, "find_turn"):
                stored = await self.store.find_turn(caller.owner, caller.idempotency_key)
            if stored is not None and stored.request_hash != session.digest:
                raise IdempotencyKeyReusedError(
                    "This Idempotency-Key was already used with a different request.",
                    field="idempotency_key",
                )
            session.replay = stored
            if stored is not None:
                return
        with store_operation(kind, "load_history"):
            session.history, session.head = await self.store.load_history(
                caller.owner, turn.thread_id
            )
        if head is not None:
            check_latest(head, session.head, field="previous_turn_id")
        session.instructions, session.new = split_messages(turn.messages, session.history)

    @asynccontextmanager
    async def _locked(self, owner: str, thread_id: str) -> AsyncIterator[None]:
        key = (owner, thread_id)
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        deadline = time.monotonic() + self._wait
        waiting = time.perf_counter()
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self._wait)
                queued(time.perf_counter() - waiting)
            except TimeoutError:
                raise ThreadBusyError(
                    f"Another turn on thread {thread_id!r} is still running.", thread_id=thread_id
                ) from None
            try:
                remaining = max(0.0, deadline - time.monotonic())
                async with self.store.hold_thread(owner, thread_id, remaining):
                    yield
            finally:
                lock.release()
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


def replay_events(record: TurnRecord, trimmed: int = 0) -> Iterator[ChatEvent]:
    """The events of a stored turn, as a retried request receives them."""
    reply = record.messages[-1]
    yield TurnStart(
        id=record.turn_id,
        model=record.model,
        created=int(record.created),
        thread_id=record.thread_id,
        trimmed=trimmed,
    )
    if reply.reasoning:
        yield ReasoningDelta(reply.reasoning)
    if reply.content:
        yield TextDelta(reply.content)
    for index, call in enumerate(reply.tool_calls):
        yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
    yield TurnFinish(record.finish_reason)
    yield TurnUsage(record.usage)
