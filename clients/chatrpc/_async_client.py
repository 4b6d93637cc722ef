"""AsyncClient: the asyncio SDK client over a grpc.aio.Channel (the gateway uses it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from types import TracebackType
from typing import Any, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatrpc import _base, _channel, _messages, _types as t
from chatrpc._background import AsyncBackgroundMethods
from chatrpc._data import DataCalls
from chatrpc._data_client import AsyncThreadDataMethods
from chatrpc._errors import from_rpc_error
from chatrpc._thread_edits import AsyncThreadEditMethods
from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc


class AsyncClient(AsyncThreadDataMethods, AsyncBackgroundMethods, AsyncThreadEditMethods):
    """Asyncio client for chatrpc.v1.ChatService; the same methods, arguments and results as
    `Client` (see its docstrings), awaited.

    Example:
        >>> async with chatrpc.AsyncClient("127.0.0.1:50051") as client:
        ...     reply = await client.chat("hello", max_tokens=32)
        ...     async for event in client.chat_stream("hello"):
        ...         if isinstance(event, chatrpc.MessageDelta):
        ...             print(event.content, end="")
    """

    def __init__(
        self,
        target: str = _base.DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        channel: grpc.aio.Channel | None = None,
        options: _channel.ChannelOptions = (),
        service_config: Mapping[str, Any] | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        keepalive: float | None = None,
        keepalive_timeout: float = 20.0,
        hooks: t.CallHooks | None = None,
    ) -> None:
        self._owns_channel = channel is None
        self._hooks = hooks
        self._channel = channel or _open(
            _channel.replica_target(target),
            _channel.channel_options(options, service_config, keepalive, keepalive_timeout),
            _channel.channel_credentials(
                tls, root_certificates, certificate_chain, private_key, credentials
            ),
        )
        self._stub = pb_grpc.ChatServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._api_key = api_key
        self._timeout = timeout

    async def chat(
        self,
        messages: _base.Messages | t.ChatRequest,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[_base.TurnOptions],
    ) -> t.Reply:
        """Runs one turn and returns the whole reply; see `Client.chat`."""
        request = _base.request_to_pb(_base.chat_request(messages, options), pb.ChatRequest())
        call = _base.UnaryCall("Chat", request, _base.reply_from_pb)
        return await self._unary(call, timeout, api_key, idempotency_key)

    async def chat_stream(
        self,
        messages: _base.Messages | t.ChatRequest,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[_base.TurnOptions],
    ) -> AsyncGenerator[t.StreamEvent, None]:
        """Runs one turn and yields its events; see `Client.chat_stream`.

        Leaving the loop early, or cancelling the task that iterates, cancels the call and
        the server stops generating.
        """
        request = _base.request_to_pb(_base.chat_request(messages, options), pb.StreamChatRequest())
        call = self._stub.StreamChat(
            request,
            timeout=timeout or self._timeout,
            metadata=self._metadata("StreamChat", api_key, idempotency_key),
            wait_for_ready=False,
        )
        try:
            metadata = await call.initial_metadata()
            async for response in call:
                yield _base.with_server_metadata(_base.event_from_pb(response), metadata)
            self._finished("StreamChat", await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            self._finished("StreamChat", exc.trailing_metadata())
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()  # a no-op once the stream has ended

    async def list_models(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[t.Model]:
        """See `Client.list_models`."""
        return await self._unary(_base.Calls.list_models(), timeout, api_key)

    async def get_thread(
        self, thread_id: str | int, *, timeout: float | None = None, api_key: str | None = None
    ) -> t.Thread:
        """See `Client.get_thread`."""
        return await self._unary(_base.Calls.get_thread(thread_id), timeout, api_key)

    async def list_threads(
        self,
        *,
        page_size: int = 20,
        page_token: str = "",
        user: str = "",
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.ThreadPage:
        """See `Client.list_threads`."""
        call = DataCalls.list_threads(page_size, page_token, user, metadata)
        return await self._unary(call, timeout, api_key)

    async def get_turn(
        self, turn_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> t.StoredTurn:
        """See `Client.get_turn`."""
        return await self._unary(_base.Calls.get_turn(turn_id), timeout, api_key)

    async def delete_turn(
        self, turn_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """See `Client.delete_turn`."""
        await self._unary(_base.Calls.delete_turn(turn_id), timeout, api_key)

    async def create_space(
        self,
        space_id: str,
        *,
        name: str = "",
        description: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Space:
        """See `Client.create_space`."""
        call = _base.Calls.create_space(space_id, name, description)
        return await self._unary(call, timeout, api_key)

    async def list_spaces(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[t.Space]:
        """See `Client.list_spaces`."""
        return await self._unary(_base.Calls.list_spaces(), timeout, api_key)

    async def delete_space(
        self, space_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """See `Client.delete_space`."""
        await self._unary(_base.Calls.delete_space(space_id), timeout, api_key)

    async def add_document(
        self,
        space_id: str,
        source: str,
        text: str,
        *,
        title: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Document:
        """See `Client.add_document`."""
        call = _base.Calls.add_document(space_id, source, text, title)
        return await self._unary(call, timeout, api_key)

    async def embed(
        self,
        inputs: _messages.EmbedInputs,
        *,
        model: str = "",
        dimensions: int | None = None,
        user: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Embeddings:
        """See `Client.embed`."""
        call = _base.Calls.embed(inputs, model, dimensions, user)
        return await self._unary(call, timeout, api_key)

    async def health(self, service: str = "", *, timeout: float | None = 5.0) -> str:
        """See `Client.health`."""
        try:
            response = await self._health.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout,
                wait_for_ready=False,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self) -> None:
        """Closes the channel (unless it was passed in)."""
        if self._owns_channel:
            await self._channel.close()

    async def _unary(
        self,
        call: _base.UnaryCall[_base.R],
        timeout: float | None,
        api_key: str | None,
        idempotency_key: str | None = None,
    ) -> _base.R:
        try:
            rpc = getattr(self._stub, call.method)(
                call.request,
                timeout=timeout or self._timeout,
                metadata=self._metadata(call.method, api_key, idempotency_key),
                wait_for_ready=False,
            )
            response = await rpc
            metadata = await rpc.initial_metadata()
        except grpc.aio.AioRpcError as exc:
            self._finished(call.method, exc.trailing_metadata())
            raise from_rpc_error(exc) from None
        self._finished(call.method, await rpc.trailing_metadata())
        return _base.with_server_metadata(call.parse(response), metadata)

    def _metadata(
        self, method: str, api_key: str | None, idempotency_key: str | None
    ) -> tuple[tuple[str, str], ...]:
        extra = self._hooks.outgoing(method) if self._hooks else ()
        return _base.call_metadata(api_key or self._api_key, idempotency_key, extra)

    def _finished(self, method: str, trailing: Iterable[tuple[str, object]] | None) -> None:
        if self._hooks is not None:
            self._hooks.finished(method, _base.text_metadata(trailing))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _open(
    target: str, options: list[tuple[str, str | int]], credentials: grpc.ChannelCredentials | None
) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, credentials, options=options)
