"""Registries are explicit tables: key == module name == the class's `kind`."""

from __future__ import annotations

import importlib

import pytest

from core.backends import BACKENDS, backend_class, create_backend
from core.errors import ConfigError


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_backend_key_equals_module_and_kind(kind):
    module_name, _, class_name = BACKENDS[kind].partition(":")
    assert module_name == f"core.backends.{kind}"
    cls = getattr(importlib.import_module(module_name), class_name)
    assert cls.kind == kind
    assert backend_class(kind) is cls


def test_unknown_backend_kind_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="llama_cpp"):
        create_backend("no_such_backend", {})
