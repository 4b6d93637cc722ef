"""Each RPC as operators see it: its request id, its span, its metrics, its log line and its
server timings (docs/operations/observability.md).

`RpcObserver.scope(context, method)` wraps one RPC, outermost in the guard
(core.server.guard), so refused calls are seen too. At the start it takes the caller's
`x-request-id` (or makes one; the guard sends it back with the call's initial metadata), opens
the RPC's SERVER span as a child of the caller's `traceparent`, and counts the call in flight.
At the end it counts the result (method, model, status code), observes the latency, counts
refusals (validation, auth, limits, shedding), logs one INFO line (no request text) and puts
`server-timing` (queue, ttft, total), the request id and the router's trail
(x-chatrpc-upstream, x-chatrpc-attempts, x-chatrpc-fallback) in the trailing metadata, also of
a failed call. Errors raised inside become the call's status here, once (core.server.errors).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import grpc
from opentelemetry import context as otel_context, trace

from core import errors
from core.server.errors import abort_on
from observability import metrics
from observability.requests import (
    ATTEMPTS_HEADER,
    CURRENT,
    FALLBACK_HEADER,
    REQUEST_ID_HEADER,
    UPSTREAM_HEADER,
    RequestFields,
    accept_request_id,
)
from observability.timing import SERVER_TIMING, format_timing
from observability.tracing import TRACEPARENT, context_from, recording

logger = logging.getLogger("core.rpc")
tracer = trace.get_tracer("core.server")

FACE: Final = "grpc"
SERVICE: Final = "chatrpc.v1.ChatService"
STREAMING: Final = frozenset({"StreamChat"})

# Refusals before any work, by the error that refused (the first match counts): the guard's
# shedding (in flight, the model's queue), the key's quotas, the key, the request's shape.
_REFUSALS: Final[tuple[tuple[type[errors.ChatError], str], ...]] = (
    (errors.OverloadedError, "shedding"),
    (errors.ResourceExhaustedError, "limits"),
    (errors.UnauthenticatedError, "auth"),
    (errors.InvalidArgumentError, "validation"),
)


@dataclass(slots=True)
class RpcScope:
    """One RPC in progress: its request fields (id, model, thread, timings) and its text
    metadata (read once here; the guard takes the key and idempotency key from it)."""

    method: str
    fields: RequestFields
    metadata: dict[str, str] = field(default_factory=dict)
    code: grpc.StatusCode = grpc.StatusCode.OK

    def trailers(
        self, code: grpc.StatusCode, error: errors.ChatError | None
    ) -> Sequence[tuple[str, str]]:
        """Trailing metadata of the call ending with `code`; counts a refusal."""
        self.code = code
        if error is not None:
            reason = next((r for cls, r in _REFUSALS if isinstance(error, cls)), None)
            if reason is not None:
                metrics.refused(FACE, reason)
        trailers = [
            (SERVER_TIMING, format_timing(self.timings())),
            (REQUEST_ID_HEADER, self.fields.request_id),
        ]
        fields = self.fields
        if fields.attempts:  # the router's trail (core/routing), also of a failed call
            trailers.append((ATTEMPTS_HEADER, str(fields.attempts)))
            if fields.upstream:
                trailers.append((UPSTREAM_HEADER, fields.upstream))
            if fields.fallback:
                trailers.append((FALLBACK_HEADER, fields.fallback))
        return trailers

    def timings(self) -> list[tuple[str, float]]:
        fields = self.fields
        entries: list[tuple[str, float]] = []
        if self.method in ("Chat", "StreamChat"):
            entries.append(("queue", fields.queued * 1000))
            if fields.first_output is not None:
                entries.append(("ttft", fields.elapsed_ms(fields.first_output)))
        entries.append(("total", fields.elapsed_ms()))
        return entries


class RpcObserver:
    """Observes every ChatService RPC of one server."""

    def scope(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> _Observed:
        """The RPC's scope (`async with`); errors raised inside become its status
        (core.server.errors)."""
        return _Observed(context, method)


class _Observed:
    """The scope of one RPC, as a plain class: it runs on every call, and two generator-based
    context managers and a span around them cost more than what they did. With no tracer
    provider installed it makes no span: a caller's trace context is attached as it came (a
    no-op span would carry the same ids), and nothing at all when there is none."""

    __slots__ = ("_attached", "_context", "_method", "_rpc", "_span", "_token", "_use")

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> None:
        self._context = context
        self._method = method
        self._span: trace.Span | None = None
        self._use: AbstractContextManager[Any] | None = None
        self._attached: object | None = None

    async def __aenter__(self) -> RpcScope:
        metadata = self._context.invocation_metadata() or ()
        values: dict[str, str] = {}
        for key, value in metadata:
            # The first x-request-id counts; for the other keys, the last.
            if isinstance(value, str) and (key != REQUEST_ID_HEADER or key not in values):
                values[key] = value
        fields = RequestFields(accept_request_id(values.get(REQUEST_ID_HEADER)))
        self._token = CURRENT.set(fields)
        rpc = self._rpc = RpcScope(self._method, fields, values)
        metrics.child(metrics.REQUESTS_IN_FLIGHT, FACE, self._method).inc()
        if self._method in STREAMING:
            metrics.child(metrics.STREAMS_IN_FLIGHT, FACE, self._method).inc()
        if recording():
            self._span = tracer.start_span(
                f"{SERVICE}/{self._method}",
                context=context_from(metadata),
                kind=trace.SpanKind.SERVER,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": SERVICE,
                    "rpc.method": self._method,
                    "chatrpc.request_id": fields.request_id,
                },
            )
            self._use = trace.use_span(self._span, end_on_exit=True, record_exception=False)
            self._use.__enter__()
        elif TRACEPARENT in values:
            self._attached = otel_context.attach(context_from(values.items()))
        return rpc

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            if exc is None:
                self._context.set_trailing_metadata(self._rpc.trailers(grpc.StatusCode.OK, None))
            elif isinstance(exc, asyncio.CancelledError):
                self._rpc.code = grpc.StatusCode.CANCELLED
            elif isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                await abort_on(self._context, exc, self._rpc.trailers)  # raises AbortError
        except BaseException as raised:
            self._end(type(raised), raised, raised.__traceback__)
            raise
        self._end(kind, exc, tb)
        return False

    def _end(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        rpc = self._rpc
        try:
            if self._span is not None and self._use is not None:
                try:
                    _end_span(self._span, rpc.code)
                    _record(rpc)
                finally:
                    self._use.__exit__(kind, exc, tb)
            else:
                _record(rpc)
        finally:
            if self._attached is not None:
                otel_context.detach(self._attached)  # type: ignore[arg-type]
            metrics.child(metrics.REQUESTS_IN_FLIGHT, FACE, rpc.method).dec()
            if rpc.method in STREAMING:
                metrics.child(metrics.STREAMS_IN_FLIGHT, FACE, rpc.method).dec()
            CURRENT.reset(self._token)


def _end_span(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(trace.StatusCode.ERROR, code.name)


def _record(rpc: RpcScope) -> None:
    fields = rpc.fields
    seconds = time.perf_counter() - fields.started
    model = fields.model
    metrics.child(metrics.REQUESTS, FACE, rpc.method, model, rpc.code.name).inc()
    metrics.child(metrics.REQUEST_DURATION, FACE, rpc.method, model).observe(seconds)
    logger.info("%s %s %.1f ms", rpc.method, rpc.code.name, seconds * 1000)
