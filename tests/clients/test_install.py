"""The SDK as a user installs it: from a clean clone into a fresh venv, then a call to a real core.

A clean clone has no generated stubs (they are git-ignored), so each install form must build
them itself (clients/setup.py running clients/codegen.py): `pip install ./clients`, the
`chatrpc @ git+…#subdirectory=clients` form, and a wheel built from the sdist, which must
carry the .proto files since the repository's proto/ is outside clients/. pip reaches only
the package registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from tests.servers import CoreThread

ROOT = Path(__file__).resolve().parents[2]
GENERATED = (
    "admin_service_pb2.py",
    "admin_service_pb2.pyi",
    "admin_service_pb2_grpc.py",
    "admin_service_pb2_grpc.pyi",
    "chat_service_pb2.py",
    "chat_service_pb2.pyi",
    "chat_service_pb2_grpc.py",
    "chat_service_pb2_grpc.pyi",
    "chat_service.protoset",
)
INSTALL_TIMEOUT = 600  # seconds; a warm pip cache needs about 15
# Run by the fresh venv's python in isolated mode, so only the installed SDK can be imported.
CHAT = """
import hashlib, json, sys
from importlib import metadata, resources

import chatrpc
from google.protobuf import descriptor_pb2

with chatrpc.Client(sys.argv[1]) as client:
    reply = client.chat("hi", timeout=30)
v1 = resources.files("chatrpc.v1")
protoset = descriptor_pb2.FileDescriptorSet.FromString(
    v1.joinpath("chat_service.protoset").read_bytes()
)
print(json.dumps({
    "content": reply.content,
    "package": chatrpc.__file__,
    "digests": {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in v1.iterdir() if p.is_file()
    },
    "commented": sorted(
        f.name for f in protoset.file
        if any(where.leading_comments for where in f.source_code_info.location)
    ),
    "protoset_files": sorted(f.name for f in protoset.file),
    "direct_url": json.loads(metadata.distribution("chatrpc").read_text("direct_url.json")),
}))
"""


def test_sdk_installs_from_a_clean_clone_and_calls_the_core(core_server: CoreThread, tmp_path):
    clone = _clean_copy(tmp_path / "clone")
    _git(clone, "init", "-q")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "clean clone")
    python = _fresh_venv(tmp_path / "venv")
    chat = tmp_path / "chat.py"
    chat.write_text(CHAT)

    # 1. `pip install ./clients`, with the pip a fresh venv comes with.
    _run(python, "-m", "pip", "install", clone / "clients")
    installed = _chat(python, chat, core_server.target)
    _assert_working_sdk(installed, tmp_path / "venv")
    assert installed["direct_url"]["url"] == (clone / "clients").as_uri()
    assert sorted(p.name for p in (clone / "clients/chatrpc/v1").iterdir()) == ["__init__.py"], (
        "the build wrote stubs into the checkout instead of the wheel"
    )

    # 2. The git URL form. The pip of Python 3.11's venv (23.2) refuses `name @ git+file:///…`
    # (no host in the URL), so upgrade it as `make install` does; git+https works with either.
    _run(python, "-m", "pip", "install", "--upgrade", "pip")
    url = f"chatrpc @ git+{clone.as_uri()}#subdirectory=clients"
    _run(python, "-m", "pip", "install", "--force-reinstall", "--no-deps", url)
    from_git = _chat(python, chat, core_server.target)
    _assert_working_sdk(from_git, tmp_path / "venv")
    assert from_git["direct_url"]["vcs_info"]["vcs"] == "git"
    assert from_git["direct_url"]["subdirectory"] == "clients"

    # 3. An sdist, then a wheel built from it alone (pip unpacks it away from proto/).
    _run(python, "-m", "pip", "install", "build")
    dist = tmp_path / "dist"
    _run(python, "-m", "build", "--sdist", "--outdir", dist, clone / "clients")
    (sdist,) = dist.glob("chatrpc-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"codegen.py", "proto/chatrpc/v1/chat_service.proto"} <= members, sorted(members)
    assert not [m for m in members if "_pb2" in m or m.endswith(".protoset")], sorted(members)
    _run(python, "-m", "pip", "install", "--force-reinstall", "--no-deps", sdist)
    from_sdist = _chat(python, chat, core_server.target)
    _assert_working_sdk(from_sdist, tmp_path / "venv")
    assert from_sdist["direct_url"]["url"] == sdist.as_uri()


def _assert_working_sdk(result: dict[str, Any], venv: Path) -> None:
    assert result["content"] == "ok"
    assert Path(result["package"]).is_relative_to(venv)
    # The build ran the generator `make proto` runs: the same bytes as the working tree's.
    assert result["digests"] == _working_tree_digests(), "differs from `make proto`'s output"
    assert "google/protobuf/struct.proto" in result["protoset_files"]  # --include_imports
    assert "chatrpc/v1/chat_service.proto" in result["commented"]  # --include_source_info


def _clean_copy(dest: Path) -> Path:
    """The files a clone would have, as they are in the working tree (generated ones absent)."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is still in the index
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    leftovers = [name for name in GENERATED if (dest / "clients/chatrpc/v1" / name).exists()]
    assert not leftovers, f"generated files are git-ignored build products: {leftovers}"
    return dest


def _fresh_venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", path, timeout=120)
    return path / "bin" / "python"


def _chat(python: Path, script: Path, target: str) -> dict[str, Any]:
    output = _run(python, "-I", script, target, cwd=script.parent, timeout=60)
    result: dict[str, Any] = json.loads(output)
    return result


def _working_tree_digests() -> dict[str, str]:
    v1 = ROOT / "clients" / "chatrpc" / "v1"
    return {
        name: hashlib.sha256((v1 / name).read_bytes()).hexdigest()
        for name in ("__init__.py", *GENERATED)
    }


def _git(repo: Path, *args: str) -> None:
    identity = ("-c", "user.name=test", "-c", "user.email=test@example.invalid")
    _run("git", *identity, "-c", "commit.gpgsign=false", *args, cwd=repo, timeout=60)


def _env() -> dict[str, str]:
    """This environment minus what would point pip, python or git elsewhere."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("GIT_")}
    return {**env, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(*args: object, cwd: Path | None = None, timeout: float = INSTALL_TIMEOUT) -> str:
    argv = [str(arg) for arg in args]
    command = shlex.join(argv)
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as expired:
        output = f"{_text(expired.stdout)}\n{_text(expired.stderr)}"
        raise AssertionError(f"{command} timed out after {timeout}s\n{output}") from None
    assert done.returncode == 0, (
        f"{command} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""
