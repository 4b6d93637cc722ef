"""One turn over HTTP, shared by the OpenAI and DB-GPT routes: JSON reply or SSE stream."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

import chatrpc
from gateway.convert import ChunkEncoder, ReplyShape, reply_to_openai, turn_headers
from gateway.disconnect import cancel_on_disconnect
from gateway.responses import JsonResponse
from gateway.sse import EventStreamResponse, event_stream, read_head
from gateway.state import core_client, gateway_state


async def answer_turn(
    request: Request, turn: chatrpc.ChatRequest, *, stream: bool, shape: ReplyShape
) -> Response:
    """Runs `turn` for `request`: a chat.completion, or its chunks as SSE, as `shape` says.

    The caller's API key and `Idempotency-Key` header go along; a client that disconnects
    cancels the call at any point.
    """
    client, call = core_client(request, stream=stream)
    key = request.headers.get("idempotency-key")
    if not stream:
        reply = await cancel_on_disconnect(request, client.chat(turn, idempotency_key=key, **call))
        return JsonResponse(
            reply_to_openai(reply, shape),
            headers=turn_headers(reply.trimmed, reply.server_metadata),
        )
    events = client.chat_stream(turn, idempotency_key=key, **call)
    # A failure before the first token keeps its HTTP status (see read_head).
    start, head = await cancel_on_disconnect(request, read_head(events))
    encoder = ChunkEncoder(start, shape)
    heartbeat = gateway_state(request).settings.sse_heartbeat
    body = event_stream(head, events, encoder.encode, heartbeat=heartbeat)
    return EventStreamResponse(body, headers=turn_headers(start.trimmed, start.server_metadata))
