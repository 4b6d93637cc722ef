"""The SDK's public surface: a sorted __all__ of documented names, installable alone."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import chatrpc

SDK = Path(chatrpc.__file__).parent


def test_all_is_sorted_and_complete():
    public = sorted(name for name in vars(chatrpc) if not name.startswith("_") and name != "v1")
    assert chatrpc.__all__ == sorted(chatrpc.__all__)
    assert sorted(chatrpc.__all__) == public


def test_every_public_name_is_documented():
    for name in chatrpc.__all__:
        assert inspect.getdoc(getattr(chatrpc, name)), name


def test_sdk_imports_nothing_from_the_server_side():
    allowed_roots = {"chatrpc", "grpc", "grpc_health", "grpc_status", "google", "__future__"}
    for path in SDK.rglob("*.py"):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                root = node.module.split(".")[0]
            elif isinstance(node, ast.Import):
                root = node.names[0].name.split(".")[0]
            else:
                continue
            import sys

            assert root in allowed_roots or root in sys.stdlib_module_names, (path, root)
