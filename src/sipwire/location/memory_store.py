"""A location store in a dict: for tests, single-process servers and as the
reference the other stores are tested against.

Expired bindings are freed in expiry order, a bounded amount of work at a
time: each AOR waits in a heap under the earliest ``expires_at`` of its
bindings, and a purge step pops only what is due, at most ``PURGE_STEP``
heap entries, so purging 100,000 live bindings costs nothing and purging
100,000 expired ones never holds the event loop for more than one step.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass

from .binding import Binding, sort_bindings
from .store import Change, LocationStore, StoreError, check_change

__all__ = ["PURGE_STEP", "MemoryStore", "PurgeStep"]

#: heap entries one purge step examines at most (each costs a heap pop and a
#: look at one AOR's few bindings: a few µs)
PURGE_STEP = 250


@dataclass(frozen=True, slots=True)
class PurgeStep:
    """What one ``MemoryStore.purge_step`` did.

    ``examined`` counts the heap entries it popped (the work it did),
    ``removed`` the expired bindings it freed; ``done`` is True when nothing
    more is due at its ``now``.
    """

    examined: int
    removed: int
    done: bool


class MemoryStore(LocationStore):
    """Bindings in process memory, lost when the process ends.

    ``update`` never awaits between reading and writing, so within one event
    loop it is atomic without a lock.  ``purge`` (and ``count``, which purges
    first) yields to the event loop after every ``step`` heap entries.
    """

    def __init__(self, *, step: int = PURGE_STEP) -> None:
        if step < 1:
            raise ValueError(f"a purge step must examine at least one entry, not {step}")
        self._aors: dict[str, dict[str, Binding]] = {}
        #: (earliest expires_at, aor): when each AOR must next be looked at;
        #: an entry whose time is not ``_due_at[aor]`` is stale and skipped
        self._due: list[tuple[float, str]] = []
        self._due_at: dict[str, float] = {}
        #: bindings held, expired ones not yet purged included
        self._held = 0
        self._step = step
        self._closed = False

    def _open(self) -> dict[str, dict[str, Binding]]:
        if self._closed:
            raise StoreError("the location store is closed")
        return self._aors

    def _write(self, aor: str, new: list[Binding]) -> None:
        old = self._aors.pop(aor, None)
        if old is not None:
            self._held -= len(old)
        if not new:
            self._due_at.pop(aor, None)
            return
        self._aors[aor] = {b.key: b for b in new}
        self._held += len(new)
        first = min(b.expires_at for b in new)
        due = self._due_at.get(aor)
        # a later expiry keeps the earlier entry: it is looked at then and
        # put back under its new earliest time
        if due is None or first < due:
            self._due_at[aor] = first
            heapq.heappush(self._due, (first, aor))

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        current = self._open().get(aor)
        live = sort_bindings([b for b in current.values() if not b.expired(now)]
                             ) if current else []
        new = check_change(aor, change(live), now)
        self._write(aor, new)
        return new

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        current = self._open().get(aor, {})
        return sort_bindings([b for b in current.values() if not b.expired(now)])

    async def remove(self, aor: str) -> int:
        removed = self._open().pop(aor, {})
        self._held -= len(removed)
        self._due_at.pop(aor, None)
        return len(removed)

    def purge_step(self, now: float) -> PurgeStep:
        """Free the expired bindings of the AORs due at ``now``, earliest
        first, popping at most ``step`` heap entries; never awaits."""
        aors = self._open()
        due, due_at = self._due, self._due_at
        examined = removed = 0
        done = True
        while due and due[0][0] <= now:
            if examined == self._step:
                done = False
                break
            when, aor = heapq.heappop(due)
            examined += 1
            if due_at.get(aor) != when:
                continue  # stale: removed, or due earlier since
            bindings = aors[aor]
            expired = [key for key, b in bindings.items() if b.expired(now)]
            for key in expired:
                del bindings[key]
            removed += len(expired)
            if bindings:
                first = min(b.expires_at for b in bindings.values())
                due_at[aor] = first
                heapq.heappush(due, (first, aor))
            else:
                del aors[aor], due_at[aor]
        self._held -= removed
        return PurgeStep(examined, removed, done)

    async def purge(self, now: float) -> int:
        removed = 0
        while True:
            step = self.purge_step(now)
            removed += step.removed
            if step.done:
                return removed
            await asyncio.sleep(0)  # let SIP traffic through between steps

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
        """The unexpired bindings: the expired ones are purged (in steps), the
        rest counted as they are written, not by a walk over every binding."""
        await self.purge(now)
        return self._held

    async def ping(self) -> None:
        self._open()

    async def close(self) -> None:
        self._closed = True
