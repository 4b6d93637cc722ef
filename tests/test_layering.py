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


# OpenAI's JSON shapes are spoken at the HTTP face (gateway/) and toward upstreams (the one
# wire module of the openai_compat backend, whose shapes chat templates and tool instructions
# reuse); the SDK and the rest of the core speak the contract's types.
OPENAI_WORDS = frozenset(
    {"function", "choices", "delta", "tool_calls", "finish_reason", "logprobs"}
)
OPENAI_FACES = (ROOT / "gateway", ROOT / "core/backends/openai_wire.py")
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
