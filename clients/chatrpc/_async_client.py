"""AsyncClient: the asyncio SDK client over a grpc.aio.Channel (the gateway uses it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatrpc._base import (
    DEFAULT_TARGET,
    ChunkParser,
    Messages,
    TurnOptions,
    build_request,
    call_metadata,
    document_from_pb,
    model_from_pb,
    page_from_pb,
    reply_from_pb,
    space_from_pb,
    thread_from_pb,
)
from chatrpc._errors import from_rpc_error
from chatrpc._types import Document, Model, Reply, ReplyChunk, Space, Thread, ThreadPage
from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc


class AsyncClient:
    """Asyncio client for chatrpc.v1.ChatService; same arguments and results as `Client`.

    Example:
        >>> async with chatrpc.AsyncClient("127.0.0.1:50051") as client:
        ...     reply = await client.chat("hello", max_tokens=32)
        ...     async for chunk in client.chat_stream(model="", messages="hello"):
        ...         print(chunk.content, end="")
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        channel: grpc.aio.Channel | None = None,
        options: Sequence[tuple[str, str | int]] = (),
    ) -> None:
        self._owns_channel = channel is None
        self._channel = channel or grpc.aio.insecure_channel(target, options=list(options))
        self._stub = pb_grpc.ChatServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._api_key = api_key
        self._timeout = timeout

    async def chat(
        self,
        messages: Messages,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[TurnOptions],
    ) -> Reply:
        """Runs one turn and returns the whole reply; see `Client.chat`."""
        request = build_request(pb.ChatRequest(), messages, options)
        try:
            response = await self._stub.Chat(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key, idempotency_key),
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return reply_from_pb(response)

    async def chat_stream(
        self,
        messages: Messages,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[TurnOptions],
    ) -> AsyncGenerator[ReplyChunk, None]:
        """Runs one turn and yields its events; see `Client.chat_stream`.

        Leaving the loop early, or cancelling the task that iterates, cancels the call and
        the server stops generating.
        """
        request = build_request(pb.StreamChatRequest(), messages, options)
        call = self._stub.StreamChat(
            request,
            timeout=timeout or self._timeout,
            metadata=call_metadata(api_key or self._api_key, idempotency_key),
        )
        parser = ChunkParser()
        try:
            async for response in call:
                yield parser.parse(response)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()  # a no-op once the stream has ended

    async def list_models(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[Model]:
        """The models the server serves, the default first."""
        try:
            response = await self._stub.ListModels(
                pb.ListModelsRequest(),
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return [model_from_pb(m) for m in response.models]

    async def get_thread(
        self, thread_id: str | int, *, timeout: float | None = None, api_key: str | None = None
    ) -> Thread:
        """One of the caller's threads with its stored messages, oldest first.

        Raises:
            NotFoundError: No such thread belongs to the caller.
        """
        request = pb.GetThreadRequest(thread_id=str(thread_id))
        try:
            response = await self._stub.GetThread(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return thread_from_pb(response.thread)

    async def list_threads(
        self,
        *,
        page_size: int = 20,
        page_token: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> ThreadPage:
        """The caller's threads, most recently updated first, without their messages."""
        request = pb.ListThreadsRequest(page_size=page_size, page_token=page_token)
        try:
            response = await self._stub.ListThreads(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return page_from_pb(response)

    async def delete_thread(
        self, thread_id: str | int, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """Deletes one of the caller's threads and its messages.

        Raises:
            NotFoundError: No such thread belongs to the caller.
        """
        request = pb.DeleteThreadRequest(thread_id=str(thread_id))
        try:
            await self._stub.DeleteThread(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None

    async def create_space(
        self,
        space_id: str,
        *,
        name: str = "",
        description: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Space:
        """Creates a knowledge space owned by the caller (ConflictError if the id exists)."""
        request = pb.CreateSpaceRequest(space_id=space_id, name=name, description=description)
        try:
            response = await self._stub.CreateSpace(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return space_from_pb(response.space)

    async def list_spaces(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[Space]:
        """The caller's knowledge spaces, by id."""
        try:
            response = await self._stub.ListSpaces(
                pb.ListSpacesRequest(),
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return [space_from_pb(s) for s in response.spaces]

    async def delete_space(
        self, space_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """Deletes one of the caller's knowledge spaces with its documents."""
        try:
            await self._stub.DeleteSpace(
                pb.DeleteSpaceRequest(space_id=space_id),
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None

    async def add_document(
        self,
        space_id: str,
        source: str,
        text: str,
        *,
        title: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Document:
        """Adds (or replaces, by `source`) a text or Markdown document in a knowledge space."""
        request = pb.AddDocumentRequest(space_id=space_id, source=source, text=text, title=title)
        try:
            response = await self._stub.AddDocument(
                request,
                timeout=timeout or self._timeout,
                metadata=call_metadata(api_key or self._api_key),
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return document_from_pb(response.document)

    async def health(self, service: str = "", *, timeout: float | None = 5.0) -> str:
        """The server's grpc.health.v1 status for `service` ("" is the whole server).

        Returns:
            "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN".

        Raises:
            ChatServiceError: The server cannot be reached (UnavailableError) or failed.
        """
        try:
            response = await self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self) -> None:
        """Closes the channel (unless it was passed in)."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
