"""The caller's thread data over HTTP: search with a count, metadata updates, export, erasure.

POST /v1/threads/search, POST /v1/threads/{id} (metadata, as OpenAI's modify-thread),
GET /v1/threads/{id}/export and GET /v1/data/export (JSON lines, streamed as the core sends
them), POST /v1/data/erase. The core checks every value; the bodies are checked for shape
only (unknown fields are a 400 naming them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, StrictStr
from starlette.responses import StreamingResponse

import chatrpc
from gateway.http.body import StrictModel
from gateway.http.context import Context
from gateway.http.responses import JsonResponse, list_to_openai
from gateway.threads.threads import thread_to_openai

router = APIRouter()

NDJSON = "application/x-ndjson"


class SearchRequest(StrictModel):
    """POST /v1/threads/search."""

    user: StrictStr = ""
    metadata: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: Annotated[str, Field(max_length=1024)] = ""


class UpdateRequest(StrictModel):
    """POST /v1/threads/{id}: the thread's new metadata (replaces all of it)."""

    metadata: dict[StrictStr, StrictStr]


class EraseRequest(StrictModel):
    """POST /v1/data/erase."""

    scope: Literal["owner", "user"]
    user: StrictStr = ""


def thread_json(thread: chatrpc.Thread) -> dict[str, Any]:
    return {**thread_to_openai(thread), "user": thread.user, "metadata": dict(thread.metadata)}


@router.post("/v1/threads/search")
async def search_threads(context: Context) -> JsonResponse:
    """The caller's threads of one end user and/or holding metadata pairs, newest first,
    with `total_count` (every match); `after` is the previous page's next_page_token."""
    body = await context.body(SearchRequest)
    page = await context.client.list_threads(
        page_size=body.limit,
        page_token=body.after,
        user=body.user,
        metadata=body.metadata,
        **context.call,
    )
    return JsonResponse(
        list_to_openai(
            map(thread_json, page.threads),
            has_more=bool(page.next_page_token),
            next_page_token=page.next_page_token or None,
            total_count=page.total_count,
        )
    )


@router.post("/v1/threads/{thread_id}")
async def update_thread(thread_id: str, context: Context) -> JsonResponse:
    """Replaces a thread's metadata (`ttl_seconds`, `keep_latest`: its own retention)."""
    body = await context.body(UpdateRequest)
    thread = await context.client.update_thread(thread_id, body.metadata, **context.call)
    return JsonResponse(thread_json(thread))


@router.get("/v1/threads/{thread_id}/export")
async def export_thread(thread_id: str, context: Context) -> StreamingResponse:
    """One thread as JSON lines; 404 if the caller has none by that id."""
    return await _export(context, thread_id)


@router.get("/v1/data/export")
async def export_everything(context: Context) -> StreamingResponse:
    """Every thread of the caller as JSON lines, streamed."""
    return await _export(context, "")


@router.post("/v1/data/erase")
async def erase(context: Context) -> JsonResponse:
    """Erases everything of the caller, or of one end user of theirs; audited, idempotent."""
    body = await context.body(EraseRequest)
    erasure = await context.client.erase_data(body.scope, user=body.user, **context.call)
    return JsonResponse(
        {
            "id": erasure.erasure_id,
            "object": "erasure",
            "created_at": int(erasure.created),
            "deleted": dict(erasure.deleted),
        }
    )


async def _export(context: Context, thread_id: str) -> StreamingResponse:
    """The core's export stream as the body; its first piece is awaited before the status is
    sent, so an unknown thread (or a refused key) is still an error status, not a cut body."""
    pieces = context.client.export_threads(thread_id, **context.stream_call)
    first = await anext(pieces, b"")

    async def body() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for piece in pieces:
                yield piece
        finally:
            await pieces.aclose()  # a client gone mid-export cancels the core's stream

    return StreamingResponse(body(), media_type=NDJSON)
