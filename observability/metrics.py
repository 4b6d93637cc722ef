"""The one table of Prometheus metrics, for both faces (docs/operations/observability.md lists
them: scripts/gen_docs.py writes that table from this module).

Every metric is defined once, here, in prometheus_client's process registry; a face sets the
`face` label ("http" for the gateway, "grpc" for the core). Label values are bounded: routes
are route templates (or "unmatched"), RPCs their method names, models names from the catalog
(as the core returned them), codes the HTTP status or the gRPC status name, reasons the
members of REFUSAL_REASONS. Never a request's text, key, user or thread id.

`CHATRPC_METRICS=off` (either face's settings) calls `record(False)` at start: every child
then records nothing, and nothing is kept per request. `Observations` gathers a histogram's
observations of one stream (inter-token gaps) and adds them at once.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, Final, Literal, TypeVar, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

Face = Literal["http", "grpc"]
M = TypeVar("M", bound=MetricWrapperBase)

# 1 ms to 60 s (time to first token and end-to-end latency span that range on one machine).
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

# Why a request was refused before any work: the only values of chatrpc_refusals_total's
# `reason` (issue 15's limits and shedding count theirs through `refused` too).
REFUSAL_REASONS: Final = frozenset({"validation", "auth", "limits", "shedding", "connection"})

REQUESTS: Final = Counter(
    "chatrpc_requests_total",
    "Requests answered, by face, route (HTTP route template or RPC), model and result code.",
    ("face", "route", "model", "code"),
)
REQUESTS_IN_FLIGHT: Final = Gauge(
    "chatrpc_requests_in_flight",
    "Requests being served now, by face and route.",
    ("face", "route"),
)
STREAMS_IN_FLIGHT: Final = Gauge(
    "chatrpc_streams_in_flight",
    "Streaming responses (SSE, StreamChat) open now, by face and route.",
    ("face", "route"),
)
REQUEST_DURATION: Final = Histogram(
    "chatrpc_request_duration_seconds",
    "End-to-end latency of a request, from arrival to its last byte, by face, route and model.",
    ("face", "route", "model"),
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN: Final = Histogram(
    "chatrpc_time_to_first_token_seconds",
    "From a turn's arrival to its first generated output, by face and model.",
    ("face", "model"),
    buckets=LATENCY_BUCKETS,
)
INTER_TOKEN_LATENCY: Final = Histogram(
    "chatrpc_inter_token_latency_seconds",
    "Between consecutive outputs of one turn's generation, by model (the core).",
    ("face", "model"),
    buckets=LATENCY_BUCKETS,
)
QUEUE_WAIT: Final = Histogram(
    "chatrpc_queue_wait_seconds",
    "How long a turn waited before its generation began (its thread's previous turn), by model.",
    ("face", "model"),
    buckets=LATENCY_BUCKETS,
)
PROMPT_TOKENS: Final = Counter(
    "chatrpc_prompt_tokens_total", "Prompt tokens of completed turns, by model.", ("model",)
)
COMPLETION_TOKENS: Final = Counter(
    "chatrpc_completion_tokens_total", "Completion tokens of completed turns, by model.", ("model",)
)
UPSTREAM_REQUESTS: Final = Counter(
    "chatrpc_upstream_requests_total",
    "Requests the core made to OpenAI-compatible upstreams, by model.",
    ("model",),
)
UPSTREAM_ERRORS: Final = Counter(
    "chatrpc_upstream_errors_total",
    "Upstream requests that failed, by model and kind (the error's reason, lower case).",
    ("model", "kind"),
)
REFUSALS: Final = Counter(
    "chatrpc_refusals_total",
    "Requests refused before any work, by face and reason (validation, auth, limits, shedding,"
    " connection).",
    ("face", "reason"),
)
STORE_OPERATION_DURATION: Final = Histogram(
    "chatrpc_store_operation_duration_seconds",
    "Latency of thread-store operations, by store kind and operation.",
    ("store", "operation"),
    buckets=LATENCY_BUCKETS,
)
MODEL_QUEUE_DEPTH: Final = Gauge(
    "chatrpc_model_queue_depth",
    "Turns generating on or waiting for a model's backend now (the embedded model runs one "
    "at a time: the rest wait), by model.",
    ("model",),
)

UPSTREAM_ATTEMPTS: Final = Counter(
    "chatrpc_upstream_attempts_total",
    "Attempts the core's router made at upstream deployments, by model, deployment and outcome"
    " (ok, failure, rate_limited, misconfigured, context, rejected, cancelled).",
    ("model", "deployment", "outcome"),
)
BREAKER_STATE: Final = Gauge(
    "chatrpc_breaker_state",
    "Circuit breaker of each upstream deployment: 0 closed, 1 open, 2 half-open.",
    ("model", "deployment"),
)
FAILOVER_DURATION: Final = Histogram(
    "chatrpc_failover_seconds",
    "Time a turn spent on failed attempts (and waiting for a deployment to reopen) before one"
    " answered, by model.",
    ("model",),
    buckets=LATENCY_BUCKETS,
)


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


class _Idle:
    """The child of every metric while metrics are off: it records nothing."""

    def inc(self, amount: float = 1) -> None:
        return None

    def dec(self, amount: float = 1) -> None:
        return None

    def set(self, value: float) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None


_IDLE: Final = _Idle()
_recording = True


def record(on: bool) -> None:
    """Metrics recorded (the default) or not (CHATRPC_METRICS=off); called once, at start."""
    global _recording
    _recording = on
    _CHILDREN.clear()


def recording() -> bool:
    """Whether metrics are recorded (see record)."""
    return _recording


def child(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, kept: labels() takes a lock and builds its key each call
    (measured: a tenth of the per-request cost of metrics), and label values are bounded."""
    key = (id(metric), values)
    found: M | None = _CHILDREN.get(key)
    if found is None:
        if not _recording:
            return cast(M, _IDLE)
        found = _CHILDREN[key] = metric.labels(*values)
    return found


class Observations:
    """Observations of one histogram child, counted here and added to it by flush().

    Histogram.observe takes the sum's lock and a bucket's on every call (measured: about 2
    µs, once per generated token for inter-token latency); here an observation is a bisect
    and two additions, and flush() adds each touched bucket's count once. Between flushes
    the histogram does not show them: flush at the end of the stream they belong to.
    """

    __slots__ = ("_bounds", "_child", "_counts", "_pending", "_sum")

    def __init__(self, metric: Histogram, *values: str) -> None:
        self._child = child(metric, *values)
        self._bounds: list[float] = list(getattr(self._child, "_upper_bounds", ()))
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._pending = False

    def add(self, amount: float) -> None:
        """Counts one observation (Histogram.observe's bucket: the first bound ≥ amount)."""
        if self._bounds:  # none while metrics are off
            self._counts[bisect_left(self._bounds, amount)] += 1
            self._sum += amount
            self._pending = True

    def flush(self) -> None:
        """Adds what was counted since the last flush to the histogram."""
        if not self._pending:
            return
        histogram: Any = self._child  # prometheus_client's own fields, as observe() uses them
        histogram._raise_if_not_observable()
        histogram._sum.inc(self._sum)
        for index, count in enumerate(self._counts):
            if count:
                histogram._buckets[index].inc(count)
                self._counts[index] = 0
        self._sum = 0.0
        self._pending = False


def refused(face: Face, reason: str) -> None:
    """Counts one request refused before any work; `reason` is one of REFUSAL_REASONS."""
    if reason not in REFUSAL_REASONS:
        raise ValueError(f"unknown refusal reason {reason!r}")
    child(REFUSALS, face, reason).inc()


class MetricsServer:
    """prometheus_client's HTTP exporter of the process registry, on its own port and thread."""

    def __init__(self, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
