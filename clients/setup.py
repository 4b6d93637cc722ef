"""Builds the SDK with its protobuf stubs (metadata lives in pyproject.toml).

The stubs are build products (git-ignored), so every build generates them with codegen.py,
the generator `make proto` runs too:

- `build_stubs`, a sub-command of `build`, writes them into the wheel's build directory
  after `build_py`; for `pip install -e` (editable mode) it writes them beside the sources,
  as `make proto` does. setuptools runs `build` sub-commands in both modes, and a failure
  fails the install (a customised `build_py` would be downgraded to a warning in editable
  mode).
- `sdist` copies the `.proto` files into the archive's `proto/`, because the repository's
  `../proto` is outside it; the wheel built from that sdist generates from the copy.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import ClassVar

from setuptools import Command, setup
from setuptools.command.build import build
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent


def _codegen() -> ModuleType:
    # Loaded by path: PEP 517 builds do not put this directory on sys.path.
    spec = importlib.util.spec_from_file_location("chatrpc_codegen", HERE / "codegen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildStubs(Command):
    """Generates chatrpc/v1's stubs and descriptor set (a `build` sub-command)."""

    description = "generate the protobuf stubs of chatrpc.v1 with codegen.py"
    user_options: ClassVar[list[tuple[str, str | None, str]]] = []

    def initialize_options(self) -> None:
        self.build_lib: str | None = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def _out(self) -> Path:
        return HERE if self.editable_mode else Path(str(self.build_lib))

    def run(self) -> None:
        _codegen().generate(self._out())

    def get_outputs(self) -> list[str]:
        codegen = _codegen()
        return [str(path) for path in codegen.outputs(self._out(), codegen.find_proto_root())]

    def get_output_mapping(self) -> dict[str, str]:
        return {}  # generated, not copied from a source file

    def get_source_files(self) -> list[str]:
        return []  # the .proto files reach the sdist through SdistWithProto


class BuildWithStubs(build):
    sub_commands: ClassVar[list[tuple[str, object]]] = [*build.sub_commands, ("build_stubs", None)]


class SdistWithProto(sdist):
    """An sdist that carries the contract in proto/, so a wheel can be built from it alone."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        codegen = _codegen()
        root = codegen.find_proto_root()
        for path in codegen.proto_files(root):
            target = Path(base_dir) / "proto" / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


setup(cmdclass={"build": BuildWithStubs, "build_stubs": BuildStubs, "sdist": SdistWithProto})
