"""Shared fixtures: the scripted backend, the real embedded model, a core server on loopback,
PostgreSQL and Redis (found or started: tests/pg.py, tests/redis_server.py); and, under CI, a
failed session when a test that needs one of those services was skipped."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from core.backends.llama_cpp import LlamaCppBackend
from core.backends.llama_embedding import LlamaEmbedder
from core.backends.llama_loading import chat_template, last_logits, load_llama
from core.catalog import EmbeddingSpec, ModelCatalog, ModelSpec
from tests import pg
from tests.fakes import ScriptedBackend
from tests.redis_server import redis_server
from tests.servers import CoreThread

SCRIPTED = "scripted"
EMBEDDED = "smollm2-135m-instruct"
EMBEDDED_CONTEXT = 2048
EMBEDDED_DIMENSIONS = 576  # SmolLM2-135M's hidden size


class CountingLlama:
    """Wraps the real llama_cpp.Llama to count the tokens its generate() yields."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self.yielded = 0
        self._lock = threading.Lock()

    def generate(self, tokens: Any, **kwargs: Any) -> Iterator[int]:
        for token in self._llama.generate(tokens, **kwargs):
            with self._lock:
                self.yielded += 1
            yield token

    def close(self) -> None:  # the session owns the real model; backends must not free it
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)


@pytest.fixture(scope="session")
def real_llama() -> Iterator[Any]:
    """The embedded SmolLM2 GGUF, loaded once per session."""
    llama = load_llama({"context_window": EMBEDDED_CONTEXT})
    yield llama
    llama.close()


@pytest.fixture(scope="session")
def counting_llama(real_llama: Any) -> CountingLlama:
    return CountingLlama(real_llama)


@pytest.fixture(scope="session")
def embedded_backend(real_llama: Any, counting_llama: CountingLlama) -> LlamaCppBackend:
    """The one LlamaCppBackend over the real model (a Llama serves one sequence at a time),
    with its embedding context (opened on the first embed, as in production)."""
    render, stop = chat_template(real_llama)
    embedder = LlamaEmbedder.from_options({}, load_llama)
    return LlamaCppBackend(
        counting_llama, render, stop=stop, embedder=embedder, logits=last_logits(real_llama)
    )


@pytest.fixture
def scripted() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def catalog(scripted: ScriptedBackend, embedded_backend: LlamaCppBackend) -> ModelCatalog:
    """ "scripted" (the default, a ScriptedBackend) and the real embedded model."""
    specs = [
        ModelSpec(name=SCRIPTED, backend="scripted", context_window=4096, owned_by="tests"),
        ModelSpec(
            name=EMBEDDED,
            backend="llama_cpp",
            context_window=EMBEDDED_CONTEXT,
            embeddings=EmbeddingSpec(dimensions=EMBEDDED_DIMENSIONS),
        ),
    ]
    catalog = ModelCatalog(specs)
    catalog.attach(SCRIPTED, scripted)
    catalog.attach(EMBEDDED, embedded_backend)
    return catalog


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/threads.db"


@pytest.fixture
def core_server(catalog: ModelCatalog, sqlite_url: str) -> Iterator[CoreThread]:
    """A real core on 127.0.0.1:0 (own loop thread) serving `catalog`, threads in SQLite."""
    server = CoreThread(catalog, database_url=sqlite_url)
    yield server
    server.stop()


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


@pytest.fixture
def clean_postgres_url(postgres_url: str) -> str:
    """The session's database, every store table emptied before the test."""
    pg.run(pg.empty_tables(postgres_url))
    return postgres_url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a reachable Redis server (found, or started for this session)."""
    with redis_server() as (url, why):
        if url is None:
            pytest.skip(why)
        yield url


SERVICE_MARKERS = ("postgres", "redis")
SERVICE_FIXTURES = ("postgres_server_url", "redis_url")
_skipped_services: list[str] = []


def _needs_a_service(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return any(item.get_closest_marker(m) for m in SERVICE_MARKERS) or any(
        f in fixtures for f in SERVICE_FIXTURES
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.skipped and _needs_a_service(item):
        _skipped_services.append(f"{item.nodeid}: {report.longrepr}")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped PostgreSQL or Redis test fails the run: the suite must not pass while
    testing less because a service was missing (tests/pg.py and tests/redis_server.py start
    both from the dev extra's wheels)."""
    if os.environ.get("CI") == "true" and _skipped_services:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{len(_skipped_services)} service tests skipped under CI:", red=True
            )
            for line in _skipped_services[:20]:
                reporter.write_line("  " + line[:300])
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
