"""A thread's own edits in the SDK (create with metadata and messages, update metadata, append
messages, delete one): the calls and the methods both clients share (mixed into Client and
AsyncClient, which differ only in I/O)."""

from __future__ import annotations

from collections.abc import Mapping

from chatrpc import _types as t
from chatrpc._base import (
    Messages,
    UnaryCall,
    normalize_messages,
    nothing,
    thread_from_pb,
    thread_message_from_pb,
)
from chatrpc._hosts import AsyncHost, SyncHost
from chatrpc._messages import message_to_pb
from chatrpc.v1 import chat_service_pb2 as pb


class ThreadEditCalls:
    """The UnaryCall of each thread-edit RPC."""

    @staticmethod
    def create_thread(
        thread_id: str | int, messages: Messages, metadata: Mapping[str, str]
    ) -> UnaryCall[t.Thread]:
        request = pb.CreateThreadRequest(
            thread_id=str(thread_id),
            messages=[message_to_pb(m) for m in normalize_messages(messages)] if messages else [],
            metadata=dict(metadata),
        )
        return UnaryCall("CreateThread", request, lambda r: thread_from_pb(r.thread))

    @staticmethod
    def append_thread_messages(
        thread_id: str | int, messages: Messages
    ) -> UnaryCall[list[t.ThreadMessage]]:
        request = pb.AppendThreadMessagesRequest(
            thread_id=str(thread_id),
            messages=[message_to_pb(m) for m in normalize_messages(messages)],
        )
        return UnaryCall(
            "AppendThreadMessages",
            request,
            lambda r: [thread_message_from_pb(m) for m in r.messages],
        )

    @staticmethod
    def delete_thread_message(thread_id: str | int, seq: int) -> UnaryCall[None]:
        request = pb.DeleteThreadMessageRequest(thread_id=str(thread_id), seq=seq)
        return UnaryCall("DeleteThreadMessage", request, nothing)


class ThreadEditMethods:
    """Client's thread-edit methods."""

    def create_thread(
        self: SyncHost,
        thread_id: str | int,
        messages: Messages = (),
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Thread:
        """Creates a thread with `metadata` and, optionally, first `messages` (no turn).

        Raises:
            ConflictError: The caller already has a thread with that id.

        Example:
            >>> client.create_thread("t-9", "remember: I like oolong", metadata={"app": "tea"})
        """
        call = ThreadEditCalls.create_thread(thread_id, messages, metadata or {})
        return self._unary(call, timeout, api_key)

    def append_thread_messages(
        self: SyncHost,
        thread_id: str | int,
        messages: Messages,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> list[t.ThreadMessage]:
        """Appends messages (no turn) to a thread; returns them as stored, with their seqs."""
        call = ThreadEditCalls.append_thread_messages(thread_id, messages)
        return self._unary(call, timeout, api_key)

    def delete_thread_message(
        self: SyncHost,
        thread_id: str | int,
        seq: int,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> None:
        """Removes the message at `seq` from the thread's history (its seq stays taken)."""
        self._unary(ThreadEditCalls.delete_thread_message(thread_id, seq), timeout, api_key)


class AsyncThreadEditMethods:
    """AsyncClient's thread-edit methods."""

    async def create_thread(
        self: AsyncHost,
        thread_id: str | int,
        messages: Messages = (),
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Thread:
        """See `Client.create_thread`."""
        call = ThreadEditCalls.create_thread(thread_id, messages, metadata or {})
        return await self._unary(call, timeout, api_key)

    async def append_thread_messages(
        self: AsyncHost,
        thread_id: str | int,
        messages: Messages,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> list[t.ThreadMessage]:
        """See `Client.append_thread_messages`."""
        call = ThreadEditCalls.append_thread_messages(thread_id, messages)
        return await self._unary(call, timeout, api_key)

    async def delete_thread_message(
        self: AsyncHost,
        thread_id: str | int,
        seq: int,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> None:
        """See `Client.delete_thread_message`."""
        await self._unary(ThreadEditCalls.delete_thread_message(thread_id, seq), timeout, api_key)
