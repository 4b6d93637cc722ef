"""Every runnable example of README.md and docs/ runs as written against a live core and
gateway serving the shipped catalog with the real embedded model; only the addresses change
(the test servers listen on free ports). curl runs with --fail-with-body, so an HTTP error
fails the example as a Python exception or a grpcurl error status does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.catalog import ModelCatalog, load_specs
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import EMBEDDED, EMBEDDED_CONTEXT
from tests.docs.examples import ROOT, Example, all_examples, pointed_at
from tests.servers import CoreThread, GatewayThread

pytestmark = [pytest.mark.e2e, pytest.mark.model]

# Makes curl fail on an HTTP error status, as a Python example raises.
SH_PROLOGUE = """set -euo pipefail
curl() { command curl --fail-with-body --max-time 300 "$@"; }
"""


class Stack:
    def __init__(self, core: CoreThread, gateway: GatewayThread) -> None:
        self.core, self.gateway = core, gateway


@pytest.fixture(scope="module")
def stack(embedded_backend, tmp_path_factory) -> Iterator[Stack]:
    """The shipped catalog (config/models.toml), its embedded model the session's real one
    (loaded with a smaller window), threads and knowledge in SQLite."""
    specs = [
        replace(spec, context_window=EMBEDDED_CONTEXT) if spec.name == EMBEDDED else spec
        for spec in load_specs(ROOT / "config" / "models.toml")
    ]
    catalog = ModelCatalog(specs)
    catalog.attach(EMBEDDED, embedded_backend)
    database = tmp_path_factory.mktemp("docs") / "chatrpc.db"
    core = CoreThread(catalog, database_url=f"sqlite:///{database}")
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    yield Stack(core, gateway)
    gateway.stop()
    core.stop()


def _param(example: Example):
    marks = [pytest.mark.skip(reason=example.skip)] if example.skip else []
    return pytest.param(example, id=example.id, marks=marks)


def _run(example: Example, stack: Stack, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = pointed_at(example.code, stack.gateway.url, stack.core.target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients")])}
    if example.language == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-c", SH_PROLOGUE + code]
    # A bound on a hang, not a speed check: the embedded model is slow on a loaded machine.
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("example", [_param(e) for e in all_examples()])
def test_example_runs_against_a_live_stack(example: Example, stack: Stack, tmp_path: Path):
    # Shell examples run from the repository root (`source .venv/bin/activate`); Python ones
    # from a scratch directory, so nothing they write lands in the checkout.
    cwd = ROOT if example.language == "sh" else tmp_path
    result = _run(example, stack, cwd)
    assert result.returncode == 0, f"{example.id}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{example.id} printed nothing\n{result.stderr}"


def test_the_readme_has_one_example_for_each_of_the_four_clients():
    readme = [e for e in all_examples() if e.page == "README.md"]
    codes = [e.code for e in readme if e.skip is None]
    assert any("curl " in c and "/v1/chat/completions" in c for c in codes)
    assert any("from openai import OpenAI" in c for c in codes)
    assert any("chatrpc.Client(" in c for c in codes)
    assert any("grpcurl " in c for c in codes)


def test_every_skipped_example_says_why():
    skipped = [e for e in all_examples() if e.skip is not None]
    assert skipped, "the DashScope, TLS and cluster examples are marked"
    assert all(len(e.skip or "") > 10 for e in skipped)
