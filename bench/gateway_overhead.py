"""Gateway+core overhead: chatrpc against a bare FastAPI → grpc.aio chain and the LiteLLM proxy.

Run from the repo root: `.venv/bin/python bench/gateway_overhead.py [--quick]`. All stacks
are started on free 127.0.0.1 ports and stay up; each level (non-stream requests/s and latency
at concurrency 1/16/64; streaming tokens/s and time to first content chunk at 1/16/64/256;
every response checked complete) is measured on each stack in turn by `bench.loadgen` in its
own process. Writes bench/results/gateway_overhead.json and prints the tables and the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.litellm_proxy import DEFAULT_VENV, LITELLM_REQUIREMENT
from bench.processes import ROOT, python_env
from bench.report import compare, ratio_lines, summarize, table
from bench.stacks import CHAT_PATH, STACKS, Stack, StackUnavailable, build_stack
from bench.synthetic import DEFAULT_TOKENS

UNARY_LEVELS = (1, 16, 64)
STREAM_LEVELS = (1, 16, 64, 256)
RESULTS = ROOT / "bench" / "results"

Results = dict[str, dict[str, Any]]


def requests_for(mode: str, concurrency: int, quick: bool) -> int:
    """Request budget of one level (the time cap usually ends slow stacks' levels first)."""
    if quick:
        return max(100, 2 * concurrency) if mode == "unary" else max(30, 2 * concurrency)
    return 4000 if mode == "unary" else max(600, 4 * concurrency)


def measure_level(
    stack: Stack,
    url: str,
    mode: str,
    concurrency: int,
    requests: int,
    time_cap: float,
    tokens: int,
) -> dict[str, Any]:
    """Runs one loadgen process; server CPU is read after its warm-up and after it finishes."""
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--mode",
        mode,
        "-c",
        str(concurrency),
        "-n",
        str(requests),
        "--time-cap",
        str(time_cap),
        "--tokens",
        str(tokens),
        "--api-key",
        stack.api_key,
        "--handshake",
    ]
    with subprocess.Popen(
        argv,
        cwd=ROOT,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as loadgen:
        try:
            assert loadgen.stdin is not None and loadgen.stdout is not None
            warm = loadgen.stdout.readline().strip()
            if warm != "warm":
                _, err = loadgen.communicate(timeout=30)
                raise RuntimeError(f"loadgen failed during warm-up: {warm} {err[-2000:]}")
            before = stack.cpu_seconds()
            loadgen.stdin.write("go\n")
            loadgen.stdin.flush()
            out, err = loadgen.communicate(timeout=time_cap + 120)
            after = stack.cpu_seconds()
        finally:
            if loadgen.poll() is None:
                loadgen.kill()
    if loadgen.returncode != 0:
        raise RuntimeError(f"loadgen exited {loadgen.returncode}: {err[-2000:]}")
    cpu = {role: after[role] - before.get(role, 0.0) for role in after}
    return summarize(json.loads(out.strip().splitlines()[-1]), cpu, tokens, concurrency)


def start_stacks(
    names: list[str], args: argparse.Namespace, started: list[Stack], results: Results
) -> list[Stack]:
    """Starts every stack (all stay up, idle ones cost ~0 CPU); returns those that came up.

    Each stack is put in `started` before it starts, so the caller can stop it whatever happens.
    """
    live = []
    for name in names:
        try:
            stack = build_stack(name, args.tokens, RESULTS / "logs")
        except StackUnavailable as exc:
            _say(f"[{name}] skipped: {exc}")
            results[name] = {"skipped": str(exc)}
            continue
        results[name] = {"unary": [], "stream": []}
        started.append(stack)
        _say(f"[{name}] starting: " + ", ".join(s.name for s in stack.services))
        try:
            stack.start(args.tokens)
        except Exception as exc:  # one broken stack must not hide the others' figures
            _record_failure(stack, results[name], exc)
            continue
        results[name]["commands"] = {s.role: " ".join(s.argv) for s in stack.services}
        live.append(stack)
    return live


def measure_all(live: list[Stack], args: argparse.Namespace, results: Results) -> None:
    """Every level, the stacks interleaved (rotating their order) so that other load on the
    machine hits them alike; with several rounds, each level keeps its best round."""
    plan = [("unary", c) for c in UNARY_LEVELS] + [("stream", c) for c in STREAM_LEVELS]
    rounds: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    failed: set[str] = set()
    for round_index in range(args.rounds):
        for step, (mode, c) in enumerate(plan):
            targets = [(stack.name, stack, CHAT_PATH) for stack in live]
            if mode == "unary":
                targets += [
                    (label, stack, path)
                    for stack in live
                    for label, path in stack.unary_variants.items()
                ]
            shift = (step + round_index) % len(targets) if targets else 0
            for label, stack, path in targets[shift:] + targets[:shift]:
                if stack.name in failed:
                    continue
                n = requests_for(mode, c, args.quick)
                try:
                    level = measure_level(
                        stack, stack.url_of(path), mode, c, n, args.time_cap, args.tokens
                    )
                    for service in stack.services:
                        service.check_alive()
                except Exception as exc:  # keep measuring the other stacks
                    _record_failure(stack, results[stack.name], exc)
                    failed.add(stack.name)
                    continue
                rounds.setdefault((label, mode, c), []).append(level)
                _say(f"[{label}] {mode} c={c}: {_brief(level)}")
                time.sleep(0.3)
    for (label, mode, _), levels in rounds.items():
        owner = next(s.name for s in live if label == s.name or label in s.unary_variants)
        entry = results.setdefault(label, {"variant_of": owner})
        entry.setdefault(mode, []).append(_best(levels, mode))


def _best(levels: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    key = "requests_per_s" if mode == "unary" else "tokens_per_s"
    best = dict(max(levels, key=lambda level: level[key]))
    if len(levels) > 1:
        best["rounds"] = [level[key] for level in levels]
        best["bad_in_all_rounds"] = sum(lv["incomplete"] + lv["errors"] for lv in levels)
    return best


def _record_failure(stack: Stack, result: dict[str, Any], exc: Exception) -> None:
    _say(f"[{stack.name}] FAILED: {exc}")
    result["failed"] = f"{type(exc).__name__}: {exc}"
    result["log_tails"] = {s.name: s.log_tail() for s in stack.services}
    stack.stop()


def _brief(level: dict[str, Any]) -> str:
    rate = level.get("requests_per_s") or f"{level.get('tokens_per_s')} tok"
    bad = level["incomplete"] + level["errors"]
    return f"{level['complete']}/{level['sent']} complete, {bad} bad, {rate}/s"


def _say(line: str) -> None:
    print(line, flush=True)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "litellm_requirement": LITELLM_REQUIREMENT,
    }
    python = DEFAULT_VENV / "bin" / "python"
    if python.exists():
        probe = "import importlib.metadata as m; print(m.version('litellm'))"
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        info["litellm_version"] = done.stdout.strip() or None
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "core", "gateway", "clients", "bench"],
        capture_output=True,
        text=True,
    )
    info["git_head"] = head.stdout.strip() or None
    info["git_uncommitted_changes"] = len(dirty.stdout.splitlines())
    return info


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every stack's `finally: stop()`


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated subset")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="reply length")
    parser.add_argument("--time-cap", type=float, default=None, help="seconds per level")
    parser.add_argument(
        "--rounds", type=int, default=None, help="repeat every level, keep its best (default 2)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway_overhead.json")
    args = parser.parse_args(argv)
    args.time_cap = args.time_cap or (2.0 if args.quick else 6.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    names = [n for n in args.stacks.split(",") if n]
    unknown = set(names) - set(STACKS)
    if unknown:
        parser.error(f"unknown stacks {sorted(unknown)}; choose from {', '.join(STACKS)}")
    signal.signal(signal.SIGTERM, _terminate)

    began = datetime.datetime.now(datetime.UTC)
    stacks: Results = {}
    started: list[Stack] = []
    try:
        measure_all(start_stacks(names, args, started, stacks), args, stacks)
    finally:
        for stack in started:
            stack.stop()
    order = ("bare", "bare-unary", "chatrpc", "litellm")
    names_in_order = sorted(stacks, key=lambda n: order.index(n) if n in order else len(order))
    measured = {n: stacks[n] for n in names_in_order if "unary" in stacks[n]}
    ratios = compare(measured)
    report = {
        "date": began.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": _machine(),
        "tokens": args.tokens,
        "time_cap_s": args.time_cap,
        "quick": args.quick,
        "rounds": args.rounds,
        "stacks": stacks,
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    _say(f"\nnon-stream (one request = the whole reply of {args.tokens} tokens)")
    _say(table(measured, "unary"))
    _say("\nstream (TTFC in ms = time to the first content chunk)")
    _say(table(measured, "stream"))
    _say("")
    for line in ratio_lines(ratios):
        _say(line)
    _say(f"\nwritten {args.out}")
    failed = [n for n, s in stacks.items() if "failed" in s]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
