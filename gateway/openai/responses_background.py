"""Background responses: `background: true` on POST /v1/responses, polling and resuming them
with GET /v1/responses/{id} (`stream=true&starting_after=N`), POST /v1/responses/{id}/cancel.

The turn runs in the core, detached from the request (the core's StartBackgroundChat), and
its events are logged there, numbered, in the thread store; any gateway on any core replica
reads them back (WatchBackgroundChat). Every view of a background response, the first stream
included, is the log read through one ResponseEncoder, one logged event at a time (never
joined, unlike a foreground stream's writer): so the Responses events and their
`sequence_number`s are the same on every replay, a resumed stream skips exactly the events
up to `starting_after`, and a poll returns what the stream's last event carries.

The request's settings a response repeats (Echo) travel with the turn as its client_state.
A client that goes away only stops watching; the turn runs on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import orjson
from fastapi.responses import Response

import chatrpc
from gateway.http.context import CallOptions, RequestContext
from gateway.http.errors import RequestError
from gateway.http.responses import JsonResponse
from gateway.http.sse import EventStreamResponse
from gateway.openai.responses_convert import Echo, JsonObject
from gateway.openai.responses_encoder import ResponseEncoder


def echo_to_state(echo: Echo) -> bytes:
    return orjson.dumps(dataclasses.asdict(echo))


def echo_from_state(state: bytes) -> Echo:
    return Echo(**orjson.loads(state)) if state else Echo(background=True)


async def start_background(
    context: RequestContext, turn: chatrpc.ChatRequest, echo: Echo, *, stream: bool
) -> Response:
    """Starts the turn in the core; its response now (in progress), or its events as SSE."""
    if not echo.store:
        raise RequestError("background requires store to be true.", param="background")
    client, call = context.client, context.call
    chat = await client.start_background_chat(
        turn,
        client_state=echo_to_state(echo),
        idempotency_key=context.idempotency_key,
        **call,
    )
    if stream:
        return EventStreamResponse(_replay(client, context.stream_call, chat, after=-1))
    return JsonResponse(await _poll(client, call, chat))


async def find_background(
    context: RequestContext, turn: str, *, stream: bool, starting_after: int | None
) -> Response | None:
    """The background response `turn`, polled or streamed; None if the core has no
    background turn by that id (the log expired, or it ran in the foreground)."""
    client, call = context.client, context.call
    try:
        chat = await client.get_background_chat(turn, **call)
    except chatrpc.NotFoundError:
        if stream:
            raise RequestError(
                "stream=true is only for background responses whose events are kept.",
                param="stream",
                status=404,
                code="turn_not_found",
            ) from None
        return None
    if stream:
        after = -1 if starting_after is None else starting_after
        return EventStreamResponse(_replay(client, context.stream_call, chat, after=after))
    return JsonResponse(await _poll(client, call, chat))


async def cancel_background(context: RequestContext, turn: str) -> JsonResponse:
    """Cancels the background response from any gateway and core replica."""
    client, call = context.client, context.call
    chat = await client.cancel_background_chat(turn, **call)
    return JsonResponse(await _poll(client, call, chat))


async def _poll(
    client: chatrpc.AsyncClient, call: CallOptions, chat: chatrpc.BackgroundChat
) -> JsonObject:
    """The response as its log says now: the log read to its current end, folded."""
    echo = echo_from_state(chat.client_state)
    encoder: ResponseEncoder | None = None
    try:
        async for logged in client.watch_background_chat(chat.chat_id, follow=False, **call):
            encoder = encoder or _encoder(echo, logged.event, -1)
            encoder.frames(logged.event)
    except chatrpc.ChatServiceError as exc:
        if encoder is None:
            raise
        encoder.failed(exc)
    if encoder is None:
        raise chatrpc.InternalError("The background response logged no start event.")
    if chat.status is chatrpc.BackgroundStatus.CANCELLED:
        encoder.cancelled()
    return encoder.body()


async def _replay(
    client: chatrpc.AsyncClient, call: CallOptions, chat: chatrpc.BackgroundChat, *, after: int
) -> AsyncIterator[bytes]:
    """The response's events numbered after `after`: those logged, then new ones as the turn
    logs them, until it ends (a failure ends it with `response.failed`, a cancellation with
    no further event, as OpenAI's)."""
    echo = echo_from_state(chat.client_state)
    encoder: ResponseEncoder | None = None
    try:
        async for logged in client.watch_background_chat(chat.chat_id, **call):
            encoder = encoder or _encoder(echo, logged.event, after)
            frames = encoder.frames(logged.event)
            if frames:
                yield frames
    except chatrpc.ChatServiceError as exc:
        if encoder is None:
            raise
        yield encoder.failed(exc)


def _encoder(echo: Echo, event: chatrpc.StreamEvent, after: int) -> ResponseEncoder:
    if not isinstance(event, chatrpc.StreamStart):
        raise chatrpc.InternalError("The background response's log did not begin with its start.")
    return ResponseEncoder(echo, skip_through=after)  # it takes the start with its frames
