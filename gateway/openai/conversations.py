"""/v1/conversations: OpenAI's Conversations API over the caller's threads (see
conversations_convert.py for how a conversation and its items map onto a thread)."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Query

import chatrpc
from gateway.http.context import Context, RequestContext
from gateway.http.errors import RequestError
from gateway.http.responses import JsonResponse
from gateway.openai.conversations_convert import (
    AddItemsBody,
    CreateConversationBody,
    UpdateConversationBody,
    conversation_to_openai,
    find_item,
    item_seq,
    message_to_items,
    thread_items,
)
from gateway.openai.responses_convert import THREAD_PREFIX, input_to_messages
from gateway.openai.responses_items import item_page

router = APIRouter()

Include = Annotated[list[str] | None, Query(max_length=0)]  # nothing extra to include


@router.post("/v1/conversations")
async def create_conversation(context: Context) -> JsonResponse:
    """A new conversation with `metadata` and up to 20 first `items`."""
    body = await context.body(CreateConversationBody)
    messages = input_to_messages(body.items) if body.items else []
    client, call = context.client, context.call
    thread = await client.create_thread(
        THREAD_PREFIX + secrets.token_hex(12), messages, metadata=body.metadata or {}, **call
    )
    return JsonResponse(conversation_to_openai(thread))


@router.get("/v1/conversations/{conversation_id}")
async def retrieve_conversation(conversation_id: str, context: Context) -> JsonResponse:
    """One of the caller's conversations; 404 if the caller has none by that id."""
    client, call = context.client, context.call
    return JsonResponse(conversation_to_openai(await client.get_thread(conversation_id, **call)))


@router.post("/v1/conversations/{conversation_id}")
async def update_conversation(conversation_id: str, context: Context) -> JsonResponse:
    """Replaces the conversation's metadata."""
    body = await context.body(UpdateConversationBody)
    client, call = context.client, context.call
    thread = await client.update_thread(conversation_id, metadata=body.metadata, **call)
    return JsonResponse(conversation_to_openai(thread))


@router.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(conversation_id: str, context: Context) -> JsonResponse:
    """Deletes the conversation with its items and the responses stored on it."""
    client, call = context.client, context.call
    await client.delete_thread(conversation_id, **call)
    return JsonResponse({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


@router.get("/v1/conversations/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str, Query(max_length=256)] = "",
    include: Include = None,
) -> JsonResponse:
    """The conversation's items, newest first unless `order=asc`, `after` an item id."""
    client, call = context.client, context.call
    thread = await client.get_thread(conversation_id, **call)
    return JsonResponse(
        item_page(thread_items(thread.messages), limit=limit, order=order, after=after)
    )


@router.post("/v1/conversations/{conversation_id}/items")
async def add_items(
    conversation_id: str, context: Context, include: Include = None
) -> JsonResponse:
    """Appends up to 20 items; returns them as stored, oldest first."""
    body = await context.body(AddItemsBody)
    client, call = context.client, context.call
    stored = await client.append_thread_messages(
        conversation_id, input_to_messages(body.items), **call
    )
    items = [item for message in stored for item in message_to_items(message)]
    return JsonResponse(item_page(items, limit=len(items), order="asc", after=""))


@router.get("/v1/conversations/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str, item_id: str, context: Context, include: Include = None
) -> JsonResponse:
    """One item of the conversation; 404 if it has none by that id."""
    client, call = context.client, context.call
    return JsonResponse(find_item(await client.get_thread(conversation_id, **call), item_id))


@router.delete("/v1/conversations/{conversation_id}/items/{item_id}")
async def delete_item(conversation_id: str, item_id: str, context: Context) -> JsonResponse:
    """Removes the item's message from the conversation; returns the conversation."""
    client, call = context.client, context.call
    thread = await client.get_thread(conversation_id, **call)
    find_item(thread, item_id)  # 404 unless the conversation shows this item
    await client.delete_thread_message(conversation_id, item_seq(item_id), **call)
    return JsonResponse(conversation_to_openai(thread))


async def require_conversation(context: RequestContext, conversation_id: str) -> None:
    """404 unless the caller has this conversation (a response's `conversation`)."""
    client, call = context.client, context.call
    try:
        await client.get_thread(conversation_id, **call)
    except (chatrpc.NotFoundError, chatrpc.InvalidRequestError):
        raise RequestError(
            f"Conversation with id {conversation_id!r} not found.",
            param="conversation",
            status=404,
            code="not_found",
        ) from None
