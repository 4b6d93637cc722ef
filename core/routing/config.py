"""A catalog entry's routing tables (`deployments`, `routing`, `breaker`, `fallbacks`,
`context_window_fallbacks`) read and checked into a RouteSpec (docs/routing.md).

A deployment table holds `name`, `weight`, `max_in_flight`, `context_window` and any of the
model's backend options (`base_url`, `upstream_model`, `api_key_env`, `timeout`,
`default_headers`, …), which override the model's `[options]` for that deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from core.errors import ConfigError
from core.routing.breaker import BreakerConfig
from core.routing.router import RoutingConfig
from core.routing.strategies import STRATEGIES

ROUTE_KEYS: Final = frozenset(
    {"deployments", "routing", "breaker", "fallbacks", "context_window_fallbacks"}
)
_OWN_KEYS: Final = frozenset({"name", "weight", "max_in_flight", "context_window"})


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One `[[models.<name>.deployments]]` table."""

    name: str
    options: Mapping[str, object] = field(default_factory=dict)  # over the model's options
    weight: float = 1.0
    max_in_flight: int = 0
    context_window: int = 0


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """How a model is routed: its deployments (none: one, from the model's own options)."""

    deployments: tuple[DeploymentSpec, ...] = ()
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    fallbacks: tuple[str, ...] = ()
    context_window_fallbacks: tuple[str, ...] = ()


def route_spec(entry: Mapping[str, Any], where: str) -> RouteSpec | None:
    """The entry's RouteSpec, or None when it has no routing table (served as before)."""
    if not ROUTE_KEYS.intersection(entry):
        return None
    deployments = tuple(
        _deployment(table, f"{where}.deployments[{i}]")
        for i, table in enumerate(_list(entry, "deployments", where))
    )
    names = [d.name for d in deployments]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.deployments: names must be unique, got {names}")
    return RouteSpec(
        deployments=deployments,
        routing=_routing(_table(entry, "routing", where), f"{where}.routing"),
        breaker=_breaker(_table(entry, "breaker", where), f"{where}.breaker"),
        fallbacks=_names(entry, "fallbacks", where),
        context_window_fallbacks=_names(entry, "context_window_fallbacks", where),
    )


def _deployment(table: Any, where: str) -> DeploymentSpec:
    if not isinstance(table, dict) or not isinstance(table.get("name"), str) or not table["name"]:
        raise ConfigError(f"{where}: a deployment is a table with a non-empty name")
    options = {k: v for k, v in table.items() if k not in _OWN_KEYS}
    spec = DeploymentSpec(
        name=table["name"],
        options=options,
        weight=_number(table, "weight", 1.0, where),
        max_in_flight=int(_number(table, "max_in_flight", 0, where)),
        context_window=int(_number(table, "context_window", 0, where)),
    )
    if spec.weight <= 0:
        raise ConfigError(f"{where}: weight must be positive")
    return spec


def _routing(table: Mapping[str, Any], where: str) -> RoutingConfig:
    known = {"strategy", "attempts", "first_token_timeout", "idle_timeout", "health_check_interval"}
    _known(table, known, where)
    strategy = table.get("strategy", "weighted")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy must be one of {sorted(STRATEGIES)}")
    config = RoutingConfig(
        strategy=strategy,
        attempts=int(_number(table, "attempts", 3, where)),
        first_token_timeout=_number(table, "first_token_timeout", 0.0, where),
        idle_timeout=_number(table, "idle_timeout", 0.0, where),
        health_check_interval=_number(table, "health_check_interval", 0.0, where),
    )
    if config.attempts < 1:
        raise ConfigError(f"{where}: attempts must be at least 1")
    return config


def _breaker(table: Mapping[str, Any], where: str) -> BreakerConfig:
    _known(table, {"failures", "cooldown", "successes"}, where)
    config = BreakerConfig(
        failures=int(_number(table, "failures", 3, where)),
        cooldown=_number(table, "cooldown", 10.0, where),
        successes=int(_number(table, "successes", 1, where)),
    )
    if config.failures < 1 or config.successes < 1:
        raise ConfigError(f"{where}: failures and successes must be at least 1")
    return config


def _known(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")


def _table(entry: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    table = entry.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}.{key} must be a table")
    return table


def _list(entry: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{where}.{key} must be a list")
    return value


def _names(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _list(entry, key, where)
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key} must list model names")
    return tuple(value)


def _number(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} must be a non-negative number")
    return float(value)
