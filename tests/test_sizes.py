"""Size rules (CONTRIBUTING.md "Code"): modules under 400 lines, functions under 60, in core/,
gateway/, clients/ and observability/, checked on every module's AST."""

from __future__ import annotations

import ast

from tests.test_layering import ROOT, sources

MODULE_LINES = 400
FUNCTION_LINES = 60
CHECKED = ("core", "gateway", "clients", "observability")

# Modules over the cap today, each at most its current size (they may shrink, never grow):
# the SDK's two halves mirror the contract and core/types.py (routes being added this round
# extend them: MCP tools' request fields and stream event, thread metadata), and the upstream
# backend is being reworked on its own issue (its config).
KNOWN_LARGE = {
    # + the contract's Usage.upstream, Model.deployments; MCP request fields and stream event
    "clients/chatrpc/_base.py": 500,
    # + a thread's user and metadata, a page's total_count; MCP fields and Reply.mcp_items
    "clients/chatrpc/_types.py": 534,
    "core/backends/openai_compat.py": 438,
    "core/server/convert.py": 410,
    # The contract's content parts, MCP fields and token inputs came in parallel this round; the
    # embedding and MCP value types are next to move out (core/types.py is imported everywhere).
    "core/types.py": 405,
}


def checked_sources() -> list[str]:
    return [
        str(path.relative_to(ROOT))
        for path in sources()
        if path.relative_to(ROOT).parts[0] in CHECKED
    ]


def test_no_module_over_the_line_cap():
    over = []
    for name in checked_sources():
        lines = len((ROOT / name).read_text().splitlines())
        if lines > KNOWN_LARGE.get(name, MODULE_LINES):
            over.append(f"{name}: {lines} lines")
    assert over == []


def test_no_function_over_the_line_cap():
    over = []
    for name in checked_sources():
        for node in ast.walk(ast.parse((ROOT / name).read_text(), name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_LINES:
                    over.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert over == []
