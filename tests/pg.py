"""Find or start a PostgreSQL server for tests and benchmarks, and make throwaway databases.

Order: the URL in CHATRPC_TEST_POSTGRES_URL; a server on 127.0.0.1:5432 (users postgres, root);
a throwaway cluster started with initdb/pg_ctl (from PATH or /usr/lib/postgresql/*/bin) in a
temporary directory on a free port, stopped and removed afterwards. Only when none of these
works is the reason returned, so the caller can skip.
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

ENV_URL = "CHATRPC_TEST_POSTGRES_URL"
CANDIDATE_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)

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
    for url in CANDIDATE_URLS:
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


def _binaries() -> tuple[str, str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bin_dir in versions:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return str(bin_dir / "initdb"), str(bin_dir / "pg_ctl")
    raise _Unavailable("install PostgreSQL (initdb and pg_ctl not found)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres_user(root: Path) -> list[str]:
    """initdb refuses to run as root: run the cluster as the `postgres` user instead."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise _Unavailable("running as root and there is no 'postgres' user") from None
    if runuser is None:
        raise _Unavailable("running as root and runuser is missing")
    os.chown(root, user.pw_uid, user.pw_gid)
    return [runuser, "-u", "postgres", "--"]


def _start_cluster() -> tuple[str, Callable[[], None]]:
    initdb, pg_ctl = _binaries()
    root = Path(tempfile.mkdtemp(prefix="chatrpc-pg-"))
    root.chmod(0o700)
    data, log = root / "data", root / "postgres.log"
    try:
        prefix = _as_postgres_user(root)
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
