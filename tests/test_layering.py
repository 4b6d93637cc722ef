"""STYLE.md §3: which package may import which, checked on the AST of every module."""

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


def violations() -> list[str]:
    found = []
    for path in sorted(ROOT.glob("**/*.py")):
        if ".venv" in path.parts or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        for rule, (applies, forbidden) in RULES.items():
            if not applies(path):
                continue
            for name in imported_modules(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    found.append(f"{path.relative_to(ROOT)} imports {name} ({rule})")
    return found


def test_no_import_crosses_the_layering_table():
    assert violations() == []


def test_the_checker_catches_a_violation():
    bad = ROOT / "core" / "_layering_probe.py"
    bad.write_text("import grpc\n")
    try:
        assert any("_layering_probe.py imports grpc" in v for v in violations())
    finally:
        bad.unlink()
