"""ChatServicer: each RPC is convert → pipeline → convert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.aggregate import fold
from core.auth import KeyRing
from core.errors import UnimplementedError
from core.knowledge.base import KnowledgeStore
from core.memory.base import MemoryStore
from core.pipeline import ChatPipeline
from core.server import convert
from core.server.errors import status_on_error
from core.types import Caller
from core.validation import check_thread_id

DEFAULT_PAGE_SIZE = 20


class ChatServicer(pb_grpc.ChatServiceServicer):
    """chatrpc.v1.ChatService over a ChatPipeline."""

    def __init__(self, pipeline: ChatPipeline, keys: KeyRing) -> None:
        self._pipeline = pipeline
        self._keys = keys

    async def Chat(
        self,
        request: pb.ChatRequest,
        context: grpc.aio.ServicerContext[pb.ChatRequest, pb.ChatResponse],
    ) -> pb.ChatResponse:
        async with status_on_error(context):
            caller = self._caller(context)
            turn = convert.request_to_turn(request)
            return convert.reply_to_pb(await fold(self._pipeline.run(turn, caller)))
        raise AssertionError("unreachable: status_on_error aborts")

    async def StreamChat(
        self,
        request: pb.StreamChatRequest,
        context: grpc.aio.ServicerContext[pb.StreamChatRequest, pb.StreamChatResponse],
    ) -> AsyncIterator[pb.StreamChatResponse]:
        async with status_on_error(context):
            caller = self._caller(context)
            turn = convert.request_to_turn(request)
            async for event in self._pipeline.run(turn, caller):
                yield convert.event_to_pb(event)

    async def ListModels(
        self,
        request: pb.ListModelsRequest,
        context: grpc.aio.ServicerContext[pb.ListModelsRequest, pb.ListModelsResponse],
    ) -> pb.ListModelsResponse:
        async with status_on_error(context):
            self._caller(context)
        catalog = self._pipeline.catalog
        models = [convert.model_to_pb(spec, catalog.is_ready(spec.name)) for spec in catalog]
        return pb.ListModelsResponse(models=models)

    async def GetThread(
        self,
        request: pb.GetThreadRequest,
        context: grpc.aio.ServicerContext[pb.GetThreadRequest, pb.GetThreadResponse],
    ) -> pb.GetThreadResponse:
        async with status_on_error(context):
            caller = self._caller(context)
            thread = await self._threads().get_thread(
                caller.owner, check_thread_id(request.thread_id)
            )
            return pb.GetThreadResponse(thread=convert.thread_to_pb(thread))
        raise AssertionError("unreachable: status_on_error aborts")

    async def ListThreads(
        self,
        request: pb.ListThreadsRequest,
        context: grpc.aio.ServicerContext[pb.ListThreadsRequest, pb.ListThreadsResponse],
    ) -> pb.ListThreadsResponse:
        async with status_on_error(context):
            caller = self._caller(context)
            size = request.page_size or DEFAULT_PAGE_SIZE
            page = await self._threads().list_threads(
                caller.owner, page_size=size, page_token=request.page_token
            )
            return convert.page_to_pb(page)
        raise AssertionError("unreachable: status_on_error aborts")

    async def DeleteThread(
        self,
        request: pb.DeleteThreadRequest,
        context: grpc.aio.ServicerContext[pb.DeleteThreadRequest, pb.DeleteThreadResponse],
    ) -> pb.DeleteThreadResponse:
        async with status_on_error(context):
            caller = self._caller(context)
            await self._threads().delete_thread(caller.owner, check_thread_id(request.thread_id))
            return pb.DeleteThreadResponse()
        raise AssertionError("unreachable: status_on_error aborts")

    async def CreateSpace(
        self,
        request: pb.CreateSpaceRequest,
        context: grpc.aio.ServicerContext[pb.CreateSpaceRequest, pb.CreateSpaceResponse],
    ) -> pb.CreateSpaceResponse:
        async with status_on_error(context):
            owner = self._caller(context).owner
            space = await self._knowledge().create_space(
                owner, request.space_id, name=request.name, description=request.description
            )
            return pb.CreateSpaceResponse(space=convert.space_to_pb(space))
        raise AssertionError("unreachable: status_on_error aborts")

    async def ListSpaces(
        self,
        request: pb.ListSpacesRequest,
        context: grpc.aio.ServicerContext[pb.ListSpacesRequest, pb.ListSpacesResponse],
    ) -> pb.ListSpacesResponse:
        async with status_on_error(context):
            spaces = await self._knowledge().list_spaces(self._caller(context).owner)
            return pb.ListSpacesResponse(spaces=[convert.space_to_pb(s) for s in spaces])
        raise AssertionError("unreachable: status_on_error aborts")

    async def DeleteSpace(
        self,
        request: pb.DeleteSpaceRequest,
        context: grpc.aio.ServicerContext[pb.DeleteSpaceRequest, pb.DeleteSpaceResponse],
    ) -> pb.DeleteSpaceResponse:
        async with status_on_error(context):
            await self._knowledge().delete_space(self._caller(context).owner, request.space_id)
            return pb.DeleteSpaceResponse()
        raise AssertionError("unreachable: status_on_error aborts")

    async def AddDocument(
        self,
        request: pb.AddDocumentRequest,
        context: grpc.aio.ServicerContext[pb.AddDocumentRequest, pb.AddDocumentResponse],
    ) -> pb.AddDocumentResponse:
        async with status_on_error(context):
            owner = self._caller(context).owner
            document = await self._knowledge().add_document(
                owner, request.space_id, request.source, request.text, title=request.title
            )
            return pb.AddDocumentResponse(document=convert.document_to_pb(document))
        raise AssertionError("unreachable: status_on_error aborts")

    def _knowledge(self) -> KnowledgeStore:
        store = self._pipeline.variants.knowledge
        if store is None:
            raise UnimplementedError("This server has no knowledge store.", field="space_id")
        return store

    def _caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
        return convert.metadata_to_caller(context.invocation_metadata(), self._keys)

    def _threads(self) -> MemoryStore:
        if self._pipeline.memory is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        return self._pipeline.memory.store
