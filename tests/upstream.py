"""FakeUpstream: a scriptable OpenAI-compatible `/v1/chat/completions` on 127.0.0.1:0.

A raw ASGI app (so a test controls every byte, down to dropping the connection) under a real
uvicorn on its own thread, like tests/servers.py's GatewayThread. It records every request it
receives (path, headers, JSON body) and, in the "endless" mode, when the client went away.

Modes (`Scenario.mode`):

    normal       role chunk, `Scenario.chunks`, usage chunk (if asked and scripted), [DONE]
    status       `Scenario.status` with `Scenario.body` and `Scenario.headers`, no stream
    garbage      one good chunk, then a `data:` line that is not JSON
    error_event  two chunks, then `data: {"error": …}` (vLLM's mid-stream error shape)
    drop         two chunks, then the connection is cut mid-body
    no_done      two text chunks, then a clean end of body: no finish, no [DONE]
    endless      a text chunk every `Scenario.interval` seconds until the client disconnects
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CANARY = "sk-canary-123"
INTERNAL_URL = "http://10.1.2.3:8001/internal/admin?token=abc"
MODEL = "upstream-model"


def text_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk whose delta is `text`."""
    return _chunk({"content": text}, finish)


def tool_chunk(
    index: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
) -> dict[str, Any]:
    """A chunk carrying one native tool-call delta (id and name only when given)."""
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        call.update(id=id, type="function")
    if name is not None:
        call["function"]["name"] = name
    return _chunk({"tool_calls": [call]})


def finish_chunk(reason: str) -> dict[str, Any]:
    return _chunk({}, reason)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [choice],
    }


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


DEFAULT_CHUNKS = (text_chunk("Hello"), text_chunk(", world"), finish_chunk("stop"))
DEFAULT_USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
ERROR_BODY = {
    "error": {
        "message": f"invalid key {CANARY} while calling {INTERNAL_URL} in /srv/app/secret.py",
        "type": "invalid_request_error",
        "code": "leak_" + CANARY,
    }
}


@dataclass
class Scenario:
    """What the next requests get."""

    mode: str = "normal"
    chunks: tuple[dict[str, Any], ...] = DEFAULT_CHUNKS
    usage: dict[str, int] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: dict(ERROR_BODY))
    interval: float = 0.01


@dataclass(frozen=True)
class Recorded:
    """One request as the upstream received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Dropped(Exception):
    """Raised inside the app to make uvicorn cut the connection mid-body."""


class FakeUpstream:
    """The fake upstream server; `url` is its base URL (ending in /v1)."""

    def __init__(self) -> None:
        self.scenario = Scenario()
        self.requests: list[Recorded] = []
        self.disconnects: list[float] = []  # time.monotonic() when a streaming client left
        self.disconnected = threading.Event()
        config = uvicorn.Config(
            self, host="127.0.0.1", port=0, log_config=None, log_level="critical", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"

    def reset(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.requests.clear()
        self.disconnects.clear()
        self.disconnected.clear()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("latin-1")
        self.requests.append(Recorded(scope["method"], scope["path"], headers, body))
        scenario = self.scenario
        if scenario.mode == "status":
            await self._respond(send, scenario.status, json.dumps(scenario.body).encode(), scenario)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        include_usage = isinstance(body, dict) and body.get("stream_options", {}).get(
            "include_usage"
        )
        await self._stream(scenario, receive, send, bool(include_usage))

    async def _stream(self, scenario: Scenario, receive: Receive, send: Send, usage: bool) -> None:
        async def write(*payloads: dict[str, Any] | str, more: bool = True) -> None:
            body = b"".join(_sse(p) for p in payloads)
            await send({"type": "http.response.body", "body": body, "more_body": more})

        role = _chunk({"role": "assistant", "content": ""})
        mode = scenario.mode
        if mode == "normal":
            tail = [_usage_chunk(scenario.usage)] if usage and scenario.usage else []
            await write(role, *scenario.chunks, *tail, "[DONE]", more=False)
        elif mode == "garbage":
            await write(role, text_chunk("Hel"), '{"id": "chatcmpl-fake", "choices": [', more=False)
        elif mode == "error_event":
            error = {"error": ERROR_BODY["error"] | {"type": "server_error"}}
            await write(role, text_chunk("Hel"), text_chunk("lo"), error, more=False)
        elif mode == "drop":
            await write(role, text_chunk("Hel"), text_chunk("lo"))
            raise Dropped("cut the connection mid-body")
        elif mode == "no_done":
            await write(role, text_chunk("Hel"), text_chunk("lo"), more=False)
        elif mode == "endless":
            await self._endless(scenario, receive, write)
        else:
            raise ValueError(f"unknown mode {mode!r}")

    async def _endless(
        self, scenario: Scenario, receive: Receive, write: Callable[..., Awaitable[None]]
    ) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnects.append(time.monotonic())
            self.disconnected.set()
            gone.set()

        watcher = asyncio.create_task(watch())
        await write(_chunk({"role": "assistant", "content": ""}))
        while not gone.is_set():
            await write(text_chunk("tick "))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), scenario.interval)
        await watcher

    async def _respond(self, send: Send, status: int, body: bytes, scenario: Scenario) -> None:
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in scenario.headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _usage_chunk(usage: dict[str, int]) -> dict[str, Any]:
    chunk = _chunk({})
    chunk["choices"] = []
    chunk["usage"] = usage
    return chunk
