"""create_server(): the pipeline wired to its catalog and stores, served by a grpc.aio server
with ChatService, standard health and reflection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chatrpc.v1 import (
    admin_service_pb2 as apb,
    admin_service_pb2_grpc as apb_grpc,
    chat_service_pb2 as pb,
    chat_service_pb2_grpc as pb_grpc,
)
from core.auth import KeyRing, load_keyring
from core.catalog import ModelCatalog
from core.errors import ConfigError
from core.keys.budgets import Budgets
from core.keys.directory import KeyDirectory
from core.knowledge.base import KnowledgeStore
from core.mcp.client import McpConnector
from core.mcp.config import load_mcp_config
from core.memory.base import MemoryStore
from core.memory.lifecycle import RetentionPolicy
from core.memory.sweeper import Sweeper
from core.modes.apps import load_apps, load_flows
from core.modes.steps import Modes
from core.pipeline.chat import ChatPipeline
from core.pipeline.embeddings import Embedder
from core.pipeline.threads import ThreadMemory
from core.quotas import Quotas
from core.server.admin import AdminServicer
from core.server.background import BackgroundChats
from core.server.guard import Guard
from core.server.observe import RpcObserver
from core.server.reflection import enable_reflection
from core.server.servicer import ChatServicer
from core.server.spend import catalog_prices
from core.settings import Settings
from observability.metrics import MetricsServer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ChatService"].full_name
ADMIN_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["AdminService"].full_name
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# Keepalive and size limits (reference/reliability.md §1 "gRPC: limits", "keepalive").
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_metadata_size", 16 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Clients' keepalive pings (the gateway's: every CHATRPC_GATEWAY_CORE_KEEPALIVE s, with or
    # without calls) are welcome down to once a second; gRPC's default answers pings more
    # often than every 5 minutes with GOAWAY "too_many_pings".
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.max_ping_strikes", 0),
)


def server_options(settings: Settings) -> tuple[tuple[str, int], ...]:
    """SERVER_OPTIONS, and the connection age limit if one is set (in-flight calls on an aged
    connection are never cut: gRPC's grace after GOAWAY is unbounded by default)."""
    age = settings.max_connection_age_seconds
    return (
        (*SERVER_OPTIONS, ("grpc.max_connection_age_ms", age * 1000)) if age > 0 else SERVER_OPTIONS
    )


@dataclass(slots=True)
class CoreServer:
    """A started-or-not core: the server, the port it bound, its health servicer and its
    Prometheus exporter (None when CHATRPC_METRICS_PORT is off)."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    quotas: Quotas
    metrics: MetricsServer | None = None
    sweeper: Sweeper | None = None
    keys: KeyDirectory | None = None
    budgets: Budgets | None = None
    background: BackgroundChats | None = None  # background turns (core.server.background)

    async def stop_background(self) -> None:
        """Stops this replica's sweeper and key reloads; lets its spend writes land; ends its
        background turns (failed: REPLICA_LOST) rather than leave them to their lease."""
        if self.background is not None:
            await self.background.aclose()
        if self.sweeper is not None:
            await self.sweeper.aclose()
        if self.keys is not None:
            await self.keys.aclose()
        if self.budgets is not None:
            await self.budgets.drain()

    async def set_serving(self, serving: bool) -> None:
        """Reports SERVING (or NOT_SERVING) for the whole server and for ChatService."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace: float | None) -> None:
        """Health goes NOT_SERVING for good, then in-flight RPCs get `grace` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.stop_background()
        await self.quotas.aclose()
        if self.metrics is not None:
            self.metrics.close()


async def create_server(
    settings: Settings,
    keys: KeyRing,
    catalog: ModelCatalog,
    *,
    threads: MemoryStore | None = None,
    knowledge: KnowledgeStore | None = None,
) -> CoreServer:
    """Wires the pipeline (apps and flows from the settings' folders, thread memory over
    `threads`) and binds the server (port 0 picks a free port); health starts NOT_SERVING."""
    pipeline = _pipeline(settings, catalog, threads, knowledge)
    embedder = Embedder(catalog, settings.limits)
    background = _background(settings, pipeline, threads)
    servicer = ChatServicer(
        pipeline,
        catalog,
        threads=threads,
        knowledge=knowledge,
        embedder=embedder,
        background=background,
        max_deadline=settings.max_deadline,
        limits=settings.limits,
    )
    quotas = Quotas.open(settings.redis_url, bad_keys_per_minute=settings.bad_keys_per_minute)
    directory = KeyDirectory(keys, threads, refresh=settings.key_refresh_seconds)
    directory.start()
    budgets = _budgets(directory, threads, catalog)
    guard = _guard(settings, quotas, directory, budgets)
    # No maximum_concurrent_rpcs: grpc's own refusal is slow and bare; the guard sheds instead.
    server = grpc.aio.server(options=server_options(settings), interceptors=[guard])
    pb_grpc.add_ChatServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = (SERVICE_NAME, HEALTH_SERVICE_NAME, *_admin(server, settings, directory, threads))
    if settings.reflection:
        enable_reflection(server, services)
    port = _add_port(server, settings)
    exporter = None
    if settings.metrics_port is not None:
        exporter = MetricsServer(settings.host, settings.metrics_port)
    core = CoreServer(
        server=server,
        port=port,
        health=health_servicer,
        quotas=quotas,
        metrics=exporter,
        sweeper=_sweeper(settings, threads),
        keys=directory,
        budgets=budgets,
        background=background,
    )
    await core.set_serving(False)
    return core


def _budgets(
    directory: KeyDirectory, threads: MemoryStore | None, catalog: ModelCatalog
) -> Budgets | None:
    """Budgets and spend, where keys have a database (the thread store's)."""
    if threads is None:
        return None
    return Budgets(directory, threads, catalog_prices(catalog), default_model=catalog.default)


def _guard(
    settings: Settings, quotas: Quotas, directory: KeyDirectory, budgets: Budgets | None
) -> Guard:
    """The guard over the keys (configured and virtual), with budgets where keys have spend."""
    return Guard(
        directory,
        quotas,
        settings.limits,
        max_in_flight=settings.max_concurrent_rpcs,
        retry_after=settings.overload_retry_after,
        trusted_proxies=settings.trusted_proxies,
        replica_id=settings.replica_id,
        observer=RpcObserver(),
        budgets=budgets,
    )


def _admin(
    server: grpc.aio.Server,
    settings: Settings,
    directory: KeyDirectory,
    threads: MemoryStore | None,
) -> tuple[str, ...]:
    """AdminService, when admin keys are configured (and keys have a database); its name."""
    if not settings.admin_keys or threads is None:
        return ()
    admins = load_keyring("required", "", settings.admin_keys)
    apb_grpc.add_AdminServiceServicer_to_server(AdminServicer(admins, directory, threads), server)
    return (ADMIN_SERVICE_NAME,)


def _sweeper(settings: Settings, threads: MemoryStore | None) -> Sweeper | None:
    """This replica's retention sweeper, started now (None without threads or when off)."""
    if threads is None or settings.sweep_interval_seconds <= 0:
        return None
    policy = RetentionPolicy(
        thread_ttl=settings.thread_ttl_seconds,
        response_ttl=settings.response_ttl_seconds,
        keep_latest=settings.thread_keep_latest,
    )
    sweeper = Sweeper(
        threads, policy, interval=settings.sweep_interval_seconds, batch=settings.sweep_batch
    )
    sweeper.start()
    return sweeper


def _pipeline(
    settings: Settings,
    catalog: ModelCatalog,
    threads: MemoryStore | None,
    knowledge: KnowledgeStore | None,
) -> ChatPipeline:
    """The pipeline: apps and flows from the settings' folders, thread memory over `threads`,
    the MCP servers the settings register."""
    apps = load_apps(Path(settings.apps_dir))
    modes = Modes(apps, load_flows(Path(settings.flows_dir), apps), knowledge)
    memory = (
        ThreadMemory(
            threads, wait=settings.thread_wait_seconds, store_reasoning=settings.store_reasoning
        )
        if threads
        else None
    )
    mcp = McpConnector(load_mcp_config(settings.mcp_file, settings.environ))
    return ChatPipeline(catalog, settings.limits, memory=memory, modes=modes, mcp=mcp)


def _background(
    settings: Settings, pipeline: ChatPipeline, threads: MemoryStore | None
) -> BackgroundChats | None:
    """Background turns, logged in the thread store (none without one), their sweeper started."""
    if threads is None:
        return None
    chats = BackgroundChats(pipeline, threads, settings.background, replica_id=settings.replica_id)
    chats.start_sweeper()
    return chats


def _add_port(server: grpc.aio.Server, settings: Settings) -> int:
    """Binds the port: TLS (mutual with a client CA) when a certificate is configured."""
    address = f"{settings.host}:{settings.port}"
    if not (settings.tls_cert_file or settings.tls_key_file or settings.tls_client_ca_file):
        return server.add_insecure_port(address)
    if not (settings.tls_cert_file and settings.tls_key_file):
        raise ConfigError("TLS needs both CHATRPC_TLS_CERT_FILE and CHATRPC_TLS_KEY_FILE")
    client_ca = _pem(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    credentials = grpc.ssl_server_credentials(
        [(_pem(settings.tls_key_file), _pem(settings.tls_cert_file))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
    return server.add_secure_port(address, credentials)


def _pem(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
