"""Subprocesses for the bench: start on loopback, pinned, wait until ready, measure CPU, stop.

Each service runs in a session of its own, so it and any children it forks (uvicorn
workers) are one process group: CPU is summed over the group and stop() signals the group.
A service given `cpus` is pinned to them before it executes (so every thread and child it
starts inherits the pinning).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
# The bench's own requirements (bench/requirements.txt), installed apart from .venv.
DEPS = ROOT / "bench" / ".deps"
_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_env(
    extra: dict[str, str] | None = None, paths: Collection[Path] = (ROOT, ROOT / "clients")
) -> dict[str, str]:
    """The environment for `.venv/bin/python -m …` with `paths` first on PYTHONPATH (default:
    this checkout and its SDK). Proxies are ignored for loopback."""
    env = dict(os.environ)
    entries = [*(str(p) for p in paths), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in entries if p)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the bench's own tools (load generator, mock upstream): this
    checkout's bench package and its requirements, not the SDK or the service."""
    return python_env(extra, (ROOT, DEPS))


def pinned(cpus: Collection[int] | None) -> Callable[[], None]:
    """A preexec_fn: die with the parent, and run on `cpus` (None: anywhere)."""

    def setup() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, set(cpus))

    return setup


@dataclass
class Service:
    """One server process of a stack; `role` is "front" (HTTP) or "back" (core/upstream)."""

    name: str
    role: str
    argv: list[str]
    port: int
    env: dict[str, str]
    log_path: Path
    cpus: frozenset[int] | None = None
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pinned(self.cpus),
        )

    def wait_listening(self, timeout: float) -> None:
        """Returns once 127.0.0.1:port accepts connections; raises if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not listen on port {self.port} in {timeout:.0f} s")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the group, plus reaped children's."""
        if self.process is None:
            return 0.0
        return group_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 5 s; safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(5)
            # Children that outlived the leader still carry its group id.
            _signal_group(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the runner dies without cleaning up (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_cpu_seconds(pgid: int) -> float:
    """Sums utime+stime (and cutime+cstime) over /proc for processes in group `pgid`."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:
            continue
        # The command name (field 2) may contain spaces; the fields after its ")" do not.
        fields = raw[raw.rindex(b")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5: pgrp
            ticks += sum(int(f) for f in fields[11:15])  # fields 14-17
    return ticks / _TICKS
