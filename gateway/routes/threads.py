"""GET /v1/threads, GET /v1/threads/{id}, DELETE /v1/threads/{id}: the caller's stored threads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from gateway.convert import thread_to_openai
from gateway.state import core_client

router = APIRouter()


@router.get("/v1/threads")
async def list_threads(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str, Query(max_length=1024)] = "",
) -> JSONResponse:
    """The caller's threads, most recently updated first; `after` = previous next_page_token."""
    client, call = core_client(request)
    page = await client.list_threads(page_size=limit, page_token=after, **call)
    return JSONResponse(
        {
            "object": "list",
            "data": [thread_to_openai(t) for t in page.threads],
            "has_more": bool(page.next_page_token),
            "next_page_token": page.next_page_token or None,
        }
    )


@router.get("/v1/threads/{thread_id}")
async def get_thread(thread_id: str, request: Request) -> JSONResponse:
    """One thread with its stored messages, oldest first; 404 if the caller has none by that id."""
    client, call = core_client(request)
    return JSONResponse(thread_to_openai(await client.get_thread(thread_id, **call)))


@router.delete("/v1/threads/{thread_id}")
async def delete_thread(thread_id: str, request: Request) -> JSONResponse:
    """Deletes one thread and its messages; 404 if the caller has none by that id."""
    client, call = core_client(request)
    await client.delete_thread(thread_id, **call)
    return JSONResponse({"id": thread_id, "object": "thread.deleted", "deleted": True})
