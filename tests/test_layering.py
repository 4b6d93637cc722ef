"""The layering rules (CONTRIBUTING.md "Layering"), checked on the AST of every module: which
package may import which, and where OpenAI's JSON shapes may be spoken."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (package dir, predicate on the imported module's dotted name → forbidden?)
RULES = {
    "core (outside core/server)": (
        lambda p: p.is_relative_to(ROOT / "core") and not p.is_relative_to(ROOT / "core/server"),
        (
            "chatrpc",
            "grpc",
            "grpc_health",
            "grpc_reflection",
            "grpc_status",
            "fastapi",
            "starlette",
            "gateway",
            "google.rpc",
        ),
    ),
    "core/server": (
        lambda p: p.is_relative_to(ROOT / "core/server"),
        ("fastapi", "starlette", "gateway"),
    ),
    "gateway": (
        lambda p: p.is_relative_to(ROOT / "gateway"),
        ("core", "grpc", "chatrpc.v1"),
    ),
    "observability": (
        lambda p: p.is_relative_to(ROOT / "observability"),
        ("core", "gateway", "chatrpc", "grpc", "fastapi", "starlette"),
    ),
    "clients/chatrpc": (
        lambda p: p.is_relative_to(ROOT / "clients/chatrpc"),
        ("core", "gateway", "fastapi", "starlette"),
    ),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def sources() -> list[Path]:
    """The project's own modules (no venvs, no generated stubs)."""
    return [
        path
        for path in sorted(ROOT.glob("**/*.py"))
        if not any(part.startswith(".venv") for part in path.relative_to(ROOT).parts)
        and not path.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    ]


def violations() -> list[str]:
    found = []
    for path in sources():
        for rule, (applies, forbidden) in RULES.items():
            if not applies(path):
                continue
            for name in imported_modules(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    found.append(f"{path.relative_to(ROOT)} imports {name} ({rule})")
    return found


def test_no_import_crosses_the_layering_table():
    assert violations() == []


# OpenAI's JSON shapes are spoken at the HTTP face (gateway/), toward upstreams (the wire
# modules of the openai_compat backend) and in core/chat_shapes.py, whose message and tool shapes
# chat templates and tool instructions reuse; the SDK and the rest of the core speak the
# contract's types.
OPENAI_WORDS = frozenset(
    {"function", "choices", "delta", "tool_calls", "finish_reason", "logprobs"}
)
OPENAI_FACES = (
    ROOT / "gateway",
    ROOT / "core/backends/openai_wire.py",
    ROOT / "core/backends/openai_legacy.py",  # the wire module's text-completion body
    ROOT / "core/chat_shapes.py",
)
OPENAI_SDK_USERS = (ROOT / "core/backends/openai_compat.py",)


def openai_shapes(path: Path) -> set[str]:
    """OpenAI-shape keys `path` builds or reads (dict keys, subscripts, .get/.pop arguments)."""
    keys: list[ast.expr | None] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Dict):
            keys.extend(node.keys)
        elif isinstance(node, ast.Subscript):
            keys.append(node.slice)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
        ):
            keys.append(node.args[0])
    return {k.value for k in keys if isinstance(k, ast.Constant) and k.value in OPENAI_WORDS}


def shape_violations() -> list[str]:
    found = []
    for path in sources():
        inside = [ROOT / "core", ROOT / "clients" / "chatrpc"]
        if not any(path.is_relative_to(p) for p in inside):
            continue
        if not any(path.is_relative_to(face) for face in OPENAI_FACES):
            found += [f"{path.relative_to(ROOT)} uses {w!r}" for w in sorted(openai_shapes(path))]
        if (
            "openai" in {n.split(".")[0] for n in imported_modules(path)}
            and path not in OPENAI_SDK_USERS
        ):
            found.append(f"{path.relative_to(ROOT)} imports the openai SDK")
    return found


def test_openai_shapes_stay_at_the_http_face_and_the_upstream_wire():
    assert shape_violations() == []


def test_the_shape_checker_catches_a_violation():
    bad = ROOT / "clients" / "chatrpc" / "_shape_probe.py"
    bad.write_text('call = {"function": {"name": "f"}}\n')
    try:
        assert "clients/chatrpc/_shape_probe.py uses 'function'" in shape_violations()
    finally:
        bad.unlink()


def test_the_checker_catches_a_violation():
    bad = ROOT / "core" / "_layering_probe.py"
    bad.write_text("import grpc\n")
    try:
        assert any("_layering_probe.py imports grpc" in v for v in violations())
    finally:
        bad.unlink()


# --- the import graph ------------------------------------------------------------------------
# Every import counts, a function-level one or one under TYPE_CHECKING included: a circle
# hidden in a function is still a circle.

PACKAGES = ("core", "gateway", "observability", "clients/chatrpc")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "clients" if path.is_relative_to(ROOT / "clients") else ROOT)
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sources()
        if any(path.is_relative_to(ROOT / package) for package in PACKAGES)
    }


def _targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> set[str]:
    """The dotted names `node` imports: `from a import b` is `a.b` when that is a module."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
    return submodules if len(submodules) == len(node.names) else submodules | {base}


def import_graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports."""
    modules = project_modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, package, known):
                    while target and target not in known:
                        target = target.rpartition(".")[0]
                    if target and target != name:
                        edges.add(target)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_anywhere():
    assert import_cycles(import_graph()) == []


def test_the_cycle_finder_catches_a_circle_through_a_function_level_import():
    first, second = ROOT / "core" / "_cycle_probe_a.py", ROOT / "core" / "_cycle_probe_b.py"
    first.write_text("import core._cycle_probe_b\n")
    second.write_text("def f():\n    from core import _cycle_probe_a\n")
    try:
        assert ["core._cycle_probe_a", "core._cycle_probe_b"] in import_cycles(import_graph())
    finally:
        first.unlink()
        second.unlink()


# Floors inside core/ and gateway/: a module imports only its own package and lower floors
# (CONTRIBUTING.md "Layering"). A package not listed is a new floor to place here.
FLOORS = {
    "core": [
        ("", "errors", "mcp_items"),
        ("types", "registry", "settings", "deadlines"),
        ("chat_shapes", "environment"),
        ("storage", "tools", "reasoning", "auth"),
        ("keys",),
        ("backends", "memory", "knowledge", "quotas", "mcp"),
        ("routing",),
        ("catalog", "modes"),
        ("loading",),
        ("pipeline",),
        ("server",),
        ("__main__",),
    ],
    "gateway": [
        ("", "settings"),
        ("http",),
        ("openai",),
        ("dbgpt", "threads", "playground", "admin"),
        ("openapi",),  # the document names every face's body models
        ("app",),
        ("__main__",),
    ],
}


def floor_of(module: str) -> tuple[str, str, int] | None:
    """(top package, its part holding `module`, that part's floor), for core and gateway."""
    top, _, rest = module.partition(".")
    if top not in FLOORS:
        return None
    part = rest.partition(".")[0]
    for number, parts in enumerate(FLOORS[top]):
        if part in parts:
            return top, part, number
    raise AssertionError(f"{module}: place {top}/{part} on a floor of FLOORS")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        here = floor_of(module)
        for target in sorted(targets):
            there = floor_of(target)
            if here is None or there is None or here[0] != there[0] or here[1] == there[1]:
                continue
            if there[2] >= here[2]:
                found.append(f"{module} imports {target} (floor {here[2]} → {there[2]})")
    return found


def test_core_and_gateway_import_only_downward():
    assert upward_imports(import_graph()) == []


def test_the_floor_checker_catches_an_upward_import():
    bad = ROOT / "gateway" / "http" / "_floor_probe.py"
    bad.write_text("from gateway.openai import chat\n")
    try:
        assert any(
            "_floor_probe imports gateway.openai" in v for v in upward_imports(import_graph())
        )
    finally:
        bad.unlink()
