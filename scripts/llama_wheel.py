"""Builds, caches, installs and checks the llama-cpp-python wheel the embedded model runs on.

`make install` runs `python scripts/llama_wheel.py install` with the project's venv python.

Why this exists: llama-cpp-python compiles llama.cpp from source, and by default for the
build machine's CPU (`-march=native`). pip's wheel cache is keyed by name and version only, so
a natively built wheel is reused on the next machine, whose CPU may lack an instruction it
uses (AVX-512 on an AVX2-only AMD EPYC, AMX, VNNI...): `Illegal instruction` on the first
token. Here the wheel is built once with a fixed, portable instruction set and kept in a
folder whose name is a hash of everything that shapes the binary (version, CMake flags,
compiler, platform); pip's own cache is never read or written for it, and the wheel is
force-reinstalled whenever the venv holds another one. The install ends with a one-token
generation in a child process, so a binary that cannot run fails here, naming the flags.

Baseline: x86-64-v3 (SSE4.2, AVX, AVX2, FMA, F16C, BMI2), which every machine this project
builds and runs on has (AMD EPYC with AVX2 only; Intel with AVX-512 and AMX). Another
baseline: set CHATRPC_LLAMA_CMAKE_ARGS (it replaces the instruction-set flags below and gets
its own cache folder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "0.3.36"  # keep equal to the `model` extra in pyproject.toml
RECIPE = 1  # bump when the way the wheel is built changes
# Skipping the multimodal library, tools and examples roughly halves the build.
BUILD_FLAGS = (
    "-DLLAVA_BUILD=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
)
# Never -march=native: name the instruction sets instead (llama.cpp's "haswell" variant).
CPU_FLAGS = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_SSE42=ON",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DGGML_AVX512=OFF",
    "-DGGML_AVX512_VBMI=OFF",
    "-DGGML_AVX512_VNNI=OFF",
    "-DGGML_AVX512_BF16=OFF",
    "-DGGML_AVX_VNNI=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
)
# /proc/cpuinfo flags the baseline needs (x86-64-v3).
REQUIRED_CPU = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2")
MARKER = "llama-cpp-python.build"  # in the venv: the cache folder its wheel came from

SMOKE = """
from core.backends.llama_loading import load_llama
llama = load_llama({"context_window": 256, "n_threads": 1})
tokens = llama.tokenize(b"Hello", add_bos=True)
token = next(iter(llama.generate(tokens, temp=0.0)))
print("ok", token)
"""


def cmake_args(environ: dict[str, str]) -> list[str]:
    cpu = environ.get("CHATRPC_LLAMA_CMAKE_ARGS", "").split() or list(CPU_FLAGS)
    return [*BUILD_FLAGS, *cpu]


def compiler_id() -> str:
    cc = shutil.which(os.environ.get("CC", "cc")) or "cc"
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return "unknown"
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def build_id(args: list[str]) -> str:
    """A hash of everything that shapes the binary."""
    parts = [
        f"llama-cpp-python=={VERSION}",
        f"recipe={RECIPE}",
        *args,
        compiler_id(),
        platform.machine(),
        f"py{sys.version_info.major}{sys.version_info.minor}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_root(environ: dict[str, str]) -> Path:
    if environ.get("CHATRPC_WHEEL_CACHE"):
        return Path(environ["CHATRPC_WHEEL_CACHE"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatrpc" / "wheels"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def check_cpu(args: list[str]) -> None:
    """Refuses to build the default baseline on a CPU that could not run it."""
    if any(a.startswith("-DGGML_NATIVE=ON") for a in args):
        sys.exit("refusing -DGGML_NATIVE=ON: the wheel must not depend on the build machine")
    flags = cpu_flags()
    missing = [f for f in REQUIRED_CPU if flags and f not in flags]
    if missing and "CHATRPC_LLAMA_CMAKE_ARGS" not in os.environ:
        sys.exit(
            f"this CPU lacks {', '.join(missing)}; the embedded model's portable build needs "
            f"x86-64-v3 ({', '.join(REQUIRED_CPU)}). Set CHATRPC_LLAMA_CMAKE_ARGS to other "
            "llama.cpp flags (for example -DGGML_NATIVE=OFF -DGGML_AVX2=OFF ...) to build for it."
        )


def wheel_in(folder: Path) -> Path | None:
    wheels = sorted(folder.glob(f"llama_cpp_python-{VERSION}-*.whl"))
    return wheels[0] if wheels else None


def build(folder: Path, args: list[str]) -> Path:
    """Builds the wheel into `folder` (from the PyPI sdist, without pip's cache)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"building llama-cpp-python {VERSION} with {' '.join(args)} (about 4-10 minutes)")
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        env = {**os.environ, "CMAKE_ARGS": " ".join(args)}
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        # --no-cache-dir: neither read nor write pip's name+version-keyed wheel cache.
        command += ["--no-cache-dir", "--no-binary", "llama-cpp-python", "--wheel-dir"]
        command += [str(staging), f"llama-cpp-python=={VERSION}"]
        subprocess.run(command, env=env, check=True)
        if wheel_in(staging) is None:
            sys.exit("pip wheel produced no llama-cpp-python wheel")
        (staging / "cmake-args.txt").write_text("\n".join(args) + "\n")
        staging.replace(folder)  # atomic: a half-built folder is never taken for a cached one
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    wheel = wheel_in(folder)
    assert wheel is not None
    return wheel


def installed_from(venv_marker: Path) -> str:
    return venv_marker.read_text().strip() if venv_marker.exists() else ""


def install(environ: dict[str, str]) -> None:
    args = cmake_args(environ)
    check_cpu(args)
    folder = cache_root(environ) / f"llama-cpp-python-{VERSION}-{build_id(args)}"
    wheel = wheel_in(folder) or build(folder, args)
    marker = Path(sys.prefix) / MARKER
    if installed_from(marker) != str(folder):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--force-reinstall",  # the venv may hold a wheel of the same version, other flags
                "--no-deps",
                str(wheel),
            ],
            check=True,
        )
        marker.write_text(f"{folder}\n")
    print(f"llama-cpp-python {VERSION} from {folder}")


def smoke(environ: dict[str, str]) -> None:
    """One token from the embedded model in a child process; a crash names the flags."""
    args = cmake_args(environ)
    folder = installed_from(Path(sys.prefix) / MARKER) or "(not installed by this script)"
    result = subprocess.run(
        [sys.executable, "-c", SMOKE], capture_output=True, text=True, timeout=300
    )
    if result.returncode == 0 and result.stdout.startswith("ok"):
        print("embedded model: one token generated")
        return
    if result.returncode == -signal.SIGILL:
        what = "crashed (illegal instruction): the binary uses instructions this CPU lacks"
    else:
        what = f"failed (exit {result.returncode}):\n{result.stderr[-2000:]}"
    missing = sorted(set(REQUIRED_CPU) - cpu_flags())
    sys.exit(
        f"the embedded model {what}\n"
        f"  llama-cpp-python {VERSION} from {folder}\n"
        f"  built with: {' '.join(args)}\n"
        f"  CPU flags missing from that baseline: {', '.join(missing) or 'none'}\n"
        "  Remove that folder and run `make install` again, or set CHATRPC_LLAMA_CMAKE_ARGS."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("install", "smoke", "folder"))
    command = parser.parse_args().command
    environ = dict(os.environ)
    if command == "install":
        install(environ)
    elif command == "smoke":
        smoke(environ)
    else:
        args = cmake_args(environ)
        print(cache_root(environ) / f"llama-cpp-python-{VERSION}-{build_id(args)}")


if __name__ == "__main__":
    main()
