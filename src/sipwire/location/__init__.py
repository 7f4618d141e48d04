"""The location service (RFC 3261 §10): bindings of addresses-of-record to
contacts, written by the registrar and read by proxies.

Three stores share one interface, ``LocationStore``:

- ``MemoryStore``: a dict, for tests and single-process servers;
- ``SQLiteStore``: one file, the embedded default; survives restarts;
- ``RedisStore``: for several sipwire nodes sharing one location service
  (needs the ``redis`` package: ``pip install sipwire[redis]``).

``open_store(url)`` builds one from ``memory:``, ``sqlite:///path/loc.db``
(``sqlite:////abs/path.db`` for an absolute path, ``sqlite:///:memory:``) or
``redis://host:port/db``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .binding import Binding, Source, sort_bindings
from .memory_store import MemoryStore
from .outage import StoreOutage
from .sqlite_store import SQLiteStore
from .store import Change, LocationStore, StoreError, purge_periodically

if TYPE_CHECKING:
    from .redis_store import RedisStore

__all__ = [
    "Binding",
    "Change",
    "LocationStore",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Source",
    "StoreError",
    "StoreOutage",
    "open_store",
    "purge_periodically",
    "sort_bindings",
]


def open_store(url: str, **options: Any) -> LocationStore:
    """A location store for ``url``.

    ``memory:``
        a ``MemoryStore``.
    ``sqlite:///PATH``
        a ``SQLiteStore`` on PATH, as SQLAlchemy spells it: ``sqlite:///loc.db``
        is relative to the working directory, ``sqlite:////var/lib/loc.db``
        absolute, ``sqlite:///:memory:`` in memory.
    ``redis://host:port/db``, ``rediss://...``, ``unix://...``
        a ``RedisStore`` with its own client; ``options`` may give ``prefix``,
        ``grace``, ``max_retries`` and any ``redis.asyncio.Redis.from_url`` option.
    """
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon:
        raise ValueError(f"not a location store URL: {url!r}")
    if scheme == "memory":
        if rest not in ("", "//"):
            raise ValueError(f"memory: takes no path: {url!r}")
        return MemoryStore(**options)
    if scheme == "sqlite":
        if not rest.startswith("///") or len(rest) == 3:
            raise ValueError(f"expected sqlite:///PATH, got {url!r}")
        return SQLiteStore(rest[3:], **options)
    if scheme in ("redis", "rediss", "unix"):
        try:
            from .redis_store import RedisStore
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("redis"):
                raise
            raise ValueError(f"{url}: the Redis store needs the redis package, which "
                             "`pip install sipwire` installs") from None
        return RedisStore.from_url(url, **options)
    raise ValueError(f"unknown location store {scheme!r} in {url!r} "
                     "(memory:, sqlite:///PATH, redis://HOST:PORT/DB)")


def __getattr__(name: str) -> Any:
    # RedisStore imports redis, an optional dependency: only when asked for.
    if name == "RedisStore":
        from .redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
