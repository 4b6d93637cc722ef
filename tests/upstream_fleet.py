"""A fleet of fake OpenAI-compatible upstreams on 127.0.0.1, each switchable per test.

Each `Member` is a FleetUpstream (tests/upstream.py's FakeUpstream plus the failures that
happen before a first token) behind a `TcpFront`: a byte-for-byte TCP forwarder whose
listening port, the member's URL, stays the same while it is switched to refusing
connections and back. `Member.set(state)` switches it:

    healthy       answers (the FakeUpstream's "normal" scenario)
    429           429 with `Retry-After: <retry_after>`
    500 / 503     that status (503 with `Retry-After` when `retry_after` is given)
    refused       connections refused (the front stops listening)
    reset         response headers, then the connection cut before any chunk
    silent        no first byte: nothing is sent until the client leaves
    stall         role chunk and `stall_after` text chunks, then nothing until the client leaves
    context       400 context_length_exceeded, OpenAI's envelope
    400           400 invalid_request_error (a bad request: not retried)
    401           401 invalid_api_key

Every request is recorded (`requests`, with `arrivals`: time.monotonic() of each).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.servers import LoopThread
from tests.upstream import (
    Dropped,
    FakeUpstream,
    Message,
    Receive,
    Recorded,
    Scenario,
    Send,
    _chunk,
    _sse,
    text_chunk,
)

KEY = "sk-fleet-upstream-0001"
MODEL = "fleet-model"
_SSE = [(b"content-type", b"text/event-stream")]


class FleetUpstream(FakeUpstream):
    """FakeUpstream plus the modes "reset", "silent" and "stall", and arrival times."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []
        self.stall_after = 1

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            self.arrivals.append(time.monotonic())
        await super().__call__(scope, receive, send)

    async def _answer(
        self, record: Recorded, body: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        mode = self.scenario.mode
        if mode not in ("reset", "silent", "stall"):
            await super()._answer(record, body, receive, send)
            return
        record.status = 200
        if mode == "silent":
            await _until_gone(receive)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        if mode == "reset":
            raise Dropped("cut before the first chunk")
        chunks = [_chunk({"role": "assistant", "content": ""})]
        chunks += [text_chunk("tick ")] * self.stall_after
        for chunk in chunks:
            data = _sse(chunk | {"model": body["model"]})
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await _until_gone(receive)


async def _until_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class TcpFront:
    """Forwards 127.0.0.1:`port` to `target_port`; `refuse()` stops listening (connections
    are then refused) and closes the open ones, `accept()` listens again on the same port."""

    def __init__(self, target_port: int, loop: LoopThread) -> None:
        self._target = target_port
        self._loop = loop
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.accept()

    def accept(self) -> None:
        if self._server is None:
            self._server = self._loop.run(self._listen())

    def refuse(self) -> None:
        if self._server is not None:
            self._loop.run(self._close(self._server))
            self._server = None

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self, server: asyncio.Server) -> None:
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}
            for w in (writer, up_writer):
                w.transport.abort() if w.transport.is_closing() else w.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


class Member:
    """One upstream of the fleet: `name` (its deployment's), `url` (stable), `upstream`."""

    def __init__(self, name: str, loop: LoopThread) -> None:
        self.name = name
        self.upstream = FleetUpstream(keys={KEY}, models={MODEL: None})
        port = int(self.upstream.url.rsplit(":", 1)[1].split("/")[0])
        self.front = TcpFront(port, loop)
        self.url = f"http://127.0.0.1:{self.front.port}/v1"

    @property
    def requests(self) -> list[Recorded]:
        return self.upstream.chat_requests

    @property
    def arrivals(self) -> list[float]:
        return self.upstream.arrivals

    def set(self, state: str, *, retry_after: str | None = None, stall_after: int = 1) -> None:
        """Switches the member (see the module docstring); its log is kept."""
        self.front.accept()
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        error = {"message": "scripted", "type": "server_error", "param": None, "code": None}
        context = {"type": "invalid_request_error", "code": "context_length_exceeded"}
        scenarios = {
            "healthy": Scenario(),
            "429": Scenario(mode="status", status=429, headers=headers, body={"error": error}),
            "500": Scenario(mode="status", status=500, body={"error": error}),
            "400": Scenario(
                mode="status", status=400, body={"error": error | {"type": "invalid_request_error"}}
            ),
            "503": Scenario(mode="status", status=503, headers=headers, body={"error": error}),
            "reset": Scenario(mode="reset"),
            "silent": Scenario(mode="silent"),
            "stall": Scenario(mode="stall"),
            "context": Scenario(
                mode="status",
                status=400,
                body={"error": error | context},
            ),
            "401": Scenario(
                mode="status",
                status=401,
                body={"error": {**error, "code": "invalid_api_key"}},
            ),
            "refused": Scenario(),
        }
        self.upstream.scenario = scenarios[state]
        self.upstream.stall_after = stall_after
        if state == "refused":
            self.front.refuse()

    def stop(self) -> None:
        self.front.refuse()
        self.upstream.stop()


class Fleet:
    """`count` members named "a", "b", "c", … on one loop thread for their fronts."""

    def __init__(self, count: int = 3) -> None:
        self._loop = LoopThread()
        self.members = [Member(chr(ord("a") + i), self._loop) for i in range(count)]

    def __getitem__(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def counts(self) -> dict[str, int]:
        return {m.name: len(m.requests) for m in self.members}

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        self._loop.close()


@contextmanager
def fleet(count: int = 3) -> Iterator[Fleet]:
    running = Fleet(count)
    try:
        yield running
    finally:
        running.stop()


def catalog_toml(
    members: list[Member], *, model: str = "chat", tables: str = "", entry: str = ""
) -> str:
    """A catalog entry `model` over `members` (one deployment each, named as the member),
    with `entry` lines in the model's table and `tables` (TOML) after it."""
    lines = [
        f'[models."{model}"]',
        'backend = "openai_compat"',
        "context_window = 32768",
        entry,
        f'[models."{model}".options]',
        f'upstream_model = "{MODEL}"',
        f'api_key = "{KEY}"',
        tables,
    ]
    for member in members:
        lines += [
            f'[[models."{model}".deployments]]',
            f'name = "{member.name}"',
            f'base_url = "{member.url}"',
        ]
    return "\n".join(lines) + "\n"
