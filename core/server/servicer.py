"""ChatServicer: each RPC converts, runs the pipeline or a store, converts back (see rpc.py).

A turn's queue position (TurnQueued) is sent as the `x-chatrpc-queue-position` initial
metadata, not as a message: the contract's stream still begins with its start.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

from chatrpc.v1 import (
    admin_service_pb2 as apb,
    chat_service_pb2 as pb,
    chat_service_pb2_grpc as pb_grpc,
)
from core.catalog import ModelCatalog
from core.errors import InvalidArgumentError, UnimplementedError
from core.knowledge.base import KnowledgeStore
from core.memory.base import MemoryStore
from core.pipeline.aggregate import fold
from core.pipeline.chat import ChatPipeline
from core.pipeline.embeddings import Embedder
from core.pipeline.validation import (
    check_metadata,
    check_thread_id,
    check_thread_messages,
    check_turn_id,
)
from core.server import convert
from core.server.admin import spend_report
from core.server.background import BackgroundChats, run_to_pb
from core.server.rpc import current_call, server_stream, unary
from core.server.thread_data import ThreadDataRpcs
from core.settings import Limits
from core.types import Caller, ChatEvent, ReplyEvent, TurnQueued

QUEUE_POSITION = "x-chatrpc-queue-position"


class ChatServicer(ThreadDataRpcs, pb_grpc.ChatServiceServicer):
    """chatrpc.v1.ChatService over a ChatPipeline, the Embedder, the model catalog and the
    stores."""

    def __init__(
        self,
        pipeline: ChatPipeline,
        catalog: ModelCatalog,
        *,
        embedder: Embedder,
        threads: MemoryStore | None = None,
        knowledge: KnowledgeStore | None = None,
        background: BackgroundChats | None = None,
        max_deadline: float = 600.0,
        limits: Limits | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._embedder = embedder
        self._catalog = catalog
        self._threads = threads
        self._knowledge = knowledge
        self._background = background
        self._limits = limits or Limits()
        self.max_deadline = max_deadline  # seconds; any longer deadline a client sends is cut

    @unary
    async def Chat(self, request: pb.ChatRequest, caller: Caller) -> pb.ChatResponse:
        turn = convert.request_to_turn(request)
        return convert.reply_to_pb(await fold(_announced(self._pipeline.run(turn, caller))))

    @server_stream
    async def StreamChat(
        self, request: pb.StreamChatRequest, caller: Caller
    ) -> AsyncGenerator[pb.StreamChatResponse, None]:
        turn = convert.request_to_turn(request)
        async with aclosing(_announced(self._pipeline.run(turn, caller))) as events:
            async for event in events:
                yield convert.event_to_pb(event)

    @unary
    async def ListModels(
        self, request: pb.ListModelsRequest, caller: Caller
    ) -> pb.ListModelsResponse:
        now, catalog = time.time(), self._catalog
        models = [
            convert.model_to_pb(s, catalog.is_ready(s.name), catalog.deployments(s.name), now)
            for s in catalog
        ]
        return pb.ListModelsResponse(models=models)

    @unary
    async def GetThread(self, request: pb.GetThreadRequest, caller: Caller) -> pb.GetThreadResponse:
        thread_id = check_thread_id(request.thread_id)
        thread = await self._thread_store().get_thread(caller.owner, thread_id)
        return pb.GetThreadResponse(thread=convert.thread_to_pb(thread))

    @unary
    async def DeleteThread(
        self, request: pb.DeleteThreadRequest, caller: Caller
    ) -> pb.DeleteThreadResponse:
        thread_id = check_thread_id(request.thread_id)
        await self._thread_store().delete_thread(caller.owner, thread_id)
        return pb.DeleteThreadResponse()

    @unary
    async def GetTurn(self, request: pb.GetTurnRequest, caller: Caller) -> pb.GetTurnResponse:
        turn_id = check_turn_id(request.turn_id)
        stored = await self._thread_store().get_turn(caller.owner, turn_id)
        return pb.GetTurnResponse(turn=convert.stored_turn_to_pb(stored))

    @unary
    async def DeleteTurn(
        self, request: pb.DeleteTurnRequest, caller: Caller
    ) -> pb.DeleteTurnResponse:
        turn_id = check_turn_id(request.turn_id)
        await self._thread_store().delete_turn(caller.owner, turn_id)
        return pb.DeleteTurnResponse()

    @unary
    async def CreateThread(
        self, request: pb.CreateThreadRequest, caller: Caller
    ) -> pb.CreateThreadResponse:
        thread_id = check_thread_id(request.thread_id)
        messages = convert.messages_from_pb(request.messages)
        metadata = tuple(sorted(request.metadata.items()))
        check_thread_messages(messages, self._limits)
        check_metadata(metadata, self._limits)
        thread = await self._thread_store().create_thread(
            caller.owner, thread_id, messages, metadata
        )
        return pb.CreateThreadResponse(thread=convert.thread_to_pb(thread))

    @unary
    async def AppendThreadMessages(
        self, request: pb.AppendThreadMessagesRequest, caller: Caller
    ) -> pb.AppendThreadMessagesResponse:
        thread_id = check_thread_id(request.thread_id)
        messages = convert.messages_from_pb(request.messages)
        if not messages:
            raise InvalidArgumentError("messages must not be empty.", field="messages")
        check_thread_messages(messages, self._limits)
        stored = await self._thread_store().append_messages(caller.owner, thread_id, messages)
        return pb.AppendThreadMessagesResponse(
            messages=[convert.stored_message_to_pb(m) for m in stored]
        )

    @unary
    async def DeleteThreadMessage(
        self, request: pb.DeleteThreadMessageRequest, caller: Caller
    ) -> pb.DeleteThreadMessageResponse:
        thread_id = check_thread_id(request.thread_id)
        if request.seq < 0:
            raise InvalidArgumentError("seq must be >= 0.", field="seq")
        await self._thread_store().hide_message(caller.owner, thread_id, request.seq)
        return pb.DeleteThreadMessageResponse()

    @unary
    async def CreateSpace(
        self, request: pb.CreateSpaceRequest, caller: Caller
    ) -> pb.CreateSpaceResponse:
        space = await self._space_store().create_space(
            caller.owner, request.space_id, name=request.name, description=request.description
        )
        return pb.CreateSpaceResponse(space=convert.space_to_pb(space))

    @unary
    async def ListSpaces(
        self, request: pb.ListSpacesRequest, caller: Caller
    ) -> pb.ListSpacesResponse:
        spaces = await self._space_store().list_spaces(caller.owner)
        return pb.ListSpacesResponse(spaces=[convert.space_to_pb(s) for s in spaces])

    @unary
    async def DeleteSpace(
        self, request: pb.DeleteSpaceRequest, caller: Caller
    ) -> pb.DeleteSpaceResponse:
        await self._space_store().delete_space(caller.owner, request.space_id)
        return pb.DeleteSpaceResponse()

    @unary
    async def AddDocument(
        self, request: pb.AddDocumentRequest, caller: Caller
    ) -> pb.AddDocumentResponse:
        document = await self._space_store().add_document(
            caller.owner, request.space_id, request.source, request.text, title=request.title
        )
        return pb.AddDocumentResponse(document=convert.document_to_pb(document))

    @unary
    async def Embed(self, request: pb.EmbedRequest, caller: Caller) -> pb.EmbedResponse:
        embeddings = await self._embedder.run(convert.embed_request_from_pb(request))
        return convert.embeddings_to_pb(embeddings)

    @unary
    async def GetKeySpend(
        self, request: pb.GetKeySpendRequest, caller: Caller
    ) -> apb.GetSpendResponse:
        if not 0 <= request.days <= 366:
            raise InvalidArgumentError("days must be 0-366", field="days")
        key = caller.key or caller.owner
        return await spend_report(self._thread_store(), key, request.days or 31)

    @unary
    async def StartBackgroundChat(
        self, request: pb.StartBackgroundChatRequest, caller: Caller
    ) -> pb.StartBackgroundChatResponse:
        turn = convert.request_to_turn(request.turn)
        run = await self._runs().start(turn, caller, request.client_state)
        return pb.StartBackgroundChatResponse(chat=run_to_pb(run))

    @unary
    async def GetBackgroundChat(
        self, request: pb.GetBackgroundChatRequest, caller: Caller
    ) -> pb.GetBackgroundChatResponse:
        run = await self._runs().get(caller.owner, check_turn_id(request.chat_id, "chat_id"))
        return pb.GetBackgroundChatResponse(chat=run_to_pb(run))

    @server_stream
    async def WatchBackgroundChat(
        self, request: pb.WatchBackgroundChatRequest, caller: Caller
    ) -> AsyncGenerator[pb.WatchBackgroundChatResponse, None]:
        chat_id = check_turn_id(request.chat_id, "chat_id")
        if request.after_sequence < 0:
            raise InvalidArgumentError("after_sequence must be >= 0.", field="after_sequence")
        events = self._runs().watch(
            caller.owner, chat_id, request.after_sequence, follow=request.follow
        )
        async for event in events:
            yield event

    @unary
    async def CancelBackgroundChat(
        self, request: pb.CancelBackgroundChatRequest, caller: Caller
    ) -> pb.CancelBackgroundChatResponse:
        run = await self._runs().cancel(caller.owner, check_turn_id(request.chat_id, "chat_id"))
        return pb.CancelBackgroundChatResponse(chat=run_to_pb(run))

    def _runs(self) -> BackgroundChats:
        if self._background is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        return self._background

    def _thread_store(self) -> MemoryStore:
        if self._threads is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        return self._threads

    def _space_store(self) -> KnowledgeStore:
        if self._knowledge is None:
            raise UnimplementedError("This server has no knowledge store.", field="space_id")
        return self._knowledge


async def _announced(
    events: AsyncGenerator[ChatEvent, None],
) -> AsyncGenerator[ReplyEvent, None]:
    """`events` without TurnQueued, which goes out at once as the queue-position metadata."""
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TurnQueued):
                await current_call().send_headers(**{QUEUE_POSITION: str(event.position)})
            else:
                yield event
