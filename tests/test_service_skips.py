"""Under CI a skipped PostgreSQL or Redis test fails the run (tests/conftest.py); elsewhere it
is a named skip. Run in a child pytest on a throwaway test file, with this suite's conftest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPING = """
import pytest

@pytest.mark.{marker}
def test_needs_the_service():
    pytest.skip("no such server here")

def test_other():
    pass
"""


def run_pytest(tmp_path: Path, marker: str, ci: bool) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_skipping.py"
    test.write_text(SKIPPING.format(marker=marker))
    env = {**os.environ, "CI": "true" if ci else ""}
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml")]
    command += ["-p", "tests.conftest", "-p", "no:cacheprovider", "-q", str(test)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("marker", ["postgres", "redis"])
def test_a_skipped_service_test_fails_the_run_under_ci(tmp_path: Path, marker: str) -> None:
    done = run_pytest(tmp_path, marker, ci=True)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "1 service tests skipped under CI" in done.stdout
    assert "test_needs_the_service" in done.stdout and "no such server here" in done.stdout


def test_outside_ci_the_skip_is_named_and_the_run_passes(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "postgres", ci=False)
    assert done.returncode == 0, done.stdout
    assert "SKIPPED" in done.stdout and "no such server here" in done.stdout
