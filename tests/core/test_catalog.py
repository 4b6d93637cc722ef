"""The model catalog as data: the shipped file, environment overrides, key resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import (
    EmbeddingSpec,
    build_catalog,
    load_specs,
    override_embedded,
    resolve_key,
)
from core.errors import ConfigError, ModelNotConfiguredError
from core.loading import load_models
from core.settings import DEFAULT_MODELS_FILE, Settings
from core.tools import PARSERS, parser_class

SHIPPED = Path(DEFAULT_MODELS_FILE)


def test_shipped_catalog_serves_the_embedded_model_first_and_declares_qwen_flash():
    specs = load_specs(SHIPPED)
    assert [s.name for s in specs] == ["smollm2-135m-instruct", "qwen-flash"]
    embedded, qwen = specs
    assert (embedded.backend, embedded.tool_format, embedded.defaults.max_tokens) == (
        "llama_cpp",
        "hermes",
        512,
    )
    assert qwen.backend == "openai_compat"
    assert qwen.options["base_url"] == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert qwen.options["api_key_env"] == ["ALI_API_KEY", "DASHSCOPE_API_KEY"]


def test_example_catalog_parses():
    specs = load_specs(SHIPPED.parent / "examples.toml")
    assert {s.backend for s in specs} == {"openai_compat"}
    assert all(s.tool_format in ("", *PARSERS) for s in specs)


def test_the_catalog_says_which_models_embed_and_whether_they_shorten():
    embedded, qwen = load_specs(SHIPPED)
    assert embedded.embeddings == EmbeddingSpec(dimensions=576, shortening=False)
    assert qwen.embeddings is None
    examples = {s.name: s for s in load_specs(SHIPPED.parent / "examples.toml")}
    assert examples["text-embedding-3-small"].embeddings == EmbeddingSpec(1536, shortening=True)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("embeddings = true", "expected a table"),
        ("embeddings = {shortening = true}", "dimensions must be a positive integer"),
        ("embeddings = {dimensions = 0}", "dimensions must be a positive integer"),
        ("embeddings = {dimensions = 8, shortening = 1}", "shortening must be true or false"),
        ("embeddings = {dimensions = 8, size = 2}", "expected a table"),
    ],
)
def test_a_malformed_embeddings_table_is_a_config_error(tmp_path, table, message):
    path = tmp_path / "models.toml"
    path.write_text(f'[models.m]\nbackend = "llama_cpp"\ncontext_window = 512\n{table}\n')
    with pytest.raises(ConfigError, match=message):
        load_specs(path)


def test_every_parser_has_call_syntax_for_its_instructions():
    for kind in PARSERS:
        syntax = parser_class(kind).call_syntax
        assert "<function name>" in syntax and "<arguments>" in syntax, kind


def test_key_resolution_takes_the_first_set_variable_and_names_them_when_none_is():
    qwen = load_specs(SHIPPED)[1]
    options, missing = resolve_key(qwen, {})
    assert missing == "ALI_API_KEY or DASHSCOPE_API_KEY" and "api_key" not in options
    options, missing = resolve_key(qwen, {"DASHSCOPE_API_KEY": "sk-b"})
    assert (options["api_key"], missing) == ("sk-b", "")
    options, _ = resolve_key(qwen, {"ALI_API_KEY": "sk-a", "DASHSCOPE_API_KEY": "sk-b"})
    assert options["api_key"] == "sk-a" and "api_key_env" not in options


async def test_a_model_without_its_key_says_which_variable_to_set():
    catalog = build_catalog(Settings())
    await load_models(catalog, {})
    with pytest.raises(ModelNotConfiguredError, match="ALI_API_KEY or DASHSCOPE_API_KEY"):
        catalog.backend("qwen-flash")
    assert catalog.is_ready("smollm2-135m-instruct")
    await catalog.aclose()


def test_env_renames_the_embedded_model_over_a_catalog_entry():
    specs = override_embedded(load_specs(SHIPPED), "qwen-flash", "/models/x.gguf", 2048)
    assert [(s.name, s.backend) for s in specs] == [("qwen-flash", "llama_cpp")]
    assert specs[0].options["model_path"] == "/models/x.gguf" and specs[0].context_window == 2048


def test_settings_from_env_reads_the_overrides():
    settings = Settings.from_env(
        {"CHATRPC_MODEL_NAME": "mine", "CHATRPC_MODELS_FILE": "/x.toml", "ALI_API_KEY": "k"}
    )
    assert (settings.model_name, settings.models_file, settings.environ["ALI_API_KEY"]) == (
        "mine",
        "/x.toml",
        "k",
    )
    assert "ALI_API_KEY" not in repr(settings) and "'k'" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[models"),
        ('[models.m]\nbackend = "llama_cpp"\n', "context_window"),
        ('[models.m]\nbackend = "llama_cpp"\ncontext_window = 8\nwindow = 1\n', "unknown keys"),
        (
            '[models.m]\nbackend = "x"\ncontext_window = 8\n[models.m.defaults]\ntemp = 1\n',
            "unknown keys",
        ),
        ("[models", "cannot read"),
    ],
)
def test_bad_catalog_files_are_config_errors(tmp_path, text, message):
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_specs(path)
