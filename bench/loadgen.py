"""The load generator: `python -m bench.loadgen --url URL --mode unary|stream -c C --duration S`.

Runs in its own process (the runner pins it to its own CPU), drives C concurrent keep-alive
HTTP/1.1 connections, checks every response complete and writes one JSON object to stdout.
It is built to cost little per SSE chunk, so that it is not what limits a fast server: raw
asyncio protocols (uvloop when installed), its own chunked-transfer decoder, an SSE splitter
on bytes, and one `orjson.loads` per event (plain `json` without the bench's requirements).

A warm-up (one short request per connection, `max_tokens` 2, not counted) opens the connections
first; with `--handshake` it then prints "warm" and waits for a line on stdin, so that the
runner can read the servers' CPU counters. Each worker then sends requests one after another
until `--duration` seconds have passed (or `-n` requests were sent); the requests under way
then finish. Wall time runs from the start to the last response.

Complete means, with `--expect fixed` (the default): HTTP 200; non-stream, the content equals
the fixed reply, `finish_reason` is "stop" and `usage.completion_tokens` is N; stream, the
content deltas concatenate to the reply, a chunk carried `finish_reason` "stop", the usage
chunk says N completion tokens and `data: [DONE]` arrived. With `--expect any` (a real model)
any non-empty content with a finish reason and usage is complete, and every request's timing
and token count is listed in `samples`.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import hashlib
import json
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.reply import (
    BENCH_MODEL,
    DEFAULT_TOKENS,
    expected_text,
    no_delay,
    reply_tokens,
    use_uvloop,
)

try:
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
    JSON_LIBRARY = "orjson"
except ImportError:  # pragma: no cover - exercised only without the bench's requirements
    loads = json.loads
    JSON_LIBRARY = "json"

PROMPT = "Say something."
WARMUP_TOKENS = 2
_MAX_HEAD = 64 * 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def request_bytes(
    host: str,
    path: str,
    api_key: str,
    model: str,
    stream: bool,
    max_tokens: int | None = None,
    prompt: str = PROMPT,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """One POST of the chat route, head and body, ready to write."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
    }
    if stream:
        payload["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    payload.update(extra or {})
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {api_key}\r\n"
        f"content-type: application/json\r\naccept: */*\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Reply:
    """What one response turned out to be."""

    __slots__ = ("complete", "events", "last", "latency", "text", "tokens", "ttfc", "why")

    def __init__(self) -> None:
        self.complete = False
        self.why = ""
        self.latency = 0.0
        self.ttfc: float | None = None
        self.last: float | None = None  # time of the last content chunk
        self.events = 0
        self.tokens: int | None = None  # usage.completion_tokens
        self.text = ""


class Window:
    """Counts the reply's tokens delivered between `start` and `end`, whichever stream they
    belong to and however they are packed into events: the steady delivery rate, free of the
    whole-stream rounding that complete streams ÷ wall time has when streams are long."""

    def __init__(self, expected: str | None, tokens: int) -> None:
        self.ends = _running_lengths(reply_tokens(tokens)) if expected is not None else []
        self.start, self.end = math.inf, -math.inf
        self.tokens = 0


def _running_lengths(pieces: list[str]) -> list[int]:
    total, out = 0, []
    for piece in pieces:
        total += len(piece)
        out.append(total)
    return out


class Connection(asyncio.Protocol):
    """One keep-alive connection with one request at a time; parses the response as it comes."""

    def __init__(
        self, stream: bool, tokens: int, expected: str | None, window: Window | None = None
    ) -> None:
        self.stream, self.tokens, self.expected = stream, tokens, expected
        self.window = window if window is not None and window.ends else None
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0
        self.waiter: asyncio.Future[Reply] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        self.head_done = False
        self.buf = b""  # the head, then undecoded chunked body bytes
        self.status = 0
        self.framing = ""  # "chunked", "length" or "close"
        self.remaining = 0  # body bytes still to come ("length")
        self.need = 0  # chunked: payload+CRLF bytes still to come; 0: a size line; -1: trailer
        self.body: list[bytes] = []
        self.sse = b""
        self.parts: list[str] = []
        self.text_len = 0
        self.covered = 0  # tokens of the reply the content so far covers
        self.finish: str | None = None
        self.usage: int | None = None
        self.done = False
        self.events = 0
        self.ttfc: float | None = None
        self.last: float | None = None
        self.close_after = False
        self.received = 0

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        no_delay(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head_done and self.framing == "close":
            self._finish(time.perf_counter())
            return
        self._cancel_timer()
        if self.received == 0 and self.used > 1:
            waiter.set_exception(StaleConnection())
        else:
            waiter.set_exception(ConnectionResetError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.received += len(data)
        if self.waiter is None or self.waiter.done():
            return
        if not self.head_done:
            data = self._head(data)
            if not self.head_done:
                return
        if self.framing == "chunked":
            self._chunked(data, now)
        elif self.framing == "length":
            self.remaining -= len(data)
            self._payload(data, now)
            if self.remaining <= 0:
                self._finish(now)
        else:
            self._payload(data, now)

    # --- one request -------------------------------------------------------------------------

    def send(self, request: bytes, timeout: float) -> asyncio.Future[Reply]:
        assert self.transport is not None
        self._reset()
        self.used += 1
        self.start = time.perf_counter()
        self.waiter = self.loop.create_future()
        self._timer = self.loop.call_later(timeout, self._time_out)
        self.transport.write(request)
        return self.waiter

    def _time_out(self) -> None:
        self._timer = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError("no complete response in time"))
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            if len(buf) > _MAX_HEAD:
                self._fail_protocol("response head too large")
            return b""
        lines = buf[:end].split(b"\r\n")
        try:
            self.status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._fail_protocol(f"bad status line {lines[0][:80]!r}")
            return b""
        framing, length = "close", 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                framing = "chunked"
            elif name == b"content-length" and framing != "chunked":
                framing, length = "length", int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                self.close_after = True
        self.head_done, self.framing, self.remaining = True, framing, length
        self.buf = b""
        rest = buf[end + 4 :]
        if framing == "length" and length == 0:
            self._finish(time.perf_counter())
        return rest

    def _fail_protocol(self, why: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self._cancel_timer()
            self.waiter.set_exception(ProtocolError(why))
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def _chunked(self, data: bytes, now: float) -> None:
        buf = self.buf + data if self.buf else data
        pos, size, need, out = 0, len(buf), self.need, []
        ended = False
        while pos < size:
            if need > 0:
                left = size - pos
                if left >= need:
                    if need > 2:
                        out.append(buf[pos : pos + need - 2])
                    pos += need
                    need = 0
                else:
                    if need - 2 > 0:
                        out.append(buf[pos : pos + min(left, need - 2)])
                    need -= left
                    pos = size
            elif need == 0:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                try:
                    length = int(buf[pos:eol].split(b";", 1)[0], 16)
                except ValueError:
                    self._fail_protocol(f"bad chunk size {buf[pos:eol][:40]!r}")
                    return
                pos = eol + 2
                need = length + 2 if length else -1
            else:  # the trailer section ends with an empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                if eol == pos:
                    pos, ended = pos + 2, True
                    break
                pos = eol + 2
        self.need = need
        self.buf = buf[pos:] if pos < size and not ended else b""
        if out:
            self._payload(out[0] if len(out) == 1 else b"".join(out), now)
        if ended:
            self._finish(now)

    def _payload(self, data: bytes, now: float) -> None:
        if not self.stream or self.status != 200:
            self.body.append(data)
            return
        sse = self.sse + data if self.sse else data
        if b"\r" in sse:
            sse = sse.replace(b"\r\n", b"\n")
        events = sse.split(b"\n\n")
        self.sse = events.pop()
        for event in events:
            if event[:6] == b"data: " and b"\n" not in event:
                data = event[6:]
            else:
                lines = [ln[5:].lstrip(b" ") for ln in event.split(b"\n") if ln[:5] == b"data:"]
                if not lines:
                    continue  # a comment (": ping") or an event without data
                data = b"\n".join(lines)
            if data == b"[DONE]":
                self.done = True
                continue
            self.events += 1
            chunk = loads(data)
            choices = chunk.get("choices")
            if choices:
                choice = choices[0]
                delta = choice.get("delta")
                if delta:
                    text = delta.get("content")
                    if text:
                        if self.ttfc is None:
                            self.ttfc = now - self.start
                        self.last = now - self.start
                        self.parts.append(text)
                        if self.window is not None:
                            self._count(len(text), now)
                reason = choice.get("finish_reason")
                if reason:
                    self.finish = reason
            usage = chunk.get("usage")
            if usage:
                self.usage = usage.get("completion_tokens")
            elif "error" in chunk:
                self.finish = f"error event: {str(chunk['error'])[:120]}"

    def _count(self, size: int, now: float) -> None:
        window = self.window
        assert window is not None
        self.text_len += size
        covered = bisect.bisect_right(window.ends, self.text_len)
        if window.start <= now <= window.end:
            window.tokens += covered - self.covered
        self.covered = covered

    def _finish(self, now: float) -> None:
        self._cancel_timer()
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        reply = Reply()
        reply.latency = now - self.start
        try:
            if self.status != 200:
                body = b"".join(self.body)[:200].decode(errors="replace")
                reply.why = f"HTTP {self.status}: {body}"
            elif self.stream:
                self._judge_stream(reply)
            else:
                self._judge_unary(reply, b"".join(self.body))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            reply.why = f"unreadable response: {type(exc).__name__}: {exc}"[:200]
        if self.close_after and self.transport is not None:
            self.transport.close()
            self.closed = True
        waiter.set_result(reply)

    def _judge_stream(self, reply: Reply) -> None:
        text = "".join(self.parts)
        reply.ttfc, reply.last, reply.events = self.ttfc, self.last, self.events
        reply.tokens, reply.text = self.usage, text
        if self.expected is None:
            wrong = "" if text else "no content"
        elif text != self.expected:
            wrong = f"content {len(text)}/{len(self.expected)} chars"
        else:
            wrong = ""
        missing = [
            what
            for what, ok in (
                ("[DONE]", self.done),
                ("finish_reason", self.finish == "stop" or (self.expected is None and self.finish)),
                ("usage", self.usage == self.tokens or (self.expected is None and self.usage)),
            )
            if not ok
        ]
        if wrong or missing:
            reply.why = "; ".join(filter(None, [wrong, *("no " + m for m in missing)]))
            if self.finish and self.finish.startswith("error event"):
                reply.why += f" ({self.finish})"
        else:
            reply.complete = True

    def _judge_unary(self, reply: Reply, body: bytes) -> None:
        answer = loads(body)
        choice = answer["choices"][0]
        text = choice["message"]["content"] or ""
        usage = (answer.get("usage") or {}).get("completion_tokens")
        reply.events, reply.tokens, reply.text = 1, usage, text
        if self.expected is None:
            ok = bool(text) and bool(choice.get("finish_reason")) and bool(usage)
        else:
            ok = text == self.expected and choice.get("finish_reason") == "stop"
            ok = ok and usage == self.tokens
        reply.complete = ok
        if not ok:
            reply.why = (
                f"content {len(text)} chars, finish {choice.get('finish_reason')}, usage {usage}"
            )


class StaleConnection(Exception):
    """The server had closed a kept-alive connection before this request: retried."""


class ProtocolError(Exception):
    pass


class Level:
    """One level's requests and tallies."""

    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        host = f"{self.host}:{self.port}"
        stream = args.mode == "stream"
        self.stream, self.tokens, self.timeout = stream, args.tokens, args.timeout
        self.expected = expected_text(args.tokens) if args.expect == "fixed" else None
        extra = json.loads(args.extra) if args.extra else None
        self.request = request_bytes(
            host, url.path, args.api_key, args.model, stream, args.max_tokens, args.prompt, extra
        )
        self.warmup = request_bytes(
            host, url.path, args.api_key, args.model, stream, WARMUP_TOKENS, args.prompt, extra
        )
        self.sent = self.complete = self.incomplete = self.errors = self.retried = 0
        self.events = 0
        self.why: Counter[str] = Counter()
        self.samples_of_errors: list[str] = []
        self.latencies: list[float] = []
        self.ttfcs: list[float] = []
        self.samples: list[dict[str, Any]] = []
        self.keep_samples = args.expect == "any"
        self.window = Window(self.expected, self.tokens)

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: Connection(self.stream, self.tokens, self.expected, self.window),
            self.host,
            self.port,
        )
        return conn

    def record(self, reply: Reply) -> None:
        self.events += reply.events
        if reply.complete:
            self.complete += 1
            self.latencies.append(reply.latency)
            if reply.ttfc is not None:
                self.ttfcs.append(reply.ttfc)
        else:
            self.incomplete += 1
            self._note(reply.why)
        if self.keep_samples:
            self.samples.append(
                {
                    "complete": reply.complete,
                    "latency_s": round(reply.latency, 6),
                    "ttfc_s": None if reply.ttfc is None else round(reply.ttfc, 6),
                    "last_content_s": None if reply.last is None else round(reply.last, 6),
                    "completion_tokens": reply.tokens,
                    "text_sha1": hashlib.sha1(reply.text.encode()).hexdigest(),
                    "text_head": reply.text[:120],
                }
            )

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        self._note(f"{type(exc).__name__}: {exc}")

    def _note(self, why: str) -> None:
        key = why.split(":", 1)[0][:60] if why.startswith("HTTP") else why[:60]
        self.why[key] += 1
        if len(self.samples_of_errors) < 5:
            self.samples_of_errors.append(why[:300])


async def _one(level: Level, conn: Connection | None, request: bytes) -> tuple[Connection, Reply]:
    """Sends on `conn` (a new connection if None or closed); retries once on a stale one."""
    for attempt in (1, 2):
        if conn is None or conn.closed:
            conn = await level.connect()
        try:
            return conn, await conn.send(request, level.timeout)
        except StaleConnection:
            conn = None
            if attempt == 2:
                raise
            level.retried += 1
    raise AssertionError("unreachable")


async def run_level(args: argparse.Namespace) -> dict[str, Any]:
    level = Level(args)
    conns: list[Connection | None] = [None] * args.concurrency

    async def warm(i: int) -> None:
        try:
            conns[i], _ = await _one(level, None, level.warmup)
        except Exception:  # a warm-up failure shows again in the measured requests
            conns[i] = None

    await asyncio.gather(*(warm(i) for i in range(args.concurrency)))
    if args.handshake:
        sys.stdout.write("warm\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.readline)

    budget = args.requests if args.requests > 0 else math.inf
    gc.collect()
    gc.disable()
    cpu0, start = _cpu(), time.perf_counter()
    deadline = start + args.duration
    level.window.start, level.window.end = start, deadline

    async def worker(i: int) -> None:
        conn = conns[i]
        while level.sent < budget and time.perf_counter() < deadline:
            level.sent += 1
            try:
                conn, reply = await _one(level, conn, level.request)
            except (OSError, TimeoutError, ProtocolError, StaleConnection) as exc:
                level.error(exc)
                conn = None
                continue
            level.record(reply)
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu0
    gc.enable()
    return _outcome(level, args, elapsed, cpu)


def _stats(values: list[float]) -> dict[str, float | None]:
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)

    return {
        "p50_ms": ms(percentile(values, 0.5)),
        "p90_ms": ms(percentile(values, 0.9)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values)) if values else None,
        "mean_ms": ms(sum(values) / len(values)) if values else None,
    }


def _outcome(level: Level, args: argparse.Namespace, elapsed: float, cpu: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mode": args.mode,
        "concurrency": args.concurrency,
        "model": args.model,
        "tokens": args.tokens,
        "sent": level.sent,
        "complete": level.complete,
        "incomplete": level.incomplete,
        "errors": level.errors,
        "stale_connections_retried": level.retried,
        "why": dict(level.why),
        "error_samples": level.samples_of_errors,
        "events": level.events,
        "window_s": args.duration,
        "window_chunks": level.window.tokens,
        "elapsed_s": round(elapsed, 4),
        "client_cpu_s": round(cpu, 4),
        "latency": _stats(level.latencies),
        "ttfc": _stats(level.ttfcs),
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "json": JSON_LIBRARY,
    }
    if level.keep_samples:
        out["samples"] = level.samples
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="One load level against one HTTP chat route.")
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT/v1/chat/completions")
    p.add_argument("--mode", choices=("unary", "stream"), required=True)
    p.add_argument("-c", "--concurrency", type=int, required=True)
    p.add_argument("--duration", type=float, default=5.0, help="seconds of new requests")
    p.add_argument("-n", "--requests", type=int, default=0, help="at most this many (0: no cap)")
    p.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="the reply's length")
    p.add_argument("--model", default=BENCH_MODEL)
    p.add_argument("--api-key", default="bench")
    p.add_argument("--max-tokens", type=int, default=None, help="sent as max_tokens")
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--extra", default="", help="JSON object merged into the request body")
    p.add_argument("--expect", choices=("fixed", "any"), default="fixed")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--loop", choices=("auto", "asyncio"), default="auto")
    p.add_argument(
        "--handshake",
        action="store_true",
        help='after the warm-up, print "warm" and wait for a line on stdin before measuring',
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.loop == "auto":
        use_uvloop()
    outcome = asyncio.run(run_level(args))
    sys.stdout.write(json.dumps(outcome) + "\n")


if __name__ == "__main__":
    main()
