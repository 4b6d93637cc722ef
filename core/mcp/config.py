"""The MCP servers operators register (a TOML file, CHATRPC_MCP_FILE), the URL allow-list for
servers a request names by URL, and the loop's limits; and `resolve`, which turns a request's
`mcp` tools into servers before any connection is made.

    allowed_urls = ["http://127.0.0.1:8931/mcp", "https://mcp.example.com/*"]

    [limits]                 # the defaults
    max_calls = 8            # MCP calls per turn
    call_timeout_seconds = 30
    max_output_chars = 20000 # a call's output is cut to this
    list_ttl_seconds = 300   # a registered server's tool list is reused this long

    [servers.weather]        # stdio: the core starts the command
    command = "python"
    args = ["-m", "weather_server"]
    env = { UNITS = "metric" }
    allowed_tools = ["get_weather"]
    require_approval = "never"   # "always" (the default), "never",
                                 # or { always = ["…"], never = ["…"] }

    [servers.docs]           # streamable HTTP
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "DOCS_MCP_AUTHORIZATION" }  # header → environment variable

Header values are read from the environment at start-up and never logged. A request's
`server_url` is refused (INVALID_ARGUMENT) unless it equals an allow-list entry or starts with
one that ends in `*`: a URL from a client is otherwise an SSRF hole.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InvalidArgumentError
from core.mcp_items import ApprovalMode, McpToolInfo, McpToolRequest

LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class McpLimits:
    max_calls: int = 8
    call_timeout: float = 30.0
    max_output_chars: int = 20_000
    list_ttl: float = 300.0


@dataclass(frozen=True, slots=True)
class McpServer:
    """One server to connect to: a command (stdio) or a URL (streamable HTTP), with its
    approval rule. `headers` are secrets (registered ones from the environment, a request's
    for that turn only): kept out of repr."""

    label: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    url: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    allowed_tools: tuple[str, ...] | None = None  # None: every tool
    approval: ApprovalMode = ApprovalMode.ALWAYS
    always_tools: tuple[str, ...] = ()
    never_tools: tuple[str, ...] = ()
    # Its tool list may be reused across turns: a registered server without a request's
    # headers (a URL from a request, or headers, may give another list).
    cacheable: bool = True
    listed: tuple[McpToolInfo, ...] | None = None  # the conversation's list: not listed again

    def needs_approval(self, tool: str) -> bool:
        if tool in self.always_tools:
            return True
        if tool in self.never_tools:
            return False
        return self.approval is ApprovalMode.ALWAYS

    def offers(self, tool: str) -> bool:
        return self.allowed_tools is None or tool in self.allowed_tools


@dataclass(frozen=True, slots=True)
class McpConfig:
    servers: Mapping[str, McpServer] = field(default_factory=dict)
    allowed_urls: tuple[str, ...] = ()
    limits: McpLimits = McpLimits()

    def url_allowed(self, url: str) -> bool:
        return any(
            url == entry or (entry.endswith("*") and url.startswith(entry[:-1]))
            for entry in self.allowed_urls
        )


def load_mcp_config(path: str, environ: Mapping[str, str]) -> McpConfig:
    """The file's configuration ('' → none); ConfigError naming what is wrong."""
    if not path:
        return McpConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the MCP configuration {path}: {exc}") from None
    limits = data.get("limits", {})
    servers = {
        label: _server(label, table, environ) for label, table in data.get("servers", {}).items()
    }
    return McpConfig(
        servers=servers,
        allowed_urls=tuple(str(u) for u in data.get("allowed_urls", [])),
        limits=McpLimits(
            max_calls=int(limits.get("max_calls", 8)),
            call_timeout=float(limits.get("call_timeout_seconds", 30.0)),
            max_output_chars=int(limits.get("max_output_chars", 20_000)),
            list_ttl=float(limits.get("list_ttl_seconds", 300.0)),
        ),
    )


def _server(label: str, table: Mapping[str, Any], environ: Mapping[str, str]) -> McpServer:
    if not LABEL.fullmatch(label):
        raise ConfigError(f"MCP server label {label!r} must be 1-64 of [A-Za-z0-9_-]")
    if bool(table.get("command")) == bool(table.get("url")):
        raise ConfigError(f"MCP server {label!r} needs exactly one of command and url")
    headers = []
    for name, variable in dict(table.get("headers", {})).items():
        if variable not in environ:
            raise ConfigError(f"MCP server {label!r}: set {variable} (its {name} header)")
        headers.append((str(name), environ[variable]))
    approval, always, never = _approval(label, table.get("require_approval", "always"))
    return McpServer(
        label=label,
        command=str(table.get("command", "")),
        args=tuple(str(a) for a in table.get("args", [])),
        env=tuple((str(k), str(v)) for k, v in dict(table.get("env", {})).items()),
        url=str(table.get("url", "")),
        headers=tuple(headers),
        allowed_tools=(
            tuple(str(t) for t in table["allowed_tools"]) if "allowed_tools" in table else None
        ),
        approval=approval,
        always_tools=always,
        never_tools=never,
    )


def _approval(label: str, value: object) -> tuple[ApprovalMode, tuple[str, ...], tuple[str, ...]]:
    if value in ("always", "never"):
        return ApprovalMode(value), (), ()
    if isinstance(value, dict) and set(value) <= {"always", "never"}:
        return (
            ApprovalMode.ALWAYS,
            tuple(str(t) for t in value.get("always", [])),
            tuple(str(t) for t in value.get("never", [])),
        )
    raise ConfigError(f"MCP server {label!r}: require_approval must be always, never or a table")


def resolve(requests: tuple[McpToolRequest, ...], config: McpConfig) -> tuple[McpServer, ...]:
    """The servers a turn's `mcp` tools name, checked before any connection: a registered
    label, or an allow-listed URL; INVALID_ARGUMENT naming the tool otherwise."""
    servers: list[McpServer] = []
    for i, request in enumerate(requests):
        where = f"mcp_tools[{i}]"
        if not LABEL.fullmatch(request.server_label):
            raise InvalidArgumentError(
                "server_label must be 1-64 of [A-Za-z0-9_-].", field=f"{where}.server_label"
            )
        if any(s.label == request.server_label for s in servers):
            raise InvalidArgumentError(
                "Each MCP server may be named once.", field=f"{where}.server_label"
            )
        servers.append(_server_for(request, config, where))
    return tuple(servers)


def _server_for(request: McpToolRequest, config: McpConfig, where: str) -> McpServer:
    if request.server_url:
        if not config.url_allowed(request.server_url):
            raise InvalidArgumentError(
                "server_url is not on this server's MCP allow-list.", field=f"{where}.server_url"
            )
        base = McpServer(label=request.server_label, url=request.server_url, cacheable=False)
    else:
        registered = config.servers.get(request.server_label)
        if registered is None:
            raise InvalidArgumentError(
                f"No MCP server is registered as {request.server_label!r}.",
                field=f"{where}.server_label",
            )
        base = registered
    allowed = base.allowed_tools
    if request.allowed_tools:  # a request narrows the operator's list, never widens it
        allowed = tuple(t for t in request.allowed_tools if base.offers(t))
    return McpServer(
        label=base.label,
        command=base.command,
        args=base.args,
        env=base.env,
        url=base.url,
        headers=(*base.headers, *request.headers),
        allowed_tools=allowed,
        approval=request.approval or base.approval,
        always_tools=(*base.always_tools, *request.always_tools),
        never_tools=(*base.never_tools, *request.never_tools),
        cacheable=base.cacheable and not request.headers,
        listed=request.listed,
    )
