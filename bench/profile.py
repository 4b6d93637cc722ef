"""Where the users' path spends its CPU: py-spy samples the core and the gateway under a level.

    .venv/bin/python -m bench.profile --levels unary-c64,stream-c64,paced-c64 [--root DIR]
        [--variant obs-off] [--top 25] [--duration 6]

Starts the mock upstream and one `chatrpc-upstream` stack (of this checkout, or `--root`; a
feature variant with `--variant`, see bench/stacks.py), then for each level runs the load
generator as bench/real_path.py does while `py-spy record` samples both server processes
(`--nonblocking`: the processes are never paused). It prints, per process and level, the
functions with the most samples on their own (self) and beneath them (total), and keeps the
collapsed stacks in bench/results/profile/ (for flame graphs: `flamegraph.pl`, speedscope).
py-spy must be installed in the venv (`.venv/bin/pip install py-spy`); it needs ptrace.
"""

from __future__ import annotations

import argparse
import collections
import os
import pstats
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import real_path
from bench.processes import ROOT, Service
from bench.stacks import VARIANTS, Environment, Target, build_targets, mock_stack, stop_all

OUT = ROOT / "bench" / "results" / "profile"


def top_frames(
    collapsed: str, top: int
) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """From py-spy's raw output (`frame;frame;… count` lines, root first): the total number
    of samples, and the `top` frames by self samples and by total samples (a frame counted
    once per stack however often it recurses)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return samples, own.most_common(top), total.most_common(top)


def render(samples: int, frames: list[tuple[str, int]]) -> str:
    return "\n".join(f"{100 * n / max(samples, 1):5.1f}%  {frame}" for frame, n in frames)


def sample_level(
    target: Target, level: real_path.Level, py_spy: str, args: argparse.Namespace, env: Environment
) -> None:
    """py-spy on every server process of `target` while the load generator runs `level`."""
    assert target.stack is not None
    samplers: dict[str, tuple[Service, Path, subprocess.Popen[bytes]]] = {}
    for service in target.stack.services:
        assert service.process is not None
        raw = args.out / f"{level.name}-{service.role}.txt"
        argv = [py_spy, "record", "--pid", str(service.process.pid), "--nonblocking"]
        argv += ["--rate", str(args.rate), "--format", "raw", "--output", str(raw)]
        argv += ["--duration", str(int(args.duration) + 2)]
        argv += [] if args.all_samples else ["--gil"]
        samplers[service.role] = (service, raw, subprocess.Popen(argv, stdout=subprocess.DEVNULL))
    _, cpu, _ = real_path.run_loadgen(target, level, args, env)
    for service, raw, sampler in samplers.values():
        sampler.wait(args.duration + 60)
        samples, own, total = top_frames(raw.read_text(encoding="utf-8"), args.top)
        print(f"\n=== {level.name} · {service.name} · {cpu[service.role]:.2f} s CPU")
        print(f"--- self ({samples} samples)\n{render(samples, own)}")
        print(f"--- total\n{render(samples, total)}", flush=True)


def cprofile_level(
    target: Target, level: real_path.Level, index: int, args: argparse.Namespace, env: Environment
) -> None:
    """cProfile (bench/cprofiled.py) in every server process while `level` runs."""
    assert target.stack is not None
    services = target.stack.services
    for service in services:
        assert service.process is not None
        os.kill(service.process.pid, signal.SIGUSR1)
    outcome, cpu, _ = real_path.run_loadgen(target, level, args, env)
    for service in services:
        assert service.process is not None
        os.kill(service.process.pid, signal.SIGUSR1)
    done = outcome["complete"] * (1 if level.mode == "unary" else args.tokens)
    unit = "request" if level.mode == "unary" else "chunk"
    for service in services:
        path = args.out / f"cprofile-{service.role}.{index}"
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # written by the process: let it finish
        stats = pstats.Stats(str(path))
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        print(f"\n=== {level.name} · {service.name} · {cpu[service.role]:.2f} s CPU, "
              f"{total:.2f} s profiled on the main thread, {done} {unit}s")  # fmt: skip
        for key, title in (("tottime", "self"), ("cumulative", "total")):
            print(f"--- {title}: µs per {unit} (calls per {unit})")
            rows = sorted(
                stats.stats.items(),  # type: ignore[attr-defined]
                key=lambda item: item[1][2 if key == "tottime" else 3],
                reverse=True,
            )[: args.top]
            for (file, line, name), (_, calls, own, cumulative, _) in rows:
                value = own if key == "tottime" else cumulative
                where = f"{name} ({_short(file)}:{line})"
                print(f"{1e6 * value / max(done, 1):9.1f}  ({calls / max(done, 1):6.2f})  {where}")


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file.removeprefix(str(ROOT) + "/")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="unary-c64,stream-c64,paced-c64")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to profile")
    parser.add_argument("--variant", default="", help=f"one of {', '.join(VARIANTS)}")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="cProfile on the CPU clock of each process's main thread (bench/cprofiled.py) "
        "instead of py-spy: deterministic, slower, exact call counts",
    )
    parser.add_argument(
        "--all-samples",
        action="store_true",
        help="sample every running thread, not only the one holding the GIL (py-spy --gil: "
        "the default, as close to CPU time as py-spy gets on a shared machine)",
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out = args.out.resolve()  # the servers run from their checkout
    known = {lv.name: lv for lv in real_path.LEVELS}
    args.level_list = [known[name] for name in args.levels.split(",") if name]
    args.request_timeout, args.embedded_runs = 120.0, 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or ""
    if not py_spy and not args.cprofile:
        raise SystemExit(f"no py-spy beside {sys.executable}: pip install py-spy")
    real_path.ensure_bench_deps()
    real_path.prepare_checkout(args.root.resolve())
    env = Environment(args.tokens, 10.0, args.out / "logs", real_path.placement(args.no_pin))
    env.mock = mock_stack(env)
    stacks = [env.mock]
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        env.mock.start()
        name = "chatrpc-upstream" + (f"~{args.variant}" if args.variant else "")
        (target,) = build_targets(env, [(name, args.root.resolve())])
        assert target.stack is not None
        stacks.append(target.stack)
        if args.cprofile:
            for service in target.stack.services:
                prefix = args.out / f"cprofile-{service.role}"
                for old in args.out.glob(f"{prefix.name}.*"):
                    old.unlink()
                module = service.argv[2]  # [python, "-m", module, …]
                service.argv[1:3] = [str(ROOT / "bench" / "cprofiled.py"), str(prefix), module]
        target.stack.start()
        for index, level in enumerate(args.level_list, 1):
            if args.cprofile:
                cprofile_level(target, level, index, args, env)
            else:
                sample_level(target, level, py_spy, args, env)
    finally:
        stop_all(stacks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
