"""KeyRing: hashed keys, constant-time comparison, Bearer parsing, configuration."""

from __future__ import annotations

import pytest

from core.auth import UNLIMITED, KeyLimits, KeyRing, digest, load_keyring
from core.errors import ConfigError, UnauthenticatedError
from core.types import DEFAULT_OWNER

ALICE = "sk-alice-0123456789abcdef"
RING = KeyRing({"alice": digest(ALICE), "bob": digest("sk-bob-0123456789abcdef")})


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6",
        ALICE,
        "Bearer sk-wrong-0123456789",
        f"Token {ALICE}",
    ],
)
def test_missing_malformed_or_unknown_keys_are_refused(header):
    with pytest.raises(UnauthenticatedError):
        RING.identify(header)


@pytest.mark.parametrize("header", [f"Bearer {ALICE}", f"bearer {ALICE}", f"BEARER  {ALICE} "])
def test_a_valid_key_names_its_owner(header):
    assert RING.identify(header) == "alice"


def test_keyless_mode_is_one_default_owner():
    assert KeyRing({}, required=False).identify(None) == DEFAULT_OWNER


def test_no_keys_configured_fails_closed():
    with pytest.raises(UnauthenticatedError):
        KeyRing({}).identify(f"Bearer {ALICE}")


def test_keys_load_hashed_from_file_and_environment(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text(f'[keys.alice]\nsha256 = "{digest(ALICE)}"\n')
    ring = load_keyring("required", str(path), "bob=sk-bob-0123456789abcdef")
    assert ring.identify(f"Bearer {ALICE}") == "alice"
    assert ring.identify("Bearer sk-bob-0123456789abcdef") == "bob"
    assert ALICE not in repr(ring) and "sk-bob" not in repr(ring)


@pytest.mark.parametrize(
    ("mode", "inline", "file_text"),
    [
        ("sometimes", "", None),
        ("required", "bob=", None),
        ("required", "no-equals-sign-0123456789", None),
        ("required", "", '[keys.alice]\nsha256 = "not-hex"\n'),
        ("required", "", f'[keys.alice]\nsha256 = "{digest(ALICE)}"\nrequests_per_minute = -1\n'),
        ("required", "", f'[keys.alice]\nsha256 = "{digest(ALICE)}"\ntokens_per_minute = "9"\n'),
        ("required", "", f'[keys.alice]\nsha256 = "{digest(ALICE)}"\nconcurrent_streams = true\n'),
        ("required", "", f'[keys.alice]\nsha256 = "{digest(ALICE)}"\nrpm = 5\n'),
    ],
)
def test_bad_key_configuration_is_a_config_error(tmp_path, mode, inline, file_text):
    path = ""
    if file_text is not None:
        (tmp_path / "k.toml").write_text(file_text)
        path = str(tmp_path / "k.toml")
    with pytest.raises(ConfigError):
        load_keyring(mode, path, inline)


def test_key_limits_load_with_the_keys(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text(
        f'[keys.alice]\nsha256 = "{digest(ALICE)}"\n'
        "requests_per_minute = 60\ntokens_per_minute = 40000\nconcurrent_streams = 4\n"
        f'[keys.bob]\nsha256 = "{digest("sk-bob-0123456789abcdef")}"\n'
    )
    ring = load_keyring("required", str(path), "carol=sk-carol-0123456789abcdef")
    assert ring.limits_of("alice") == KeyLimits(60, 40000, 4)
    assert ring.limits_of("bob") == UNLIMITED
    assert ring.limits_of("carol") == UNLIMITED  # inline keys have no limits
