"""The location service interface (RFC 3261 §10: "an abstract service ... that
the registrar writes and proxies read"), shared by every store.

A store keeps bindings per address-of-record.  Its one writing operation is
``update(aor, change, now)``: read the unexpired bindings of one AOR, let
``change`` compute the new set, and write it, all as one transaction.  That is
§10.3's "REGISTER requests MUST also be processed atomically": two refreshes
of one AOR through two nodes never lose each other's contact, and a ``change``
that raises leaves the AOR untouched (§10.3 step 7: "the binding updates MUST
be committed ... if and only if all binding updates and additions succeed").

Time is an argument, as everywhere in sipwire: ``now`` is POSIX seconds.  No
read returns a binding whose ``expires_at`` is at or before ``now``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType

from .binding import Binding, sort_bindings

__all__ = ["Change", "KeyedLock", "LocationStore", "StoreError", "check_change",
           "purge_periodically"]

log = logging.getLogger("sipwire.location")

#: computes an AOR's new bindings from its current, unexpired ones (sorted as by
#: ``lookup``).  It must be pure: a store may call it more than once (the Redis
#: store does when another node wrote the AOR meanwhile) and may call it in a
#: worker thread (the SQLite store does).  Raising aborts the update.
Change = Callable[[list[Binding]], list[Binding]]


class StoreError(Exception):
    """The location service failed: it is unreachable or cannot write.  The
    registrar and the proxy answer 503 with Retry-After (RFC 3261 §21.5.4)
    while it lasts (``StoreOutage``)."""


class LocationStore(ABC):
    """Bindings per address-of-record; every method is a coroutine."""

    @abstractmethod
    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        """Replace ``aor``'s bindings by ``change(current)`` atomically.

        ``current`` holds the unexpired bindings; expired ones are dropped by
        the same write.  Returns the new bindings as ``lookup`` orders them.
        Bindings are matched by ``Binding.key``: the ones ``change`` leaves out
        are removed.  If ``change`` raises, nothing is written and the
        exception propagates.
        """

    @abstractmethod
    async def lookup(self, aor: str, now: float) -> list[Binding]:
        """The unexpired bindings of ``aor``, highest q first (``sort_bindings``)."""

    @abstractmethod
    async def remove(self, aor: str) -> int:
        """Remove every binding of ``aor``; return how many there were (expired included)."""

    @abstractmethod
    async def purge(self, now: float) -> int:
        """Remove every binding expired at ``now``; return how many were removed.

        Run it periodically: reads never return expired bindings, this frees them.
        """

    @abstractmethod
    async def aors(self, now: float) -> list[str]:
        """Every address-of-record with an unexpired binding, sorted."""

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        return None

    # -- for the operator (``sipwire registrations``, ``/metrics``, ``/health``) --------

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        """Every unexpired binding, by AOR then as ``lookup`` orders them; only
        ``aor``'s when given."""
        aors = [aor] if aor is not None else await self.aors(now)
        found: list[Binding] = []
        for name in aors:
            found += await self.lookup(name, now)
        return found

    async def count(self, now: float) -> int:
        """How many unexpired bindings there are."""
        return len(await self.bindings(now))

    async def ping(self) -> None:
        """A round trip to the backing service; ``StoreError`` when it does not answer."""
        await self.lookup("", time.time())

    # -- conveniences built on the above ---------------------------------------------

    async def put(self, binding: Binding, now: float) -> list[Binding]:
        """Add ``binding`` to its AOR, replacing the one with the same key."""

        def change(current: list[Binding]) -> list[Binding]:
            return [b for b in current if b.key != binding.key] + [binding]

        return await self.update(binding.aor, change, now)

    async def __aenter__(self) -> LocationStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def check_change(aor: str, new: list[Binding], now: float) -> list[Binding]:
    """Validate what a ``Change`` returned; drop expired bindings; sort.

    Raises ``ValueError`` for a binding of another AOR or two with one key:
    a bug in the caller, never something a request can cause.
    """
    seen: set[str] = set()
    live: list[Binding] = []
    for binding in new:
        if binding.aor != aor:
            raise ValueError(f"binding of {binding.aor!r} in an update of {aor!r}")
        key = binding.key
        if key in seen:
            raise ValueError(f"two bindings with key {key!r} in {aor!r}")
        seen.add(key)
        if binding.expires_at > now:
            live.append(binding)
    return sort_bindings(live)


class KeyedLock:
    """One ``asyncio.Lock`` per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


async def purge_periodically(
    store: LocationStore,
    interval: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> None:
    """Purge ``store`` every ``interval`` seconds until cancelled (run it as a task).

    A failed purge is logged and tried again at the next interval: in one
    line when the store is unavailable (``StoreError``), with the traceback
    otherwise.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await store.purge(clock())
        except StoreError as exc:
            log.warning("purging the location store failed: %s", exc)
        except Exception:
            log.exception("purging the location store failed")
        else:
            if removed:
                log.debug("purged %d expired bindings", removed)
