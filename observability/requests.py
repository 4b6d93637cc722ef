"""The request a log line, a span or a stored turn belongs to: its id and what is known of it.

A face opens a RequestFields for each request (HTTP request or RPC) in a context variable; code
that learns the model or thread sets them there, and every log record reads them
(observability.logs). Request ids are the client's `x-request-id` when it is acceptable
(1-128 printable ASCII characters, no spaces), or a new random one.
"""

from __future__ import annotations

import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final

REQUEST_ID_HEADER: Final = "x-request-id"  # HTTP header and gRPC metadata key
MAX_REQUEST_ID: Final = 128
# The core router's trail: HTTP headers and gRPC trailing metadata of the same names.
UPSTREAM_HEADER: Final = "x-chatrpc-upstream"  # the deployment that answered
ATTEMPTS_HEADER: Final = "x-chatrpc-attempts"  # upstream attempts made
FALLBACK_HEADER: Final = "x-chatrpc-fallback"  # the fallback model that answered
TRAIL_HEADERS: Final = (UPSTREAM_HEADER, ATTEMPTS_HEADER, FALLBACK_HEADER)
_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_REQUEST_ID}}}")


def new_request_id() -> str:
    """32 hex digits (128 random bits)."""
    return secrets.token_hex(16)


def accept_request_id(presented: str | None) -> str:
    """The client's request id if it is 1-128 printable ASCII characters without spaces,
    else a new one (an unusable id is replaced, never refused: it is only a label)."""
    if presented and _REQUEST_ID.fullmatch(presented):
        return presented
    return new_request_id()


@dataclass(slots=True)
class RequestFields:
    """What the logs say about the current request, and where its time went.

    `started` and `first_output` are time.perf_counter() readings (arrival, first generated
    output), `queued` the seconds it waited before generation; `timings` are the
    server-timing entries (name → milliseconds) the next hop reported for it. `upstream`,
    `attempts` and `fallback` are the core router's trail (core/routing).
    """

    request_id: str
    model: str = ""
    thread_id: str = ""
    started: float = field(default_factory=time.perf_counter)
    queued: float = 0.0
    first_output: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    upstream: str = ""  # the deployment that answered (never its URL)
    attempts: int = 0  # upstream attempts the router made
    fallback: str = ""  # the fallback model that answered, when one did
    generated: int = 0  # tokens an unfinished turn generated (estimated), still to be charged

    def elapsed_ms(self, until: float | None = None) -> float:
        """Milliseconds from arrival to `until` (default: now)."""
        return ((until if until is not None else time.perf_counter()) - self.started) * 1000


CURRENT: Final[ContextVar[RequestFields | None]] = ContextVar("chatrpc_request", default=None)


def current() -> RequestFields | None:
    """The request being served in this context, if any."""
    return CURRENT.get()


def note(*, model: str = "", thread_id: str = "") -> None:
    """Records the model and thread of the current request once they are known."""
    fields = CURRENT.get()
    if fields is None:
        return
    if model:
        fields.model = model
    if thread_id:
        fields.thread_id = thread_id
