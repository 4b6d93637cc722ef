"""POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items:
OpenAI's Responses API over the core's turns (a stored response is a stored turn)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

import chatrpc
from gateway.body import read_json_body
from gateway.convert import parse_model, turn_headers
from gateway.disconnect import cancel_on_disconnect
from gateway.responses import JsonResponse
from gateway.responses_convert import (
    Echo,
    input_items,
    item_page,
    request_to_turn,
    stored_turn_to_openai,
    turn_id,
)
from gateway.responses_stream import ResponseEncoder
from gateway.responses_types import CreateResponseRequest
from gateway.sse import EventStreamResponse, event_stream, read_head
from gateway.state import core_client, gateway_state
from observability.requests import note

router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def create_response(request: Request) -> Response:
    """Runs one turn: the `response` object, or with `stream: true` its events as SSE."""
    body = parse_model(await read_json_body(request), CreateResponseRequest)
    turn, echo = request_to_turn(body)
    client, call = core_client(request, stream=body.stream)
    events = client.chat_stream(
        turn, idempotency_key=request.headers.get("idempotency-key"), **call
    )
    if not body.stream:  # the same events, folded by the same encoder
        encoder = await cancel_on_disconnect(request, _fold(events, echo))
        return JsonResponse(
            encoder.body(), headers=turn_headers(encoder.trimmed, encoder.server_metadata)
        )
    # A failure before the first token keeps its HTTP status (see read_head).
    start, head = await cancel_on_disconnect(request, read_head(events))
    encoder = ResponseEncoder(echo, start)
    stream = event_stream(
        head,
        events,
        encoder.encode,
        done=False,
        framed=True,
        on_error=encoder.failed,
        heartbeat=gateway_state(request).settings.sse_heartbeat,
    )
    return EventStreamResponse(stream, headers=turn_headers(start.trimmed, start.server_metadata))


async def _fold(events: AsyncGenerator[chatrpc.StreamEvent, None], echo: Echo) -> ResponseEncoder:
    async with aclosing(events):
        start = await anext(events)
        if not isinstance(start, chatrpc.StreamStart):
            raise chatrpc.InternalError("The stream did not begin with its start event.")
        note(model=start.model)  # the model label of this request's metrics and logs
        encoder = ResponseEncoder(echo, start)
        encoder.encode(start)
        async for event in events:
            encoder.encode(event)
    return encoder


@router.get("/v1/responses/{response_id}")
async def retrieve_response(response_id: str, request: Request) -> JsonResponse:
    """A stored response; 404 if the caller has none by that id (or it was not stored)."""
    client, call = core_client(request)
    stored = await client.get_turn(turn_id(response_id), **call)
    return JsonResponse(stored_turn_to_openai(stored))


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> JsonResponse:
    """Deletes the latest response of a conversation; an earlier one is a 400."""
    client, call = core_client(request)
    await client.delete_turn(turn_id(response_id), **call)
    return JsonResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str, Query(max_length=256)] = "",
) -> JsonResponse:
    """The items a stored response was given (newest first unless `order=asc`)."""
    client, call = core_client(request)
    stored = await client.get_turn(turn_id(response_id), **call)
    return JsonResponse(item_page(input_items(stored), limit=limit, order=order, after=after))
