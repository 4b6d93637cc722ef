"""open_from_url(): the store a database URL names, for every store layer (memory, knowledge)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.registry import import_target

# Database URL scheme → store kind, for every store layer (one URL can serve them all).
SCHEMES: Mapping[str, str] = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}


async def open_from_url(table: Mapping[str, str], what: str, url: str, **options: object) -> Any:
    """`await <store class>.open(url, **options)` for the store the URL's scheme selects.

    An unknown scheme or option is a ConfigError; only the scheme is echoed, since the rest
    of a URL may carry a password.
    """
    scheme = urlsplit(url).scheme.lower()
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise ConfigError(
            f"unknown {what} URL scheme {scheme!r}; expected one of {sorted(SCHEMES)}"
        )
    opener = import_target(table, kind, what).open
    try:
        inspect.signature(opener).bind(url, **options)
    except TypeError:
        raise ConfigError(f"unknown option for the {kind} {what}: {sorted(options)}") from None
    return await opener(url, **options)
