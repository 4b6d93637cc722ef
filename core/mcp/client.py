"""McpConnector: lists a server's tools and calls them, through the `mcp` package's client
(stdio: the core starts the server's command; streamable HTTP: a URL).

Each list or call opens its own session and closes it after (a stdio server is started for
it): simple, nothing to keep alive or to leak between callers, at the cost of a connection
per call; a registered server's tool list is reused for `list_ttl` seconds, so a turn usually
connects only for its calls. Everything is bounded by the call timeout, and a call's output is
cut to `max_output_chars`. Failures become McpFailure with a message safe to show the model
and the client: it names what failed, never a header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from core.mcp.config import McpConfig, McpLimits, McpServer
from core.mcp_items import McpToolInfo

logger = logging.getLogger(__name__)


class McpFailure(Exception):
    """A list or call that failed; `message` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class McpConnector:
    """Lists and calls the tools of the MCP servers `config` allows, within its limits."""

    def __init__(self, config: McpConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lists: dict[str, tuple[float, tuple[McpToolInfo, ...]]] = {}

    @property
    def limits(self) -> McpLimits:
        return self.config.limits

    async def list_tools(self, server: McpServer) -> tuple[McpToolInfo, ...]:
        """The server's tools (those it offers, by `allowed_tools`), from the cache if fresh."""
        key = server.label  # only registered servers are cached, and their labels are unique
        cached = self._lists.get(key) if server.cacheable else None
        if cached is not None and self._clock() - cached[0] < self.limits.list_ttl:
            tools = cached[1]
        else:
            tools = await self._bounded(server, "list its tools", _list)
            if server.cacheable:
                self._lists[key] = (self._clock(), tools)
        return tuple(t for t in tools if server.offers(t.name))

    async def call_tool(self, server: McpServer, name: str, arguments: dict[str, Any]) -> str:
        """The call's text output (cut to the limit); McpFailure if the tool reported an
        error or the server could not be reached in time."""

        async def call(session: ClientSession) -> str:
            result = await session.call_tool(name, arguments)
            text = _text(result)
            if result.isError:
                raise McpFailure(text or f"The tool {name!r} failed.")
            return text[: self.limits.max_output_chars]

        output: str = await self._bounded(server, f"call {name!r}", call)
        return output

    async def _bounded(
        self, server: McpServer, what: str, work: Callable[[ClientSession], Any]
    ) -> Any:
        try:
            async with asyncio.timeout(self.limits.call_timeout):
                async with _session(server, self.limits.call_timeout) as session:
                    return await work(session)
        except McpFailure:
            raise
        except TimeoutError:
            raise McpFailure(
                f"The MCP server {server.label!r} did not {what} within "
                f"{self.limits.call_timeout:g} s."
            ) from None
        except Exception as exc:  # the mcp package's and its transports' failures, any kind
            logger.warning("MCP server %r could not %s: %s", server.label, what, _leaf(exc))
            raise McpFailure(f"The MCP server {server.label!r} could not {what}.") from None


async def _list(session: ClientSession) -> tuple[McpToolInfo, ...]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(cursor=cursor) if cursor else await session.list_tools()
        tools += [
            McpToolInfo(name=t.name, description=t.description or "", input_schema=t.inputSchema)
            for t in page.tools
        ]
        cursor = page.nextCursor
        if not cursor:
            return tuple(tools)


@asynccontextmanager
async def _session(server: McpServer, http_timeout: float) -> AsyncIterator[ClientSession]:
    if server.command:
        params = StdioServerParameters(
            command=server.command, args=list(server.args), env=dict(server.env) or None
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
        return
    async with (
        httpx.AsyncClient(headers=dict(server.headers), timeout=http_timeout) as http,
        streamable_http_client(server.url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _text(result: types.CallToolResult) -> str:
    """A call's output as text: its text parts joined, other parts named."""
    parts = [
        block.text if isinstance(block, types.TextContent) else f"[{block.type}]"
        for block in result.content
    ]
    return "\n".join(parts)


def _leaf(exc: BaseException) -> BaseException:
    """The first error inside (anyio's) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
