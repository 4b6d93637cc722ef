"""Server-sent events: the only module that writes `data: …`, `data: [DONE]` and in-stream errors.

Payloads are JSON texts, and JSON escapes CR and LF, so model text containing
"\\n\\ndata: [DONE]\\n\\n" cannot break the framing. An error after the first byte (the status
is already 200) becomes one `data: {"error": {...}}` event and the stream ends WITHOUT
`[DONE]`, so no client mistakes a failed stream for a complete one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol, cast

import anyio
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

import chatrpc
from gateway.http.errors import service_error_to_http
from observability.requests import note

logger = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
DEFAULT_BUFFER_BYTES = 1024 * 1024  # text of one stream waiting for a slow client
# An SSE comment line: every SSE parser (the openai SDK's included) skips it, and it keeps
# idle-timeout proxies and the client's read timeout from cutting off a thinking model.
HEARTBEAT = b": ping\n\n"
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def frame(data: bytes) -> bytes:
    """One SSE event carrying `data` (UTF-8 JSON text, so it holds no raw newline)."""
    return b"data: " + data + b"\n\n"


def named_frame(event: bytes, data: bytes) -> bytes:
    """One SSE event of type `event` (an ASCII name) carrying `data`, as the Responses API
    sends them."""
    return b"event: " + event + b"\ndata: " + data + b"\n\n"


def error_frame(exc: chatrpc.ChatServiceError) -> bytes:
    """The in-stream error event of the chat routes: OpenAI's error envelope."""
    _, body, _ = service_error_to_http(exc)
    return frame(orjson.dumps(body))


async def read_head(
    events: AsyncGenerator[chatrpc.StreamEvent, None],
) -> tuple[chatrpc.StreamStart, list[chatrpc.StreamEvent]]:
    """The stream's start event and the events up to and including the first one after it.

    The HTTP status is sent with the first byte, so the response waits for the model's first
    token (or its failure): an error before any output is a real 4xx/5xx that clients can
    retry, and after it only an in-stream error event is possible (LiteLLM's pre-first-chunk
    rule). Time to first token is unchanged: start and first delta leave together.
    """
    start = await anext(events)
    if not isinstance(start, chatrpc.StreamStart):
        raise chatrpc.InternalError("The stream did not begin with its start event.")
    note(model=start.model)  # the model label of this request's metrics and logs
    return start, [start, await anext(events)]


class EventEncoder(Protocol):
    """One turn's events as a face's SSE frames (gateway/http/turns.py's encoders)."""

    end: bytes  # what ends a complete stream: DONE, or nothing when the face has no marker

    def frames(self, event: chatrpc.StreamEvent) -> bytes | None:
        """The whole SSE frames for `event`, or None when it has nothing to send."""
        ...

    def failed(self, exc: chatrpc.ChatServiceError) -> bytes:
        """The frames that report a failure after the first byte (no `end` follows them)."""
        ...


class DataEvents:
    """An EventEncoder for faces whose events are unnamed `data:` JSON ended by `[DONE]`, with
    OpenAI's error envelope as the failure event (chat completions, DB-GPT)."""

    end = DONE

    def __init__(self, encode: Callable[[chatrpc.StreamEvent], bytes | None]) -> None:
        self._encode = encode

    def frames(self, event: chatrpc.StreamEvent) -> bytes | None:
        data = self._encode(event)
        return None if data is None else frame(data)

    def failed(self, exc: chatrpc.ChatServiceError) -> bytes:
        return error_frame(exc)


def event_stream(
    head: list[chatrpc.StreamEvent],
    rest: AsyncGenerator[chatrpc.StreamEvent, None],
    encode: Callable[[chatrpc.StreamEvent], bytes | None],
    *,
    heartbeat: float = 0.0,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
) -> AsyncIterator[bytes]:
    """write_events() for an `encode` that gives each event's JSON (DataEvents frames it)."""
    return write_events(
        head, rest, DataEvents(encode), heartbeat=heartbeat, buffer_bytes=buffer_bytes
    )


async def write_events(
    head: list[chatrpc.StreamEvent],
    rest: AsyncGenerator[chatrpc.StreamEvent, None],
    encoder: EventEncoder,
    *,
    heartbeat: float = 0.0,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
) -> AsyncGenerator[bytes, None]:
    """Frames `head` and then `rest`; ends with `encoder.end` or the encoder's failure event.
    With nothing to send for `heartbeat` seconds (0: never), it sends a HEARTBEAT comment.
    A reader task takes the core's messages as they arrive; each write sends everything that
    arrived since the last one (consecutive text deltas as one event). A client that keeps up
    gets each message as soon as it comes, with no timer; a slower client gets fewer, larger
    writes instead of a backlog. What waits unsent is bounded: past `buffer_bytes` of text
    the reader stops taking messages until the writer has taken them, so a client that does
    not read holds back the core's stream (gRPC flow control) instead of growing this buffer;
    EventStreamResponse's write timeout then ends it. Closing this iterator (the client went
    away) cancels the reader and `rest`, which cancels the call.
    """
    arrived = _Arrivals(buffer_bytes)
    wake = arrived.wake
    frames = encoder.frames
    reader = asyncio.create_task(arrived.read(rest))
    quiet = _Quiet(wake, heartbeat)
    try:
        batch = b"".join(data for e in head if (data := frames(e)) is not None)
        if batch:
            yield batch
        while True:
            quiet.sent()
            if not wake.is_set():
                await wake.wait()
            if quiet.due and not arrived.events and not arrived.ended:
                wake.clear()
                yield HEARTBEAT
                continue
            wake.clear()
            events = _take(arrived.events)  # then `ended`: set only after the last event
            arrived.taken()
            batch = b"".join(data for e in events if (data := frames(e)) is not None)
            if not arrived.ended:
                if batch:
                    yield batch
                continue
            failure = arrived.failure
            if isinstance(failure, chatrpc.ChatServiceError):
                yield batch + encoder.failed(failure)
                return
            if failure is not None:
                if batch:
                    yield batch
                raise failure  # ends the response without [DONE]
            yield batch + encoder.end
            return
    finally:
        quiet.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await rest.aclose()


class _Arrivals:
    """What the reader task took from the core that the writer has not sent yet."""

    __slots__ = ("ended", "events", "failure", "limit", "room", "size", "wake")

    def __init__(self, limit: int = 0) -> None:
        self.events: deque[chatrpc.StreamEvent] = deque()
        self.wake = asyncio.Event()
        self.failure: Exception | None = None
        self.ended = False
        self.limit = limit  # bytes of text waiting before the reader pauses (0: no bound)
        self.size = 0
        self.room = asyncio.Event()

    def taken(self) -> None:
        """The writer took every waiting event: the reader may go on."""
        self.size = 0
        self.room.set()

    async def read(self, rest: AsyncGenerator[chatrpc.StreamEvent, None]) -> None:
        append, wake, limit = self.events.append, self.wake.set, self.limit
        try:
            async for event in rest:
                append(event)
                wake()
                if limit:
                    self.size += _text_bytes(event)
                    if self.size >= limit:
                        self.room.clear()
                        await self.room.wait()
        except Exception as exc:  # the writer reports it: never a stream that looks complete
            self.failure = exc
        finally:
            self.ended = True
            wake()


def _text_bytes(event: chatrpc.StreamEvent) -> int:
    """About what `event` adds to the buffer: its text's UTF-8 bytes, plus a frame's worth."""
    if isinstance(event, chatrpc.MessageDelta):
        text = event.content + event.reasoning + "".join(c.arguments for c in event.tool_calls)
        return len(text.encode("utf-8", "replace")) + 64
    return 256


class _Quiet:
    """Wakes the writer (`due`) once nothing was sent for `every` seconds (0: never).

    One timer per stream, moved on only when it fires: a written batch just notes the time
    (sent), where arming and cancelling a timeout around every wait cost each batch 5-10 µs
    (on a stream paced by the model, every token is a batch).
    """

    def __init__(self, wake: asyncio.Event, every: float) -> None:
        self._wake = wake
        self._every = every
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.due = False
        if every > 0:
            self._timer = self._loop.call_at(self._last + every, self._check)

    def sent(self) -> None:
        """A write just went out (or the writer is about to wait): the quiet starts now."""
        self.due = False
        self._last = self._loop.time()

    def _check(self) -> None:
        late = self._last + self._every
        if self._loop.time() >= late:
            self.due = True
            self._wake.set()
            late = self._loop.time() + self._every
        self._timer = self._loop.call_at(late, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _take(arrived: deque[chatrpc.StreamEvent]) -> list[chatrpc.StreamEvent]:
    """Everything that arrived, in order, with consecutive deltas of one choice that carry no
    tool call joined into one (text, reasoning and logprobs each concatenated; reasoning that
    follows text starts a new one, so their order survives)."""
    events: list[chatrpc.StreamEvent] = []
    run: list[chatrpc.MessageDelta] = []
    while arrived:
        event = arrived.popleft()
        if isinstance(event, chatrpc.MessageDelta) and not event.tool_calls:
            if run and (
                event.choice_index != run[0].choice_index or (event.reasoning and run[-1].content)
            ):
                events.append(_joined(run))
                run = []
            run.append(event)
            continue
        if run:
            events.append(_joined(run))
            run = []
        events.append(event)
    if run:
        events.append(_joined(run))
    return events


def _joined(run: list[chatrpc.MessageDelta]) -> chatrpc.MessageDelta:
    if len(run) == 1:
        return run[0]
    return chatrpc.MessageDelta(
        content="".join(d.content for d in run),
        reasoning="".join(d.reasoning for d in run),
        choice_index=run[0].choice_index,
        logprobs=tuple(t for d in run for t in d.logprobs),
    )


class EventStreamResponse(StreamingResponse):
    """A text/event-stream response that always watches for the client going away.

    Starlette relies on a failing `send` to notice a disconnect under ASGI 2.4, which never
    happens while the model is thinking; here a disconnect cancels the body iterator at
    once, which cancels the gRPC call, and the core stops generating.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        headers: dict[str, str] | None = None,
        *,
        write_timeout: float = 0.0,
    ) -> None:
        super().__init__(content, headers={**HEADERS, **(headers or {})})
        self.write_timeout = write_timeout  # seconds one write may stall (0: no limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                try:
                    await self.stream_response(_bounded(send, self.write_timeout))
                except WriteStalled:
                    # The iterator waits at a yield, not in a call: close it here, in this
                    # task, so the turn is cancelled now (not when it is collected).
                    await cast(AsyncGenerator[bytes, None], self.body_iterator).aclose()
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


class WriteStalled(Exception):
    """A write to the client did not complete within the write timeout."""


def _bounded(send: Send, timeout: float) -> Send:
    """`send`, failing with WriteStalled when one call takes longer than `timeout` seconds: a
    client that stopped reading (its socket's buffers full) is cut off, and the body iterator
    closed with it, which cancels the turn (nothing of it is stored)."""
    if timeout <= 0:
        return send

    async def bounded(message: Message) -> None:
        try:
            with anyio.fail_after(timeout):
                await send(message)
        except TimeoutError:
            logger.info("closing a stream whose client stopped reading for %.0f s", timeout)
            raise WriteStalled from None

    return bounded
