"""The regression check of the users' path: this checkout against a named commit, in one run.

    make bench-check BASE=<commit>            # or: .venv/bin/python -m bench.regression --base …

The commit is checked out into a temporary git worktree (removed at the end; its stubs are
generated there), then `bench/real_path.py` measures, side by side and interleaved, the bare
chain (`bare-1`), `chatrpc-upstream` from that worktree and `chatrpc-upstream` from this
checkout (its working tree, uncommitted changes included) on `unary-c64`, `stream-c64` and
`paced-c64`, 2 repetitions. It prints the server CPU per non-stream request and per streamed
chunk of this checkout ÷ the commit's, and exits 1 when either is above the threshold
(THRESHOLD, default 1.10: this machine's run-to-run noise on these two ratios is about ±5 %),
2 when a target failed. Only ratios within the run mean anything: absolute figures move with
whatever else the machine runs. docs/performance.md says when and how to use it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import real_path
from bench.processes import ROOT
from bench.report import fmt, render

DEFAULT_THRESHOLD = 1.10
LEVELS = ("unary-c64", "stream-c64", "paced-c64")
OUT = ROOT / "bench" / "results" / "regression.json"


@dataclass(frozen=True)
class Check:
    """One figure of this checkout against the base's (and the bare chain's, for scale).

    `gate` checks are the ones the exit status depends on: head ÷ base ≤ the threshold."""

    what: str
    level: str
    key: str
    gate: bool


CHECKS = (
    Check("server CPU per non-stream request, µs", "unary-c64", "cpu_us_per_request", True),
    Check("server CPU per streamed chunk, µs", "stream-c64", "cpu_us_per_chunk", True),
    Check("server CPU per paced chunk, µs", "paced-c64", "cpu_us_per_chunk", False),
    Check("non-stream req/s, c=64", "unary-c64", "requests_per_s", False),
    Check("stream chunks/s, c=64", "stream-c64", "chunks_per_s", False),
    Check("64 paced streams: delivered/s", "paced-c64", "delivered_chunks_per_s", False),
    Check("64 paced streams: TTFC p50, ms", "paced-c64", "ttfc_p50_ms", False),
)


def median(results: Mapping[str, Any], label: str, level: str, key: str) -> float | None:
    """A level's median figure of one target, None if it was not measured."""
    entry = results["targets"].get(label, {}).get("levels", {}).get(level)
    value = entry["median"].get(key) if entry else None
    return float(value) if isinstance(value, int | float) else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def compare(
    results: Mapping[str, Any], head: str, base: str, bare: str, threshold: float
) -> list[dict[str, Any]]:
    """One row per check: the three medians, head ÷ base, head ÷ bare, and for a gate whether
    it passed (None when a figure is missing: that fails the check too)."""
    rows = []
    for check in CHECKS:
        h, b, r = (median(results, label, check.level, check.key) for label in (head, base, bare))
        vs_base = ratio(h, b)
        passed = None if not check.gate or vs_base is None else vs_base <= threshold
        rows.append(
            {
                "what": check.what,
                "level": check.level,
                "gate": check.gate,
                "head": h,
                "base": b,
                "bare": r,
                "head_vs_base": vs_base,
                "head_vs_bare": ratio(h, r),
                "passed": passed,
            }
        )
    return rows


def verdict(rows: list[dict[str, Any]]) -> bool:
    """Whether every gate passed (a gate with a missing figure did not)."""
    return all(row["passed"] is True for row in rows if row["gate"])


def table(rows: list[dict[str, Any]], threshold: float, markdown: bool = False) -> str:
    header = ["figure", "level", "bare-1", "base", "head", "head ÷ base", "head ÷ bare-1"]
    lines = [header]
    for row in rows:
        mark = {None: "", True: " ✓", False: " ✗"}[row["passed"]] if row["gate"] else ""
        mark = " ✗ (missing)" if row["gate"] and row["passed"] is None else mark
        lines.append(
            [
                row["what"],
                row["level"],
                fmt(row["bare"]),
                fmt(row["base"]),
                fmt(row["head"]),
                fmt(row["head_vs_base"]) + mark,
                fmt(row["head_vs_bare"]),
            ]
        )
    return render(lines, markdown, align_left=2) + (
        f"\n\n✓/✗: head ÷ base at most {threshold:.2f} (server CPU, both processes)."
    )


@contextlib.contextmanager
def base_worktree(commit: str) -> Iterator[Path]:
    """`commit` checked out (detached) in a temporary git worktree, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="chatrpc-bench-base-"))
    path = parent / "base"
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(path), commit], check=True)
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run([*git, "worktree", "prune"], check=False)


def ensure_own_stubs() -> None:
    """This checkout's stubs, generated if missing (what `make proto` does, without its
    dependency on the venv's install stamp: the check must never reinstall the venv)."""
    if not any((ROOT / "clients" / "chatrpc" / "v1").glob("*_pb2.py")):
        subprocess.run([sys.executable, str(ROOT / "clients" / "codegen.py")], check=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (any rev)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per level")
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.base + "^{commit}"],
        capture_output=True,
        text=True,
    )
    if commit.returncode != 0:
        print(f"unknown commit {args.base!r}: {commit.stderr.strip()}", file=sys.stderr)
        return 2
    ensure_own_stubs()
    with base_worktree(commit.stdout.strip()) as base:
        stacks = f"bare-1,chatrpc-upstream@{base},chatrpc-upstream"
        code = real_path.main(
            [
                "--stacks",
                stacks,
                "--levels",
                ",".join(LEVELS),
                "--reps",
                str(args.reps),
                "--duration",
                str(args.duration),
                "--out",
                str(args.out),
            ]
        )
        base_label = f"chatrpc-upstream@{base.name}"
    results = json.loads(args.out.read_text(encoding="utf-8"))["results"]
    rows = compare(results, "chatrpc-upstream", base_label, "bare-1", args.threshold)
    print(f"\nregression check: this checkout (head) against {commit.stdout.strip()} (base)")
    print(table(rows, args.threshold))
    passed = verdict(rows)
    print("PASS" if passed else f"FAIL: a CPU ratio is above {args.threshold:.2f} or missing")
    if code != 0:
        return 2
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
