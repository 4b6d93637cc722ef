"""The LiteLLM proxy as a bench stack: its own venv, its config, its command and environment.

`litellm[proxy]` pins versions that conflict with the project's, so it lives in
`bench/.venv-litellm` (git-ignored), created and filled with pip on first use.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

from bench.reply import BENCH_MODEL, PACED_MODEL

logger = logging.getLogger(__name__)

# Pinned for comparable reruns; override with BENCH_LITELLM_REQUIREMENT. Newer releases
# need packages newer than this machine's PyPI mirror holds.
LITELLM_REQUIREMENT = "litellm[proxy]==1.106.2"
DEFAULT_VENV = Path(__file__).resolve().parent / ".venv-litellm"

# Keeps LiteLLM off the network: each of these makes it use its bundled copy instead of
# fetching from GitHub at start-up (the cost map, blog posts, header and policy presets).
_OFFLINE = (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_BLOG_POSTS",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS",
    "LITELLM_LOCAL_POLICY_TEMPLATES",
)


def litellm_executable(venv: Path = DEFAULT_VENV) -> Path:
    return venv / "bin" / "litellm"


def ensure_litellm(venv: Path = DEFAULT_VENV) -> Path:
    """Creates `venv` and installs LiteLLM's proxy into it unless present; returns `litellm`."""
    executable = litellm_executable(venv)
    if executable.exists():
        return executable
    requirement = os.environ.get("BENCH_LITELLM_REQUIREMENT", LITELLM_REQUIREMENT)
    logger.info("installing %s into %s (first use only; a few minutes)", requirement, venv)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", requirement],
        check=True,
    )
    if not executable.exists():
        raise RuntimeError(f"{requirement} installed no {executable}")
    return executable


def write_config(path: Path, upstream_base_url: str, upstream_key: str = "bench-key") -> Path:
    """A config mapping `bench-model` and `bench-model-paced` to the same names at the mock
    upstream (`openai/<name>`), with the upstream's key."""
    models = "".join(
        f"  - model_name: {name}\n"
        "    litellm_params:\n"
        f"      model: openai/{name}\n"
        f"      api_base: {upstream_base_url}\n"
        f"      api_key: {upstream_key}\n"
        for name in (BENCH_MODEL, PACED_MODEL)
    )
    path.write_text(
        "model_list:\n" + models + "litellm_settings:\n"
        "  set_verbose: false\n"
        "  json_logs: false\n"
        "general_settings:\n"
        "  disable_spend_logs: true\n"
        "  disable_error_logs: true\n",
        encoding="utf-8",
    )
    return path


def litellm_command(executable: Path, config: Path, port: int) -> list[str]:
    """One uvicorn worker on 127.0.0.1:`port`, like the one gateway process it is set against."""
    return [
        str(executable),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]


def new_master_key() -> str:
    """A strong throwaway key: the proxy refuses to start without one (no auth otherwise)."""
    return "sk-bench-" + secrets.token_hex(32)


def litellm_env(master_key: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the proxy: offline, quiet, no stray database or OpenAI settings."""
    env = dict(os.environ if base is None else base)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL"):
        env.pop(name, None)
    env["LITELLM_MASTER_KEY"] = master_key
    env.update(dict.fromkeys(_OFFLINE, "True"))
    env["LITELLM_LOG"] = "ERROR"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env
