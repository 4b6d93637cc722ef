"""The targets under test and the processes behind them.

Every chatrpc process is driven from outside only: started as `python -m core` /
`python -m gateway` of a checkout (PYTHONPATH=<checkout>:<checkout>/clients, cwd=<checkout>),
configured by environment variables and a generated catalog file, reached over HTTP.

- `direct`: the mock upstream itself (CPU 1, with the load generator).
- `chatrpc-upstream`: `python -m gateway` → `python -m core` (catalog: `openai_compat` → mock).
- `chatrpc-routed-1` / `-3`: chatrpc-upstream through the core's router, one or three
  deployments on the mock; `chatrpc-failover-refused` / `-silent`: a first deployment that
  refuses connections / never sends a byte (first_token_timeout 0.2 s), then the mock.
- `chatrpc-synthetic`: `python -m gateway` → `python -m bench.synthetic_core` of that checkout.
- `bare-1`, `bare-8`: `python -m bench.bare_chain gateway` → `… server` (two routes, one pair).
- `litellm`: the LiteLLM proxy (its own venv) → the mock upstream.
- `chatrpc-embedded`: `python -m gateway` → `python -m core` (catalog: the embedded model).
- `ceiling`: a second mock upstream, on CPU 0: the load generator's own ceiling.

The servers under test run on CPU 0, the mock and the load generator on CPU 1.

`llama-inprocess` (bench/embedded_ref.py) has no server: the runner starts it per measurement.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import selectors
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.bare_chain import PACKED_PREFIX
from bench.embedded_ref import EMBEDDED_MODEL
from bench.litellm_proxy import (
    ensure_litellm,
    litellm_command,
    litellm_env,
    new_master_key,
    write_config,
)
from bench.mock_upstream import API_KEY_ENV
from bench.processes import ROOT, Service, bench_env, free_port, python_env
from bench.reply import BENCH_MODEL, PACED_MODEL, expected_text

CHAT_PATH = "/v1/chat/completions"
ROUTED_KINDS = (
    "chatrpc-routed-1", "chatrpc-routed-3", "chatrpc-failover-refused", "chatrpc-failover-silent",
)  # fmt: skip
CHATRPC_KINDS = ("chatrpc-upstream", "chatrpc-synthetic", "chatrpc-embedded", *ROUTED_KINDS)
# What each kind of target is measured on: instant non-stream and stream levels, paced
# streams, the embedded-model comparison.
KIND_MODES: dict[str, frozenset[str]] = {
    "direct": frozenset({"unary", "stream", "paced"}),
    "chatrpc-upstream": frozenset({"unary", "stream", "paced"}),
    "chatrpc-synthetic": frozenset({"unary", "stream"}),
    # chatrpc-upstream with the core's router (docs/routing.md): one deployment, three (all on
    # the mock), and a first deployment that refuses connections or never sends a byte
    "chatrpc-routed-1": frozenset({"unary", "stream", "paced"}),
    "chatrpc-routed-3": frozenset({"unary", "stream", "paced"}),
    "chatrpc-failover-refused": frozenset({"unary", "stream"}),
    "chatrpc-failover-silent": frozenset({"unary", "stream"}),
    "bare-1": frozenset({"unary", "stream", "paced"}),
    "bare-8": frozenset({"stream", "paced"}),  # non-stream is bare-1's unary route
    "litellm": frozenset({"unary", "stream", "paced"}),
    "ceiling": frozenset({"stream"}),
    "chatrpc-embedded": frozenset({"embedded"}),
    "llama-inprocess": frozenset({"embedded"}),
}
TARGET_KINDS = tuple(KIND_MODES)

# Feature variants of a chatrpc target, `chatrpc-upstream~<variant>[@checkout]`: the same
# processes with one feature switched away from its default (the default target has every
# feature at its default: metrics and access lines on, tracing off (no OTEL_* set), no API
# keys). Each maps to the environment added to both processes; `keys` and `quotas` also
# make the load generator send the key. docs/performance.md says what each one costs.
BENCH_KEY = "sk-bench-" + "0" * 24
VARIANTS: dict[str, dict[str, str]] = {
    # Metrics not recorded, no exporter, no access line on either face.
    "obs-off": {
        "CHATRPC_METRICS": "off",
        "CHATRPC_ACCESS_LOG": "off",
        "CHATRPC_METRICS_PORT": "off",
        "CHATRPC_GATEWAY_METRICS_PORT": "off",
    },
    # API keys required: the gateway's Bearer check and the core's key check (the guard),
    # the key without limits.
    "keys": {"CHATRPC_AUTH": "required", "CHATRPC_API_KEYS": f"bench={BENCH_KEY}"},
    # The same key with limits far above the load: every turn counted by the quotas.
    "quotas": {"CHATRPC_AUTH": "required"},  # + CHATRPC_API_KEYS_FILE, written per run
}


class StackUnavailable(Exception):
    """The stack cannot run here (say, the checkout has no gateway package)."""


@dataclass
class Stack:
    """Server processes that start, stop and are measured together."""

    name: str
    services: list[Service]
    api_key: str = "bench"
    ready_path: str = CHAT_PATH
    ready_model: str = BENCH_MODEL
    ready_text: str | None = None  # None: any non-empty reply
    paced: bool = True  # serves bench-model-paced too
    started: bool = False

    @property
    def front(self) -> Service:
        return next(s for s in self.services if s.role == "front")

    def start(self, timeout: float = 120.0, warm_up: int = 20) -> None:
        """Starts every service in order, waits for one complete reply through the front, then
        sends `warm_up` short requests of each kind (lazy imports and caches out of the way)."""
        self.started = True
        for service in self.services:
            service.start()
            service.wait_listening(timeout)
        self._wait_ready(timeout)
        if self.ready_text is None:
            return
        kinds = [(False, BENCH_MODEL), (True, BENCH_MODEL)] + [(True, PACED_MODEL)] * self.paced
        try:
            for _ in range(warm_up):
                for stream, model in kinds:
                    self._post({"model": model, "stream": stream, "max_tokens": 2}, 30)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{self.name}: a warm-up request failed: HTTP {exc.code}") from None

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def cpu_seconds(self) -> dict[str, float]:
        return {service.role: service.cpu_seconds() for service in self.services}

    def check_alive(self) -> None:
        for service in self.services:
            service.check_alive()

    def log_tails(self) -> dict[str, str]:
        return {service.name: service.log_tail() for service in self.services}

    def _post(self, fields: dict[str, object], timeout: float) -> bytes:
        url = f"http://127.0.0.1:{self.front.port}{self.ready_path}"
        payload = {"messages": [{"role": "user", "content": "ready?"}], **fields}
        if payload.get("stream"):
            payload["stream_options"] = {"include_usage": True}
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.api_key}"}
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())

    def _wait_ready(self, timeout: float) -> None:
        fields: dict[str, object] = {"model": self.ready_model}
        if self.ready_text is None:
            fields["max_tokens"] = 8
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                reply = json.loads(self._post(fields, 30))
                content = reply["choices"][0]["message"]["content"]
                if content and (self.ready_text is None or content == self.ready_text):
                    return
                last = f"unexpected reply {reply!r:.300}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} never answered a complete reply: {last}")


@dataclass
class Target:
    """One row of the results: a route on a stack (or, for llama-inprocess, no stack)."""

    label: str
    kind: str
    stack: Stack | None
    path: str = CHAT_PATH
    root: Path | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def modes(self) -> frozenset[str]:
        return KIND_MODES[self.kind]

    @property
    def api_key(self) -> str:
        return self.stack.api_key if self.stack else ""

    @property
    def url(self) -> str:
        assert self.stack is not None
        return f"http://127.0.0.1:{self.stack.front.port}{self.path}"


@dataclass
class Placement:
    """Where processes run: the servers under test, and the load generator with the mock."""

    servers: frozenset[int] | None
    tools: frozenset[int] | None

    @property
    def server_threads(self) -> int:
        """Threads for the embedded model: one per CPU the servers are pinned to (0: all)."""
        return len(self.servers) if self.servers else 0


@dataclass
class Environment:
    """What the stack builders share: the reply, the pace, the logs, the mock and the pinning."""

    tokens: int
    pace_ms: float
    log_dir: Path
    placement: Placement
    upstream_key: str = field(default_factory=lambda: "sk-upstream-" + secrets.token_hex(16))
    mock: Stack | None = None
    loadgen_info: dict[str, str | None] = field(default_factory=dict)  # its loop and JSON parser

    @property
    def mock_url(self) -> str:
        assert self.mock is not None
        return f"http://127.0.0.1:{self.mock.front.port}/v1"


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def checkout_env(root: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a process of the checkout at `root`: its code and its SDK first."""
    return python_env(extra, (root, root / "clients"))


def check_checkout(root: Path) -> None:
    """Raises StackUnavailable unless `root` holds the service with generated stubs."""
    for package in ("core", "gateway", "clients/chatrpc"):
        if not (root / package / "__init__.py").is_file():
            raise StackUnavailable(f"{root} has no {package} package")
    if not any((root / "clients" / "chatrpc" / "v1").glob("*_pb2.py")):
        raise StackUnavailable(
            f"{root} has no generated stubs: run `make proto` there, or see bench/README.md"
        )


def mock_stack(env: Environment, name: str = "mock", cpus: frozenset[int] | None = None) -> Stack:
    port = free_port()
    argv = _py(
        "bench.mock_upstream",
        "--port",
        str(port),
        "--tokens",
        str(env.tokens),
        "--pace-ms",
        str(env.pace_ms),
    )
    service = Service(
        f"mock OpenAI upstream ({name})",
        "front",
        argv,
        port,
        bench_env({API_KEY_ENV: env.upstream_key}),
        env.log_dir / f"{name}.log",
        cpus=env.placement.tools if cpus is None else cpus,
    )
    return Stack(name, [service], api_key=env.upstream_key, ready_text=expected_text(env.tokens))


def _gateway(
    env: Environment, label: str, root: Path, core_port: int, extra: dict[str, str] | None = None
) -> Service:
    port = free_port()
    return Service(
        f"{label} gateway",
        "front",
        _py("gateway"),
        port,
        checkout_env(
            root,
            {
                "CHATRPC_GATEWAY_HOST": "127.0.0.1",
                "CHATRPC_GATEWAY_PORT": str(port),
                "CHATRPC_CORE_TARGET": f"127.0.0.1:{core_port}",
                "CHATRPC_AUTH": "disabled",
                # Metrics recorded and exported as in production, on a free port per process.
                "CHATRPC_GATEWAY_METRICS_PORT": os.environ.get("BENCH_METRICS_PORT", "0"),
                **(extra or {}),
            },
        ),
        env.log_dir / f"{_file(label)}-gateway.log",
        cpus=env.placement.servers,
        cwd=root,
    )


def _core_env(
    env: Environment,
    label: str,
    root: Path,
    port: int,
    catalog: Path,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    return checkout_env(
        root,
        {
            "CHATRPC_HOST": "127.0.0.1",
            "CHATRPC_PORT": str(port),
            "CHATRPC_MODELS_FILE": str(catalog),
            "CHATRPC_AUTH": "disabled",
            "CHATRPC_METRICS_PORT": os.environ.get("BENCH_METRICS_PORT", "0"),
            # The core's default (64) would refuse part of the 256-stream levels.
            "CHATRPC_MAX_CONCURRENT_RPCS": "1024",
            # Stateless turns touch no database; keep any file out of the checkout anyway.
            "CHATRPC_DATABASE_URL": f"sqlite:///{env.log_dir / (_file(label) + '.db')}",
            "CHATRPC_THREADS": str(env.placement.server_threads),
            API_KEY_ENV: env.upstream_key,
            **(extra or {}),
        },
    )


def _file(label: str) -> str:
    return label.replace("@", "-at-").replace("/", "_")


def upstream_catalog(base_url: str) -> str:
    """The catalog of chatrpc-upstream: both bench models, `openai_compat` → the mock."""
    entries = []
    for name in (BENCH_MODEL, PACED_MODEL):
        entries.append(
            f'[models."{name}"]\n'
            'backend = "openai_compat"\n'
            "context_window = 131072\n"
            'owned_by = "bench"\n'
            f'[models."{name}".options]\n'
            f'base_url = "{base_url}"\n'
            f'upstream_model = "{name}"\n'
            f'api_key_env = ["{API_KEY_ENV}"]\n'
            "timeout = 120\n"
        )
    return "# Generated by bench/stacks.py for one bench run.\n\n" + "\n".join(entries)


FIRST_TOKEN_TIMEOUT = 0.2  # chatrpc-failover-silent's, in seconds


def routed_catalog(urls: list[str], first_token_timeout: float = 0.0) -> str:
    """Both bench models over `urls` as deployments, least busy first (ties: the first listed,
    so a failing first deployment is tried by every request: its breaker never opens)."""
    entries = []
    for name in (BENCH_MODEL, PACED_MODEL):
        entry = (
            f'[models."{name}"]\n'
            'backend = "openai_compat"\n'
            "context_window = 131072\n"
            'owned_by = "bench"\n'
            f'[models."{name}".options]\n'
            f'upstream_model = "{name}"\n'
            f'api_key_env = ["{API_KEY_ENV}"]\n'
            "timeout = 120\n"
            f'[models."{name}".routing]\n'
            f'strategy = "{"least_busy" if len(urls) < 3 else "weighted"}"\n'
            f"first_token_timeout = {first_token_timeout}\n"
            f'[models."{name}".breaker]\n'
            "failures = 1000000000\n"
        )
        for index, url in enumerate(urls):
            entry += f'[[models."{name}".deployments]]\nname = "d{index}"\nbase_url = "{url}"\n'
        entries.append(entry)
    return "# Generated by bench/stacks.py for one bench run.\n\n" + "\n".join(entries)


class SilentUpstream:
    """A port that accepts connections and never answers (a first byte that never comes),
    served by a thread of the bench process (its CPU is nobody's)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    conn, _ = sock.accept()
                    selector.register(conn, selectors.EVENT_READ)
                    continue
                with contextlib.suppress(OSError):
                    if sock.recv(65536):
                        continue  # the request: read, never answered
                selector.unregister(sock)
                sock.close()


def chatrpc_routed(env: Environment, label: str, root: Path, kind: str) -> Stack:
    """chatrpc-upstream through the router: see ROUTED_KINDS."""
    mock, timeout = env.mock_url, 0.0
    urls = {"chatrpc-routed-1": [mock], "chatrpc-routed-3": [mock, mock, mock]}.get(kind)
    if kind == "chatrpc-failover-refused":
        urls = [f"http://127.0.0.1:{free_port()}/v1", mock]  # nothing listens there
    elif kind == "chatrpc-failover-silent":
        urls, timeout = [SilentUpstream().url, mock], FIRST_TOKEN_TIMEOUT
    assert urls is not None
    catalog = routed_catalog(urls, timeout)
    core, gateway = _catalog_stack(env, label, root, catalog, f"router, {len(urls)} deployments")
    paced = kind in ("chatrpc-routed-1", "chatrpc-routed-3")
    return Stack(label, [core, gateway], ready_text=expected_text(env.tokens), paced=paced)


def embedded_catalog() -> str:
    return (
        "# Generated by bench/stacks.py for one bench run.\n\n"
        f'[models."{EMBEDDED_MODEL}"]\n'
        'backend = "llama_cpp"\n'
        "context_window = 4096\n"
        'owned_by = "bench"\n'
    )


def variant_env(env: Environment, label: str, variant: str) -> dict[str, str]:
    """The environment a feature variant adds to both processes (see VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    extra = dict(VARIANTS[variant])
    if variant == "quotas":
        keys = env.log_dir / f"{_file(label)}-keys.toml"
        keys.parent.mkdir(parents=True, exist_ok=True)
        keys.write_text(
            "[keys.bench]\n"
            f'sha256 = "{hashlib.sha256(BENCH_KEY.encode()).hexdigest()}"\n'
            "requests_per_minute = 100000000\n"
            "tokens_per_minute = 100000000000\n"
            "concurrent_streams = 100000\n",
            encoding="utf-8",
        )
        extra["CHATRPC_API_KEYS_FILE"] = str(keys)
    return extra


def chatrpc_upstream(env: Environment, label: str, root: Path, variant: str = "") -> Stack:
    extra = variant_env(env, label, variant) if variant else {}
    core, gateway = _catalog_stack(
        env, label, root, upstream_catalog(env.mock_url), "openai_compat → mock", extra
    )
    key = BENCH_KEY if "CHATRPC_AUTH" in extra else "bench"
    return Stack(label, [core, gateway], api_key=key, ready_text=expected_text(env.tokens))


def chatrpc_synthetic(env: Environment, label: str, root: Path) -> Stack:
    check_checkout(root)
    if not (root / "bench" / "synthetic_core.py").is_file():
        raise StackUnavailable(f"{root} has no bench/synthetic_core.py")
    core_port = free_port()
    argv = _py("bench.synthetic_core", "--port", str(core_port), "--tokens", str(env.tokens))
    core = Service(
        f"{label} core (synthetic backend)",
        "back",
        argv,
        core_port,
        checkout_env(root, {}),
        env.log_dir / f"{_file(label)}-core.log",
        cpus=env.placement.servers,
        cwd=root,
    )
    gateway = _gateway(env, label, root, core_port)
    return Stack(label, [core, gateway], ready_text=expected_text(env.tokens), paced=False)


def chatrpc_embedded(env: Environment, label: str, root: Path) -> Stack:
    core, gateway = _catalog_stack(env, label, root, embedded_catalog(), "embedded model")
    return Stack(label, [core, gateway], ready_model=EMBEDDED_MODEL)


def _catalog_stack(
    env: Environment,
    label: str,
    root: Path,
    catalog_text: str,
    what: str,
    extra: dict[str, str] | None = None,
) -> tuple[Service, Service]:
    """`python -m core` serving `catalog_text` (a models TOML) and a gateway in front of it."""
    check_checkout(root)
    core_port = free_port()
    catalog = env.log_dir / f"{_file(label)}-models.toml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(catalog_text, encoding="utf-8")
    core = Service(
        f"{label} core ({what})",
        "back",
        _py("core"),
        core_port,
        _core_env(env, label, root, core_port, catalog, extra),
        env.log_dir / f"{_file(label)}-core.log",
        cpus=env.placement.servers,
        cwd=root,
    )
    return core, _gateway(env, label, root, core_port, extra)


def bare(env: Environment) -> Stack:
    back, front = free_port(), free_port()
    argv = ["--tokens", str(env.tokens), "--pace-ms", str(env.pace_ms)]
    # The bench package only (the bare chain imports nothing from the service), on the
    # same .venv as the gateway: the same FastAPI, uvicorn and grpcio.
    plain = python_env(paths=(ROOT,))
    server = Service(
        "bare grpc.aio server",
        "back",
        _py("bench.bare_chain", "server", "--port", str(back), *argv),
        back,
        plain,
        env.log_dir / "bare-server.log",
        cpus=env.placement.servers,
    )
    gateway = Service(
        "bare FastAPI route",
        "front",
        _py("bench.bare_chain", "gateway", "--port", str(front), "--target", f"127.0.0.1:{back}"),
        front,
        plain,
        env.log_dir / "bare-gateway.log",
        cpus=env.placement.servers,
    )
    return Stack("bare", [server, gateway], ready_text=expected_text(env.tokens))


def litellm(env: Environment) -> Stack:
    executable = ensure_litellm()
    port = free_port()
    env.log_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(env.log_dir / "litellm.yaml", env.mock_url, env.upstream_key)
    key = new_master_key()
    proxy = Service(
        "LiteLLM proxy",
        "front",
        litellm_command(executable, config, port),
        port,
        litellm_env(key),
        env.log_dir / "litellm.log",
        cpus=env.placement.servers,
    )
    return Stack("litellm", [proxy], api_key=key, ready_text=expected_text(env.tokens))


def build_targets(env: Environment, specs: list[tuple[str, Path | None]]) -> list[Target]:
    """The targets of `specs` ((kind, checkout) pairs, checkout only for chatrpc kinds), with
    their stacks, not started. Shared stacks (the mock, the bare chain) are built once."""
    targets: list[Target] = []
    bare_stack: Stack | None = None
    for name, root in specs:
        kind, _, variant = name.partition("~")
        label = name if root is None or root == ROOT else f"{name}@{root.name}"
        if kind == "direct":
            assert env.mock is not None
            targets.append(Target(label, kind, env.mock))
        elif kind == "ceiling":
            cpus = env.placement.servers
            targets.append(Target(label, kind, mock_stack(env, "mock-ceiling", cpus)))
        elif kind in ("bare-1", "bare-8"):
            bare_stack = bare_stack or bare(env)
            path = CHAT_PATH if kind == "bare-1" else PACKED_PREFIX + CHAT_PATH
            targets.append(Target(label, kind, bare_stack, path))
        elif kind == "litellm":
            targets.append(Target(label, kind, litellm(env)))
        elif kind == "llama-inprocess":
            targets.append(Target(label, kind, None))
        elif variant:
            if kind != "chatrpc-upstream":
                raise ValueError(f"{name}: only chatrpc-upstream has feature variants")
            checkout = root or ROOT
            stack = chatrpc_upstream(env, label, checkout, variant)
            targets.append(Target(label, kind, stack, root=checkout))
        else:
            checkout = root or ROOT
            builder = {
                "chatrpc-upstream": chatrpc_upstream,
                "chatrpc-synthetic": chatrpc_synthetic,
                "chatrpc-embedded": chatrpc_embedded,
            }.get(kind, chatrpc_upstream)
            stack = (
                chatrpc_routed(env, label, checkout, kind)
                if kind in ROUTED_KINDS
                else builder(env, label, checkout)
            )
            targets.append(Target(label, kind, stack, root=checkout))
    return targets


def stop_all(stacks: list[Stack]) -> None:
    for stack in stacks:
        with contextlib.suppress(Exception):
            stack.stop()
