"""ChatServicer: each RPC is convert → pipeline → convert."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.aggregate import fold
from core.pipeline import ChatPipeline
from core.server import convert
from core.server.errors import status_on_error


class ChatServicer(pb_grpc.ChatServiceServicer):
    """chatrpc.v1.ChatService over a ChatPipeline."""

    def __init__(self, pipeline: ChatPipeline) -> None:
        self._pipeline = pipeline

    async def Chat(
        self,
        request: pb.ChatRequest,
        context: grpc.aio.ServicerContext[pb.ChatRequest, pb.ChatResponse],
    ) -> pb.ChatResponse:
        async with status_on_error(context):
            turn = convert.request_to_turn(request)
            return convert.reply_to_pb(await fold(self._pipeline.run(turn)))
        raise AssertionError("unreachable: status_on_error aborts")

    async def StreamChat(
        self,
        request: pb.StreamChatRequest,
        context: grpc.aio.ServicerContext[pb.StreamChatRequest, pb.StreamChatResponse],
    ) -> AsyncIterator[pb.StreamChatResponse]:
        async with status_on_error(context):
            turn = convert.request_to_turn(request)
            async for event in self._pipeline.run(turn):
                yield convert.event_to_pb(event)

    async def ListModels(
        self,
        request: pb.ListModelsRequest,
        context: grpc.aio.ServicerContext[pb.ListModelsRequest, pb.ListModelsResponse],
    ) -> pb.ListModelsResponse:
        catalog = self._pipeline.catalog
        models = [convert.model_to_pb(spec, catalog.is_ready(spec.name)) for spec in catalog]
        return pb.ListModelsResponse(models=models)
