"""Export lines: a thread's rows as JSON lines, one object per line, `object` saying which.

A thread exports as its `thread` line, then each turn (a stored response: model, usage,
finish reason, who ran it) followed by that turn's `message` lines in order. The shapes are
this project's, not OpenAI's; every field of the stored rows is there except the request hash
(a digest of no use outside the store). Times are unix seconds. A turn's finish reason is
`finish` and a message's tool calls `calls`: OpenAI's key names stay at the HTTP face.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.memory import rows as columns
from core.types import ContentPart


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def thread_line(row: Sequence[Any]) -> bytes:
    """(thread_id, created, updated, message_count, end_user, metadata, ttl_seconds,
    keep_latest) as a `thread` line."""
    thread_id, created, updated, count, user, metadata, ttl, keep = row
    return _line(
        {
            "object": "thread",
            "thread_id": thread_id,
            "created": created,
            "updated": updated,
            "message_count": count,
            "user": user,
            "metadata": json.loads(metadata),
            "ttl_seconds": ttl,
            "keep_latest": keep,
        }
    )


def turn_line(row: Sequence[Any]) -> bytes:
    """A turn row (core.memory.rows.row_to_turn's columns) as a `turn` line."""
    turn = columns.row_to_turn(row, ())
    return _line(
        {
            "object": "turn",
            "turn_id": turn.turn_id,
            "thread_id": turn.thread_id,
            "model": turn.model,
            "finish": turn.finish_reason.value,
            "usage": {
                "prompt_tokens": turn.usage.prompt_tokens,
                "completion_tokens": turn.usage.completion_tokens,
            },
            "idempotency_key": turn.idempotency_key,
            "created": turn.created,
            "first_seq": row[9],
            "message_count": row[10],
            "user": turn.user,
            "metadata": dict(turn.metadata),
            "instructions": turn.instructions,
            "request_id": turn.request_id,
        }
    )


def message_line(thread_id: str, row: Sequence[Any]) -> bytes:
    """A message row (core.memory.rows.row_to_stored_message's columns) as a `message` line."""
    stored = columns.row_to_stored_message(row)
    message = stored.message
    return _line(
        {
            "object": "message",
            "thread_id": thread_id,
            "turn_id": stored.turn_id,
            "seq": stored.seq,
            "role": message.role.value,
            "content": message.content,
            "name": message.name,
            "calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
            ],
            "tool_call_id": message.tool_call_id,
            "reasoning": message.reasoning,
            "created": stored.created,
        }
        | _parts(message.parts)
    )


def _parts(parts: tuple[ContentPart, ...]) -> dict[str, Any]:
    """A message's image parts, in order with its text parts (only on messages that have them)."""
    if not parts:
        return {}
    return {
        "parts": [{"text": p.text, "image_url": p.image_url, "detail": p.detail} for p in parts]
    }


def thread_chunk(
    thread: Sequence[Any], turns: Sequence[Sequence[Any]], messages: Sequence[Sequence[Any]]
) -> bytes:
    """One thread's lines: the thread, then each turn followed by its messages."""
    thread_id = thread[0]
    parts = [thread_line(thread)]
    by_seq = iter(messages)
    pending = next(by_seq, None)
    for turn in turns:
        parts.append(turn_line(turn))
        end = turn[9] + turn[10]
        while pending is not None and pending[0] < end:
            parts.append(message_line(thread_id, pending))
            pending = next(by_seq, None)
    while pending is not None:  # messages of no turn: none are written so, but none are lost
        parts.append(message_line(thread_id, pending))
        pending = next(by_seq, None)
    return b"".join(parts)
