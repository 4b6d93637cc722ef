"""A client that cancels a stream is an ordinary event: no ERROR log, no traceback, and the
tracing and request contexts are reset in the call's own task. Real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import logging

import grpc
import pytest

from chatrpc.v1 import chat_service_pb2 as pb
from tests.servers import CoreThread

STREAM = "/chatrpc.v1.ChatService/StreamChat"


async def cancel_after_first_message(target: str) -> None:
    request = pb.StreamChatRequest(
        model="scripted", messages=[pb.Message(role=pb.ROLE_USER, content="hi")]
    )
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_stream(
            STREAM,
            request_serializer=pb.StreamChatRequest.SerializeToString,
            response_deserializer=pb.StreamChatResponse.FromString,
        )(request, timeout=30)
        await call.read()  # the start event; the rest fills the flow-control window
        await asyncio.sleep(0.3)  # the server is now blocked sending
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call.read()


async def cancel_streams(target: str, rounds: int) -> None:
    for _ in range(rounds):
        await cancel_after_first_message(target)
    await asyncio.sleep(0.5)  # the client's own completions drain before its loop closes


def test_a_cancelled_stream_logs_no_error(
    core_server: CoreThread, scripted, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rounds = 3
    for _ in range(rounds):
        # Far more than the flow-control window: the server is mid-send when the client leaves.
        scripted.enqueue(["x" * 4096] * 2000)
    asyncio.run(cancel_streams(core_server.target, rounds))
    core_server.run(asyncio.sleep(0.5))  # let the server finish the cancelled calls
    gc.collect()
    core_server.run(asyncio.sleep(0.2))  # and whatever collection scheduled on its loop
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
