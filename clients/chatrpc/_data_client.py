"""The client methods for a caller's thread data and spend, as mixins of Client and
AsyncClient (which differ only in I/O, like the rest of the SDK): update_thread,
export_threads, get_key_spend, erase_data."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from typing import TYPE_CHECKING

import grpc

from chatrpc import _base, _types as t
from chatrpc._data import DataCalls, Erasure, SpendReport, export_request
from chatrpc._errors import from_rpc_error
from chatrpc._hosts import AsyncHost, SyncHost

if TYPE_CHECKING:
    pass


class ThreadDataMethods:
    """Client's thread-data and spend methods."""

    def update_thread(
        self: SyncHost,
        thread_id: str | int,
        metadata: Mapping[str, str],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Thread:
        """Replaces a thread's metadata; `ttl_seconds` and `keep_latest` (whole numbers, 0:
        never) override the server's retention for it. Returns the thread without messages.

        Raises:
            NotFoundError: No such thread belongs to the caller.
            InvalidRequestError: A bad `ttl_seconds`/`keep_latest`, or metadata over limits.
        """
        return self._unary(DataCalls.update_thread(thread_id, metadata), timeout, api_key)

    def export_threads(
        self: SyncHost,
        thread_id: str | int = "",
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Generator[bytes, None, None]:
        """Yields the caller's threads (or one) as pieces of whole JSON lines, as the server
        streams them: a thread, then each turn and its messages (docs/retention-and-keys.md).

        Example:
            >>> with open("export.jsonl", "wb") as out:
            ...     for piece in client.export_threads():
            ...         out.write(piece)
        """
        call = self._stub.ExportThreads(
            export_request(thread_id),
            timeout=timeout or self._timeout,
            metadata=self._metadata("ExportThreads", api_key, None),
            wait_for_ready=False,
        )
        try:
            for response in call:
                yield response.jsonl
            self._finished("ExportThreads", call.trailing_metadata())
        except grpc.RpcError as exc:
            self._finished(
                "ExportThreads", exc.trailing_metadata() if isinstance(exc, grpc.Call) else None
            )
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    def get_key_spend(
        self: SyncHost, *, days: int = 0, timeout: float | None = None, api_key: str | None = None
    ) -> SpendReport:
        """The spend of the caller's own key per UTC day and model (over `days` days; 0: 31),
        with its totals today and this month.

        Example:
            >>> client.get_key_spend(days=7).tokens_today
        """
        return self._unary(DataCalls.get_key_spend(days), timeout, api_key)

    def erase_data(
        self: SyncHost,
        scope: str,
        *,
        user: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Erasure:
        """Erases everything of the caller (`scope="owner"`) or of one end user of theirs
        (`scope="user"`, `user=...`); audited and idempotent.

        Example:
            >>> client.erase_data("user", user="u-42").deleted["threads"]
        """
        return self._unary(DataCalls.erase_data(scope, user), timeout, api_key)

    def delete_thread(
        self: SyncHost,
        thread_id: str | int,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> None:
        """Deletes one of the caller's threads and its messages.

        Raises:
            NotFoundError: No such thread belongs to the caller.
        """
        self._unary(_base.Calls.delete_thread(thread_id), timeout, api_key)


class AsyncThreadDataMethods:
    """AsyncClient's thread-data and spend methods."""

    async def update_thread(
        self: AsyncHost,
        thread_id: str | int,
        metadata: Mapping[str, str],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Thread:
        """See `Client.update_thread`."""
        return await self._unary(DataCalls.update_thread(thread_id, metadata), timeout, api_key)

    async def export_threads(
        self: AsyncHost,
        thread_id: str | int = "",
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """See `Client.export_threads`."""
        call = self._stub.ExportThreads(
            export_request(thread_id),
            timeout=timeout or self._timeout,
            metadata=self._metadata("ExportThreads", api_key, None),
            wait_for_ready=False,
        )
        try:
            async for response in call:
                yield response.jsonl
            self._finished("ExportThreads", await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            self._finished("ExportThreads", exc.trailing_metadata())
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    async def get_key_spend(
        self: AsyncHost, *, days: int = 0, timeout: float | None = None, api_key: str | None = None
    ) -> SpendReport:
        """See `Client.get_key_spend`."""
        return await self._unary(DataCalls.get_key_spend(days), timeout, api_key)

    async def erase_data(
        self: AsyncHost,
        scope: str,
        *,
        user: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> Erasure:
        """See `Client.erase_data`."""
        return await self._unary(DataCalls.erase_data(scope, user), timeout, api_key)

    async def delete_thread(
        self: AsyncHost,
        thread_id: str | int,
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> None:
        """See `Client.delete_thread`."""
        await self._unary(_base.Calls.delete_thread(thread_id), timeout, api_key)
