"""Turns loadgen outcomes into level summaries, the comparison ratios and the printed tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

JsonObject = dict[str, Any]

THROUGHPUT_GOAL = 3.0  # chatrpc at least 3 times LiteLLM
OVERHEAD_GOAL = 1.5  # chatrpc at most 1.5 times the bare chain


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def summarize(
    outcome: JsonObject, cpu: Mapping[str, float], tokens: int, warmup: int
) -> JsonObject:
    """One level's figures. `cpu` is the servers' CPU seconds (by role) spent during the level."""
    complete, elapsed = outcome["complete"], outcome["elapsed"] or 1e-9
    total_cpu = sum(cpu.values())
    summary: JsonObject = {
        "concurrency": outcome["concurrency"],
        "sent": outcome["sent"],
        "complete": complete,
        "incomplete": outcome["incomplete"],
        "errors": outcome["errors"],
        "missing_usage": outcome["missing_usage"],
        "elapsed_s": round(elapsed, 3),
        "latency_p50_ms": _ms(percentile(outcome["latencies"], 0.5)),
        "latency_p99_ms": _ms(percentile(outcome["latencies"], 0.99)),
        "server_cpu_s": {role: round(seconds, 3) for role, seconds in cpu.items()},
        "server_cpu_pct": round(100 * total_cpu / elapsed, 1),
        "client_cpu_pct": round(100 * outcome["client_cpu"] / elapsed, 1),
        "warmup_requests": warmup,
        "error_samples": outcome["error_samples"],
    }
    per_request = total_cpu / complete if complete else None
    if outcome["mode"] == "unary":
        summary["requests_per_s"] = round(complete / elapsed, 1)
        summary["cpu_us_per_request"] = None if per_request is None else round(per_request * 1e6)
    else:
        summary["streams_per_s"] = round(complete / elapsed, 2)
        summary["tokens_per_s"] = round(complete * tokens / elapsed, 1)
        summary["sse_events_per_s"] = round(outcome["events"] / elapsed, 1)
        summary["ttfc_p50_ms"] = _ms(percentile(outcome["ttfcs"], 0.5))
        summary["ttfc_p99_ms"] = _ms(percentile(outcome["ttfcs"], 0.99))
        summary["cpu_us_per_token"] = (
            None if per_request is None else round(per_request * 1e6 / tokens, 1)
        )
    return summary


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def _by_level(stack: JsonObject, mode: str) -> dict[int, JsonObject]:
    return {level["concurrency"]: level for level in stack.get(mode, [])}


def compare(stacks: Mapping[str, JsonObject]) -> JsonObject:
    """chatrpc vs LiteLLM (throughput) and vs the bare chain (per-request/per-token overhead).

    Non-stream overhead is judged against "bare-unary" (a unary RPC, as chatrpc's gateway
    uses) when it was measured, the stricter baseline; "bare" (the folded stream) is shown too.
    """
    chatrpc = stacks.get("chatrpc", {})
    litellm = stacks.get("litellm", {})
    bare_stream = stacks.get("bare", {})
    bare_unary = stacks.get("bare-unary") or bare_stream
    through: JsonObject = {}
    overhead: JsonObject = {}
    judged: list[float | None] = []
    for c, level in _by_level(chatrpc, "unary").items():
        other = _by_level(litellm, "unary").get(c, {})
        through[f"unary_rps_c{c}"] = _ratio(level["requests_per_s"], other.get("requests_per_s"))
        for label, base_stack in (("bare", bare_stream), ("bare-unary", bare_unary)):
            base = _by_level(base_stack, "unary").get(c, {})
            cpu = _ratio(level["cpu_us_per_request"], base.get("cpu_us_per_request"))
            p50 = _ratio(level["latency_p50_ms"], base.get("latency_p50_ms"))
            overhead[f"unary_cpu_per_request_c{c}_vs_{label}"] = cpu
            overhead[f"unary_latency_p50_c{c}_vs_{label}"] = p50
            if base_stack is bare_unary:
                judged += [cpu] + ([p50] if c == 1 else [])
    for c, level in _by_level(chatrpc, "stream").items():
        other = _by_level(litellm, "stream").get(c, {})
        through[f"stream_tokens_per_s_c{c}"] = _ratio(
            level["tokens_per_s"], other.get("tokens_per_s")
        )
        base = _by_level(bare_stream, "stream").get(c, {})
        cpu = _ratio(level["cpu_us_per_token"], base.get("cpu_us_per_token"))
        overhead[f"stream_cpu_per_token_c{c}"] = cpu
        overhead[f"stream_ttfc_p50_c{c}"] = _ratio(level["ttfc_p50_ms"], base.get("ttfc_p50_ms"))
        judged.append(cpu)
    through_values = [v for v in through.values() if v is not None]
    judged_values = [v for v in judged if v is not None]
    goals = {
        "throughput_vs_litellm_min": min(through_values, default=None),
        "throughput_goal": THROUGHPUT_GOAL,
        "throughput_met": bool(through_values) and min(through_values) >= THROUGHPUT_GOAL,
        "overhead_vs_bare_max": max(judged_values, default=None),
        "overhead_goal": OVERHEAD_GOAL,
        "overhead_met": bool(judged_values) and max(judged_values) <= OVERHEAD_GOAL,
    }
    return {"throughput_vs_litellm": through, "overhead_vs_bare": overhead, "goals": goals}


_UNARY_COLUMNS = (
    ("stack", "stack", 11),
    ("c", "concurrency", 4),
    ("ok/sent", None, 12),
    ("bad", None, 5),
    ("req/s", "requests_per_s", 9),
    ("p50 ms", "latency_p50_ms", 10),
    ("p99 ms", "latency_p99_ms", 10),
    ("srv µs/req", "cpu_us_per_request", 11),
    ("srv cpu%", "server_cpu_pct", 9),
    ("gen cpu%", "client_cpu_pct", 9),
)
_STREAM_COLUMNS = (
    ("stack", "stack", 11),
    ("c", "concurrency", 4),
    ("ok/sent", None, 12),
    ("bad", None, 5),
    ("tok/s", "tokens_per_s", 10),
    ("events/s", "sse_events_per_s", 10),
    ("TTFC p50", "ttfc_p50_ms", 10),
    ("TTFC p99", "ttfc_p99_ms", 10),
    ("srv µs/tok", "cpu_us_per_token", 11),
    ("srv cpu%", "server_cpu_pct", 9),
    ("gen cpu%", "client_cpu_pct", 9),
)


def _cell(level: JsonObject, header: str, key: str | None) -> str:
    if header == "ok/sent":
        return f"{level['complete']}/{level['sent']}"
    if header == "bad":  # over every round, not only the one shown
        return str(level.get("bad_in_all_rounds", level["incomplete"] + level["errors"]))
    value = level.get(key or "")
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return str(value)


def table(stacks: Mapping[str, JsonObject], mode: str, markdown: bool = False) -> str:
    """The levels of `mode` ("unary" or "stream") of every stack, as text or Markdown."""
    columns = _UNARY_COLUMNS if mode == "unary" else _STREAM_COLUMNS
    rows = [[h for h, _, _ in columns]]
    for name, stack in stacks.items():
        for level in stack.get(mode, []):
            rows.append([_cell({**level, "stack": name}, h, k) for h, k, _ in columns])
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("---:" for _ in columns) + "|")
        return "\n".join(lines)
    return "\n".join(
        "".join(cell.rjust(width) for cell, (_, _, width) in zip(row, columns, strict=True))
        for row in rows
    )


def ratio_lines(ratios: JsonObject) -> list[str]:
    lines = ["chatrpc ÷ LiteLLM throughput (goal ≥ 3):"]
    lines += [f"  {k}: {v}" for k, v in ratios["throughput_vs_litellm"].items()]
    lines.append(
        "chatrpc ÷ bare chain overhead (goal ≤ 1.5, judged on server CPU per request vs"
        " bare-unary, per token vs bare, and p50 latency at c=1 vs bare-unary):"
    )
    lines += [f"  {k}: {v}" for k, v in ratios["overhead_vs_bare"].items()]
    goals = ratios["goals"]
    lines.append(
        f"goal throughput: min {goals['throughput_vs_litellm_min']} → "
        f"{'met' if goals['throughput_met'] else 'NOT met'}; "
        f"goal overhead: max {goals['overhead_vs_bare_max']} → "
        f"{'met' if goals['overhead_met'] else 'NOT met'}"
    )
    return lines
