"""Writes the generated parts of the docs: the configuration reference from the settings modules'
ENVIRONMENT tables and the metric table from observability/metrics.py.

`python -m scripts.gen_docs` rewrites what lies between `<!-- generated: NAME … -->` and
`<!-- end generated -->` in the pages below; `--check` writes nothing and exits 1 naming each
stale page. tests/docs/test_generated.py fails on the same drift.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

import core.environment
import core.settings
import gateway.settings
from observability import metrics

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+)[^>]*-->\n)(?P<body>.*?)(<!-- end generated -->)", re.S
)


def _attribute(settings: object, path: str) -> Any:
    value = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _shown(value: Any) -> str:
    """A default as the docs show it: relative paths, 0/1 for switches, unset for empty."""
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, tuple):
        value = ",".join(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value == "" or value is None:
        return "unset"
    return "`" + str(value).replace(str(ROOT) + "/", "") + "`"


def environment_table(settings: object, variables: Iterable[Any]) -> str:
    """A Markdown table of (variable, default, meaning), one row per variable."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var in variables:
        default = (
            var.default if var.default is not None else _shown(_attribute(settings, var.attribute))
        )
        rows.append(f"| `{var.name}` | {default} | {var.meaning} |")
    return "\n".join(rows) + "\n"


def registered_metrics() -> list[MetricWrapperBase]:
    """Every metric observability/metrics.py defines, in its order."""
    return [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]


def metric_name(metric: MetricWrapperBase) -> str:
    """The exported name: prometheus_client adds `_total` to a counter's."""
    return metric._name + ("_total" if metric._type == "counter" else "")


def metric_table() -> str:
    rows = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for metric in registered_metrics():
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        rows.append(
            f"| `{metric_name(metric)}` | {metric._type} | {labels} | {metric._documentation} |"
        )
    return "\n".join(rows) + "\n"


# page → {block name → its generated text}
GENERATORS: dict[str, dict[str, Callable[[], str]]] = {
    "operations/configuration.md": {
        "core-environment": lambda: environment_table(
            core.settings.Settings(), core.environment.ENVIRONMENT
        ),
        "gateway-environment": lambda: environment_table(
            gateway.settings.Settings(), gateway.settings.ENVIRONMENT
        ),
    },
    "operations/observability.md": {"metrics": metric_table},
}


def render(text: str, blocks: dict[str, Callable[[], str]]) -> str:
    """`text` with each generated block replaced; a block named in `blocks` but missing from
    the page, or a page block no generator knows, is an error."""
    found = {m.group("name") for m in BLOCK.finditer(text)}
    if found != set(blocks):
        raise ValueError(f"generated blocks {sorted(found)} != {sorted(blocks)}")
    return BLOCK.sub(lambda m: m.group(1) + blocks[m.group("name")]() + m.group(4), text)


def stale_pages(write: bool) -> list[str]:
    """The pages whose generated parts differ from the code; rewrites them when `write`."""
    stale = []
    for page, blocks in GENERATORS.items():
        path = DOCS / page
        text = path.read_text()
        fresh = render(text, blocks)
        if fresh != text:
            stale.append(page)
            if write:
                path.write_text(fresh)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = stale_pages(write=not args.check)
    for page in stale:
        print(f"docs/{page}: {'stale' if args.check else 'written'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
