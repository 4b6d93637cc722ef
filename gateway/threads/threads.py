"""GET /v1/threads, GET /v1/threads/{id}, DELETE /v1/threads/{id}: the caller's stored threads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

import chatrpc
from gateway.http.context import Context
from gateway.http.responses import JsonResponse, list_to_openai
from gateway.openai.chat_encoder import tool_call_to_openai

router = APIRouter()
JsonObject = dict[str, Any]


@router.get("/v1/threads")
async def list_threads(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str, Query(max_length=1024)] = "",
) -> JsonResponse:
    """The caller's threads, most recently updated first; `after` = previous next_page_token."""
    page = await context.client.list_threads(page_size=limit, page_token=after, **context.call)
    return JsonResponse(
        list_to_openai(
            map(thread_to_openai, page.threads),
            has_more=bool(page.next_page_token),
            next_page_token=page.next_page_token or None,
        )
    )


@router.get("/v1/threads/{thread_id}")
async def get_thread(thread_id: str, context: Context) -> JsonResponse:
    """One thread with its stored messages, oldest first; 404 if the caller has none by that id."""
    return JsonResponse(
        thread_to_openai(await context.client.get_thread(thread_id, **context.call))
    )


@router.delete("/v1/threads/{thread_id}")
async def delete_thread(thread_id: str, context: Context) -> JsonResponse:
    """Deletes one thread and its messages; 404 if the caller has none by that id."""
    await context.client.delete_thread(thread_id, **context.call)
    return JsonResponse({"id": thread_id, "object": "thread.deleted", "deleted": True})


def thread_to_openai(thread: chatrpc.Thread) -> JsonObject:
    """A thread in the gateway's JSON shape (README "Thread routes")."""
    body: JsonObject = {
        "id": thread.thread_id,
        "object": "thread",
        "created_at": thread.created,
        "updated_at": thread.updated,
        "message_count": thread.message_count,
    }
    if thread.messages:
        body["messages"] = [_stored_message(m) for m in thread.messages]
    return body


def _stored_message(stored: chatrpc.ThreadMessage) -> JsonObject:
    message = stored.message
    item: JsonObject = {"seq": stored.seq, "role": str(message.role), "content": message.content}
    if message.reasoning:
        item["reasoning_content"] = message.reasoning
    if message.name:
        item["name"] = message.name
    if message.tool_calls:
        item["tool_calls"] = [tool_call_to_openai(c) for c in message.tool_calls]
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    item["turn_id"] = stored.turn_id
    item["created_at"] = stored.created
    item["user"] = stored.user
    item["metadata"] = dict(stored.metadata)
    return item
