"""The users' path at wire speed: gateway → core → `openai_compat` → a mock OpenAI upstream,
side by side with the synthetic-backend core, a bare FastAPI → grpc.aio chain, the LiteLLM
proxy on the same mock, and the mock itself, all in one run.

Run from the repository root: `.venv/bin/python bench/real_path.py [--quick]` (bench/README.md has
the options). Every target is started first and stays up; each level (non-stream at c=1/64,
instant streams at c=1/64/256, paced streams at 64/256) then runs on every target in turn, in
a rotating order, `--reps` times, by `bench.loadgen` in its own process. The servers under test
run on CPU 0, the load generator and the mock on CPU 1. Medians are reported, every run is
kept in bench/results/real_path.json; the tables are printed and written as Markdown to
bench/results/real_path.md (and into bench/RESULTS.md with `--write-results-md`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.embedded_ref import EMBEDDED_MODEL, MAX_TOKENS, PROMPT as EMBEDDED_PROMPT
from bench.litellm_proxy import DEFAULT_VENV as LITELLM_VENV
from bench.processes import DEPS, ROOT, bench_env, pinned
from bench.reply import BENCH_MODEL, DEFAULT_PACE, DEFAULT_TOKENS, PACED_MODEL, SPLIT_MODEL
from bench.stacks import (
    CHATRPC_KINDS,
    TARGET_KINDS,
    VARIANTS,
    Environment,
    Placement,
    Stack,
    StackUnavailable,
    Target,
    build_targets,
    mock_stack,
    stop_all,
)

RESULTS = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- real_path: generated, begin -->", "<!-- real_path: generated, end -->"
DEFAULT_TARGETS = "direct,chatrpc-upstream,chatrpc-synthetic,bare,litellm,embedded,ceiling"
ALIASES = {"bare": ("bare-1", "bare-8"), "embedded": ("chatrpc-embedded", "llama-inprocess")}
BEHIND_MOCK = ("direct", "chatrpc-upstream", "litellm")


@dataclass(frozen=True)
class Level:
    name: str
    mode: str  # "unary", "stream" or "embedded"
    concurrency: int
    paced: bool = False

    @property
    def kind(self) -> str:
        return "paced" if self.paced else self.mode


LEVELS = (
    Level("unary-c1", "unary", 1),
    Level("unary-c64", "unary", 64),
    Level("stream-c1", "stream", 1),
    Level("stream-c64", "stream", 64),
    Level("stream-c256", "stream", 256),
    Level("paced-c64", "stream", 64, paced=True),
    Level("paced-c256", "stream", 256, paced=True),
)
EMBEDDED = Level("embedded", "embedded", 1)


def _say(line: str) -> None:
    print(line, flush=True)


# --- set-up ----------------------------------------------------------------------------------


def parse_targets(
    spec: str, default_root: Path, features: bool = False
) -> list[tuple[str, Path | None]]:
    """`kind[~variant][@checkout]` items, comma-separated; aliases expand (`bare`,
    `embedded`); with `features`, each chatrpc-upstream target is followed by its variants
    (bench/stacks.py VARIANTS) when it runs from `default_root`."""
    out: list[tuple[str, Path | None]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, where = item.partition("@")
        name, tilde, variant = name.partition("~")
        kinds = ALIASES.get(name, (name,))
        for kind in kinds:
            if kind not in TARGET_KINDS:
                raise ValueError(f"unknown target {kind!r}; known: {', '.join(TARGET_KINDS)}")
            if variant and (kind != "chatrpc-upstream" or variant not in VARIANTS):
                raise ValueError(
                    f"{kind}~{variant}: variants are chatrpc-upstream's {', '.join(VARIANTS)}"
                )
            if kind in CHATRPC_KINDS:
                root = Path(where).resolve() if where else default_root
                out.append((kind + tilde + variant, root))
            elif where and kind != "llama-inprocess":
                raise ValueError(f"{kind} does not run from a checkout: drop @{where}")
            else:
                out.append((kind, None))
    if features:  # every feature variant beside this checkout's chatrpc-upstream target
        out = [
            spec
            for name, root in out
            for spec in [(name, root)]
            + [
                (f"{name}~{v}", root)
                for v in VARIANTS
                if name == "chatrpc-upstream" and root == default_root
            ]
        ]
    unique: list[tuple[str, Path | None]] = []
    for target in out:
        if target not in unique:
            unique.append(target)
    return unique


def prepare_checkout(root: Path) -> None:
    """Generates the SDK stubs and the protoset in another checkout if it has none (both are
    git-ignored there), as `make proto` does. This checkout's own are left to `make`."""
    if root == ROOT or any((root / "clients" / "chatrpc" / "v1").glob("*_pb2.py")):
        return
    protos = [str(p.relative_to(root)) for p in (root / "proto").rglob("*.proto")]
    if not protos:
        return
    _say(f"generating the stubs in {root}")
    protoc = [sys.executable, "-m", "grpc_tools.protoc", "-I", "proto"]
    subprocess.run(
        [*protoc, "--python_out=clients", "--grpc_python_out=clients", *protos],
        cwd=root,
        check=True,
    )
    protoset = "--descriptor_set_out=clients/chatrpc/v1/chat_service.protoset"
    subprocess.run(
        [*protoc, "--include_imports", "--include_source_info", protoset, *protos],
        cwd=root,
        check=True,
    )


def ensure_bench_deps() -> None:
    """orjson and uvloop for the load generator and the mock, in bench/.deps unless present."""
    probe = [sys.executable, "-c", "import orjson, uvloop"]
    if subprocess.run(probe, env=bench_env(), capture_output=True).returncode == 0:
        return
    requirements = ROOT / "bench" / "requirements.txt"
    _say(f"installing {requirements.name} into {DEPS} (first use only)")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(DEPS)]
    subprocess.run([*pip, "-r", str(requirements)], check=True)


def placement(no_pin: bool) -> Placement:
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return Placement(None, None)
    return Placement(frozenset({cpus[0]}), frozenset({cpus[1]}))


# --- measuring -------------------------------------------------------------------------------


def _loadgen_argv(target: Target, level: Level, args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "bench.loadgen", "--url", target.url, "--mode", level.mode]
    argv += ["-c", str(level.concurrency), "--tokens", str(args.tokens), "--handshake"]
    argv += ["--api-key", target.api_key, "--timeout", str(args.request_timeout)]
    if level.mode == "embedded":
        argv[argv.index("--mode") + 1] = "stream"
        extra = json.dumps({"temperature": 0})
        argv += ["--model", EMBEDDED_MODEL, "--expect", "any", "--prompt", EMBEDDED_PROMPT]
        argv += ["--max-tokens", str(args.embedded_tokens), "--extra", extra]
        argv += ["-n", str(args.embedded_runs), "--duration", "86400"]
    else:
        # The ceiling: the load generator's worst case, one SSE event per read.
        model = SPLIT_MODEL if target.kind == "ceiling" else BENCH_MODEL
        argv += ["--model", PACED_MODEL if level.paced else model]
        argv += ["--duration", str(args.duration)]
    return argv


def run_loadgen(
    target: Target, level: Level, args: argparse.Namespace, env: Environment
) -> tuple[dict[str, Any], dict[str, float], float | None]:
    """One loadgen process; the servers' (and the mock's) CPU is read after its warm-up and
    after it ends. Returns its outcome, the servers' CPU by role, and the mock's CPU."""
    assert target.stack is not None
    stack = target.stack
    mock = env.mock if target.kind in BEHIND_MOCK and target.kind != "direct" else None
    env.log_dir.mkdir(parents=True, exist_ok=True)
    errors = env.log_dir / "loadgen.stderr"  # a file: a full pipe would stall the handshake
    with (
        errors.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(
            _loadgen_argv(target, level, args),
            cwd=ROOT,
            env=bench_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=pinned(env.placement.tools),
        ) as loadgen,
    ):
        try:
            assert loadgen.stdin is not None and loadgen.stdout is not None
            warm = loadgen.stdout.readline().strip()
            if warm != "warm":
                loadgen.communicate(timeout=60)
                tail = errors.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"loadgen failed during warm-up: {warm} {tail}")
            before, mock_before = stack.cpu_seconds(), mock.cpu_seconds() if mock else {}
            loadgen.stdin.write("go\n")
            loadgen.stdin.flush()
            timeout = args.duration + args.request_timeout + 120
            if level.mode == "embedded":
                timeout += args.embedded_runs * args.request_timeout
            out, _ = loadgen.communicate(timeout=timeout)
            after, mock_after = stack.cpu_seconds(), mock.cpu_seconds() if mock else {}
        finally:
            if loadgen.poll() is None:
                loadgen.kill()
    if loadgen.returncode != 0:
        tail = errors.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"loadgen exited {loadgen.returncode}: {tail}")
    cpu = {role: after[role] - before.get(role, 0.0) for role in after}
    mock_cpu = sum(mock_after.values()) - sum(mock_before.values()) if mock else None
    return json.loads(out.strip().splitlines()[-1]), cpu, mock_cpu


def measure(
    target: Target, level: Level, args: argparse.Namespace, env: Environment, rep: int
) -> dict[str, Any]:
    if target.kind == "llama-inprocess":
        return measure_inprocess(args, env, rep)
    outcome, cpu, mock_cpu = run_loadgen(target, level, args, env)
    if target.stack is not None:
        target.stack.check_alive()
    env.loadgen_info = {"loop": outcome.get("loop"), "json": outcome.get("json")}
    if level.mode == "embedded":
        samples = [
            {
                "completion_tokens": s["completion_tokens"],
                "last_s": s["last_content_s"],
                "ttft_s": s["ttfc_s"],
            }
            for s in outcome.get("samples", [])
            if s["complete"]
        ]
        summary = report.summarize_embedded(samples, (s["text_sha1"] for s in outcome["samples"]))
        summary.update(bad=outcome["incomplete"] + outcome["errors"], why=outcome["why"])
        summary["server_cpu_s"] = {role: round(s, 3) for role, s in cpu.items()}
    else:
        summary = report.summarize(outcome, cpu, mock_cpu, args.tokens)
    summary["rep"] = rep
    return summary


def measure_inprocess(args: argparse.Namespace, env: Environment, rep: int) -> dict[str, Any]:
    """llama-cpp-python in a process of its own, pinned where the servers run."""
    argv = [sys.executable, "-m", "bench.embedded_ref", "--runs", str(args.embedded_runs)]
    argv += ["--max-tokens", str(args.embedded_tokens), "--prompt", EMBEDDED_PROMPT]
    argv += ["--threads", str(env.placement.server_threads)]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=pinned(env.placement.servers),
    )
    if done.returncode != 0:
        raise RuntimeError(f"embedded_ref exited {done.returncode}: {done.stderr[-2000:]}")
    ref = json.loads(done.stdout.strip().splitlines()[-1])
    samples = [
        {
            "completion_tokens": r["completion_tokens"],
            "last_s": r["last_token_s"],
            "ttft_s": r["ttft_s"],
        }
        for r in ref["runs"]
    ]
    summary = report.summarize_embedded(samples, (r["text_sha1"] for r in ref["runs"]))
    summary.update(bad=0, rep=rep, threads=ref["threads"], llama_cpp_python=ref["llama_cpp_python"])
    return summary


def _brief(level: Level, summary: dict[str, Any]) -> str:
    if level.mode == "embedded":
        return f"{summary['tokens_per_s']} tok/s, first token {summary['ttft_ms']} ms"
    bad = summary["bad"]
    if level.mode == "unary":
        rate = f"{summary['requests_per_s']} req/s, p50 {summary['latency_p50_ms']} ms"
    else:
        rate = f"{summary['chunks_per_s']} chunks/s, TTFC p50 {summary['ttfc_p50_ms']} ms"
    return (
        f"{summary['complete']}/{summary['sent']} complete, {bad} bad, {rate} "
        f"(srv {summary['server_cpu_pct']}%, gen {summary['gen_cpu_pct']}%)"
    )


def schedule(
    targets: list[Target], levels: list[Level], reps: int
) -> list[tuple[int, Level, Target]]:
    """Level by level, every target that runs the level, in an order rotated by one step per
    level and per repetition, so that other load on the machine hits them alike."""
    plan = []
    for rep in range(reps):
        for step, level in enumerate(levels):
            eligible = [t for t in targets if level.kind in t.modes]
            if not eligible:
                continue
            shift = (step + rep) % len(eligible)
            plan += [(rep, level, t) for t in eligible[shift:] + eligible[:shift]]
    return plan


# --- reporting -------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True, text=True
    )
    return done.stdout.strip()


def venv_probe() -> str:
    """What the servers' venv offers that uvicorn (loop/http "auto") picks up by itself."""
    probe = (
        "import importlib.util as u; print(' '.join(m + ('' if u.find_spec(m) else ' (absent)')"
        " for m in ('uvloop', 'httptools', 'orjson')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return f"{Path(sys.executable).parent.parent}: {done.stdout.strip()}"


def machine_info(targets: list[Target], env: Environment, venv: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadgen_loop": env.loadgen_info.get("loop"),
        "loadgen_json": env.loadgen_info.get("json"),
        "server_venv": venv,
    }

    def describe(root: Path) -> str:
        head = _git(root, "rev-parse", "--short", "HEAD") or "?"
        changed = _git(root, "status", "--porcelain", "--", "core", "gateway", "clients", "bench")
        return f"{root} at {head} + {len(changed.splitlines())} uncommitted files"

    roots = sorted({t.root for t in targets if t.root is not None})
    checkouts = [f"chatrpc from {describe(root)}" for root in roots]
    checkouts.append(f"the bench from {describe(ROOT)}")
    info["checkouts"] = "; ".join(checkouts)
    python = LITELLM_VENV / "bin" / "python"
    if any(t.kind == "litellm" for t in targets) and python.exists():
        probe = "import importlib.metadata as m; print(m.version('litellm'))"
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        info["litellm_version"] = done.stdout.strip() or None
    return info


def write_results_md(markdown: str, path: Path = RESULTS_MD) -> None:
    """Replaces the generated block of bench/RESULTS.md (between its markers)."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} … {END} block to replace")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    path.write_text(
        pattern.sub(lambda _: f"{BEGIN}\n\n{markdown}\n{END}", text, count=1), encoding="utf-8"
    )


def print_tables(full: dict[str, Any]) -> None:
    results = full["results"]
    _say("\nsummary (medians over repetitions)")
    _say(report.overview_table(results))
    _say("\nnon-stream")
    _say(report.levels_table(results, "unary"))
    _say("\nstream (TTFC in ms: time to the first content chunk)")
    _say(report.levels_table(results, "stream"))
    if any(t["kind"] == "llama-inprocess" for t in results["targets"].values()):
        _say("\nembedded model")
        _say(report.embedded_table(results))
    if any("~" in label for label in results["targets"]):
        _say("\nfeature costs (server CPU, both processes; against the defaults)")
        _say(report.feature_table(results))
    _say("\nratios and goals")
    _say(report.ratio_table(full["ratios"]))
    for line in report.ceiling_lines(results):
        _say(line)


# --- main ------------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` that stops every stack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stacks",
        "--targets",
        dest="targets",
        default=DEFAULT_TARGETS,
        help="comma-separated kind[@checkout]: " + ", ".join(TARGET_KINDS) + "; aliases "
        "bare (bare-1,bare-8) and embedded (chatrpc-embedded,llama-inprocess)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("BENCH_ROOT") or ROOT),
        help="the checkout the chatrpc targets without @ run from (default: this one; env "
        "BENCH_ROOT)",
    )
    parser.add_argument(
        "--features",
        action="store_true",
        help="add every feature variant of chatrpc-upstream (" + ", ".join(VARIANTS) + ") "
        "and print what each feature costs",
    )
    parser.add_argument("--levels", default=",".join(lv.name for lv in LEVELS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 2 s per level")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per level (6)")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="chunks per reply")
    parser.add_argument("--pace-ms", type=float, default=DEFAULT_PACE * 1e3)
    parser.add_argument("--embedded-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--embedded-runs", type=int, default=None, help="requests per rep (3)")
    parser.add_argument("--request-timeout", type=float, default=120.0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--out", type=Path, default=RESULTS / "real_path.json")
    parser.add_argument(
        "--write-results-md", action="store_true", help="put the tables into bench/RESULTS.md"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: render the tables and ratios of a saved run with this code",
    )
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 2)
    args.duration = args.duration or (2.0 if args.quick else 6.0)
    args.embedded_runs = args.embedded_runs or (2 if args.quick else 3)
    try:
        args.specs = parse_targets(args.targets, args.root.resolve(), args.features)
    except ValueError as exc:
        parser.error(str(exc))
    names = [n for n in args.levels.split(",") if n]
    known = {lv.name: lv for lv in LEVELS}
    if unknown := [n for n in names if n not in known]:
        parser.error(f"unknown levels {unknown}; known: {', '.join(known)}")
    args.level_list = [known[n] for n in names]
    return args


def render_saved(args: argparse.Namespace) -> int:
    """Re-renders a saved run (its ratios recomputed by this report code)."""
    full = json.loads(args.from_json.read_text(encoding="utf-8"))
    full["ratios"] = report.compare(full["results"])
    markdown = report.markdown_report(full)
    print_tables(full)
    args.from_json.with_suffix(".md").write_text(markdown, encoding="utf-8")
    if args.write_results_md:
        write_results_md(markdown)
        _say(f"updated {RESULTS_MD}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return render_saved(args)
    signal.signal(signal.SIGTERM, _terminate)
    began, clock = datetime.datetime.now(datetime.UTC), time.monotonic()
    ensure_bench_deps()
    venv = venv_probe()
    for root in {root for _, root in args.specs if root is not None}:
        prepare_checkout(root)
    env = Environment(args.tokens, args.pace_ms, RESULTS / "logs", placement(args.no_pin))
    results: dict[str, Any] = {"targets": {}, "level_order": [lv.name for lv in LEVELS]}
    stacks: list[Stack] = []
    live: list[Target] = []
    try:
        env.mock = mock_stack(env)
        stacks.append(env.mock)
        _say(f"[mock] starting on CPU {sorted(env.placement.tools or [])}")
        env.mock.start()
        targets = []
        for spec in args.specs:
            try:
                targets += build_targets(env, [spec])
            except StackUnavailable as exc:
                label = spec[0] if spec[1] is None else f"{spec[0]}@{spec[1].name}"
                _say(f"[{label}] skipped: {exc}")
                results["targets"][label] = {"kind": spec[0], "skipped": str(exc), "levels": {}}
        for target in targets:
            entry = {
                "kind": target.kind,
                "root": None if target.root is None else str(target.root),
                "levels": {},
            }
            results["targets"][target.label] = entry
            stack = target.stack
            if stack is not None and not stack.started:
                stacks.append(stack)
                _say(f"[{target.label}] starting: " + ", ".join(s.name for s in stack.services))
                try:
                    stack.start()
                except Exception as exc:  # one broken stack must not hide the others' figures
                    _fail(entry, target, exc)
                    continue
            if stack is not None:
                entry["commands"] = {s.role: " ".join(s.argv) for s in stack.services}
            live.append(target)
        plan = schedule(live, args.level_list, args.reps)
        plan += schedule(live, [EMBEDDED], args.reps)
        _say(f"{len(plan)} measurements, {args.reps} repetitions, {args.duration} s per level")
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        failed: set[str] = set()
        for index, (rep, level, target) in enumerate(plan, 1):
            if target.label in failed:
                continue
            try:
                summary = measure(target, level, args, env, rep)
            except Exception as exc:  # keep measuring the others
                _fail(results["targets"][target.label], target, exc)
                failed.add(target.label)
                continue
            runs.setdefault((target.label, level.name), []).append(summary)
            _say(f"({index}/{len(plan)}) [{target.label}] {level.name} rep {rep + 1}: "
                 f"{_brief(level, summary)}")  # fmt: skip
            time.sleep(0.3)
        every = {lv.name: lv for lv in (*LEVELS, EMBEDDED)}
        for (label, name), level_runs in runs.items():
            entry = report.level_entry(level_runs)
            level = every[name]
            entry.update(mode=level.mode, concurrency=level.concurrency, paced=level.paced)
            results["targets"][label]["levels"][name] = entry
    finally:
        stop_all(stacks)
    ratios = report.compare(results)
    full = {
        "date": began.isoformat(timespec="seconds"),
        "took_s": round(time.monotonic() - clock, 1),
        "command": " ".join([".venv/bin/python", "bench/real_path.py", *sys.argv[1:]]),
        "machine": machine_info(live, env, venv),
        "settings": {
            "reps": args.reps,
            "duration_s": args.duration,
            "tokens": args.tokens,
            "pace_ms": args.pace_ms,
            "server_cpus": sorted(env.placement.servers or []) or "any",
            "tool_cpus": sorted(env.placement.tools or []) or "any",
            "embedded_tokens": args.embedded_tokens,
            "embedded_runs": args.embedded_runs,
        },
        "results": results,
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = report.markdown_report(full)
    args.out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    print_tables(full)
    if args.write_results_md:
        write_results_md(markdown)
        _say(f"updated {RESULTS_MD}")
    _say(f"\nwritten {args.out} and {args.out.with_suffix('.md')} ({full['took_s']:.0f} s)")
    return 1 if any(t.get("failed") for t in results["targets"].values()) else 0


def _fail(entry: dict[str, Any], target: Target, exc: Exception) -> None:
    _say(f"[{target.label}] FAILED: {exc}")
    entry["failed"] = f"{type(exc).__name__}: {exc}"
    if target.stack is not None:  # left running: it may be shared (the mock, the bare chain)
        with contextlib.suppress(Exception):
            entry["log_tails"] = target.stack.log_tails()


if __name__ == "__main__":
    sys.exit(main())
