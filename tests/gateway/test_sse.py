"""event_stream(): what arrived together is written together; a stream ends with [DONE] only
when it is complete."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

import chatrpc
from gateway.app import create_app
from gateway.http.sse import DONE, HEARTBEAT, event_stream
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread

START = chatrpc.StreamStart(id="chatcmpl-x", model="m", created=1)


def encode(event: chatrpc.StreamEvent) -> bytes | None:
    if isinstance(event, chatrpc.MessageDelta):
        return event.content.encode()
    return type(event).__name__.encode()


async def events(*items: chatrpc.StreamEvent | Exception):
    for item in items:
        if isinstance(item, Exception):
            raise item
        yield item


async def written(head, rest) -> list[bytes]:
    return [piece async for piece in event_stream(head, rest, encode)]


async def test_deltas_that_arrived_together_are_one_event_and_the_stream_ends_with_done():
    rest = events(*(chatrpc.MessageDelta(t) for t in ("b", "c", "d")), chatrpc.StreamFinish(
        chatrpc.FinishReason.STOP), chatrpc.Usage(1, 4, 5))  # fmt: skip
    out = await written([START, chatrpc.MessageDelta("a")], rest)
    assert out[0] == b"data: StreamStart\n\ndata: a\n\n"
    assert out[-1] == b"data: bcd\n\ndata: StreamFinish\n\ndata: Usage\n\n" + DONE


async def test_a_service_error_is_one_error_event_and_no_done():
    rest = events(chatrpc.MessageDelta("b"), chatrpc.UnavailableError("gone"))
    out = b"".join(await written([START], rest))
    *_, last = out.rstrip(b"\n").split(b"\n\n")
    assert last.startswith(b'data: {"error":{"message":') and b"data: b\n\n" in out
    assert DONE not in out


async def test_an_unexpected_error_ends_the_response_without_done():
    received: list[bytes] = []

    async def drain() -> None:
        rest = events(chatrpc.MessageDelta("b"), RuntimeError("bug"))
        async for piece in event_stream([START], rest, encode):
            received.append(piece)

    with pytest.raises(RuntimeError, match="bug"):
        await drain()
    assert received and DONE not in b"".join(received)


async def test_a_quiet_stream_gets_heartbeat_comments_until_the_next_event():
    async def slow():
        await asyncio.sleep(0.35)
        yield chatrpc.MessageDelta("b")

    out = [piece async for piece in event_stream([START], slow(), encode, heartbeat=0.1)]
    assert out[0] == b"data: StreamStart\n\n"
    assert 2 <= out.count(HEARTBEAT) <= 4 and out[-1] == b"data: b\n\n" + DONE


def test_the_openai_sdk_ignores_heartbeats(core_server: CoreThread, scripted) -> None:
    settings = Settings(core_target=core_server.target, auth="disabled", sse_heartbeat=0.05)
    server = GatewayThread(create_app(settings))
    scripted.enqueue(["a", "b", "c"], delay=0.3)
    scripted.enqueue(["a", "b", "c"], delay=0.3)
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        raw = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=10).content
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
            chunks = list(client.chat.completions.create(**body))
    finally:
        server.stop()
    assert raw.count(HEARTBEAT) >= 4 and raw.endswith(DONE)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
