"""Background turns in the SDK: their types, their contract conversions, and the methods both
clients share (mixed into Client and AsyncClient, which differ only in I/O).

Example:
    >>> chat = client.start_background_chat("write a poem", thread_id="t-1")
    >>> for logged in client.watch_background_chat(chat.chat_id, after_sequence=3):
    ...     print(logged.sequence, logged.event)
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass, field
from typing import Unpack

import grpc

from chatrpc import _types as t
from chatrpc._base import (
    Messages,
    TurnOptions,
    UnaryCall,
    chat_request,
    event_from_pb,
    request_to_pb,
)
from chatrpc._errors import from_rpc_error, trailers_of
from chatrpc._hosts import AsyncHost, SyncHost
from chatrpc.v1 import chat_service_pb2 as pb


class BackgroundStatus(enum.StrEnum):
    """Where a background turn stands; the last three are final."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class BackgroundChat:
    """A turn running (or run) in the background, as `start_background_chat()` returns it.

    Attributes:
        chat_id: Its id, which is its reply id ("chatcmpl-" + 24 characters).
        status: Where it stands; a turn whose replica stopped is FAILED, never in progress.
        thread_id: The thread it is stored in when it completes.
        model: The model that produces the reply.
        created: Unix time (seconds) it started.
        updated: Unix time of its last logged event or status change.
        expires: Unix time its event log is deleted (the stored turn stays).
        last_sequence: The number of its last logged event (0 before the first).
        client_state: The bytes given to `start_background_chat()`.

    Example:
        >>> chat = client.start_background_chat("write a poem", thread_id="t-1")
        >>> for event in client.watch_background_chat(chat.chat_id):
        ...     print(event.sequence, event.event)
    """

    chat_id: str
    status: BackgroundStatus
    thread_id: str
    model: str
    created: int
    updated: int
    expires: int
    last_sequence: int
    client_state: bytes = b""
    server_metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BackgroundEvent:
    """One logged event of a background turn: its number (from 1) and the event itself."""

    sequence: int
    event: t.StreamEvent


_BACKGROUND_STATUS = {
    pb.BACKGROUND_STATUS_QUEUED: BackgroundStatus.QUEUED,
    pb.BACKGROUND_STATUS_IN_PROGRESS: BackgroundStatus.IN_PROGRESS,
    pb.BACKGROUND_STATUS_COMPLETED: BackgroundStatus.COMPLETED,
    pb.BACKGROUND_STATUS_FAILED: BackgroundStatus.FAILED,
    pb.BACKGROUND_STATUS_CANCELLED: BackgroundStatus.CANCELLED,
}


def background_chat_from_pb(chat: pb.BackgroundChat) -> BackgroundChat:
    return BackgroundChat(
        chat_id=chat.chat_id,
        status=_BACKGROUND_STATUS[chat.status],
        thread_id=chat.thread_id,
        model=chat.model,
        created=chat.create_time.seconds,
        updated=chat.update_time.seconds,
        expires=chat.expire_time.seconds,
        last_sequence=chat.last_sequence,
        client_state=chat.client_state,
    )


def background_event_from_pb(event: pb.WatchBackgroundChatResponse) -> BackgroundEvent:
    return BackgroundEvent(sequence=event.sequence, event=event_from_pb(event.event))


def watch_request(chat_id: str, after_sequence: int, follow: bool) -> pb.WatchBackgroundChatRequest:
    return pb.WatchBackgroundChatRequest(
        chat_id=chat_id, after_sequence=after_sequence, follow=follow
    )


class BackgroundCalls:
    """The UnaryCall of each background RPC."""

    @staticmethod
    def start_background_chat(
        request: t.ChatRequest, client_state: bytes
    ) -> UnaryCall[BackgroundChat]:
        turn = request_to_pb(request, pb.StreamChatRequest())
        message = pb.StartBackgroundChatRequest(turn=turn, client_state=client_state)
        return UnaryCall("StartBackgroundChat", message, lambda r: background_chat_from_pb(r.chat))

    @staticmethod
    def get_background_chat(chat_id: str) -> UnaryCall[BackgroundChat]:
        request = pb.GetBackgroundChatRequest(chat_id=chat_id)
        return UnaryCall("GetBackgroundChat", request, lambda r: background_chat_from_pb(r.chat))

    @staticmethod
    def cancel_background_chat(chat_id: str) -> UnaryCall[BackgroundChat]:
        request = pb.CancelBackgroundChatRequest(chat_id=chat_id)
        return UnaryCall("CancelBackgroundChat", request, lambda r: background_chat_from_pb(r.chat))


class BackgroundMethods:
    """Client's background methods."""

    def start_background_chat(
        self: SyncHost,
        messages: Messages | t.ChatRequest,
        *,
        client_state: bytes = b"",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[TurnOptions],
    ) -> BackgroundChat:
        """Starts one turn in the background: it runs on whether or not anyone watches, and
        its events are logged for `watch_background_chat()` on any replica.

        Args:
            messages: As for `chat`; the turn must be stored (`store` not False).
            client_state: Bytes kept with the turn and returned as given (at most 64 KiB).

        Returns:
            The BackgroundChat, once the turn is accepted (its reply id is its chat_id).

        Raises:
            InvalidRequestError: As for `chat`, or `store` False.

        Example:
            >>> chat = client.start_background_chat("hello", thread_id="t-1")
        """
        call = BackgroundCalls.start_background_chat(chat_request(messages, options), client_state)
        return self._unary(call, timeout, api_key, idempotency_key)

    def get_background_chat(
        self: SyncHost, chat_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> BackgroundChat:
        """One of the caller's background turns (NotFoundError if none has the id)."""
        return self._unary(BackgroundCalls.get_background_chat(chat_id), timeout, api_key)

    def cancel_background_chat(
        self: SyncHost, chat_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> BackgroundChat:
        """Cancels one of the caller's background turns; nothing of it is stored."""
        return self._unary(BackgroundCalls.cancel_background_chat(chat_id), timeout, api_key)

    def watch_background_chat(
        self: SyncHost,
        chat_id: str,
        *,
        after_sequence: int = 0,
        follow: bool = True,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Generator[BackgroundEvent, None, None]:
        """Yields a background turn's events numbered after `after_sequence`, each once: the
        logged ones, then (with `follow`) new ones until the turn ends.

        Raises:
            ChatServiceError: The turn's own error after its last event, if it failed.

        Example:
            >>> for logged in client.watch_background_chat(chat.chat_id, after_sequence=5):
            ...     print(logged.sequence, logged.event)
        """
        request = watch_request(chat_id, after_sequence, follow)
        call = self._stub.WatchBackgroundChat(
            request,
            timeout=timeout or self._timeout,
            metadata=self._metadata("WatchBackgroundChat", api_key, None),
            wait_for_ready=False,
        )
        try:
            for response in call:
                yield background_event_from_pb(response)
            self._finished("WatchBackgroundChat", call.trailing_metadata())
        except grpc.RpcError as exc:
            self._finished("WatchBackgroundChat", trailers_of(exc))
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()


class AsyncBackgroundMethods:
    """AsyncClient's background methods."""

    async def start_background_chat(
        self: AsyncHost,
        messages: Messages | t.ChatRequest,
        *,
        client_state: bytes = b"",
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[TurnOptions],
    ) -> BackgroundChat:
        """See `Client.start_background_chat`."""
        call = BackgroundCalls.start_background_chat(chat_request(messages, options), client_state)
        return await self._unary(call, timeout, api_key, idempotency_key)

    async def get_background_chat(
        self: AsyncHost, chat_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> BackgroundChat:
        """See `Client.get_background_chat`."""
        return await self._unary(BackgroundCalls.get_background_chat(chat_id), timeout, api_key)

    async def cancel_background_chat(
        self: AsyncHost, chat_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> BackgroundChat:
        """See `Client.cancel_background_chat`."""
        return await self._unary(BackgroundCalls.cancel_background_chat(chat_id), timeout, api_key)

    async def watch_background_chat(
        self: AsyncHost,
        chat_id: str,
        *,
        after_sequence: int = 0,
        follow: bool = True,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> AsyncGenerator[BackgroundEvent, None]:
        """See `Client.watch_background_chat`. Leaving the loop only stops watching: the
        turn runs on."""
        request = watch_request(chat_id, after_sequence, follow)
        call = self._stub.WatchBackgroundChat(
            request,
            timeout=timeout or self._timeout,
            metadata=self._metadata("WatchBackgroundChat", api_key, None),
            wait_for_ready=False,
        )
        try:
            async for response in call:
                yield background_event_from_pb(response)
            self._finished("WatchBackgroundChat", await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            self._finished("WatchBackgroundChat", exc.trailing_metadata())
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()
