"""Which exceptions are a storage driver failing: the one rule behind "every storage-driver error
is a retryable StorageError (UNAVAILABLE / 503)".

The pools map the exceptions they know (core.storage.postgres_pool, core.storage.sqlite_pool),
but a driver raises more than its documented classes when a server dies under it: asyncpg's
InternalClientError and ProtocolError, or a plain AttributeError or RuntimeError from inside
its protocol code when the connection was terminated mid-query. So a failure counts as the
driver's when its class comes from a driver's package, or it was raised from a driver's own
code; the same test is the gRPC edge's last resort (core.server.errors) for whatever escaped a
pool, so none of it is an INTERNAL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Final

# Top-level packages of the drivers the stores and the rate-limit store use.
DRIVER_PACKAGES: Final = frozenset({"asyncpg", "sqlite3", "_sqlite3", "redis"})
_MAX_CHAIN: Final = 8  # __cause__/__context__ links followed; chains are short


def is_driver_failure(exc: BaseException) -> bool:
    """True if `exc`, or an exception it was raised from, is a storage driver's failure."""
    seen: BaseException | None = exc
    for _ in range(_MAX_CHAIN):
        if seen is None:
            return False
        if _from_driver(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _from_driver(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    if type(exc).__module__.partition(".")[0] in DRIVER_PACKAGES:
        return True
    # A ValueError or TypeError from inside a driver is how it refuses what it was given (a
    # malformed URL): the caller's mistake, which the caller maps, not a failure to retry.
    return not isinstance(exc, ValueError | TypeError) and _raised_in_driver(exc.__traceback__)


def _raised_in_driver(tb: TracebackType | None) -> bool:
    """Whether the innermost frame of `tb` is a driver's code (its file under a driver package)."""
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    parts = Path(tb.tb_frame.f_code.co_filename).parts
    return any(part in DRIVER_PACKAGES for part in parts[-4:-1])
