"""OpenAI's Conversations API shapes ↔ chatrpc threads; no I/O.

A conversation is a thread: its id is the thread id (`conv_` + 24 hex digits when the gateway
makes one; a thread a response started is a conversation too), its metadata is the thread's,
its items are the thread's stored messages in order, those of every response on it (inputs
and outputs) included. An item's id says where its message sits: `msg_<seq>` for a message,
`fc_<seq>_<n>` for the n-th function call of an assistant message, `fco_<seq>` for a
function call's output (seq in eight digits). Deleting an item removes its whole message from
the thread's history (the core keeps its seq, so later ids stay put).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

import chatrpc
from gateway.http.errors import RequestError
from gateway.openai.responses_convert import JsonObject, call_item, text_part
from gateway.openai.responses_types import InputItem

MAX_ITEMS = 20  # items per create or add, as OpenAI's

_ITEM_ID = re.compile(r"(msg|fco)_(\d{8})|fc_(\d{8})_(\d+)")

Metadata = dict[str, StrictStr]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class CreateConversationBody(_Strict):
    """POST /v1/conversations."""

    items: Annotated[list[InputItem], Field(max_length=MAX_ITEMS)] | None = None
    metadata: Metadata | None = None


class UpdateConversationBody(_Strict):
    """POST /v1/conversations/{id}."""

    metadata: Metadata


class AddItemsBody(_Strict):
    """POST /v1/conversations/{id}/items."""

    items: Annotated[list[InputItem], Field(min_length=1, max_length=MAX_ITEMS)]


def conversation_to_openai(thread: chatrpc.Thread) -> JsonObject:
    """A `conversation` object."""
    return {
        "id": thread.thread_id,
        "object": "conversation",
        "created_at": thread.created,
        "metadata": dict(thread.metadata),
    }


def message_to_items(stored: chatrpc.ThreadMessage) -> list[JsonObject]:
    """The items of one stored message: a message, or an assistant's text and calls, or a
    function call's output."""
    message, seq = stored.message, stored.seq
    if message.role == chatrpc.Role.TOOL:
        return [
            {
                "id": f"fco_{seq:08d}",
                "type": "function_call_output",
                "call_id": message.tool_call_id,
                "output": message.content,
                "status": "completed",
            }
        ]
    if message.role != chatrpc.Role.ASSISTANT:
        part = {"type": "input_text", "text": message.content}
        return [_message(seq, str(message.role), part)]
    items = [_message(seq, "assistant", text_part(message.content))] if message.content else []
    for n, call in enumerate(message.tool_calls):
        item = call_item(call.id, call.name, call.arguments, "completed")
        items.append({**item, "id": f"fc_{seq:08d}_{n}"})
    return items


def _message(seq: int, role: str, part: JsonObject) -> JsonObject:
    return {
        "id": f"msg_{seq:08d}",
        "type": "message",
        "role": role,
        "status": "completed",
        "content": [part],
    }


def thread_items(messages: tuple[chatrpc.ThreadMessage, ...]) -> list[JsonObject]:
    """Every item of a conversation, oldest first."""
    return [item for stored in messages for item in message_to_items(stored)]


def item_seq(item_id: str) -> int:
    """The seq of the message an item id names; 404 for anything that is not an item id."""
    match = _ITEM_ID.fullmatch(item_id)
    if match is None:
        raise RequestError(
            f"Item with id {item_id!r} not found.", param=None, status=404, code="not_found"
        )
    return int(match.group(2) or match.group(3))


def find_item(thread: chatrpc.Thread, item_id: str) -> JsonObject:
    """The conversation's item by its id; 404 if it has none."""
    seq = item_seq(item_id)
    for stored in thread.messages:
        if stored.seq == seq:
            for item in message_to_items(stored):
                if item["id"] == item_id:
                    return item
    raise RequestError(
        f"Item with id {item_id!r} not found.", param=None, status=404, code="not_found"
    )
