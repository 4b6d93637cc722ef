"""scripts/llama_wheel.py: the embedded model's binary is portable, cached by its flags, checked."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama_wheel.py"


def load_script():
    spec = importlib.util.spec_from_file_location("llama_wheel", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheel = load_script()


def test_the_default_flags_name_a_portable_baseline_and_never_native():
    args = wheel.cmake_args({})
    assert "-DGGML_NATIVE=OFF" in args and not any("march" in a for a in args)
    for isa in ("AVX2", "FMA", "F16C", "BMI2"):
        assert f"-DGGML_{isa}=ON" in args
    for isa in ("AVX512", "AVX512_VNNI", "AMX_TILE", "AMX_INT8"):
        assert f"-DGGML_{isa}=OFF" in args


def test_the_cache_folder_changes_with_the_flags():
    default = wheel.build_id(wheel.cmake_args({}))
    assert wheel.build_id(wheel.cmake_args({})) == default
    other = wheel.cmake_args({"CHATRPC_LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX2=OFF"})
    assert wheel.build_id(other) != default


def test_a_native_build_is_refused():
    with pytest.raises(SystemExit, match="GGML_NATIVE=ON"):
        wheel.check_cpu([*wheel.BUILD_FLAGS, "-DGGML_NATIVE=ON"])


def test_the_installed_binary_has_no_avx512_or_amx_instructions():
    """The real-world failure: a wheel built with -march=native on an AVX-512 machine crashes
    with SIGILL on an AVX2-only one. No ZMM/TMM register may appear in the CPU backend."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    import llama_cpp

    library = Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
    code = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", str(library)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "%zmm" not in code and "%tmm" not in code


def test_the_smoke_check_generates_a_token_here():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "one token generated" in result.stdout


def test_a_binary_that_cannot_run_fails_naming_its_flags(monkeypatch):
    monkeypatch.setattr(wheel, "SMOKE", "import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    with pytest.raises(SystemExit) as caught:
        wheel.smoke({})
    message = str(caught.value)
    assert "illegal instruction" in message and "-DGGML_NATIVE=OFF" in message
