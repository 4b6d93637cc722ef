"""A full server refuses a call before reading it: RESOURCE_EXHAUSTED, ErrorInfo OVERLOADED
and a RetryInfo delay, for unary and streaming methods alike, whatever the request's bytes
(core.server.shedding). Real server on 127.0.0.1 with an in-flight limit of 0."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from core.settings import Settings
from tests.servers import CoreThread

GARBAGE = b"\xff\xff\xff\xff not a protobuf message"


@pytest.fixture
def full_core(catalog) -> Iterator[CoreThread]:
    core = CoreThread(catalog, settings=Settings(max_concurrent_rpcs=0, overload_retry_after=3.0))
    yield core
    core.stop()


def details(error: grpc.RpcError) -> tuple[str, float]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    reason, delay = "", -1.0
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.ToTimedelta().total_seconds()
    return reason, delay


@pytest.mark.parametrize("method", ["Chat", "StreamChat", "ListModels", "Embed"])
def test_a_full_server_refuses_unread_garbage_as_overloaded(full_core, method: str) -> None:
    with grpc.insecure_channel(full_core.target) as channel:
        path = f"/chatrpc.v1.ChatService/{method}"
        stream = method == "StreamChat"
        call = channel.unary_stream(path) if stream else channel.unary_unary(path)
        with pytest.raises(grpc.RpcError) as caught:
            list(call(GARBAGE, timeout=10)) if stream else call(GARBAGE, timeout=10)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # not INVALID_ARGUMENT: unread
    assert details(error) == ("OVERLOADED", 3.0)
