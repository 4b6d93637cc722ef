"""PARSERS: key == module name == parser kind; unknown kinds and duplicates are errors."""

from __future__ import annotations

import importlib

import pytest

from core.errors import ConfigError
from core.tools import PARSERS, _unique_table, create_parser
from core.tools.base import new_tool_call_id
from tests.core.tools.contract import CALL_ID, TOOLS


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_key_equals_module_name_equals_kind(kind: str) -> None:
    module_name, _, class_name = PARSERS[kind].partition(":")
    assert module_name == f"core.tools.{kind}"
    parser_class = getattr(importlib.import_module(module_name), class_name)
    assert parser_class.kind == kind
    assert type(create_parser(kind, TOOLS)) is parser_class


def test_unknown_kind_is_a_config_error_listing_known_kinds() -> None:
    with pytest.raises(ConfigError, match="unknown tool-call format 'json_block'") as info:
        create_parser("json_block", TOOLS)
    assert all(kind in info.value.message for kind in PARSERS)
    assert info.value.metadata == {"kind": "json_block"}


def test_duplicate_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="duplicate tool-call parser kind 'hermes'"):
        _unique_table([("hermes", "a:A"), ("hermes", "b:B")])


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        PARSERS["new"] = "core.tools.new:NewParser"  # type: ignore[index]


def test_new_tool_call_id_shape_and_uniqueness() -> None:
    ids = {new_tool_call_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(CALL_ID.fullmatch(call_id) for call_id in ids)
