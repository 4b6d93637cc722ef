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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import grpc
from opentelemetry import trace

from core import errors
from core.server.errors import status_on_error
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
from observability.tracing import context_from

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
    """One RPC in progress: its request fields (id, model, thread, timings)."""

    method: str
    fields: RequestFields
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

    @asynccontextmanager
    async def scope(
        self, context: grpc.aio.ServicerContext[Any, Any], method: str
    ) -> AsyncIterator[RpcScope]:
        """The RPC's scope; errors raised inside become its status (core.server.errors)."""
        metadata = context.invocation_metadata()
        presented = next((v for k, v in metadata or () if k == REQUEST_ID_HEADER), None)
        fields = RequestFields(accept_request_id(presented if isinstance(presented, str) else None))
        token = CURRENT.set(fields)
        rpc = RpcScope(method, fields)
        in_flight = metrics.child(metrics.REQUESTS_IN_FLIGHT, FACE, method)
        streams = (
            metrics.child(metrics.STREAMS_IN_FLIGHT, FACE, method) if method in STREAMING else None
        )
        in_flight.inc()
        if streams is not None:
            streams.inc()
        span = tracer.start_span(
            f"{SERVICE}/{method}",
            context=context_from(metadata),
            kind=trace.SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": SERVICE,
                "rpc.method": method,
                "chatrpc.request_id": fields.request_id,
            },
        )
        try:
            with trace.use_span(span, end_on_exit=True, record_exception=False):
                try:
                    async with status_on_error(context, rpc.trailers):
                        yield rpc
                        context.set_trailing_metadata(rpc.trailers(grpc.StatusCode.OK, None))
                except asyncio.CancelledError:
                    rpc.code = grpc.StatusCode.CANCELLED
                    raise
                finally:
                    _end_span(span, rpc.code)
                    _record(rpc)
        finally:
            in_flight.dec()
            if streams is not None:
                streams.dec()
            CURRENT.reset(token)


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
