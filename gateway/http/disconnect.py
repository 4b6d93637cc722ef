"""Stop work for clients that went away: a disconnect cancels the awaited call to the core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

import chatrpc

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before a response could be sent."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Awaits `work`, cancelling it (and so the gRPC call) if the client disconnects first.

    Only for work started after the body was read: the watcher consumes `receive()`.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            # Wait for the cancel to land (the gRPC call is cancelled with it): asking a
            # task that is still cancelling for its result raised InvalidStateError, logged
            # as an unexpected error on every hang-up.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, chatrpc.ChatServiceError):
                await task
    if task.cancelled():
        raise ClientDisconnected()
    return task.result()
