"""POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items:
OpenAI's Responses API over the core's turns (a stored response is a stored turn)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gateway.http.context import Context
from gateway.http.responses import JsonResponse
from gateway.http.turns import run_turn
from gateway.openai.responses_convert import (
    input_items,
    item_page,
    request_to_turn,
    stored_turn_to_openai,
    turn_id,
)
from gateway.openai.responses_encoder import ResponseEncoder
from gateway.openai.responses_types import CreateResponseRequest

router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def create_response(context: Context) -> Response:
    """Runs one turn: the `response` object, or with `stream: true` its events as SSE."""
    body = await context.body(CreateResponseRequest)
    turn, echo = request_to_turn(body)
    return await run_turn(context, turn, ResponseEncoder(echo), stream=body.stream)


@router.get("/v1/responses/{response_id}")
async def retrieve_response(response_id: str, context: Context) -> JsonResponse:
    """A stored response; 404 if the caller has none by that id (or it was not stored)."""
    stored = await context.client.get_turn(turn_id(response_id), **context.call)
    return JsonResponse(stored_turn_to_openai(stored))


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, context: Context) -> JsonResponse:
    """Deletes the latest response of a conversation; an earlier one is a 400."""
    await context.client.delete_turn(turn_id(response_id), **context.call)
    return JsonResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str, Query(max_length=256)] = "",
) -> JsonResponse:
    """The items a stored response was given (newest first unless `order=asc`)."""
    stored = await context.client.get_turn(turn_id(response_id), **context.call)
    return JsonResponse(item_page(input_items(stored), limit=limit, order=order, after=after))
