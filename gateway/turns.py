"""One turn over HTTP, shared by the OpenAI and DB-GPT routes: JSON reply or SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response
from opentelemetry import trace

import chatrpc
from gateway.convert import ChunkEncoder, ReplyShape, reply_to_openai, turn_headers
from gateway.disconnect import cancel_on_disconnect
from gateway.responses import JsonResponse
from gateway.sse import EventStreamResponse, event_stream, read_head
from gateway.state import core_client, gateway_state
from observability.requests import note

tracer = trace.get_tracer("gateway")


async def answer_turn(
    request: Request, turn: chatrpc.ChatRequest, *, stream: bool, shape: ReplyShape
) -> Response:
    """Runs `turn` for `request`: a chat.completion, or its chunks as SSE, as `shape` says.

    The caller's API key and `Idempotency-Key` header go along; a client that disconnects
    cancels the call at any point.
    """
    client, call = core_client(request, stream=stream)
    key = request.headers.get("idempotency-key")
    note(thread_id=turn.thread_id)
    if not stream:
        reply = await cancel_on_disconnect(request, client.chat(turn, idempotency_key=key, **call))
        note(model=reply.model)
        with tracer.start_as_current_span("response"):
            return JsonResponse(
                reply_to_openai(reply, shape),
                headers=turn_headers(reply.trimmed, reply.server_metadata),
            )
    events = client.chat_stream(turn, idempotency_key=key, **call)
    # A failure before the first token keeps its HTTP status (see read_head).
    start, head = await cancel_on_disconnect(request, read_head(events))
    encoder = ChunkEncoder(start, shape)
    heartbeat = gateway_state(request).settings.sse_heartbeat
    body = traced(event_stream(head, events, encoder.encode, heartbeat=heartbeat))
    return EventStreamResponse(body, headers=turn_headers(start.trimmed, start.server_metadata))


async def traced(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream's body inside a `response` span (started, not made current: no context is
    attached across the body's yields)."""
    span = tracer.start_span("response")
    try:
        async for chunk in body:
            yield chunk
    finally:
        span.end()
