"""The Embed RPC over a real grpc.aio server on 127.0.0.1:0, called through generated stubs."""

from __future__ import annotations

import math

import grpc
import pytest

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.auth import KeyRing, digest
from tests.conftest import EMBEDDED, EMBEDDED_DIMENSIONS, SCRIPTED
from tests.core.server.test_servicer import error_info
from tests.servers import CoreThread

KEY = "sk-embed-caller-0123456789"


@pytest.fixture
async def stub(core_server: CoreThread):
    async with grpc.aio.insecure_channel(core_server.target) as channel:
        yield pb_grpc.ChatServiceStub(channel)


@pytest.mark.model
async def test_embed_returns_one_unit_vector_of_the_models_dimension_per_input(stub):
    request = pb.EmbedRequest(model=EMBEDDED, inputs=["green tea", "black tea", "a bicycle"])
    response = await stub.Embed(request)
    assert response.model == EMBEDDED
    assert [e.index for e in response.embeddings] == [0, 1, 2]
    for embedding in response.embeddings:
        assert len(embedding.values) == EMBEDDED_DIMENSIONS
        assert abs(math.sqrt(sum(v * v for v in embedding.values)) - 1) < 1e-5
    usage = response.usage
    assert usage.prompt_tokens >= 6 and usage.completion_tokens == 0
    assert usage.total_tokens == usage.prompt_tokens


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.EmbedRequest(model=EMBEDDED), "inputs"),
        (pb.EmbedRequest(model=EMBEDDED, inputs=["ok", ""]), "inputs[1]"),
        (pb.EmbedRequest(model=EMBEDDED, inputs=["x"] * 2049), "inputs"),
        (pb.EmbedRequest(model=EMBEDDED, inputs=["ok"], dimensions=64), "dimensions"),
        (pb.EmbedRequest(model=SCRIPTED, inputs=["ok"]), "model"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_the_field(stub, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(caught.value)
    assert info.reason == "INVALID_ARGUMENT" and info.metadata["field"] == field


async def test_an_unknown_model_is_not_found(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(pb.EmbedRequest(model="nope", inputs=["x"]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_key_is_checked_before_the_request(catalog):
    core = CoreThread(catalog, keys=KeyRing({"alice": digest(KEY)}))
    try:
        async with grpc.aio.insecure_channel(core.target) as channel:
            stub = pb_grpc.ChatServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Embed(pb.EmbedRequest(inputs=[""]))  # invalid, and no key
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Embed(
                    pb.EmbedRequest(inputs=[""]), metadata=(("authorization", f"Bearer {KEY}"),)
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        core.stop()
