"""PostgreSQL fixtures for the memory store tests; the work is in tests/pg.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import pg


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """Admin URL of a reachable PostgreSQL server (found, or started for this session)."""
    with pg.postgres_server() as found:
        if found.url is None:
            pytest.skip(found.reason)
        yield found.url


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a database of this test run's own, dropped at the end of the session."""
    with pg.fresh_database(postgres_server_url) as url:
        yield url
