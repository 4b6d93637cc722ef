"""What the clients' shared method sets (background turns, thread edits) need of the client
they are mixed into: its stub, its default timeout and its call helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from chatrpc._base import R, UnaryCall


class SyncHost(Protocol):
    _stub: Any
    _timeout: float | None

    def _unary(
        self,
        call: UnaryCall[R],
        timeout: float | None,
        api_key: str | None,
        idempotency_key: str | None = None,
    ) -> R: ...

    def _metadata(
        self, method: str, api_key: str | None, idempotency_key: str | None
    ) -> tuple[tuple[str, str], ...]: ...

    def _finished(self, method: str, trailing: Iterable[tuple[str, object]] | None) -> None: ...


class AsyncHost(Protocol):
    _stub: Any
    _timeout: float | None

    async def _unary(
        self,
        call: UnaryCall[R],
        timeout: float | None,
        api_key: str | None,
        idempotency_key: str | None = None,
    ) -> R: ...

    def _metadata(
        self, method: str, api_key: str | None, idempotency_key: str | None
    ) -> tuple[tuple[str, str], ...]: ...

    def _finished(self, method: str, trailing: Iterable[tuple[str, object]] | None) -> None: ...
