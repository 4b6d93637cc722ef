"""What one turn tells operators: its spans (validate, memory load and commit, retrieval, the
backend call with its first token) and its metrics (time to first token, inter-token latency,
queue wait, tokens, the model's queue depth, thread-store latency).

The request's fields (observability.requests) carry its arrival time, so time to first token
counts from when the RPC arrived; a pipeline run outside an RPC counts from its own start. A
turn that ends without its usage (cancelled, failed, past its deadline) after generating output
leaves an estimate of those tokens in the fields' `generated`, which the guard charges to the
key's token quota (core/server/guard.py), and in the token metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace

from core.types import ChatEvent, ReasoningDelta, TextDelta, ToolCallDelta, TurnUsage
from observability import metrics
from observability.requests import RequestFields, current
from observability.tracing import QuietTracer

FACE: Final = "grpc"  # the pipeline runs in the core, whose face is gRPC
# The pipeline's spans (validate, memory, backend): none made while no provider records them.
tracer: Final = QuietTracer("core.pipeline")
# What counts as output for TTFT and ITL (a tuple: isinstance on one is 3x faster than on a
# union, and this runs per token).
OUTPUTS: Final = (TextDelta, ToolCallDelta, ReasoningDelta)


@contextmanager
def store_operation(store: str, operation: str) -> Iterator[None]:
    """Times one thread-store operation (`store` is the store's kind)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.child(metrics.STORE_OPERATION_DURATION, store, operation).observe(
            time.perf_counter() - started
        )


def queued(seconds: float) -> None:
    """Adds `seconds` the current turn waited (for its thread's previous turn)."""
    fields = current()
    if fields is not None:
        fields.queued += seconds


async def metered(events: AsyncIterator[ChatEvent], model: str) -> AsyncGenerator[ChatEvent, None]:
    """Passes one generation's events on inside the `backend` span, observing its queue wait,
    first output (also a span event), the gaps between outputs and its tokens. The gaps are
    added to their histogram when the generation ends (metrics.Observations: per token, one
    observation each cost more than the rest of this loop)."""
    fields = current()
    started = fields.started if fields is not None else time.perf_counter()
    metrics.child(metrics.QUEUE_WAIT, FACE, model).observe(fields.queued if fields else 0.0)
    itl = metrics.Observations(metrics.INTER_TOKEN_LATENCY, FACE, model)
    depth = metrics.child(metrics.MODEL_QUEUE_DEPTH, model)
    last = 0.0
    outputs, chars, billed = 0, 0, False
    depth.inc()
    try:
        with tracer.start_as_current_span("backend", attributes={"chatrpc.model": model}) as span:
            async for event in events:
                if isinstance(event, OUTPUTS):
                    outputs += 1
                    if type(event) is TextDelta:
                        chars += len(event.text)
                    now = time.perf_counter()
                    if last:
                        itl.add(now - last)
                    else:
                        _first_output(span, model, now - started)
                        if fields is not None:
                            fields.first_output = now
                    last = now
                elif isinstance(event, TurnUsage):
                    billed = True
                    metrics.child(metrics.PROMPT_TOKENS, model).inc(event.usage.prompt_tokens)
                    metrics.child(metrics.COMPLETION_TOKENS, model).inc(
                        event.usage.completion_tokens
                    )
                yield event
    finally:
        itl.flush()
        depth.dec()
        if not billed and outputs:  # cancelled or failed after output: still generated
            _unfinished(fields, model, max(outputs, -(-chars // 4)))


def _unfinished(fields: RequestFields | None, model: str, tokens: int) -> None:
    """Counts the tokens an unfinished turn generated (estimated: a streamed output is at least
    one token, and a token about four characters) and leaves them for the key's quota."""
    metrics.child(metrics.COMPLETION_TOKENS, model).inc(tokens)
    if fields is not None:
        fields.generated += tokens


def _first_output(span: trace.Span, model: str, seconds: float) -> None:
    metrics.child(metrics.TIME_TO_FIRST_TOKEN, FACE, model).observe(seconds)
    span.add_event("first_token", {"chatrpc.ttft_ms": round(seconds * 1000, 3)})
