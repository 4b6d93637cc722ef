"""Shedding before queueing: the handler a ChatService call gets when the server is full.

Measured with bench/shedding.py (1 000 streams at once over a limit of 64): every refusal
through the guard's full path (the observer's span, request id and log line, the status built
per call, the request read and decoded) cost the core about 0.5 ms of CPU, and since the
refusals of a burst are served one after another by the one event loop, the last waited for
all the others (p99 0.7-3.5 s). The guard (core.server.guard) now checks the in-flight count
when grpc looks the method up, and a full server answers with the handler here: the request
is never read (a client-streaming handler shape, which the wire does not distinguish), the
status — RESOURCE_EXHAUSTED, ErrorInfo OVERLOADED, RetryInfo with the retry delay — is built
once, and the refusal is counted in the metrics, without a span or a log line per call (a
flood would otherwise be logged a line per call). The guard's own check stays, for the calls
looked up just before the server filled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import grpc

from core.errors import OverloadedError
from core.server.errors import error_to_status
from observability import metrics

FACE: Final = "grpc"
OVERLOADED_MESSAGE: Final = "The server is at capacity; retry shortly."


def overloaded(retry_after: float) -> OverloadedError:
    """The error of a call refused because the server has its in-flight limit of calls."""
    return OverloadedError(OVERLOADED_MESSAGE, retry_after=retry_after, limit="server_in_flight")


class Shedder:
    """Prebuilt refusals, one handler per ChatService method (unary or streaming)."""

    def __init__(self, retry_after: float) -> None:
        status = error_to_status(overloaded(retry_after))
        self._code: grpc.StatusCode = status.code
        self._details: str = status.details
        self._trailers = tuple(status.trailing_metadata)
        self._handlers: dict[tuple[str, bool], grpc.RpcMethodHandler[Any, Any]] = {}

    def handler(self, method: str, streaming: bool) -> grpc.RpcMethodHandler[Any, Any]:
        """The refusing handler for `method` (made once, then reused)."""
        key = (method, streaming)
        found = self._handlers.get(key)
        if found is None:
            refuse = self._refusal(method)
            found = self._handlers[key] = (
                grpc.stream_stream_rpc_method_handler(refuse)
                if streaming
                else grpc.stream_unary_rpc_method_handler(refuse)
            )
        return found

    def _refusal(self, method: str) -> Any:
        requests_counter = metrics.child(
            metrics.REQUESTS, FACE, method, "", grpc.StatusCode.RESOURCE_EXHAUSTED.name
        )

        async def refuse(requests: AsyncIterator[bytes], context: Any) -> None:
            metrics.refused(FACE, "shedding")
            requests_counter.inc()
            await context.abort(self._code, self._details, self._trailers)

        return refuse
