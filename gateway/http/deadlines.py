"""The deadline of a call to the core, from the client's own timeout when it sends one.

    header                        applies to         the call's deadline
    x-request-timeout: <seconds>  every request      that many seconds (documented; a bad
                                                     value is 400)
    x-stainless-read-timeout      non-streamed ones  the openai SDK's read timeout: it gives
                                                     up after that long without a byte, and a
                                                     non-streamed reply sends none before the
                                                     end (a stream's first byte resets it)

Either is capped by the server's maximum (Settings.call_timeout); the core caps again and
stops generating at the deadline (504, the turn not stored).
"""

from __future__ import annotations

import math

from starlette.datastructures import Headers

from gateway.http.errors import RequestError

REQUEST_TIMEOUT = "x-request-timeout"
SDK_READ_TIMEOUT = "x-stainless-read-timeout"


def call_deadlines(headers: Headers, maximum: float) -> tuple[float, float]:
    """Seconds a call to the core may take for a request with `headers`: (its non-streamed
    reply's, its streamed reply's)."""
    deadline = maximum
    sent = headers.get(REQUEST_TIMEOUT)
    if sent is not None:
        seconds = _seconds(sent)
        if seconds is None:
            raise RequestError(
                f"{REQUEST_TIMEOUT} must be a positive number of seconds.",
                param=REQUEST_TIMEOUT,
            )
        deadline = min(deadline, seconds)
    sdk = headers.get(SDK_READ_TIMEOUT)
    if sdk is None:
        return deadline, deadline
    return min(deadline, _seconds(sdk) or maximum), deadline  # the SDK's: unusable is unsent


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 and math.isfinite(seconds) else None
