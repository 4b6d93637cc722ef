"""A minimal OpenAI-compatible upstream: `python -m bench.mock_upstream --port P --tokens N`.

Raw ASGI under uvicorn, every byte it can precompute precomputed, so that it costs the proxy
in front of it (LiteLLM) as little CPU as possible. `POST /v1/chat/completions` answers the
fixed reply of `bench.synthetic.reply_tokens(N)`: whole, or streamed one SSE chunk per token,
then the finish chunk, the usage chunk (when `stream_options.include_usage`) and `[DONE]`.
`GET /v1/models` lists `bench-model`. The `/v1` prefix is optional.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bench.synthetic import BENCH_MODEL, DEFAULT_TOKENS, expected_text, reply_tokens

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_DONE = b"data: [DONE]\n\n"


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class MockUpstream:
    """The ASGI app; `tokens` fixes the reply length."""

    def __init__(self, tokens: int = DEFAULT_TOKENS) -> None:
        self.tokens = tokens
        self._created = int(time.time())
        base = {"id": "chatcmpl-bench", "created": self._created, "model": BENCH_MODEL}
        self._chunk_base = {**base, "object": "chat.completion.chunk"}
        self._reply_base = {**base, "object": "chat.completion"}

        def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**self._chunk_base, "choices": [choice]})

        self._stream_head = [chunk({"role": "assistant", "content": ""})]
        self._stream_head += [chunk({"content": piece}) for piece in reply_tokens(tokens)]
        self._stream_head.append(chunk({}, "stop"))
        self._models = json.dumps(
            {
                "object": "list",
                "data": [{"id": BENCH_MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].removeprefix("/v1")
        if path == "/chat/completions" and scope["method"] == "POST":
            await self._chat(await _read_body(receive), send)
        elif path == "/models" and scope["method"] == "GET":
            await _respond(send, 200, _JSON_HEADERS, self._models)
        else:
            await _respond(send, 404, _JSON_HEADERS, b'{"error":{"message":"not found"}}')

    async def _chat(self, body: bytes, send: Send) -> None:
        try:
            request = json.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            await _respond(send, 400, _JSON_HEADERS, b'{"error":{"message":"bad request"}}')
            return
        prompt_tokens = sum(4 + len(str(m.get("content") or "").split()) for m in messages)
        usage = _usage(prompt_tokens, self.tokens)
        if not request.get("stream"):
            message = {"role": "assistant", "content": expected_text(self.tokens)}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            reply = {**self._reply_base, "choices": [choice], "usage": usage}
            await _respond(send, 200, _JSON_HEADERS, json.dumps(reply).encode())
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        for chunk in self._stream_head:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if (request.get("stream_options") or {}).get("include_usage"):
            tail = _sse({**self._chunk_base, "choices": [], "usage": usage}) + _DONE
        else:
            tail = _DONE
        await send({"type": "http.response.body", "body": tail, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def server_config(app: MockUpstream, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, access_log=False, log_level="warning", lifespan="off"
    )


@asynccontextmanager
async def running_upstream(tokens: int = DEFAULT_TOKENS) -> AsyncIterator[str]:
    """Serves a MockUpstream on 127.0.0.1:0 in this event loop; yields its `.../v1` base URL."""
    server = uvicorn.Server(server_config(MockUpstream(tokens), "127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the mock upstream stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A mock OpenAI-compatible upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    args = parser.parse_args(argv)
    uvicorn.Server(server_config(MockUpstream(args.tokens), args.host, args.port)).run()


if __name__ == "__main__":
    main()
