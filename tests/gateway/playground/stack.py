"""A core on the scripted model behind a gateway, for the playground's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.auth import KeyRing, digest
from core.catalog import ModelCatalog, ModelSpec
from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread, GatewayThread

MODEL = "scripted"
KEY = "sk-playground-0001"


@contextmanager
def playground_stack(
    scripted: ScriptedBackend, database: Path, *, keys: bool = False
) -> Iterator[tuple[CoreThread, GatewayThread]]:
    """The scripted model as the one catalog entry, threads in SQLite; with `keys`, the core
    knows one key (KEY, owner "alice") and the gateway requires one."""
    catalog = ModelCatalog([ModelSpec(name=MODEL, backend="scripted", context_window=4096)])
    catalog.attach(MODEL, scripted)
    ring = KeyRing({"alice": digest(KEY)}) if keys else None
    core = CoreThread(catalog, database_url=f"sqlite:///{database}", keys=ring)
    auth = "required" if keys else "disabled"
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth=auth)))
    try:
        yield core, gateway
    finally:
        gateway.stop()
        core.stop()
