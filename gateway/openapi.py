"""GET /openapi.json and GET /docs: the gateway's OpenAPI document (FastAPI's paths, with each
route's request body schema from the same pydantic model that validates it, `BODIES`) and a
Swagger UI page over it; behind the API key like every other route (no unauthenticated
schema dump).

The routes read their bodies into their model in one call (`RequestContext.body`: one
orjson-fed pydantic parse, no FastAPI dependency per field), so FastAPI cannot see the
models; `BODIES` names them, and the document is built once, on its first request, never on
the hot path. This module sits on the app's floor: it names every face's body models.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.admin.keys import KeyRequest, RotateRequest
from gateway.dbgpt.types import DbgptChatRequest
from gateway.http.context import Context
from gateway.http.responses import JsonResponse
from gateway.openai.completions_convert import CompletionRequest
from gateway.openai.conversations_convert import (
    AddItemsBody,
    CreateConversationBody,
    UpdateConversationBody,
)
from gateway.openai.responses_types import CreateResponseRequest
from gateway.openai.types import ChatCompletionRequest, EmbeddingRequest
from gateway.threads.data import NDJSON, EraseRequest, SearchRequest, UpdateRequest
from gateway.threads.spaces import DocumentRequest, SpaceRequest

router = APIRouter()

# (method, path) → the model its handler validates the body with.
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/v1/chat/completions"): ChatCompletionRequest,
    ("post", "/v1/completions"): CompletionRequest,
    ("post", "/api/v2/chat/completions"): DbgptChatRequest,
    ("post", "/v1/embeddings"): EmbeddingRequest,
    ("post", "/v1/responses"): CreateResponseRequest,
    ("post", "/v1/conversations"): CreateConversationBody,
    ("post", "/v1/conversations/{conversation_id}"): UpdateConversationBody,
    ("post", "/v1/conversations/{conversation_id}/items"): AddItemsBody,
    ("post", "/v1/spaces"): SpaceRequest,
    ("post", "/v1/spaces/{space_id}/documents"): DocumentRequest,
    ("post", "/v1/threads/search"): SearchRequest,
    ("post", "/v1/threads/{thread_id}"): UpdateRequest,
    ("post", "/v1/data/erase"): EraseRequest,
    ("post", "/v1/admin/keys"): KeyRequest,  # the admin face: in the document when configured
    ("post", "/v1/admin/keys/{name}/rotate"): RotateRequest,
}
# Routes whose success is not one JSON document: JSON lines.
JSON_LINES = frozenset({"/v1/threads/{thread_id}/export", "/v1/data/export"})
_REF = "#/components/schemas/{model}"
# Routes that answer `stream: true` with server-sent events.
STREAMING = frozenset(
    {"/v1/chat/completions", "/api/v2/chat/completions", "/v1/completions", "/v1/responses"}
)
# OpenAI's error envelope, which every route's failures use (gateway/http/errors.py).
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI 3.1 document, built on first use and kept."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description="OpenAI-compatible chat, responses, embeddings and completions over "
        "chatrpc's gRPC core. Request bodies are the schemas the gateway validates with.",
        routes=app.routes,
    )
    models = sorted(set(BODIES.values()), key=lambda m: m.__name__)
    _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    _document_answers(document)
    for (method, path), model in BODIES.items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is None:  # a table entry whose route is not mounted in this app
            continue
        schema = {"$ref": _REF.format(model=model.__name__)}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    app.openapi_schema = document
    return document


def _document_answers(document: dict[str, Any]) -> None:
    """Every operation's failures (any status: OpenAI's envelope), and the event streams of
    the routes that stream."""
    error = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)  # FastAPI's own validation answer: ours is a 400
            answers["default"] = {
                "description": "An error, in OpenAI's envelope.",
                "content": {"application/json": {"schema": error}},
            }
            if path in STREAMING or path in JSON_LINES:
                ok = answers.setdefault("200", {"description": "Successful Response"})
                content = ok.setdefault("content", {})
                if path in JSON_LINES:  # not one JSON document
                    content.clear()
                kind = "text/event-stream" if path in STREAMING else NDJSON
                content[kind] = {"schema": {"type": "string"}}


async def _verified(context: Context) -> None:
    """The caller's key, checked by the core (one ListModels call): the gateway itself only
    checks that a key is there, and the document needs no core call of its own."""
    if context.settings.auth != "disabled":
        await context.client.list_models(**context.call)


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(context: Context) -> JsonResponse:
    """The OpenAPI 3.1 document, request body schemas included."""
    await _verified(context)
    return JsonResponse(openapi_document(context.request.app))


@router.get("/docs", include_in_schema=False)
async def docs(context: Context) -> HTMLResponse:
    """Swagger UI over /openapi.json (its scripts come from the jsDelivr CDN)."""
    await _verified(context)
    title = f"{context.request.app.title} docs"
    return get_swagger_ui_html(openapi_url="/openapi.json", title=title)
