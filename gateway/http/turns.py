"""run_turn(context, turn, encoder): the one turn runner of every chat face.

A streamed turn sends the encoder's frames as SSE (gateway/http/sse.py: heartbeat, coalescing,
the error event and no end marker after a failure); a non-streamed one answers the encoder's
JSON for the reply the core's unary Chat folded from the same event stream (the core's fold is
the only definition of "non-streaming"). Chat completions, DB-GPT and the Responses API are
three encoders over this runner.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, Protocol

from fastapi.responses import Response

import chatrpc
from gateway.http.context import RequestContext
from gateway.http.responses import JsonResponse
from gateway.http.sse import EventEncoder, EventStreamResponse, read_head, write_events
from observability.requests import note
from observability.tracing import QuietTracer, recording

tracer = QuietTracer("gateway")  # no span objects while nothing records them


class TurnEncoder(EventEncoder, Protocol):
    """A face's shapes for one turn: its stream's frames, and the JSON of a whole reply."""

    def reply(self, reply: chatrpc.Reply) -> dict[str, Any]:
        """The JSON body of a non-streamed turn."""
        ...


async def run_turn(
    context: RequestContext, turn: chatrpc.ChatRequest, encoder: TurnEncoder, *, stream: bool
) -> Response:
    """Runs `turn` for `context`: the encoder's JSON, or with `stream` its frames as SSE.

    The caller's key, deadline and `Idempotency-Key` go along; a client that disconnects
    cancels the call at any point.
    """
    client, key = context.client, context.idempotency_key
    note(thread_id=turn.thread_id)
    if not stream:
        call = client.chat(turn, idempotency_key=key, **context.call)
        reply = await context.until_disconnect(call)
        note(model=reply.model)
        with tracer.start_as_current_span("response"):
            headers = turn_headers(reply.trimmed, reply.server_metadata)
            return JsonResponse(encoder.reply(reply), headers=headers)
    events = client.chat_stream(turn, idempotency_key=key, **context.stream_call)
    # A failure before the first token keeps its HTTP status (see read_head).
    start, head = await context.until_disconnect(read_head(events))
    settings = context.settings
    body = traced(
        write_events(
            head,
            events,
            encoder,
            heartbeat=settings.sse_heartbeat,
            buffer_bytes=settings.stream_buffer_bytes,
        )
    )
    headers = turn_headers(start.trimmed, start.server_metadata)
    return EventStreamResponse(body, headers=headers, write_timeout=settings.stream_write_timeout)


def turn_headers(trimmed: int, server_metadata: Mapping[str, str]) -> dict[str, str]:
    """Response headers of a turn: how many stored messages did not fit the context window,
    and what the core said about admitting it (x-ratelimit-*, x-chatrpc-queue-position)."""
    return {"x-trimmed-messages": str(trimmed), **server_metadata}


def traced(body: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    """The stream's body inside a `response` span (started, not made current: no context is
    attached across the body's yields); the body itself while no span would be recorded (a
    generator around it cost every write)."""
    return _in_span(body) if recording() else body


async def _in_span(body: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    span = tracer.start_span("response")
    try:
        async with aclosing(body) as chunks:  # closed with this one, in the same task
            async for chunk in chunks:
                yield chunk
    finally:
        span.end()
