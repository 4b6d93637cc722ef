"""Knowledge spaces: POST/GET /v1/spaces, DELETE /v1/spaces/{id}, POST /v1/spaces/{id}/documents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

import chatrpc
from gateway.body import read_json_body
from gateway.convert import list_to_openai, parse_model
from gateway.openai_types import DocumentRequest, SpaceRequest
from gateway.responses import JsonResponse
from gateway.state import core_client

router = APIRouter()


def space_json(space: chatrpc.Space) -> dict[str, Any]:
    return {
        "id": space.space_id,
        "object": "knowledge.space",
        "name": space.name,
        "description": space.description,
        "created_at": space.created,
        "document_count": space.document_count,
    }


@router.post("/v1/spaces")
async def create_space(request: Request) -> JsonResponse:
    """Creates a knowledge space owned by the caller; 409 if the id exists."""
    body = parse_model(await read_json_body(request), SpaceRequest)
    client, call = core_client(request)
    space = await client.create_space(body.id, name=body.name, description=body.description, **call)
    return JsonResponse(space_json(space), status_code=201)


@router.get("/v1/spaces")
async def list_spaces(request: Request) -> JsonResponse:
    """The caller's knowledge spaces."""
    client, call = core_client(request)
    return JsonResponse(list_to_openai(map(space_json, await client.list_spaces(**call))))


@router.delete("/v1/spaces/{space_id}")
async def delete_space(space_id: str, request: Request) -> JsonResponse:
    """Deletes a space and its documents; 404 if the caller has none by that id."""
    client, call = core_client(request)
    await client.delete_space(space_id, **call)
    return JsonResponse({"id": space_id, "object": "knowledge.space.deleted", "deleted": True})


@router.post("/v1/spaces/{space_id}/documents")
async def add_document(space_id: str, request: Request) -> JsonResponse:
    """Adds (or replaces, by `source`) a text or Markdown document; it is chunked and indexed."""
    body = parse_model(await read_json_body(request), DocumentRequest)
    client, call = core_client(request)
    document = await client.add_document(space_id, body.source, body.text, title=body.title, **call)
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
