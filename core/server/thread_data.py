"""The caller's thread data over ChatService: search (ListThreads), UpdateThread, ExportThreads,
EraseData — a mixin of ChatServicer, so its module stays about turns.

These sit in ChatService, not AdminService, because each acts on the caller's own data (the
identity of their key), as GetThread and DeleteThread do; an operator erasing another owner's
data goes through the admin API.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from chatrpc.v1 import chat_service_pb2 as pb
from core.errors import InvalidArgumentError, UnimplementedError
from core.knowledge.base import KnowledgeStore
from core.memory.base import MemoryStore
from core.memory.lifecycle import Erasure, ThreadFilter
from core.pipeline.validation import check_metadata, check_thread_id
from core.server import convert
from core.server.rpc import server_stream, unary
from core.settings import Limits
from core.types import Caller

DEFAULT_PAGE_SIZE = 20
EXPORT_PIECE = 64 * 1024  # bytes of whole lines gathered per stream message


class ThreadDataRpcs:
    """ListThreads, UpdateThread, ExportThreads and EraseData over the stores."""

    _threads: MemoryStore | None
    _knowledge: KnowledgeStore | None
    _limits: Limits
    max_deadline: float

    @unary
    async def ListThreads(
        self, request: pb.ListThreadsRequest, caller: Caller
    ) -> pb.ListThreadsResponse:
        where = ThreadFilter(user=request.user, metadata=tuple(sorted(request.metadata.items())))
        page = await self._thread_data().search_threads(
            caller.owner,
            where,
            page_size=request.page_size or DEFAULT_PAGE_SIZE,
            page_token=request.page_token,
        )
        return pb.ListThreadsResponse(
            threads=[convert.summary_to_pb(s) for s in page.threads],
            next_page_token=page.next_page_token,
            total_count=page.total_count,
        )

    @unary
    async def UpdateThread(
        self, request: pb.UpdateThreadRequest, caller: Caller
    ) -> pb.UpdateThreadResponse:
        thread_id = check_thread_id(request.thread_id)
        metadata = tuple(sorted(request.metadata.items()))
        check_metadata(metadata, self._limits)
        summary = await self._thread_data().update_thread(caller.owner, thread_id, metadata)
        return pb.UpdateThreadResponse(thread=convert.summary_to_pb(summary))

    @server_stream
    async def ExportThreads(
        self, request: pb.ExportThreadsRequest, caller: Caller
    ) -> AsyncGenerator[pb.ExportThreadsResponse, None]:
        thread_id = check_thread_id(request.thread_id) if request.thread_id else ""
        piece: list[bytes] = []
        size = 0
        async for chunk in self._thread_data().export_lines(caller.owner, thread_id):
            piece.append(chunk)
            size += len(chunk)
            if size >= EXPORT_PIECE:
                yield pb.ExportThreadsResponse(jsonl=b"".join(piece))
                piece, size = [], 0
        if piece:
            yield pb.ExportThreadsResponse(jsonl=b"".join(piece))

    @unary
    async def EraseData(self, request: pb.EraseDataRequest, caller: Caller) -> pb.EraseDataResponse:
        erasure = await erase(
            self._thread_data(),
            self._knowledge,
            caller.owner,
            scope=request.scope,
            user=request.user,
            actor=caller.owner,
        )
        return erasure_to_pb(erasure)

    def _thread_data(self) -> MemoryStore:
        if self._threads is None:
            raise UnimplementedError("This server has no thread memory.", field="thread_id")
        return self._threads


async def erase(
    threads: MemoryStore,
    knowledge: KnowledgeStore | None,
    owner: str,
    *,
    scope: int,
    user: str,
    actor: str,
) -> Erasure:
    """One erasure (ChatService's for the caller, AdminService's for any owner): the owner's
    knowledge first (a whole-owner erasure), then the threads, audited with both counts."""
    if scope == pb.ERASE_SCOPE_USER:
        if not user:
            raise InvalidArgumentError("ERASE_SCOPE_USER needs the user to erase", field="user")
        return await threads.erase(owner, user=user, actor=actor)
    if scope != pb.ERASE_SCOPE_OWNER:
        raise InvalidArgumentError("scope must be ERASE_SCOPE_OWNER or _USER", field="scope")
    if user:
        raise InvalidArgumentError("user is only for ERASE_SCOPE_USER", field="user")
    also = await knowledge.erase_owner(owner) if knowledge is not None else {}
    return await threads.erase(owner, actor=actor, also=also)


def erasure_to_pb(erasure: Erasure) -> pb.EraseDataResponse:
    response = pb.EraseDataResponse(erasure_id=erasure.erasure_id, deleted=dict(erasure.deleted))
    response.create_time.FromNanoseconds(int(erasure.created * 1e9))
    return response
