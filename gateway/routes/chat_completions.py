"""POST /v1/chat/completions: OpenAI chat completions, JSON or SSE, over the core's RPCs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway.body import read_json_body
from gateway.convert import (
    ChunkEncoder,
    parse_request,
    reply_to_openai,
    request_to_turn,
    turn_headers,
)
from gateway.disconnect import cancel_on_disconnect
from gateway.sse import EventStreamResponse, event_stream, read_head
from gateway.state import core_client

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(request: Request) -> Response:
    """Creates a model response for the conversation; `stream: true` answers with SSE."""
    body = parse_request(await read_json_body(request))
    turn = request_to_turn(body, request.headers.get("x-thread-id"))
    client, timeout = core_client(request)
    key = request.headers.get("idempotency-key")
    if not body.stream:
        reply = await cancel_on_disconnect(
            request, client.chat(timeout=timeout, idempotency_key=key, **turn)
        )
        return JSONResponse(reply_to_openai(reply), headers=turn_headers(reply.trimmed))
    chunks = client.chat_stream(timeout=timeout, idempotency_key=key, **turn)
    # A failure before the first token keeps its HTTP status (see read_head).
    head = await cancel_on_disconnect(request, read_head(chunks))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    encoder = ChunkEncoder(head[0], include_usage)
    stream = event_stream(head, chunks, encoder.encode)
    return EventStreamResponse(stream, headers=turn_headers(head[0].trimmed))
