"""POST /v1/completions: OpenAI's legacy text completions, JSON or SSE, over the core's
text-completion turns (gateway/openai/completions_convert.py). No thread memory here."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.http.context import Context
from gateway.http.responses import JsonResponse
from gateway.http.sse import EventStreamResponse, event_stream, read_head
from gateway.openai.completions_convert import (
    CompletionEncoder,
    CompletionRequest,
    chained,
    completion_to_openai,
    completion_turns,
)

router = APIRouter()


@router.post("/v1/completions", response_model=None)
async def create_completion(context: Context) -> Response:
    """Completes each prompt as raw text; `stream: true` answers with SSE."""
    body = await context.body(CompletionRequest)
    turns = completion_turns(body)
    client, logprobs = context.client, body.logprobs is not None
    if not body.stream:
        replies = [await context.until_disconnect(client.chat(t, **context.call)) for t in turns]
        return JsonResponse(completion_to_openai(replies, logprobs=logprobs))
    # Each prompt's call starts when the one before it has ended (chained reads them in turn).
    events = chained([client.chat_stream(t, **context.stream_call) for t in turns], body.n or 1)
    start, head = await context.until_disconnect(read_head(events))
    usage = bool(body.stream_options and body.stream_options.include_usage)
    encoder = CompletionEncoder(start, logprobs=logprobs, usage=usage)
    heartbeat = context.settings.sse_heartbeat
    return EventStreamResponse(event_stream(head, events, encoder.encode, heartbeat=heartbeat))
