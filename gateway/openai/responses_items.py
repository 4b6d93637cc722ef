"""A stored response's input as OpenAI's items, and one page of items (the Responses API's
input_items route and the Conversations API's item lists share the cursor)."""

from __future__ import annotations

import chatrpc
from gateway.http.errors import RequestError
from gateway.openai.responses_convert import JsonObject, _suffix, call_item, message_item


def input_items(turn: chatrpc.StoredTurn) -> list[JsonObject]:
    """The stored turn's input as items, oldest first (instructions are not items)."""
    items: list[JsonObject] = []
    for index, message in enumerate(turn.input_messages):
        item_id = f"msg_{_suffix(turn.turn_id)}_{index}"
        if message.role == chatrpc.Role.TOOL:
            items.append(
                {
                    "id": f"fco_{message.tool_call_id.removeprefix('call_')}",
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.content,
                    "status": "completed",
                }
            )
        elif message.role == chatrpc.Role.ASSISTANT:
            if message.content:
                items.append(message_item(item_id, message.content, "completed"))
            items += [call_item(c.id, c.name, c.arguments, "completed") for c in message.tool_calls]
        else:
            items.append(
                {
                    "id": item_id,
                    "type": "message",
                    "role": str(message.role),
                    "status": "completed",
                    "content": [{"type": "input_text", "text": message.content}],
                }
            )
    return items


def item_page(items: list[JsonObject], *, limit: int, order: str, after: str) -> JsonObject:
    """One page of input items in `order`, after the item `after` (OpenAI's cursor)."""
    if order == "desc":
        items = items[::-1]
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise RequestError(f"No input item has the id {after!r}.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
