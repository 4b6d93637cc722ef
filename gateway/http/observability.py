"""Every HTTP request as operators see it, whatever its route (new routes need no edit here).

`observed(app, routes)` wraps the whole ASGI app (outside FastAPI's error middleware, so a 500
is covered too) in RequestObserver, which:

- takes `x-request-id` (1-128 printable ASCII characters, else a new id) and echoes it on
  every response, errors and 404s included;
- counts the request by route template, model (as the core named it) and status, observes
  its latency and, for event streams, its time to first byte; keeps the in-flight gauges;
- adds `server-timing`: for a JSON reply the core's queue and ttft and the gateway's total;
  for an event stream the time to its first event (its headers leave with it); and the core
  router's trail (x-chatrpc-upstream / -attempts / -fallback) from the core's trailers when a
  reply does not carry it already (a failed turn: its turn headers carry it otherwise);
- logs one INFO line per request (method, route template, status, time; never a body).

`CoreHooks` carries the request id and trace context to the core on every call and keeps the
core's server timings (chatrpc.CallHooks).

The request's SERVER span is FastAPI's own (its built-in OpenTelemetry support, FastAPI ≥ 0.165):
it takes the client's W3C `traceparent` or starts a trace, and its endpoint span is current
when the route calls the core. opentelemetry-instrumentation-asgi would make a second server
span per request and cost more than this whole module (measured: it decodes every header
into attributes and wraps every send).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Final

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from observability.timing import SERVER_TIMING, format_timing, timing_from
from observability.tracing import trace_headers

logger = logging.getLogger("gateway.access")

FACE: Final = "http"
UNMATCHED: Final = "unmatched"  # the route label of a path no route serves (404)
_EVENT_STREAM: Final = b"text/event-stream"
_UPSTREAM: Final = UPSTREAM_HEADER.encode()


def flat_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The app's routes, with included routers opened (FastAPI ≥ 0.16x keeps an included
    router as one entry that holds the original router)."""
    flat: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None and not hasattr(route, "path"):
            flat.extend(flat_routes(inner.routes))
        else:
            flat.append(route)
    return flat


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route that serves `scope` ("/v1/threads/{thread_id}"), never the
    raw path; a route matching the path but not the method counts as that route."""
    partial = UNMATCHED
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match is Match.PARTIAL and partial == UNMATCHED:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial


class Routes:
    """route_of over an app's routes, remembered for the paths that are their own template
    (`/v1/chat/completions`: a bounded set, the routes without parameters), so the router's
    matching is not done twice on every request to them."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = flat_routes(routes)
        self._static: dict[tuple[str, str], str] = {}

    def __call__(self, scope: Scope) -> str:
        key = (str(scope.get("method", "")), str(scope.get("path", "")))
        found = self._static.get(key)
        if found is None:
            found = route_of(self.routes, scope)
            if found == key[1] and len(self._static) < 1024:
                self._static[key] = found
        return found


class CoreHooks:
    """chatrpc.CallHooks for the gateway's client: each call to the core carries the current
    request's id and trace context; its server timings come back into the request's fields."""

    def outgoing(self, method: str) -> Sequence[tuple[str, str]]:
        fields = CURRENT.get()
        items = [(REQUEST_ID_HEADER, fields.request_id)] if fields else []
        items.extend(trace_headers().items())
        return items

    def finished(self, method: str, trailing: Mapping[str, str]) -> None:
        fields = CURRENT.get()
        if fields is not None:
            fields.timings.update(timing_from(trailing))
            attempts = trailing.get(ATTEMPTS_HEADER, "")  # the core router's trail
            if attempts.isdigit():
                fields.attempts = int(attempts)
                fields.upstream = trailing.get(UPSTREAM_HEADER, "")
                fields.fallback = trailing.get(FALLBACK_HEADER, "")


class _Exchange:
    """One request's response as it goes out: headers added, first byte and end observed."""

    def __init__(self, scope: Scope, route: str, fields: RequestFields) -> None:
        self.method = str(scope.get("method", ""))
        self.route = route
        self.fields = fields
        self.status = 500
        self.streaming = False
        self.first_byte: float | None = None
        self.ended = False

    def start(self, message: Message) -> None:
        self.status = int(message["status"])
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        self.streaming = any(
            k == b"content-type" and v.startswith(_EVENT_STREAM) for k, v in headers
        )
        headers.append((REQUEST_ID_HEADER.encode(), self.fields.request_id.encode("latin-1")))
        headers.append((SERVER_TIMING.encode(), format_timing(self.timings()).encode()))
        if self.fields.attempts and not any(k == _UPSTREAM for k, _ in headers):
            headers.extend(_trail(self.fields))  # a failed turn's, from the core's trailers
        message["headers"] = headers
        if self.streaming:
            metrics.child(metrics.STREAMS_IN_FLIGHT, FACE, self.route).inc()

    def timings(self) -> list[tuple[str, float]]:
        elapsed = self.fields.elapsed_ms()
        if self.streaming:  # the headers leave with the first event
            return [("ttft", elapsed)]
        core = self.fields.timings
        entries = [(name, core[name]) for name in ("queue", "ttft") if name in core]
        return [*entries, ("total", elapsed)]

    def body(self, message: Message) -> None:
        if self.streaming and self.first_byte is None and message.get("body"):
            self.first_byte = time.perf_counter()
            seconds = self.first_byte - self.fields.started
            metrics.child(metrics.TIME_TO_FIRST_TOKEN, FACE, self.fields.model).observe(seconds)
        if not message.get("more_body", False):
            self.end()

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.streaming:
            metrics.child(metrics.STREAMS_IN_FLIGHT, FACE, self.route).dec()
        seconds = time.perf_counter() - self.fields.started
        model = self.fields.model
        metrics.child(metrics.REQUESTS, FACE, self.route, model, str(self.status)).inc()
        metrics.child(metrics.REQUEST_DURATION, FACE, self.route, model).observe(seconds)
        logger.info("%s %s %d %.1f ms", self.method, self.route, self.status, seconds * 1000)


class RequestObserver:
    """The ASGI middleware described in the module docstring (HTTP requests only)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.route_of = Routes(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = RequestFields(accept_request_id(_request_id(scope)))
        route = self.route_of(scope)
        exchange = _Exchange(scope, route, fields)
        in_flight = metrics.child(metrics.REQUESTS_IN_FLIGHT, FACE, route)

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.start(message)
            elif message["type"] == "http.response.body":
                exchange.body(message)
            await send(message)

        token = CURRENT.set(fields)
        in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            exchange.end()  # a response cut short (the client left) still counts
            in_flight.dec()
            CURRENT.reset(token)


def _trail(fields: RequestFields) -> list[tuple[bytes, bytes]]:
    """The core router's trail as response headers (x-chatrpc-upstream, -attempts, -fallback)."""
    trail = [(ATTEMPTS_HEADER, str(fields.attempts))]
    trail += [(UPSTREAM_HEADER, fields.upstream)] if fields.upstream else []
    trail += [(FALLBACK_HEADER, fields.fallback)] if fields.fallback else []
    return [(k.encode(), v.encode("latin-1", "replace")) for k, v in trail]


def _request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            return bytes(value).decode("latin-1")
    return None


def observed(app: ASGIApp, routes: Sequence[BaseRoute]) -> ASGIApp:
    """`app` inside the RequestObserver (see the module docstring)."""
    return RequestObserver(app, routes)
