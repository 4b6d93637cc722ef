"""Connection hygiene under uvicorn: read deadlines, head limits and a connection cap.

uvicorn bounds none of this itself (uvicorn issue #157): its keep-alive timer starts only
after a first response and is reset by any byte, so a socket that sends nothing, or headers
or a body at 1 byte/s, is held forever, before any route (or the API-key check) runs. And
uvicorn's header limit (`h11_max_incomplete_event_size`) is h11's, applies only while a head
is still incomplete, and does nothing under httptools. `guarded_protocol(limits)` is
uvicorn's httptools protocol with these bounds added:

    what                                          answer
    no byte for `idle_timeout` (new or kept-alive) connection closed
    head not complete `header_timeout` after its   408, closed
      first byte
    body not complete `body_timeout` after the     408 (or closed, once a response started)
      head
    head larger than `max_header_bytes`, or more   431, closed
      than `max_headers` fields (however written)
    more than `max_connections` open, or than      503 with retry-after, closed at once
      `max_connections_per_client` from one address
    malformed head (bare LF, CR or NUL in a       400, closed (llhttp is strict; h11 is
      value, obs-fold, LF-only lines)               lenient, so only httptools is offered)

Refusals carry OpenAI's error envelope. The cap refuses the connection before reading a
byte, unlike uvicorn's `limit_concurrency`, which counts the same connections but answers
only once a whole head has arrived (and also counts requests in flight, which the core
bounds itself).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, ClassVar

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.http.errors import envelope
from gateway.settings import ConnectionLimits, Settings
from observability import metrics

LINGER = 2.0  # seconds a refused connection stays half-open for the client to read the answer


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


def refusal(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> bytes:
    """A complete `connection: close` response carrying OpenAI's error envelope."""
    type_ = "service_unavailable_error" if status == 503 else "invalid_request_error"
    body = orjson.dumps(envelope(message, type_, None, code))
    lines = [
        STATUS_LINE[status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        *(f"{name}: {value}\r\n".encode("latin-1") for name, value in (headers or {}).items()),
        b"\r\n",
    ]
    return b"".join(lines) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol held to `limits` (set by `guarded_protocol`); the idle
    timeout is uvicorn's `timeout_keep_alive`, which `uvicorn_options` sets from them."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    per_client: ClassVar[Counter[str]] = Counter()  # open connections by client address

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._awaiting_head = True  # between requests, or inside a head
        self._head_bytes = 0  # raw bytes received while awaiting a head
        self._head_size = 0  # the parsed head: request line and fields
        self._head_fields = 0
        self._deadline: asyncio.TimerHandle | None = None  # the head's or the body's
        self._refusal: bytes | None = None
        self._refused = False
        self._peer = ""

    # uvicorn's own signature, narrower than asyncio.Protocol's (it overrides with the same).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer = self.client[0] if self.client else ""
        self.per_client[self._peer] += 1
        limits = self.limits
        per_client = limits.max_connections_per_client
        if len(self.connections) > limits.max_connections or (
            per_client and self.per_client[self._peer] > per_client
        ):
            message = "The server has too many open connections; retry shortly."
            self._refuse(
                refusal(503, message, "too_many_connections", {"retry-after": "1"}), "shedding"
            )
            return
        # uvicorn arms its keep-alive timer only after a response: a silent new connection
        # would otherwise be held forever.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._uncount()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # answered and closing: what still comes is read and dropped
            return
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._deadline is None:
                self._arm(self.limits.header_timeout, self._head_timed_out)
        super().data_received(data)
        # A head still incomplete has not reached the field callbacks: bound its raw bytes.
        if self._awaiting_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(self._head_too_large(), "connection")

    def send_400_response(self, msg: str) -> None:
        """Every parse failure: a refusal chosen by a callback, else 400 (enveloped)."""
        self._refuse(
            self._refusal or refusal(400, "Invalid HTTP request.", "invalid_http"), "connection"
        )

    # --- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size, self._head_fields = 0, 0

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        self._grow_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head, self._head_bytes = False, 0
        self._disarm()
        super().on_headers_complete()
        self._arm(self.limits.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._awaiting_head = True
        super().on_message_complete()

    # --- refusals -----------------------------------------------------------------------

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        limits = self.limits
        if self._head_size > limits.max_header_bytes or self._head_fields > limits.max_headers:
            self._refusal = self._head_too_large()
            raise _HeadTooLarge

    def _head_too_large(self) -> bytes:
        limits = self.limits
        message = (
            f"The request head is larger than {limits.max_header_bytes} bytes or has more "
            f"than {limits.max_headers} header fields."
        )
        return refusal(431, message, "request_header_fields_too_large")

    def _head_timed_out(self) -> None:
        message = f"The request head did not arrive within {self.limits.header_timeout:g} s."
        self._refuse(refusal(408, message, "request_timeout"), "connection")

    def _body_timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()
            return
        cycle.disconnected = True  # the app now reads a disconnect and its reply is dropped
        cycle.message_event.set()
        message = f"The request body did not arrive within {self.limits.body_timeout:g} s."
        self._refuse(refusal(408, message, "request_timeout"), "connection")

    def _refuse(self, response: bytes, reason: str) -> None:
        """Sends `response` and closes: our side at once, the socket once the client has
        closed (or after LINGER s), so what it sent meanwhile does not reset the connection
        before it reads the answer. Counted as a refusal for `reason`."""
        self._disarm()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        metrics.refused("http", reason)
        self._uncount()  # a refused connection lingering does not take a slot
        self.transport.write(response)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    def _uncount(self) -> None:
        """Takes this connection out of the counts the caps look at (once)."""
        if self not in self.connections:
            return
        self.connections.discard(self)
        self.per_client[self._peer] -= 1
        if not self.per_client[self._peer]:
            del self.per_client[self._peer]

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to pass as uvicorn's `http=`: httptools held to `limits`."""
    attributes = {"limits": limits, "per_client": Counter()}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attributes)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config arguments for the gateway: the guarded protocol, timeouts and HTTPS."""
    options: dict[str, Any] = {
        "http": guarded_protocol(settings.connections),
        "timeout_keep_alive": settings.connections.idle_timeout,
        "timeout_graceful_shutdown": int(settings.graceful_shutdown_seconds),
        # X-Forwarded-For is read by the app itself, from CHATRPC_GATEWAY_TRUSTED_PROXIES
        # (gateway.app.GatewayApp), not by uvicorn from its loopback default.
        "proxy_headers": False,
    }
    if settings.ssl_certfile:
        options |= {"ssl_certfile": settings.ssl_certfile, "ssl_keyfile": settings.ssl_keyfile}
    return options
