"""The generated references match the code: the configuration tables are what
scripts/gen_docs.py makes of the settings modules' ENVIRONMENT tables, and those tables
document exactly the variables each from_env reads; the metric table is the registry's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

import core.environment
import core.settings
import gateway.settings
from scripts import gen_docs


class RecordingEnv(Mapping[str, str]):
    """An environment with `values` set that remembers every variable looked up in it."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = values or {}
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def read_by(from_env: Callable[[Mapping[str, str]], Any]) -> set[str]:
    """The variables `from_env` looks up (set or not)."""
    env = RecordingEnv()
    from_env(env)
    return env.read


SETTINGS = [
    pytest.param(core.settings.Settings, core.environment.ENVIRONMENT, id="core"),
    pytest.param(gateway.settings.Settings, gateway.settings.ENVIRONMENT, id="gateway"),
]


def test_generated_pages_match_the_code():
    assert gen_docs.stale_pages(write=False) == [], "run: python -m scripts.gen_docs"


@pytest.mark.parametrize(("settings", "environment"), SETTINGS)
def test_every_variable_read_is_documented_once(settings, environment):
    names = [var.name for var in environment]
    assert len(names) == len(set(names)), "a variable documented twice"
    assert read_by(settings.from_env) == set(names)


@pytest.mark.parametrize(("settings", "environment"), SETTINGS)
def test_every_documented_variable_sets_its_attribute(settings, environment):
    """Setting a variable to a value unlike its default changes the attribute it names."""
    defaults = settings()
    for var in environment:
        default = gen_docs._attribute(defaults, var.attribute)
        sample = _unlike(default)
        if sample is None:
            continue
        env = RecordingEnv({var.name: sample})
        changed = gen_docs._attribute(settings.from_env(env), var.attribute)
        assert changed != default, f"{var.name} does not set {var.attribute}"


def _unlike(default: Any) -> str | None:
    """A value for the variable that parses and differs from `default`; None where the
    variable's values are a closed set checked elsewhere (log format)."""
    if isinstance(default, bool):
        return "0" if default else "1"
    if isinstance(default, int | float) or default is None:
        return "7"
    if isinstance(default, tuple):
        return "10.0.0.9"
    if default in ("text", "required"):
        return None if default == "text" else "disabled"
    return "x-test"


def test_the_check_fails_on_an_undocumented_variable():
    """The drift this guards against: a from_env that reads one more variable."""

    def drifted(env: Mapping[str, str]) -> Any:
        env.get("CHATRPC_SOMETHING_NEW")
        return core.settings.Settings.from_env(env)

    documented = {var.name for var in core.environment.ENVIRONMENT}
    assert read_by(drifted) - documented == {"CHATRPC_SOMETHING_NEW"}


def test_the_metric_table_names_every_registered_metric_with_its_labels():
    table = gen_docs.metric_table()
    for metric in gen_docs.registered_metrics():
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        assert f"| `{gen_docs.metric_name(metric)}` | {metric._type} | {labels} |" in table
