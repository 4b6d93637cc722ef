"""The `server-timing` format (W3C Server Timing), used as an HTTP header and as gRPC trailing
metadata: `queue;dur=0.4, ttft;dur=12.5, total;dur=80.1` (milliseconds)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

SERVER_TIMING: Final = "server-timing"
_NAMES: Final = frozenset({"queue", "ttft", "total"})


def format_timing(entries: Iterable[tuple[str, float]]) -> str:
    """`name;dur=ms` entries joined by ", " (durations to 0.1 ms)."""
    return ", ".join(f"{name};dur={ms:.1f}" for name, ms in entries)


def parse_timing(value: str) -> dict[str, float]:
    """The known entries (queue, ttft, total) of a server-timing value; others are ignored."""
    found: dict[str, float] = {}
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        if name not in _NAMES:
            continue
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur":
                try:
                    found[name] = float(number)
                except ValueError:
                    continue
    return found


def timing_from(metadata: Mapping[str, str]) -> dict[str, float]:
    """The server-timing entries in a call's (trailing) metadata, if it has any."""
    value = metadata.get(SERVER_TIMING)
    return parse_timing(value) if value else {}
