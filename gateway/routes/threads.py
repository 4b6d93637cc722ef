"""GET /v1/threads, GET /v1/threads/{id}, DELETE /v1/threads/{id}: the caller's stored threads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway.convert import list_to_openai, thread_to_openai
from gateway.responses import JsonResponse
from gateway.state import core_client

router = APIRouter()


@router.get("/v1/threads")
async def list_threads(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str, Query(max_length=1024)] = "",
) -> JsonResponse:
    """The caller's threads, most recently updated first; `after` = previous next_page_token."""
    client, call = core_client(request)
    page = await client.list_threads(page_size=limit, page_token=after, **call)
    return JsonResponse(
        list_to_openai(
            map(thread_to_openai, page.threads),
            has_more=bool(page.next_page_token),
            next_page_token=page.next_page_token or None,
        )
    )


@router.get("/v1/threads/{thread_id}")
async def get_thread(thread_id: str, request: Request) -> JsonResponse:
    """One thread with its stored messages, oldest first; 404 if the caller has none by that id."""
    client, call = core_client(request)
    return JsonResponse(thread_to_openai(await client.get_thread(thread_id, **call)))


@router.delete("/v1/threads/{thread_id}")
async def delete_thread(thread_id: str, request: Request) -> JsonResponse:
    """Deletes one thread and its messages; 404 if the caller has none by that id."""
    client, call = core_client(request)
    await client.delete_thread(thread_id, **call)
    return JsonResponse({"id": thread_id, "object": "thread.deleted", "deleted": True})
