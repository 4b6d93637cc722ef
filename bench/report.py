"""Level summaries, medians over repetitions, the issue's ratios, and the tables (text and
Markdown) that the runner prints and writes.

Every figure in every table, ratios included, is computed here from the same per-level
medians, so the ratio table cannot disagree with the tables above it. A ratio whose baseline
was not measured reads "—" and the table's footnote says which target is missing. (The
ratio table of the previous bench/RESULTS.md was typed in by hand from this module's output
and every cell had come out `None`; it is now rendered here.)
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.loadgen import percentile

JsonObject = dict[str, Any]

__all__ = ["percentile"]

# --- one level -----------------------------------------------------------------------------


def _pct(seconds: float, elapsed: float) -> float:
    return round(100 * seconds / elapsed, 1)


def summarize(
    outcome: JsonObject,
    server_cpu: Mapping[str, float],
    mock_cpu: float | None,
    tokens: int,
) -> JsonObject:
    """One run of one level: the load generator's outcome and the CPU the processes spent.

    Throughput counts complete responses only; chunks/s is complete streams times `tokens` per wall
    time (the content chunks the upstream produced, however the server packed them)."""
    complete, elapsed = outcome["complete"], outcome["elapsed_s"] or 1e-9
    total_cpu = sum(server_cpu.values())
    summary: JsonObject = {
        "sent": outcome["sent"],
        "complete": complete,
        "incomplete": outcome["incomplete"],
        "errors": outcome["errors"],
        "bad": outcome["incomplete"] + outcome["errors"],
        "why": outcome.get("why", {}),
        "error_samples": outcome.get("error_samples", []),
        "elapsed_s": round(elapsed, 3),
        "latency_p50_ms": outcome["latency"]["p50_ms"],
        "latency_p99_ms": outcome["latency"]["p99_ms"],
        "server_cpu_s": {role: round(s, 3) for role, s in server_cpu.items()},
        "server_cpu_pct": _pct(total_cpu, elapsed),
        "gen_cpu_pct": _pct(outcome["client_cpu_s"], elapsed),
        "mock_cpu_pct": None if mock_cpu is None else _pct(mock_cpu, elapsed),
    }
    if outcome["mode"] == "unary":
        summary["requests_per_s"] = round(complete / elapsed, 1)
        summary["cpu_us_per_request"] = round(total_cpu / complete * 1e6) if complete else None
    else:
        chunks = complete * tokens
        summary["chunks_per_s"] = round(chunks / elapsed, 1)
        window = outcome.get("window_s")
        if window and outcome.get("window_chunks") is not None:
            summary["delivered_chunks_per_s"] = round(outcome["window_chunks"] / window, 1)
        summary["streams_per_s"] = round(complete / elapsed, 2)
        summary["events_per_s"] = round(outcome["events"] / elapsed, 1)
        summary["ttfc_p50_ms"] = outcome["ttfc"]["p50_ms"]
        summary["ttfc_p99_ms"] = outcome["ttfc"]["p99_ms"]
        summary["cpu_us_per_chunk"] = round(total_cpu / chunks * 1e6, 1) if chunks else None
        gen = outcome["client_cpu_s"]
        summary["chunks_per_gen_cpu_s"] = round(chunks / gen) if gen > 0 else None
    return summary


def summarize_embedded(samples: Sequence[JsonObject], texts: Iterable[str]) -> JsonObject:
    """Requests of the embedded model: tokens/s (completion tokens ÷ time from the request to
    the last token), the rate after the first token, and the first token's time."""
    rates, decode, ttfts, counts = [], [], [], []
    for s in samples:
        tokens, last, first = s["completion_tokens"], s["last_s"], s["ttft_s"]
        if not tokens or not last or first is None:
            continue
        rates.append(tokens / last)
        if tokens > 1 and last > first:
            decode.append((tokens - 1) / (last - first))
        ttfts.append(first * 1000)
        counts.append(tokens)
    return {
        "requests": len(samples),
        "measured": len(rates),
        "tokens_per_s": _median(rates, 1),
        "decode_tokens_per_s": _median(decode, 1),
        "ttft_ms": _median(ttfts, 2),
        "completion_tokens": _median(counts, 0),
        "texts": sorted(set(texts)),
    }


def _median(values: Sequence[float], digits: int) -> float | None:
    return round(statistics.median(values), digits) if values else None


_SUMMED = ("sent", "complete", "incomplete", "errors", "bad")


def level_entry(runs: list[JsonObject]) -> JsonObject:
    """A level's repetitions: every run, the median of each figure, and counts summed."""
    median: JsonObject = {}
    for key in runs[0] if runs else ():
        values = [run.get(key) for run in runs]
        if key in _SUMMED:
            median[key] = sum(v or 0 for v in values)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            median[key] = round(statistics.median(values), 3)
    return {"runs": runs, "median": median, "bad": median.get("bad", 0)}


# --- the ratios the goals name ------------------------------------------------------


def _get(results: JsonObject, label: str | None, level: str, key: str) -> float | None:
    if label is None:
        return None
    entry = results["targets"].get(label, {}).get("levels", {}).get(level)
    if not entry:
        return None
    value = entry["median"].get(key)
    return value if isinstance(value, int | float) else None


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def _first_of(results: JsonObject, kind: str, root: str | None = None) -> str | None:
    for label, target in results["targets"].items():
        same_root = root is None or target.get("root") == root
        if target["kind"] == kind and same_root and target.get("levels"):
            return label
    return None


# (key, what, goal as (operator, value) or None, how: (results, column label) → value, needs)
Goal = tuple[str, float] | None
Row = tuple[str, str, Goal, Callable[[JsonObject, str], float | None], tuple[str, ...]]


def _ratio(level: str, key: str, base: str) -> Callable[[JsonObject, str], float | None]:
    def value(results: JsonObject, label: str) -> float | None:
        other = _first_of(results, base)
        return _div(_get(results, label, level, key), _get(results, other, level, key))

    return value


def _added(level: str, key: str) -> Callable[[JsonObject, str], float | None]:
    def value(results: JsonObject, label: str) -> float | None:
        direct = _first_of(results, "direct")
        return _sub(_get(results, label, level, key), _get(results, direct, level, key))

    return value


def _bad(results: JsonObject, label: str) -> float | None:
    levels = results["targets"][label].get("levels", {})
    return sum(entry["bad"] for entry in levels.values()) if levels else None


def _embedded(key: str) -> Callable[[JsonObject, str], float | None]:
    def value(results: JsonObject, label: str) -> float | None:
        root = results["targets"][label].get("root")
        stack = _first_of(results, "chatrpc-embedded", root)
        ref = _first_of(results, "llama-inprocess")
        if key == "ratio":
            return _div(
                _get(results, stack, "embedded", "tokens_per_s"),
                _get(results, ref, "embedded", "tokens_per_s"),
            )
        return _sub(
            _get(results, stack, "embedded", "ttft_ms"), _get(results, ref, "embedded", "ttft_ms")
        )

    return value


ROWS: tuple[Row, ...] = (
    (
        "nonstream_c64_vs_bare",
        "non-stream req/s at c=64 ÷ bare chain",
        (">=", 0.8),
        _ratio("unary-c64", "requests_per_s", "bare-1"),
        ("bare-1",),
    ),
    (
        "nonstream_c64_vs_litellm",
        "non-stream req/s at c=64 ÷ LiteLLM",
        (">=", 15),
        _ratio("unary-c64", "requests_per_s", "litellm"),
        ("litellm",),
    ),
    (
        "stream_c64_vs_bare8",
        "stream chunks/s at c=64 ÷ bare chain, 8 deltas/message",
        (">=", 1.0),
        _ratio("stream-c64", "chunks_per_s", "bare-8"),
        ("bare-8",),
    ),
    (
        "stream_c256_vs_bare8",
        "stream chunks/s at c=256 ÷ bare chain, 8 deltas/message",
        (">=", 1.0),
        _ratio("stream-c256", "chunks_per_s", "bare-8"),
        ("bare-8",),
    ),
    (
        "stream_c64_vs_litellm",
        "stream chunks/s at c=64 ÷ LiteLLM",
        (">=", 25),
        _ratio("stream-c64", "chunks_per_s", "litellm"),
        ("litellm",),
    ),
    (
        "stream_c256_vs_litellm",
        "stream chunks/s at c=256 ÷ LiteLLM",
        (">=", 25),
        _ratio("stream-c256", "chunks_per_s", "litellm"),
        ("litellm",),
    ),
    (
        "paced_c64_vs_direct",
        "64 paced streams: chunks delivered/s ÷ direct",
        None,
        _ratio("paced-c64", "delivered_chunks_per_s", "direct"),
        ("direct",),
    ),
    (
        "paced_c256_vs_direct",
        "256 paced streams: chunks delivered/s ÷ direct",
        (">=", 0.8),
        _ratio("paced-c256", "delivered_chunks_per_s", "direct"),
        ("direct",),
    ),
    (
        "paced_c64_ttfc_added_ms",
        "64 paced streams: TTFC p50 added over direct, ms",
        None,
        _added("paced-c64", "ttfc_p50_ms"),
        ("direct",),
    ),
    (
        "paced_c256_ttfc_added_ms",
        "256 paced streams: TTFC p50 added over direct, ms",
        ("<=", 50),
        _added("paced-c256", "ttfc_p50_ms"),
        ("direct",),
    ),
    (
        "c1_nonstream_added_ms",
        "c=1 non-stream latency p50 added over direct, ms",
        ("<=", 1.5),
        _added("unary-c1", "latency_p50_ms"),
        ("direct",),
    ),
    (
        "c1_ttfc_added_ms",
        "c=1 first chunk (TTFC p50) added over direct, ms",
        ("<=", 1.5),
        _added("stream-c1", "ttfc_p50_ms"),
        ("direct",),
    ),
    (
        "bad_responses",
        "incomplete or failed responses, all levels and repetitions",
        ("<=", 0),
        _bad,
        (),
    ),
    (
        "embedded_tokens_per_s_ratio",
        "embedded model tokens/s through the stack ÷ in-process llama-cpp-python",
        (">=", 0.95),
        _embedded("ratio"),
        ("chatrpc-embedded", "llama-inprocess"),
    ),
    (
        "embedded_ttft_added_ms",
        "embedded model first token added over in-process, ms",
        ("<=", 5),
        _embedded("ttft"),
        ("chatrpc-embedded", "llama-inprocess"),
    ),
)


def _met(value: float | None, goal: Goal) -> bool | None:
    if value is None or goal is None:
        return None
    op, bound = goal
    return value >= bound if op == ">=" else value <= bound


def _applies(
    key: str,
    kind: str,
    how: Callable[[JsonObject, str], float | None],
    results: JsonObject,
    label: str,
) -> float | None:
    """A row's value for one column, None where the row does not apply: the synthetic core has
    no upstream (no paced levels, no embedded model); an embedded column has the embedded rows
    only."""
    if kind == "chatrpc-embedded":
        return how(results, label) if key.startswith(("embedded", "bad")) else None
    if kind == "chatrpc-synthetic" and key.startswith(("paced", "embedded")):
        return None
    return how(results, label)


def compare(results: JsonObject) -> JsonObject:
    """The goal rows for every chatrpc target measured on the upstream or synthetic path (and
    for an embedded-model target whose checkout has no upstream target in the run)."""
    targets = results["targets"]
    columns = [
        label
        for label, t in targets.items()
        if t["kind"] in ("chatrpc-upstream", "chatrpc-synthetic") and t.get("levels")
    ]
    upstream_roots = {targets[label].get("root") for label in columns}
    columns += [
        label
        for label, t in targets.items()
        if t["kind"] == "chatrpc-embedded"
        and t.get("levels")
        and t.get("root") not in upstream_roots
    ]
    measured = {t["kind"] for t in results["targets"].values() if t.get("levels")}
    rows = []
    for key, what, goal, how, needs in ROWS:
        values = {
            label: _applies(key, targets[label]["kind"], how, results, label) for label in columns
        }
        rows.append(
            {
                "key": key,
                "what": what,
                "goal": None if goal is None else f"{goal[0]} {goal[1]}",
                "values": values,
                "met": {label: _met(v, goal) for label, v in values.items()},
                "missing": [kind for kind in needs if kind not in measured],
            }
        )
    return {"columns": columns, "rows": rows}


# --- tables --------------------------------------------------------------------------------


def fmt(value: Any, digits: int | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, float):
        if digits is not None:
            return f"{value:.{digits}f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}".replace(",", " ")
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def render(rows: list[list[str]], markdown: bool, align_left: int = 1) -> str:
    """Rows (the first is the header) as a Markdown table or aligned text."""
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        marks = ["---" if i < align_left else "---:" for i in range(len(rows[0]))]
        lines.insert(1, "|" + "|".join(marks) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < align_left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _median_of(results: JsonObject, label: str, level: str, key: str) -> Any:
    entry = results["targets"][label].get("levels", {}).get(level)
    return None if entry is None else entry["median"].get(key)


def _http_targets(results: JsonObject) -> list[str]:
    return [
        label
        for label, t in results["targets"].items()
        if t["kind"] not in ("chatrpc-embedded", "llama-inprocess") and t.get("levels")
    ]


def overview_table(results: JsonObject, markdown: bool = False) -> str:
    """One row per target: the issue's summary figures (medians over repetitions)."""

    def pair(label: str, level: str, first: str, second: str) -> str:
        a = _median_of(results, label, level, first)
        b = _median_of(results, label, level, second)
        return "—" if a is None and b is None else f"{fmt(a)} · {fmt(b)} ms"

    rows = [
        [
            "target",
            "non-stream req/s c=1 / c=64",
            "stream chunks/s c=1 / c=64 / c=256",
            "64 paced: delivered/s · TTFC p50",
            "256 paced: delivered/s · TTFC p50",
            "c=1 p50 ms: non-stream / TTFC",
            "bad",
        ]
    ]
    for label in _http_targets(results):
        m = lambda level, key, lb=label: fmt(_median_of(results, lb, level, key))  # noqa: E731
        levels = results["targets"][label]["levels"]
        rows.append(
            [
                label,
                f"{m('unary-c1', 'requests_per_s')} / {m('unary-c64', 'requests_per_s')}",
                " / ".join(m(f"stream-c{c}", "chunks_per_s") for c in (1, 64, 256)),
                pair(label, "paced-c64", "delivered_chunks_per_s", "ttfc_p50_ms"),
                pair(label, "paced-c256", "delivered_chunks_per_s", "ttfc_p50_ms"),
                f"{m('unary-c1', 'latency_p50_ms')} / {m('stream-c1', 'ttfc_p50_ms')}",
                fmt(sum(entry["bad"] for entry in levels.values())),
            ]
        )
    return render(rows, markdown)


_UNARY_COLUMNS = (
    ("req/s", "requests_per_s"),
    ("p50 ms", "latency_p50_ms"),
    ("p99 ms", "latency_p99_ms"),
    ("srv µs/req", "cpu_us_per_request"),
    ("srv cpu%", "server_cpu_pct"),
    ("gen cpu%", "gen_cpu_pct"),
    ("mock cpu%", "mock_cpu_pct"),
)
_STREAM_COLUMNS = (
    ("chunks/s", "chunks_per_s"),
    ("delivered/s", "delivered_chunks_per_s"),
    ("events/s", "events_per_s"),
    ("TTFC p50", "ttfc_p50_ms"),
    ("TTFC p99", "ttfc_p99_ms"),
    ("srv µs/chunk", "cpu_us_per_chunk"),
    ("srv cpu%", "server_cpu_pct"),
    ("gen cpu%", "gen_cpu_pct"),
    ("mock cpu%", "mock_cpu_pct"),
)


def levels_table(results: JsonObject, mode: str, markdown: bool = False) -> str:
    """Every level of `mode` ("unary" or "stream", paced included) of every target."""
    columns = _UNARY_COLUMNS if mode == "unary" else _STREAM_COLUMNS
    rate = "requests_per_s" if mode == "unary" else "chunks_per_s"
    rows = [["target", "level", "ok/sent", "bad", *(h for h, _ in columns), "each rep"]]
    order = results.get("level_order") or []
    for label in _http_targets(results):
        levels = results["targets"][label]["levels"]
        for name in sorted(levels, key=lambda n: order.index(n) if n in order else len(order)):
            entry = levels[name]
            if (entry["mode"] == "unary") != (mode == "unary") or entry["mode"] == "embedded":
                continue
            med = entry["median"]
            each = " / ".join(fmt(run.get(rate)) for run in entry["runs"])
            rows.append(
                [
                    label,
                    name,
                    f"{med.get('complete', 0)}/{med.get('sent', 0)}",
                    fmt(entry["bad"]),
                    *(fmt(med.get(key)) for _, key in columns),
                    each,
                ]
            )
    return render(rows, markdown, align_left=2)


def ratio_table(ratios: JsonObject, markdown: bool = False) -> str:
    columns = ratios["columns"]
    rows = [["goal (issue 11)", "target", *columns]]
    missing: set[str] = set()
    for row in ratios["rows"]:
        cells = []
        for label in columns:
            value, met = row["values"].get(label), row["met"].get(label)
            mark = "" if met is None else (" ✓" if met else " ✗")
            cells.append(fmt(value) + mark)
        rows.append([row["what"], row["goal"] or "", *cells])
        missing.update(row["missing"])
    table = render(rows, markdown, align_left=2)
    if missing:
        table += f"\n\n— : not measured in this run ({', '.join(sorted(missing))} missing)."
    return table


_FEATURE_FIGURES = (
    ("µs/request, c=64", "unary-c64", "cpu_us_per_request"),
    ("µs/chunk, c=64", "stream-c64", "cpu_us_per_chunk"),
    ("µs/chunk, 64 paced", "paced-c64", "cpu_us_per_chunk"),
)


def _default_of(label: str) -> str:
    """`chatrpc-upstream~obs-off@base` → `chatrpc-upstream@base`."""
    name, at, where = label.partition("@")
    return name.partition("~")[0] + at + where


def feature_table(results: JsonObject, markdown: bool = False) -> str:
    """Server CPU of each feature variant (bench/stacks.py VARIANTS) and of its default target,
    with the variant ÷ the default: below 1 for a feature switched off, the feature's cost."""
    targets = results["targets"]
    rows = [["target", *(f"{what} (÷ default)" for what, _, _ in _FEATURE_FIGURES)]]
    for label, target in targets.items():
        if target["kind"] != "chatrpc-upstream" or not target.get("levels"):
            continue
        default = _default_of(label)
        cells = []
        for _, level, key in _FEATURE_FIGURES:
            value = _get(results, label, level, key)
            base = _get(results, default, level, key) if default != label else None
            cells.append(fmt(value) + ("" if base is None else f" ({fmt(_div(value, base))})"))
        rows.append([label, *cells])
    return render(rows, markdown)


def embedded_table(results: JsonObject, markdown: bool = False) -> str:
    labels = [
        label
        for label, t in results["targets"].items()
        if t["kind"] in ("chatrpc-embedded", "llama-inprocess") and t.get("levels")
    ]

    def texts(label: str) -> set[str]:
        runs = results["targets"][label]["levels"]["embedded"]["runs"]
        return {text for run in runs for text in run.get("texts", ())}

    reference = _first_of(results, "llama-inprocess")
    rows = [
        [
            "target",
            "requests",
            "tokens/reply",
            "tokens/s",
            "after 1st token tok/s",
            "first token ms",
            "same reply as in-process",
            "each rep tok/s",
        ]
    ]
    for label in labels:
        entry = results["targets"][label]["levels"]["embedded"]
        med = entry["median"]
        same = None if reference in (None, label) else texts(label) == texts(reference)
        rows.append(
            [
                label,
                fmt(sum(run["measured"] for run in entry["runs"])),
                fmt(med.get("completion_tokens")),
                fmt(med.get("tokens_per_s")),
                fmt(med.get("decode_tokens_per_s")),
                fmt(med.get("ttft_ms"), 2),
                fmt(same),
                " / ".join(fmt(run.get("tokens_per_s")) for run in entry["runs"]),
            ]
        )
    return render(rows, markdown)


def ceiling_lines(results: JsonObject) -> list[str]:
    """The load generator's own ceiling: against a mock on the other CPU (nothing else on the
    generator's CPU), and against the direct mock sharing its CPU."""
    lines = []
    ceiling, direct = _first_of(results, "ceiling"), _first_of(results, "direct")
    for level in ("stream-c1", "stream-c64", "stream-c256"):
        rate = ceiling and _median_of(results, ceiling, level, "chunks_per_s")
        if rate:
            cpu = _median_of(results, ceiling, level, "gen_cpu_pct")
            per_cpu = _median_of(results, ceiling, level, "chunks_per_gen_cpu_s")
            lines.append(
                f"load generator alone on its CPU (the mock on the other, one SSE event per "
                f"write), {level}: "
                f"{fmt(rate)} chunks/s at {fmt(cpu)} % CPU ({fmt(per_cpu)} chunks per CPU-second)"
            )
    for level in ("stream-c64", "stream-c256"):
        rate = direct and _median_of(results, direct, level, "chunks_per_s")
        if rate:
            gen = _median_of(results, direct, level, "gen_cpu_pct")
            mock = _median_of(results, direct, level, "server_cpu_pct")
            lines.append(
                f"direct (the load generator and the mock sharing one CPU), {level}: "
                f"{fmt(rate)} chunks/s, generator {fmt(gen)} % + mock {fmt(mock)} % CPU"
            )
    return lines


def markdown_report(report: JsonObject) -> str:
    """The generated part of bench/RESULTS.md."""
    settings = report["settings"]
    machine = report["machine"]
    parts = [
        f"- **Date:** {report['date']}; **took** {report['took_s'] / 60:.1f} min",
        f"- **Command:** `{report['command']}`",
        f"- **Settings:** {settings['reps']} repetitions (medians shown), "
        f"{settings['duration_s']} s of new requests per level, {settings['tokens']} chunks per "
        f"reply, paced at {settings['pace_ms']} ms per token; servers on CPU "
        f"{settings['server_cpus']}, load generator and mock on CPU {settings['tool_cpus']}",
        f"- **Machine:** {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load generator on {machine.get('loadgen_loop')} + {machine.get('loadgen_json')}; "
        f"servers' venv: {machine.get('server_venv')}",
        f"- **Code:** {machine.get('checkouts')}",
    ]
    if machine.get("litellm_version"):
        parts.append(f"- **LiteLLM:** {machine['litellm_version']} (bench/.venv-litellm)")
    failed = {k: t["failed"] for k, t in report["results"]["targets"].items() if t.get("failed")}
    if failed:
        parts.append("- **Failed:** " + "; ".join(f"{k}: {v[:200]}" for k, v in failed.items()))
    results = report["results"]
    body = [
        "\n".join(parts),
        "### Summary\n\n" + overview_table(results, markdown=True),
        "### Ratios and goals\n\n" + ratio_table(report["ratios"], markdown=True),
        "### Non-stream\n\n" + levels_table(results, "unary", markdown=True),
        "### Stream (instant and paced)\n\n" + levels_table(results, "stream", markdown=True),
    ]
    if any("~" in label for label in results["targets"]):
        body.append("### Feature costs\n\n" + feature_table(results, markdown=True))
    if any(t["kind"] == "llama-inprocess" for t in results["targets"].values()):
        body.append("### Embedded model\n\n" + embedded_table(results, markdown=True))
    lines = ceiling_lines(results)
    if lines:
        body.append("### The load generator's ceiling\n\n" + "\n".join(f"- {x}" for x in lines))
    return "\n\n".join(body) + "\n"
