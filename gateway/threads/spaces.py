"""Knowledge spaces: POST/GET /v1/spaces, DELETE /v1/spaces/{id}, POST /v1/spaces/{id}/documents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import StrictStr

import chatrpc
from gateway.http.body import StrictModel
from gateway.http.context import Context
from gateway.http.responses import JsonResponse, list_to_openai

router = APIRouter()


class SpaceRequest(StrictModel):
    """POST /v1/spaces."""

    id: StrictStr
    name: StrictStr = ""
    description: StrictStr = ""


class DocumentRequest(StrictModel):
    """POST /v1/spaces/{id}/documents: one text or Markdown document."""

    source: StrictStr
    text: StrictStr
    title: StrictStr = ""


def space_json(space: chatrpc.Space) -> dict[str, Any]:
    return {
        "id": space.space_id,
        "object": "knowledge.space",
        "name": space.name,
        "description": space.description,
        "created_at": space.created,
        "document_count": space.document_count,
    }


@router.post("/v1/spaces", status_code=201)
async def create_space(context: Context) -> JsonResponse:
    """Creates a knowledge space owned by the caller; 409 if the id exists."""
    body = await context.body(SpaceRequest)
    space = await context.client.create_space(
        body.id, name=body.name, description=body.description, **context.call
    )
    return JsonResponse(space_json(space), status_code=201)


@router.get("/v1/spaces")
async def list_spaces(context: Context) -> JsonResponse:
    """The caller's knowledge spaces."""
    return JsonResponse(
        list_to_openai(map(space_json, await context.client.list_spaces(**context.call)))
    )


@router.delete("/v1/spaces/{space_id}")
async def delete_space(space_id: str, context: Context) -> JsonResponse:
    """Deletes a space and its documents; 404 if the caller has none by that id."""
    await context.client.delete_space(space_id, **context.call)
    return JsonResponse({"id": space_id, "object": "knowledge.space.deleted", "deleted": True})


@router.post("/v1/spaces/{space_id}/documents", status_code=201)
async def add_document(space_id: str, context: Context) -> JsonResponse:
    """Adds (or replaces, by `source`) a text or Markdown document; it is chunked and indexed."""
    body = await context.body(DocumentRequest)
    document = await context.client.add_document(
        space_id, body.source, body.text, title=body.title, **context.call
    )
    return JsonResponse(
        {
            "id": document.document_id,
            "object": "knowledge.document",
            "space_id": document.space_id,
            "source": document.source,
            "title": document.title,
            "created_at": document.created,
            "chunk_count": document.chunk_count,
        },
        status_code=201,
    )
