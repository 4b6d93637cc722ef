"""A storage driver failing under load is a retryable UNAVAILABLE, never an INTERNAL: the
core's database connections terminated while turns run on PostgreSQL (a real server), and the
driver-failure rule (core.storage.failures) on what drivers really raise."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

import chatrpc
from core.storage.failures import is_driver_failure
from tests.servers import CoreThread

TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def turns_while_terminating(target: str, url: str) -> list[str]:
    """60 stored turns on 6 threads, the database's other sessions terminated 12 times."""
    async with chatrpc.AsyncClient(target) as client:

        async def turn(i: int) -> str:
            try:
                await client.chat("hi", model="scripted", thread_id=f"t{i % 6}", timeout=30)
            except chatrpc.ChatServiceError as exc:
                return exc.code.name
            return "OK"

        async def terminate() -> None:
            for _ in range(12):
                await asyncio.sleep(0.03)
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(TERMINATE)
                finally:
                    await conn.close()

        *codes, _ = await asyncio.gather(*(turn(i) for i in range(60)), terminate())
        return codes


@pytest.mark.postgres
def test_terminated_database_sessions_are_unavailable_never_internal(
    catalog, scripted, clean_postgres_url
) -> None:
    scripted.delay = 0.005  # turns overlap the terminations
    core = CoreThread(catalog, database_url=clean_postgres_url)
    try:
        codes = asyncio.run(turns_while_terminating(core.target, clean_postgres_url))
    finally:
        core.stop()
    assert set(codes) <= {"OK", "UNAVAILABLE"}, codes
    assert "OK" in codes


async def driver_raises(conn: asyncpg.Connection) -> BaseException:
    """What asyncpg raises for a query on a connection closed under it."""
    await conn.close()
    try:
        await conn.fetchval("SELECT 1")
    except Exception as exc:
        return exc
    raise AssertionError("a closed connection answered")


@pytest.mark.postgres
def test_what_drivers_raise_counts_as_a_driver_failure(postgres_url) -> None:
    async def closed() -> BaseException:
        return await driver_raises(await asyncpg.connect(postgres_url))

    assert is_driver_failure(asyncio.run(closed()))
    assert is_driver_failure(sqlite3.OperationalError("database is locked"))
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = ConnectionResetError()
    assert not is_driver_failure(wrapped)  # OSError alone is not the driver's: the pools map it
    ours = AttributeError("'NoneType' object has no attribute 'data_received'")
    assert not is_driver_failure(ours)  # not raised in the driver's code
