"""What both stores share besides their SQL: domain values ↔ database columns (tool calls as
JSON, page tokens) and the layer's storage (`ThreadTables`).

Each decoder documents the column order it expects; both stores select exactly those columns.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

from core.errors import InvalidArgumentError
from core.memory import migrations
from core.memory.base import StoredMessage, StoredTurn, ThreadSummary, TurnRecord
from core.memory.lifecycle import thread_options
from core.storage.schema import Schema
from core.types import ContentPart, FinishReason, Message, Role, ToolCall, Usage

MessageParams = tuple[str, str, str, str, str]


def message_to_params(message: Message) -> MessageParams:
    """(role, content, name, tool_calls JSON, tool_call_id) for an INSERT."""
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
    tool_calls = json.dumps(calls, ensure_ascii=False, separators=(",", ":"))
    return (message.role.value, message.content, message.name, tool_calls, message.tool_call_id)


def turn_message_params(owner: str, base_seq: int, record: TurnRecord) -> list[tuple[Any, ...]]:
    """(owner, thread_id, seq, turn_id, *message_to_params, created, reasoning, parts JSON) of
    each of the turn's messages, numbered from `base_seq`, for an INSERT."""
    return [
        (
            owner,
            record.thread_id,
            seq,
            record.turn_id,
            *message_to_params(m),
            record.created,
            m.reasoning,
            parts_to_json(m.parts),
        )
        for seq, m in enumerate(record.messages, start=base_seq)
    ]


def parts_to_json(parts: tuple[ContentPart, ...]) -> str:
    """A message's parts as a JSON list of [text, image_url, detail]; '' for none."""
    if not parts:
        return ""
    rows = [[p.text, p.image_url, p.detail] for p in parts]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def parts_from_json(text: str) -> tuple[ContentPart, ...]:
    return tuple(ContentPart(*row) for row in json.loads(text)) if text else ()


def row_to_stored_message(row: Sequence[Any]) -> StoredMessage:
    """Decode (seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning,
    parts)."""
    seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts = row
    calls = (
        tuple(
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"])
            for c in json.loads(tool_calls)
        )
        if tool_calls != "[]"  # the common case; skips a JSON parse per message
        else ()
    )
    message = Message(
        role=Role(role),
        content=content,
        name=name,
        tool_calls=calls,
        tool_call_id=tool_call_id,
        reasoning=reasoning,
        parts=parts_from_json(parts),
    )
    return StoredMessage(seq=seq, message=message, turn_id=turn_id, created=created)


def rows_to_history(rows: Sequence[Sequence[Any]]) -> tuple[tuple[Message, ...], int]:
    """A thread's history and head seq from its _SELECT_HISTORY rows (the message columns,
    then `hidden`): hidden messages are left out of the history but count toward the head."""
    history = tuple(row_to_stored_message(r[:10]).message for r in rows if not r[10])
    return history, len(rows)


def turn_to_params(owner: str, base_seq: int, record: TurnRecord) -> tuple[Any, ...]:
    """(owner, turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,
    idempotency_key, request_hash, created, first_seq, message_count, end_user, metadata JSON,
    instructions, request_id) for an INSERT."""
    return (
        owner,
        record.turn_id,
        record.thread_id,
        record.model,
        record.finish_reason.value,
        record.usage.prompt_tokens,
        record.usage.completion_tokens,
        record.idempotency_key,
        record.request_hash,
        record.created,
        base_seq,
        len(record.messages),
        record.user,
        metadata_to_json(record.metadata),
        record.instructions,
        record.request_id,
    )


def metadata_to_json(metadata: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"))


def metadata_from_json(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(json.loads(text).items())) if text != "{}" else ()


def row_to_turn(row: Sequence[Any], messages: Sequence[Sequence[Any]]) -> TurnRecord:
    """Decode (turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,
    idempotency_key, request_hash, created, first_seq, message_count, end_user, metadata,
    instructions, request_id) plus the turn's message rows."""
    turn_id, thread_id, model, finish, prompt, completion, key, request_hash, created = row[:9]
    user, metadata, instructions, request_id = row[11], row[12], row[13], row[14]
    return TurnRecord(
        turn_id=turn_id,
        thread_id=thread_id,
        messages=tuple(row_to_stored_message(m).message for m in messages),
        model=model,
        finish_reason=FinishReason(finish),
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        idempotency_key=key,
        request_hash=request_hash,
        created=created,
        user=user,
        metadata=metadata_from_json(metadata),
        instructions=instructions,
        request_id=request_id,
    )


def row_to_stored_turn(
    row: Sequence[Any], messages: Sequence[Sequence[Any]], previous: str, head: int
) -> StoredTurn:
    """A turn row (as row_to_turn), its messages, the previous turn's id and its thread's head."""
    end_seq = row[9] + row[10]
    return StoredTurn(
        record=row_to_turn(row, messages),
        previous_turn_id=previous,
        end_seq=end_seq,
        latest=end_seq == head,
    )


def with_turn_callers(
    messages: Sequence[StoredMessage], turns: Sequence[Sequence[Any]]
) -> tuple[StoredMessage, ...]:
    """`messages` with their turn's user and metadata, from (turn_id, end_user, metadata) rows."""
    callers = {turn_id: (user, metadata) for turn_id, user, metadata in turns}
    stored = []
    for message in messages:
        user, metadata = callers.get(message.turn_id, ("", "{}"))
        if user or metadata != "{}":
            message = replace(message, user=user, metadata=metadata_from_json(metadata))
        stored.append(message)
    return tuple(stored)


def row_to_summary(row: Sequence[Any]) -> ThreadSummary:
    """Decode (thread_id, created, updated, message_count[, metadata JSON])."""
    thread_id, created, updated, message_count = row[:4]
    return ThreadSummary(
        thread_id=thread_id,
        created=created,
        updated=updated,
        message_count=message_count,
        metadata=metadata_from_json(row[4]) if len(row) > 4 else (),
    )


def row_to_listed(row: Sequence[Any]) -> ThreadSummary:
    """Decode (thread_id, created, updated, message_count, end_user, metadata)."""
    thread_id, created, updated, message_count, user, metadata = row
    return ThreadSummary(
        thread_id=thread_id,
        created=created,
        updated=updated,
        message_count=message_count,
        user=user,
        metadata=metadata_from_json(metadata),
    )


def thread_params(record: TurnRecord) -> tuple[str, str, float | None, int | None]:
    """(end_user, metadata JSON, ttl_seconds, keep_latest) of the thread `record` creates."""
    options = thread_options(record.metadata)
    return (
        record.user,
        metadata_to_json(record.metadata),
        options.ttl_seconds,
        options.keep_latest,
    )


def new_message_params(
    owner: str, thread_id: str, base_seq: int, messages: Sequence[Message], created: float
) -> list[tuple[Any, ...]]:
    """turn_message_params for messages that belong to no turn (a thread's own: turn_id "")."""
    return [
        (owner, thread_id, seq, "", *message_to_params(m), created, m.reasoning)
        for seq, m in enumerate(messages, start=base_seq)
    ]


def encode_page_token(last: ThreadSummary) -> str:
    """An opaque keyset cursor: the (updated, thread_id) of the last thread on the page."""
    raw = json.dumps([last.updated, last.thread_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_page_token(token: str) -> tuple[float, str]:
    """Inverse of encode_page_token; anything else → InvalidArgumentError."""
    try:
        updated, thread_id = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidArgumentError("malformed page_token", field="page_token") from None
    if not isinstance(updated, int | float) or not isinstance(thread_id, str):
        raise InvalidArgumentError("malformed page_token", field="page_token")
    return float(updated), thread_id


class ThreadTables:
    """The thread layer's storage as both its stores declare it to their pool (core.storage):
    the schema, and the names its logs and errors use."""

    pool_name: ClassVar[str] = "thread store"
    unavailable: ClassVar[str] = "thread memory is unavailable"
    schema: ClassVar[Schema] = migrations.SCHEMA
