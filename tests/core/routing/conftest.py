"""Routing fixtures: a fleet of fake upstreams, and a real core whose catalog routes over it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import chatrpc
from core.auth import KeyRing
from core.catalog import ModelCatalog, load_specs
from core.loading import load_models
from core.settings import Settings
from tests.servers import CoreThread
from tests.upstream_fleet import Fleet, fleet


@dataclass
class Trails:
    """chatrpc.CallHooks keeping each call's trailing metadata, in order."""

    seen: list[Mapping[str, str]] = field(default_factory=list)

    def outgoing(self, method: str) -> list[tuple[str, str]]:
        return []

    def finished(self, method: str, trailing: Mapping[str, str]) -> None:
        self.seen.append(dict(trailing))

    @property
    def last(self) -> Mapping[str, str]:
        return self.seen[-1]


@dataclass
class RoutedCore:
    core: CoreThread
    catalog: ModelCatalog
    client: chatrpc.Client
    trails: Trails


@pytest.fixture
def fleet3() -> Iterator[Fleet]:
    with fleet(3) as running:
        yield running


@contextmanager
def routed_core(
    toml: str,
    tmp: Path,
    *,
    redis_url: str = "",
    settings: Settings | None = None,
    database_url: str | None = None,
    keys: KeyRing | None = None,
    api_key: str | None = None,
) -> Iterator[RoutedCore]:
    """A core serving the catalog `toml` (models loaded on the core's loop), and a client."""
    path = tmp / f"models-{abs(hash(toml))}.toml"
    path.write_text(toml)
    catalog = ModelCatalog(load_specs(path))
    core = CoreThread(
        catalog, settings=settings, metrics=True, database_url=database_url, keys=keys
    )
    core.run(load_models(catalog, {}, redis_url))
    trails = Trails()
    client = chatrpc.Client(core.target, hooks=trails, timeout=30, api_key=api_key)
    try:
        yield RoutedCore(core, catalog, client, trails)
    finally:
        client.close()
        for task in (catalog.shared, catalog.health):
            if task is not None:
                core.run(task.aclose())
        core.stop()


@pytest.fixture
def start_core(tmp_path: Path) -> Iterator[Callable[..., RoutedCore]]:
    """Starts routed cores for the test (closed after it)."""
    with ExitStack() as stack:

        def start(toml: str, **kwargs: object) -> RoutedCore:
            return stack.enter_context(routed_core(toml, tmp_path, **kwargs))  # type: ignore[arg-type]

        yield start


def gauge(url: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels}` scraped from the Prometheus endpoint `url`."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
