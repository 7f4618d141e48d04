"""A location store in a dict: for tests, single-process servers and as the
reference the other stores are tested against."""

from __future__ import annotations

from .binding import Binding, sort_bindings
from .store import Change, LocationStore, StoreError, check_change

__all__ = ["MemoryStore"]


class MemoryStore(LocationStore):
    """Bindings in process memory, lost when the process ends.

    ``update`` never awaits between reading and writing, so within one event
    loop it is atomic without a lock.
    """

    def __init__(self) -> None:
        self._aors: dict[str, dict[str, Binding]] = {}
        self._closed = False

    def _open(self) -> dict[str, dict[str, Binding]]:
        if self._closed:
            raise StoreError("the location store is closed")
        return self._aors

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        current = self._open().get(aor)
        live = sort_bindings([b for b in current.values() if not b.expired(now)]
                             ) if current else []
        new = check_change(aor, change(live), now)
        if new:
            self._aors[aor] = {b.key: b for b in new}
        else:
            self._aors.pop(aor, None)
        return new

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        current = self._open().get(aor, {})
        return sort_bindings([b for b in current.values() if not b.expired(now)])

    async def remove(self, aor: str) -> int:
        return len(self._open().pop(aor, {}))

    async def purge(self, now: float) -> int:
        removed = 0
        for aor in list(self._open()):
            bindings = self._aors[aor]
            expired = [key for key, b in bindings.items() if b.expired(now)]
            for key in expired:
                del bindings[key]
            removed += len(expired)
            if not bindings:
                del self._aors[aor]
        return removed

    async def aors(self, now: float) -> list[str]:
        return sorted(
            aor for aor, bindings in self._open().items()
            if any(not b.expired(now) for b in bindings.values())
        )

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        aors = self._open()
        names = sorted(aors) if aor is None else [aor]
        return [b for name in names
                for b in sort_bindings([b for b in aors.get(name, {}).values()
                                        if not b.expired(now)])]

    async def count(self, now: float) -> int:
        return sum(not b.expired(now) for bindings in self._open().values()
                   for b in bindings.values())

    async def ping(self) -> None:
        self._open()

    async def close(self) -> None:
        self._closed = True
