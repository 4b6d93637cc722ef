"""The operator's MCP configuration and how a request's `mcp` tools resolve against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, InvalidArgumentError
from core.mcp.config import load_mcp_config, resolve
from core.mcp_items import ApprovalMode, McpToolRequest

FILE = """
allowed_urls = ["https://mcp.example.com/exact", "http://127.0.0.1:9000/*"]

[limits]
max_calls = 3

[servers.weather]
command = "python"
args = ["-m", "weather"]
allowed_tools = ["get_weather", "get_time"]
require_approval = { never = ["get_time"] }

[servers.docs]
url = "https://docs.example.com/mcp"
headers = { Authorization = "DOCS_TOKEN" }
require_approval = "never"
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "mcp.toml"
    file.write_text(FILE, encoding="utf-8")
    return file


def test_servers_limits_and_secret_headers_load(path: Path) -> None:
    config = load_mcp_config(str(path), {"DOCS_TOKEN": "Bearer t0ken"})
    assert config.limits.max_calls == 3 and config.limits.call_timeout == 30.0
    weather, docs = config.servers["weather"], config.servers["docs"]
    assert weather.command == "python" and weather.args == ("-m", "weather")
    assert weather.needs_approval("get_weather") and not weather.needs_approval("get_time")
    assert docs.headers == (("Authorization", "Bearer t0ken"),)
    assert "t0ken" not in repr(docs)  # never logged
    assert not docs.needs_approval("anything")


def test_a_missing_header_variable_names_it(path: Path) -> None:
    with pytest.raises(ConfigError, match="DOCS_TOKEN"):
        load_mcp_config(str(path), {})


@pytest.mark.parametrize(
    "table",
    ['command = "x"\nurl = "http://y"', "", 'command = "x"\nrequire_approval = "sometimes"'],
)
def test_a_bad_server_table_is_refused(tmp_path: Path, table: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(f"[servers.s]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_mcp_config(str(file), {})


def test_urls_resolve_only_on_the_allow_list(path: Path) -> None:
    config = load_mcp_config(str(path), {"DOCS_TOKEN": "x"})
    ok = resolve(
        (
            McpToolRequest("a", server_url="https://mcp.example.com/exact"),
            McpToolRequest("b", server_url="http://127.0.0.1:9000/any/path"),
        ),
        config,
    )
    assert [s.url for s in ok] == [
        "https://mcp.example.com/exact",
        "http://127.0.0.1:9000/any/path",
    ]
    assert all(not s.cacheable for s in ok) and ok[0].approval is ApprovalMode.ALWAYS
    for url in ("https://mcp.example.com/exact/more", "http://127.0.0.1:9001/x", "file:///etc"):
        with pytest.raises(InvalidArgumentError) as caught:
            resolve((McpToolRequest("c", server_url=url),), config)
        assert caught.value.field == "mcp_tools[0].server_url"


def test_a_request_narrows_a_registered_server_never_widens_it(path: Path) -> None:
    config = load_mcp_config(str(path), {"DOCS_TOKEN": "x"})
    (narrowed,) = resolve((McpToolRequest("weather", allowed_tools=("get_time", "rm")),), config)
    assert narrowed.offers("get_time") and not narrowed.offers("rm")
    assert not narrowed.offers("get_weather")
    (none,) = resolve((McpToolRequest("weather", allowed_tools=("rm",)),), config)
    assert not none.offers("get_weather") and not none.offers("rm")
    (headers,) = resolve((McpToolRequest("docs", headers=(("X", "1"),)),), config)
    assert not headers.cacheable  # a request's headers may change what the server lists
    (never,) = resolve((McpToolRequest("weather", approval=ApprovalMode.NEVER),), config)
    assert not never.needs_approval("get_weather")


def test_labels_are_checked_and_named_once(path: Path) -> None:
    config = load_mcp_config(str(path), {"DOCS_TOKEN": "x"})
    for requests, field in (
        ((McpToolRequest("nobody"),), "mcp_tools[0].server_label"),
        ((McpToolRequest("bad label"),), "mcp_tools[0].server_label"),
        ((McpToolRequest("docs"), McpToolRequest("docs")), "mcp_tools[1].server_label"),
    ):
        with pytest.raises(InvalidArgumentError) as caught:
            resolve(requests, config)
        assert caught.value.field == field
