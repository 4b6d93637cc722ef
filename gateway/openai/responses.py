"""POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items:
OpenAI's Responses API over the core's turns (a stored response is a stored turn)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

import chatrpc
from gateway.http.context import Context, RequestContext
from gateway.http.errors import RequestError
from gateway.http.responses import JsonResponse
from gateway.http.turns import run_turn
from gateway.openai.conversations import require_conversation
from gateway.openai.responses_background import find_background, start_background
from gateway.openai.responses_convert import (
    request_to_turn,
    stored_turn_to_openai,
    turn_id,
)
from gateway.openai.responses_encoder import ResponseEncoder
from gateway.openai.responses_items import input_items, item_page
from gateway.openai.responses_mcp import with_tool_param
from gateway.openai.responses_types import CreateResponseRequest

router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def create_response(context: Context) -> Response:
    """Runs one turn: the `response` object, or with `stream: true` its events as SSE."""
    body = await context.body(CreateResponseRequest)
    try:
        return await _create_response(context, body)
    except chatrpc.InvalidRequestError as exc:  # the core names an `mcp` tool by its own index
        raise with_tool_param(exc, body.tools or []) from None


async def _create_response(context: RequestContext, body: CreateResponseRequest) -> Response:
    turn, echo = request_to_turn(body)
    if echo.conversation is not None:  # an unknown (or another key's) conversation: 404
        await require_conversation(context, echo.conversation)
    if body.background:  # detached from this request: see responses_background.py
        return await start_background(context, turn, echo, stream=body.stream)
    return await run_turn(context, turn, ResponseEncoder(echo), stream=body.stream)


@router.get("/v1/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str,
    context: Context,
    stream: bool = False,
    starting_after: Annotated[int | None, Query(ge=-1)] = None,
) -> Response:
    """A stored response; 404 if the caller has none by that id (or it was not stored). A
    background response while its events are kept: as they say now, or (`stream=true`) its
    events after `starting_after`, then new ones until it ends."""
    if starting_after is not None and not stream:
        raise RequestError("starting_after needs stream=true.", param="starting_after")
    turn = turn_id(response_id)
    found = await find_background(context, turn, stream=stream, starting_after=starting_after)
    if found is not None:
        return found
    stored = await context.client.get_turn(turn, **context.call)
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
