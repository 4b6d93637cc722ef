"""One turn over HTTP, shared by the OpenAI and DB-GPT routes: JSON reply or SSE stream."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.convert import ChunkEncoder, reply_to_openai, turn_headers
from gateway.disconnect import cancel_on_disconnect
from gateway.sse import EventStreamResponse, event_stream, read_head
from gateway.state import core_client


async def answer_turn(
    request: Request, turn: dict[str, Any], *, stream: bool, include_usage: bool = False
) -> Response:
    """Runs `turn` (SDK chat arguments) for `request`: a chat.completion, or its chunks as SSE.

    The caller's API key and `Idempotency-Key` header go along; a client that disconnects
    cancels the call at any point.
    """
    client, call = core_client(request)
    key = request.headers.get("idempotency-key")
    if not stream:
        reply = await cancel_on_disconnect(
            request, client.chat(idempotency_key=key, **call, **turn)
        )
        return JSONResponse(reply_to_openai(reply), headers=turn_headers(reply.trimmed))
    chunks = client.chat_stream(idempotency_key=key, **call, **turn)
    # A failure before the first token keeps its HTTP status (see read_head).
    head = await cancel_on_disconnect(request, read_head(chunks))
    encoder = ChunkEncoder(head[0], include_usage)
    body = event_stream(head, chunks, encoder.encode)
    return EventStreamResponse(body, headers=turn_headers(head[0].trimmed))
