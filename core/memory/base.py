"""The MemoryStore Protocol: per-owner conversation threads, stored one whole turn at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar, Protocol

from core.errors import IdempotencyKeyReusedError, InvalidArgumentError, TurnNotLatestError
from core.keys.base import KeyStore
from core.memory.background import BackgroundLog
from core.memory.lifecycle import Erasure, RetentionPolicy, SweepResult, ThreadFilter
from core.types import FinishReason, Message, Role, Usage

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: its position in the thread, the turn that wrote it, and when."""

    seq: int
    message: Message
    turn_id: str
    created: float
    user: str = ""  # the turn's end-user id, as its request gave it
    metadata: tuple[tuple[str, str], ...] = ()  # the turn's metadata, sorted by key


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One completed turn: its new messages in order, the assistant reply last.

    `idempotency_key` is empty when the caller sent none; `request_hash` identifies the request
    body the key was used with; `created` is unix seconds; `user` and `metadata` are what the
    request said about its end user (recorded, never used for identity); `instructions` is the
    text of the request's system messages (recorded, never context of a later turn);
    `request_id` is the request's `x-request-id` (empty for turns stored before m007), to find
    a turn from a log line.
    """

    turn_id: str
    thread_id: str
    messages: tuple[Message, ...]
    model: str
    finish_reason: FinishReason
    usage: Usage
    idempotency_key: str
    request_hash: str
    created: float
    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    instructions: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A turn looked up by its id, with where it sits in its thread: the turn before it
    ("" for the first) and whether it is the latest (the thread's head seq is `end_seq`)."""

    record: TurnRecord
    previous_turn_id: str
    end_seq: int
    latest: bool


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """A thread without its messages, as listed; times are unix seconds. `user` is its first
    turn's end user; `metadata` its own (its first turn's, or as UpdateThread set it)."""

    thread_id: str
    created: float
    updated: float
    message_count: int
    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread with every stored message in order, and its own user and metadata (as
    ThreadSummary's)."""

    thread_id: str
    created: float
    updated: float
    messages: tuple[StoredMessage, ...]
    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ThreadPage:
    """One page of threads, most recently updated first; an empty token means the last page."""

    threads: tuple[ThreadSummary, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of threads matching a filter, the match count, and the next page's cursor."""

    threads: tuple[ThreadSummary, ...]
    next_page_token: str
    total_count: int


class ThreadLifecycle(Protocol):
    """Retention, search, export and erasure over a store's threads (see the module docstring)."""

    async def update_thread(
        self, owner: str, thread_id: str, metadata: tuple[tuple[str, str], ...]
    ) -> ThreadSummary:
        """Replace the thread's metadata (and so its retention overrides); unknown →
        ThreadNotFoundError; bad `ttl_seconds`/`keep_latest` values → InvalidArgumentError."""
        ...

    async def search_threads(
        self, owner: str, where: ThreadFilter, *, page_size: int, page_token: str = ""
    ) -> SearchPage:
        """The owner's threads matching `where`, most recently updated first (the keyset
        cursor of list_threads), with how many match in all."""
        ...

    async def sweep(self, policy: RetentionPolicy, *, now: float, limit: int) -> SweepResult:
        """One batch of at most `limit` threads deleted and `limit` compacted, each taken by
        one sweeper only (replicas sweeping together never count a row twice)."""
        ...

    def export_lines(self, owner: str, thread_id: str = "") -> AsyncIterator[bytes]:
        """The owner's threads (or the one named) as JSON lines, a thread at a time, each
        chunk whole lines: the thread, then each turn followed by its messages."""
        ...

    async def erase(
        self, owner: str, *, user: str = "", actor: str, also: Mapping[str, int] | None = None
    ) -> Erasure:
        """Delete every thread of `owner` (with `user`: each thread one of whose turns that
        end user ran) in every owned table; audit it (actor, time, counts; never content),
        with `also` (rows another store erased in the same request) in the counts. Erasing
        again deletes nothing and is audited again."""
        ...


class MemoryStore(ThreadLifecycle, KeyStore, BackgroundLog, Protocol):
    """Conversation memory: threads keyed by (owner, thread_id), written one whole turn at a time,
    and the logs of background turns (core.memory.background).

    The database also holds the virtual keys and their spend (core.keys.base.KeyStore).

    Every method takes the caller's `owner` (the identity behind the API key). It is required,
    and an empty owner raises ValueError: no method reads or writes across owners, and another
    owner's thread looks exactly like a thread that does not exist.

    A thread is created by its first committed turn. Its messages have seq 0, 1, 2, … and its
    head seq is the number of stored messages. Writers use optimistic concurrency: a turn is
    generated against the head seq `load_history` returned, and `commit_turn` stores it only
    if the head has not moved. The database enforces this (primary key (owner, thread_id, seq),
    unique (owner, idempotency_key)), so replicas sharing one database cannot both win.

    Any driver or I/O failure raises core.errors.StorageError with a message safe for clients.
    A commit cancelled while in flight may still land; a retry with the same idempotency key
    then returns the stored turn.
    """

    kind: ClassVar[str]

    async def load_history(self, owner: str, thread_id: str) -> tuple[tuple[Message, ...], int]:
        """Return the thread's messages in order and its head seq; unknown → ((), 0)."""
        ...

    async def commit_turn(self, owner: str, base_seq: int, record: TurnRecord) -> TurnRecord:
        """Store a whole turn atomically at `base_seq` and return it.

        If `record.idempotency_key` is set and this owner already stored a turn under it, return
        that stored turn unchanged when `request_hash` matches (nothing is written), or raise
        IdempotencyKeyReusedError when it differs. Otherwise raise ThreadChangedError, writing
        nothing, when the thread's head seq is not `base_seq`. Raises ValueError for an empty
        owner or thread_id, no messages, or a last message that is not the assistant's, and
        InvalidArgumentError for text the database cannot hold (NUL characters).
        """
        ...

    async def find_turn(self, owner: str, idempotency_key: str) -> TurnRecord | None:
        """Return the turn this owner stored under `idempotency_key`, if any."""
        ...

    async def get_turn(self, owner: str, turn_id: str) -> StoredTurn:
        """The turn stored under `turn_id`; unknown or another owner's → TurnNotFoundError."""
        ...

    async def delete_turn(self, owner: str, turn_id: str) -> None:
        """Delete the thread's latest turn, so its previous turn is the latest again (a thread
        left empty is deleted). Unknown → TurnNotFoundError; a turn with later turns after it
        → TurnNotLatestError, deleting nothing."""
        ...

    def hold_thread(
        self, owner: str, thread_id: str, wait: float
    ) -> AbstractAsyncContextManager[None]:
        """Hold the thread for the block against turns of other processes on this database.

        Waiters are served in arrival order, as far as the database orders them; one that
        waits `wait` seconds raises ThreadBusyError. Turns within one process are already
        serialised by core.pipeline.threads, so a store that one process owns (SQLite) holds
        nothing. ThreadChangedError at commit stays the last guard either way.
        """
        ...

    async def get_thread(self, owner: str, thread_id: str) -> Thread:
        """Return the thread with its messages; unknown or another owner's → ThreadNotFoundError."""
        ...

    async def list_threads(self, owner: str, *, page_size: int, page_token: str = "") -> ThreadPage:
        """List the owner's threads, most recently updated first, `page_size` (1..100) at a time.

        `page_token` is the previous page's `next_page_token`: an opaque keyset cursor, so a
        thread updated while paging moves to the front and is neither repeated nor shifts the
        pages after it. A malformed token or page size raises InvalidArgumentError.
        """
        ...

    async def delete_thread(self, owner: str, thread_id: str) -> None:
        """Delete the thread with its messages and turns; unknown → ThreadNotFoundError."""
        ...

    async def create_thread(
        self,
        owner: str,
        thread_id: str,
        messages: tuple[Message, ...],
        metadata: tuple[tuple[str, str], ...],
    ) -> Thread:
        """Create a thread holding `messages` (seq 0, 1, …; no turn) with `metadata`;
        ThreadExistsError, writing nothing, if the owner has a thread by that id."""
        ...

    async def append_messages(
        self, owner: str, thread_id: str, messages: tuple[Message, ...]
    ) -> tuple[StoredMessage, ...]:
        """Append `messages` (no turn) at the thread's head, atomically; unknown →
        ThreadNotFoundError. The thread's latest turn is then no longer its head."""
        ...

    async def hide_message(self, owner: str, thread_id: str, seq: int) -> None:
        """Leave the message at `seq` out of the thread's history and listing from now on (its
        seq stays taken: later messages and turns keep theirs). Unknown thread →
        ThreadNotFoundError; no visible message at `seq` → NotFoundError."""
        ...

    async def aclose(self) -> None:
        """Release connections and worker threads; the store is unusable afterwards."""
        ...


def require_owner(owner: str) -> None:
    """Reject a missing owner: there is no way to read or write across owners."""
    if not owner or not isinstance(owner, str):
        raise ValueError("owner is required")


def check_commit(owner: str, base_seq: int, record: TurnRecord) -> None:
    """Validate commit_turn's arguments before any I/O."""
    require_owner(owner)
    if not record.thread_id:
        raise ValueError("record.thread_id is required")
    if base_seq < 0:
        raise ValueError("base_seq must be >= 0")
    if not record.messages or record.messages[-1].role is not Role.ASSISTANT:
        raise ValueError("a turn's messages must end with the assistant reply")
    for message in record.messages:
        texts = [message.content, message.name, message.tool_call_id, message.reasoning]
        texts += [record.user, record.instructions]
        texts += [
            part for call in message.tool_calls for part in (call.id, call.name, call.arguments)
        ]
        if any("\x00" in text for text in texts):
            raise InvalidArgumentError("message text must not contain NUL", field="messages")


def check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size"
        )


def resolve_replay(stored: TurnRecord | None, record: TurnRecord) -> TurnRecord | None:
    """Apply the idempotency rules to the turn already stored under `record`'s key.

    Returns the stored turn for a same-body retry, None when nothing is stored, and raises
    IdempotencyKeyReusedError when the key was used with a different body.
    """
    if stored is None:
        return None
    if stored.request_hash != record.request_hash:
        raise IdempotencyKeyReusedError(
            "idempotency key was already used with a different request", field="idempotency_key"
        )
    return stored


def check_latest(end_seq: int, head: int, *, field: str = "turn_id") -> None:
    """TurnNotLatestError unless the turn ending at `end_seq` is the head of its thread."""
    if end_seq != head:
        raise not_latest(field)


def not_latest(field: str) -> TurnNotLatestError:
    return TurnNotLatestError(
        "The turn is not the latest of its thread: threads are linear, so only the latest"
        " turn can be continued or deleted (branching from an earlier turn is not supported).",
        field=field,
    )
