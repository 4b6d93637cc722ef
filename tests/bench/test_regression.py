"""The regression check's arithmetic on made-up figures (never a timed assertion): which
ratios it computes, and when it fails."""

from __future__ import annotations

import subprocess

import pytest

from bench import regression


def _results(head_request: float, head_chunk: float | None) -> dict:
    def target(request: float, chunk: float | None, rate: float) -> dict:
        stream = {"chunks_per_s": rate * 10}
        if chunk is not None:
            stream["cpu_us_per_chunk"] = chunk
        return {
            "levels": {
                "unary-c64": {"median": {"cpu_us_per_request": request, "requests_per_s": rate}},
                "stream-c64": {"median": stream},
                "paced-c64": {"median": {"cpu_us_per_chunk": 50.0, "ttfc_p50_ms": 30.0}},
            }
        }

    return {
        "targets": {
            "bare-1": target(800.0, 130.0, 1300.0),
            "chatrpc-upstream@base": target(2700.0, 68.0, 370.0),
            "chatrpc-upstream": target(head_request, head_chunk, 600.0),
        }
    }


def _rows(results: dict, threshold: float = 1.10) -> dict[str, dict]:
    rows = regression.compare(
        results, "chatrpc-upstream", "chatrpc-upstream@base", "bare-1", threshold
    )
    return {(row["level"], row["what"]): row for row in rows}


def test_cpu_ratios_are_head_over_base_and_over_bare():
    rows = _rows(_results(2160.0, 54.4))
    request = rows["unary-c64", "server CPU per non-stream request, µs"]
    chunk = rows["stream-c64", "server CPU per streamed chunk, µs"]

    assert request["head_vs_base"] == 0.8 and request["head_vs_bare"] == 2.7
    assert chunk["head_vs_base"] == 0.8 and chunk["passed"] is True
    assert rows["unary-c64", "non-stream req/s, c=64"]["passed"] is None  # not a gate
    assert regression.verdict(list(rows.values()))


def test_a_cpu_ratio_above_the_threshold_fails():
    within = list(_rows(_results(2970.0, 68.0)).values())  # 1.10 and 1.00: at the limit
    above = list(_rows(_results(2990.0, 68.0)).values())  # 1.107

    assert regression.verdict(within)
    assert not regression.verdict(above)
    assert regression.verdict(list(_rows(_results(2990.0, 68.0), threshold=1.2).values()))


def test_a_missing_figure_fails_the_check_and_says_so():
    rows = list(_rows(_results(2000.0, None)).values())

    assert not regression.verdict(rows)
    assert "✗ (missing)" in regression.table(rows, 1.10)


def test_the_base_worktree_is_the_commit_and_is_removed_afterwards():
    head = subprocess.run(
        ["git", "-C", str(regression.ROOT), "rev-parse", "HEAD~1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    with regression.base_worktree(head) as path:
        checked_out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        assert (path / "bench" / "real_path.py").is_file()

    assert checked_out == head
    assert not path.exists()
    listed = subprocess.run(
        ["git", "-C", str(regression.ROOT), "worktree", "list"], capture_output=True, text=True
    ).stdout
    assert str(path) not in listed


def test_feature_variants_are_parsed_and_added_for_this_checkout_only(tmp_path):
    from bench import real_path

    specs = real_path.parse_targets(
        f"bare-1,chatrpc-upstream@{tmp_path},chatrpc-upstream", regression.ROOT, features=True
    )
    names = [name for name, _ in specs]

    assert names == [
        "bare-1",
        "chatrpc-upstream",  # the other checkout: no variants
        "chatrpc-upstream",
        "chatrpc-upstream~obs-off",
        "chatrpc-upstream~keys",
        "chatrpc-upstream~quotas",
    ]
    assert real_path.parse_targets("chatrpc-upstream~keys", regression.ROOT) == [
        ("chatrpc-upstream~keys", regression.ROOT)
    ]
    with pytest.raises(ValueError, match="variants"):
        real_path.parse_targets("bare-1~obs-off", regression.ROOT)
    with pytest.raises(ValueError, match="variants"):
        real_path.parse_targets("chatrpc-upstream~nothing", regression.ROOT)


def test_the_feature_table_divides_each_variant_by_its_default():
    from bench import report

    def target(request: float, chunk: float) -> dict:
        levels = {
            "unary-c64": {"median": {"cpu_us_per_request": request}},
            "stream-c64": {"median": {"cpu_us_per_chunk": chunk}},
        }
        return {"kind": "chatrpc-upstream", "levels": levels}

    results = {
        "targets": {
            "chatrpc-upstream": target(3000.0, 60.0),
            "chatrpc-upstream~obs-off": target(2700.0, 57.0),
        }
    }
    table = report.feature_table(results)

    assert "2 700 (0.90)" in table and "57.0 (0.95)" in table
    assert "3 000 " in table and "(1.00)" not in table  # the default is not divided by itself
