"""A mock OpenAI-compatible upstream: `python -m bench.mock_upstream --port P [--api-key K]`.

It behaves like a hosted upstream where that matters to a client in front of it:

- every request needs `Authorization: Bearer <key>` (`--api-key`, else `BENCH_UPSTREAM_KEY`);
  a wrong or missing key is a 401 with OpenAI's error body (`invalid_api_key`);
- `POST /v1/chat/completions` answers the fixed reply of `bench.reply` (64 tokens by
  default): a `chat.completion`, or with `stream: true` an SSE stream in OpenAI's shape (a
  role chunk, one `chat.completion.chunk` per token, a chunk with `finish_reason`, a usage
  chunk with `choices: []` when `stream_options.include_usage` is set, then `data: [DONE]`),
  over HTTP/1.1 chunked transfer encoding with keep-alive; `max_tokens` (or
  `max_completion_tokens`) cuts the reply with `finish_reason: "length"`; an unknown model is a
  404 `model_not_found`;
- `bench-model` is instant (the whole stream in one write), `bench-model-paced` emits one token
  per tick of a global 10 ms grid (`--pace-ms`), i.e. 100 tokens/s per stream, and
  `bench-model-split` is instant but writes each SSE event on its own turn of the event loop
  (as a server that awaits each send does: the load generator's worst case);
- `GET /v1/models` lists them. The `/v1` prefix is optional.

It is a raw asyncio protocol (uvloop when installed) with every constant byte precomputed, so
that it costs the CPU it shares with the load generator as little as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench.reply import (
    BENCH_MODEL,
    DEFAULT_PACE,
    DEFAULT_TOKENS,
    PACED_MODEL,
    SPLIT_MODEL,
    count_prompt_tokens,
    no_delay,
    reply_tokens,
    use_uvloop,
)

try:  # the bench's own dependencies (bench/requirements.txt); plain json works, slower
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - exercised only without the bench's requirements
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


API_KEY_ENV = "BENCH_UPSTREAM_KEY"
MODELS = (BENCH_MODEL, PACED_MODEL, SPLIT_MODEL)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Too Large"}
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"x-accel-buffering: no\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"


def _http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _sse(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


def _error(status: int, message: str, kind: str, code: str | None) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, _dumps(body)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class Reply:
    """The precomputed bytes of the fixed reply of `tokens` tokens."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        created = int(time.time())
        base = {"id": "chatcmpl-bench", "created": created, "model": BENCH_MODEL}
        self.chunk_base = {**base, "object": "chat.completion.chunk", "system_fingerprint": None}
        self.reply_base = {**base, "object": "chat.completion", "system_fingerprint": None}
        self.pieces = reply_tokens(tokens)
        self.role = _http_chunk(self._chunk({"role": "assistant", "content": ""}))
        self.content = [_http_chunk(self._chunk({"content": p})) for p in self.pieces]
        self.finish = {
            reason: _http_chunk(self._chunk({}, reason)) for reason in ("stop", "length")
        }
        self.done = _http_chunk(b"data: [DONE]\n\n") + _LAST_CHUNK
        self.whole = _SSE_HEAD + self.role + b"".join(self.content) + self.finish["stop"]
        self._tails: dict[tuple[int, int, bool], bytes] = {}
        self._unary: dict[tuple[int, int], bytes] = {}

    def _chunk(self, delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**self.chunk_base, "choices": [choice]})

    def tail(self, prompt: int, completion: int, include_usage: bool) -> bytes:
        """The usage chunk (if asked for), `[DONE]` and the last HTTP chunk."""
        key = (prompt, completion, include_usage)
        tail = self._tails.get(key)
        if tail is None:
            usage = b""
            if include_usage:
                chunk = {**self.chunk_base, "choices": [], "usage": _usage(prompt, completion)}
                usage = _http_chunk(_sse(chunk))
            tail = self._tails[key] = usage + self.done
        return tail

    def unary(self, prompt: int, completion: int) -> bytes:
        key = (prompt, completion)
        body = self._unary.get(key)
        if body is None:
            finish = "stop" if completion == self.tokens else "length"
            message = {"role": "assistant", "content": "".join(self.pieces[:completion])}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            reply = {**self.reply_base, "choices": [choice], "usage": _usage(prompt, completion)}
            body = self._unary[key] = _dumps(reply)
        return body


class _PacedStream:
    __slots__ = ("conn", "finish", "first", "limit", "sent", "tail")

    def __init__(self, conn: _Connection, first: int, limit: int, tail: bytes, finish: bytes):
        self.conn, self.first, self.sent, self.limit = conn, first, 0, limit
        self.tail, self.finish = tail, finish


class MockUpstream:
    """The server's state: the reply, the key, and the paced streams under way."""

    def __init__(
        self, tokens: int = DEFAULT_TOKENS, api_key: str = "bench", pace: float = DEFAULT_PACE
    ) -> None:
        self.reply = Reply(tokens)
        self.authorization = f"Bearer {api_key}".encode()
        self.pace = pace
        self._streams: list[_PacedStream] = []
        self._timer: asyncio.TimerHandle | None = None
        self._epoch: float | None = None
        models = [{"id": m, "object": "model", "created": 0, "owned_by": "bench"} for m in MODELS]
        self._models = _dumps({"object": "list", "data": models})

    def protocol(self) -> _Connection:
        return _Connection(self)

    # --- requests -------------------------------------------------------------------------

    def handle(self, conn: _Connection, method: bytes, path: bytes, auth: bytes, body: bytes):
        """Answers one request on `conn` (a paced stream is finished later by the ticker)."""
        if path.startswith(b"/v1/"):
            path = path[3:]
        path = path.split(b"?", 1)[0]
        if auth != self.authorization:
            message = "Incorrect API key provided."
            conn.respond(*_error(401, message, "invalid_request_error", "invalid_api_key"))
        elif path == b"/chat/completions" and method == b"POST":
            self._chat(conn, body)
        elif path == b"/models" and method == b"GET":
            conn.respond(200, self._models)
        else:
            conn.respond(*_error(404, "Not found.", "invalid_request_error", None))

    def _chat(self, conn: _Connection, body: bytes) -> None:
        try:
            request = _loads(body)
            model, messages = request["model"], request["messages"]
            if not isinstance(messages, list) or not messages:
                raise TypeError("messages")
        except (ValueError, KeyError, TypeError):
            message = "Invalid request: 'model' and a non-empty 'messages' are required."
            conn.respond(*_error(400, message, "invalid_request_error", None))
            return
        if model not in MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            conn.respond(*_error(404, message, "invalid_request_error", "model_not_found"))
            return
        reply = self.reply
        prompt = count_prompt_tokens(messages)
        limit = request.get("max_completion_tokens") or request.get("max_tokens") or reply.tokens
        completion = max(1, min(int(limit), reply.tokens))
        if not request.get("stream"):
            conn.respond(200, reply.unary(prompt, completion))
            return
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        tail = reply.tail(prompt, completion, include_usage)
        finish = reply.finish["stop" if completion == reply.tokens else "length"]
        if model == PACED_MODEL:
            conn.busy = True
            conn.transport_write(_SSE_HEAD)
            self._start_paced(_PacedStream(conn, self._tick_index() + 1, completion, tail, finish))
        elif model == SPLIT_MODEL:
            conn.busy = True
            parts = [_SSE_HEAD + reply.role, *reply.content[:completion], finish + tail]
            asyncio.get_running_loop().call_soon(self._write_split, conn, parts, 0)
        elif completion == reply.tokens:
            conn.transport_write(reply.whole + tail)
            conn.finished()
        else:
            content = b"".join(reply.content[:completion])
            conn.transport_write(_SSE_HEAD + reply.role + content + finish + tail)
            conn.finished()

    def _write_split(self, conn: _Connection, parts: list[bytes], index: int) -> None:
        if conn.closed:
            return
        conn.transport_write(parts[index])
        if index + 1 < len(parts):
            asyncio.get_running_loop().call_soon(self._write_split, conn, parts, index + 1)
        else:
            conn.finished()

    # --- the paced streams: one timer per tick for all of them -----------------------------

    def _tick_index(self) -> int:
        now = asyncio.get_running_loop().time()
        if self._epoch is None:
            self._epoch = now
        return int((now - self._epoch) / self.pace + 0.01)

    def _start_paced(self, stream: _PacedStream) -> None:
        self._streams.append(stream)
        if self._timer is None:
            self._schedule(stream.first)

    def _schedule(self, tick: int) -> None:
        assert self._epoch is not None
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self._epoch + tick * self.pace, self._tick, tick)

    def _tick(self, tick: int) -> None:
        self._timer = None
        tick = max(tick, self._tick_index())
        content, role = self.reply.content, self.reply.role
        alive = []
        for stream in self._streams:
            conn = stream.conn
            if conn.closed:
                continue
            due = min(stream.limit, tick - stream.first + 1)
            if due <= stream.sent:
                alive.append(stream)
                continue
            parts = [role] if stream.sent == 0 else []
            parts += content[stream.sent : due]
            stream.sent = due
            if due == stream.limit:
                parts += (stream.finish, stream.tail)
                conn.transport_write(b"".join(parts))
                conn.finished()
            else:
                conn.transport_write(b"".join(parts))
                alive.append(stream)
        self._streams = alive
        if alive:
            self._schedule(tick + 1)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: requests one after another (keep-alive), no pipelining needed."""

    def __init__(self, app: MockUpstream) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False  # a paced stream is being written
        self.closed = False
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        no_delay(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.busy and not self.closed and self.buffer:
            request = self._parse()
            if request is None:
                return
            self.app.handle(self, *request)

    def _parse(self) -> tuple[bytes, bytes, bytes, bytes] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                self._fail(413)
            return None
        lines = buffer[:end].split(b"\r\n")
        try:
            method, path, _version = lines[0].split(b" ", 2)
        except ValueError:
            self._fail(400)
            return None
        length, chunked, auth = 0, False, b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"authorization":
                auth = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self.close_after = value.lower() == b"close"
        start = end + 4
        if chunked:
            decoded = _dechunk(buffer, start)
            if decoded is None:
                return None
            body, rest = decoded
        else:
            if length > _MAX_BODY:
                self._fail(413)
                return None
            if len(buffer) - start < length:
                return None
            body, rest = buffer[start : start + length], start + length
        self.buffer = buffer[rest:]
        return method, path, auth, body

    def _fail(self, status: int) -> None:
        self.close_after = True
        self.respond(*_error(status, "Bad request.", "invalid_request_error", None))

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def respond(self, status: int, body: bytes) -> None:
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
            % (
                status,
                _REASONS.get(status, "Error").encode(),
                len(body),
                b"connection: close\r\n" if self.close_after else b"",
            )
        )
        self.transport_write(head + body)
        self.finished()

    def finished(self) -> None:
        """The response is written: close if asked, else serve the next request."""
        self.busy = False
        if self.close_after and self.transport is not None:
            self.transport.close()
            self.closed = True
            return
        if self.buffer:
            self._serve()


def _dechunk(buffer: bytes, pos: int) -> tuple[bytes, int] | None:
    """A chunked request body starting at `pos`: (body, end) or None while incomplete."""
    parts = []
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buffer[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            end = buffer.find(b"\r\n\r\n", pos - 2)
            return (b"".join(parts), end + 4) if end >= 0 else None
        if len(buffer) < pos + size + 2:
            return None
        parts.append(buffer[pos : pos + size])
        pos += size + 2


async def serve(host: str, port: int, app: MockUpstream) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(app.protocol, host, port, backlog=4096, reuse_address=True)


@contextlib.asynccontextmanager
async def running_upstream(
    tokens: int = DEFAULT_TOKENS, api_key: str = "bench", pace: float = DEFAULT_PACE
) -> AsyncIterator[str]:
    """Serves a MockUpstream on 127.0.0.1:0 in this event loop; yields its `.../v1` base URL."""
    server = await serve("127.0.0.1", 0, MockUpstream(tokens, api_key, pace))
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


async def _main(args: argparse.Namespace) -> None:
    key = args.api_key or os.environ.get(API_KEY_ENV) or "bench"
    server = await serve(args.host, args.port, MockUpstream(args.tokens, key, args.pace_ms / 1e3))
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A mock OpenAI-compatible upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="reply length")
    parser.add_argument("--api-key", default="", help=f"default: ${API_KEY_ENV}, else 'bench'")
    parser.add_argument("--pace-ms", type=float, default=DEFAULT_PACE * 1e3)
    parser.add_argument("--loop", choices=("auto", "asyncio"), default="auto")
    args = parser.parse_args(argv)
    if args.loop == "auto":
        use_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
