"""The SQL of a thread's own edits (core.memory.edits_sqlite, edits_postgres): creating a thread
with its metadata and first messages, appending messages that belong to no turn, hiding one
message. Written with `?` placeholders; PostgreSQL's are numbered by
core.memory.background_rows.numbered."""

from __future__ import annotations

from core.errors import InvalidArgumentError
from core.memory.base import StoredMessage, Thread
from core.types import Message

INSERT_THREAD = (
    "INSERT INTO threads (owner, thread_id, created, updated, message_count, metadata)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner, thread_id) DO NOTHING RETURNING 1"
)
# The row lock this UPDATE takes orders concurrent appenders: each gets its own seqs.
GROW = (
    "UPDATE threads SET message_count = message_count + ?, updated = ?"
    " WHERE owner = ? AND thread_id = ? RETURNING message_count"
)
INSERT_MESSAGE = (
    "INSERT INTO messages (owner, thread_id, seq, turn_id, role, content, name, tool_calls,"
    " tool_call_id, created, reasoning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
HIDE = (
    "UPDATE messages SET hidden = 1 WHERE owner = ? AND thread_id = ? AND seq = ?"
    " AND hidden = 0 RETURNING 1"
)
THREAD_EXISTS = "SELECT 1 FROM threads WHERE owner = ? AND thread_id = ?"


def check_messages(messages: tuple[Message, ...]) -> None:
    """Refuse text the databases cannot hold (NUL) before any I/O."""
    for i, message in enumerate(messages):
        texts = [message.content, message.name, message.tool_call_id, message.reasoning]
        texts += [
            part for call in message.tool_calls for part in (call.id, call.name, call.arguments)
        ]
        if any("\x00" in text for text in texts):
            raise InvalidArgumentError("message text must not contain NUL", field=f"messages[{i}]")


def stored(
    messages: tuple[Message, ...], base_seq: int, created: float
) -> tuple[StoredMessage, ...]:
    """The messages as written from `base_seq`, belonging to no turn."""
    return tuple(
        StoredMessage(seq=seq, message=m, turn_id="", created=created)
        for seq, m in enumerate(messages, start=base_seq)
    )


def new_thread(
    thread_id: str,
    messages: tuple[Message, ...],
    metadata: tuple[tuple[str, str], ...],
    created: float,
) -> Thread:
    return Thread(
        thread_id=thread_id,
        created=created,
        updated=created,
        messages=stored(messages, 0, created),
        metadata=metadata,
    )
