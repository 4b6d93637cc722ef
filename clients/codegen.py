"""The one generator of the SDK's protobuf stubs: `make proto` and the SDK's build both run it.

From every `.proto` under the proto root it writes, under an output root that holds the
`chatrpc` package: `*_pb2.py` and `*_pb2_grpc.py` (grpcio-tools), their `.pyi` stubs
(mypy-protobuf), and `chatrpc/v1/chat_service.protoset`, a descriptor set with imports and
source info that core/server/reflection.py serves so `grpcurl describe` shows the comments.

The proto root is `proto/` beside this file in an sdist (setup.py copies it there), else
the repository's `proto/` next to `clients/`. mypy-protobuf's plugins are passed to protoc
by path (`--plugin`), as small launchers running this interpreter, so nothing depends on
PATH: pip's isolated build environment does not put its scripts where `make` looks.

    python clients/codegen.py [--out DIR] [--proto DIR]     # default: --out clients
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOTS = (HERE / "proto", HERE.parent / "proto")
PROTOSET = Path("chatrpc") / "v1" / "chat_service.protoset"
# mypy-protobuf's console scripts (its entry points), as protoc plugin name → function.
MYPY_PLUGINS = {"protoc-gen-mypy": "main", "protoc-gen-mypy_grpc": "grpc"}
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def find_proto_root() -> Path:
    """The directory whose `chatrpc/v1/*.proto` files are the contract."""
    for root in PROTO_ROOTS:
        if any(root.rglob("*.proto")):
            return root
    searched = ", ".join(str(root) for root in PROTO_ROOTS)
    raise FileNotFoundError(f"no .proto files found (searched {searched})")


def proto_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.proto"))


def outputs(out: Path, root: Path) -> list[Path]:
    """Every file `generate(out, root)` writes."""
    stems = [path.relative_to(root).with_suffix("") for path in proto_files(root)]
    return [out / f"{stem}{suffix}" for stem in stems for suffix in SUFFIXES] + [out / PROTOSET]


def generate(out: Path, proto_root: Path | None = None) -> list[Path]:
    """Writes the stubs and the descriptor set under `out`; returns the files written."""
    import grpc_tools  # a build-time dependency: imported only when generating

    root = (proto_root or find_proto_root()).resolve()
    files = [str(path) for path in proto_files(root)]
    if not files:
        raise FileNotFoundError(f"no .proto files under {root}")
    # The well-known types (google/protobuf/*.proto) ship inside grpcio-tools.
    includes = [f"-I{root}", f"-I{Path(grpc_tools.__file__).parent / '_proto'}"]
    (out / PROTOSET).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chatrpc-codegen-") as tmp:
        plugins = [
            f"--plugin={name}={_launcher(Path(tmp), name, func)}"
            for name, func in MYPY_PLUGINS.items()
        ]
        _protoc(
            *includes,
            *plugins,
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            *files,
        )
    _protoc(
        *includes,
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out / PROTOSET}",
        *files,
    )
    return outputs(out, root)


def _launcher(directory: Path, name: str, func: str) -> Path:
    """An executable that runs mypy-protobuf's `func` in this interpreter (protoc's plugin)."""
    code = f"import sys; from mypy_protobuf.main import {func}; sys.exit({func}())"
    path = directory / name
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)}\n")
    path.chmod(0o755)
    return path


def _protoc(*args: str) -> None:
    from grpc_tools import protoc

    status = protoc.main(["grpc_tools.protoc", *args])
    if status != 0:
        raise RuntimeError(f"protoc exited with {status}: {shlex.join(args)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="root holding chatrpc/")
    parser.add_argument("--proto", type=Path, default=None, help="root holding chatrpc/v1/")
    args = parser.parse_args(argv)
    try:
        generate(args.out, args.proto)
    except (FileNotFoundError, RuntimeError) as error:  # protoc has printed its diagnostics
        sys.exit(f"codegen: {error}")


if __name__ == "__main__":
    main()
