"""The docs site builds with `mkdocs build --strict` (no broken link, no page left out of the
navigation), and README stays a front page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.docs.examples import ROOT

README_LIMIT = 8000  # characters: two screens, the reference lives in docs/


def test_mkdocs_build_strict_passes(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "operations" / "configuration" / "index.html").exists()


def test_readme_fits_in_8000_characters():
    assert len((ROOT / "README.md").read_text()) <= README_LIMIT


def test_readme_links_point_at_existing_files():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith("http")]
    assert local and all((ROOT / t).exists() for t in local), local
