"""A location store in a dict: for tests, single-process servers and as the
reference the other stores are tested against.

Expired bindings are freed by an incremental pass: ``purge`` takes the names
of the AORs as they are when it starts and looks at ``PURGE_STEP`` of them at
a time, yielding to the event loop between steps, so that no step holds SIP
traffic for more than about a millisecond, whether 100,000 bindings are live
or expired.  Writing a binding costs nothing more than the dict write: the
work is the purge's, once per purge interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from .binding import Binding, sort_bindings
from .store import Change, LocationStore, StoreError, check_change

__all__ = ["PURGE_STEP", "MemoryStore", "PurgeStep"]

#: AORs one purge (or count) step looks at (each costs a look at its few
#: bindings: about 2 µs)
PURGE_STEP = 250


@dataclass(frozen=True, slots=True)
class PurgeStep:
    """What one step of ``MemoryStore.purge_steps`` did.

    ``examined`` counts the AORs it looked at (the work it did), ``removed``
    the expired bindings it freed; ``done`` is True for the last step.
    """

    examined: int
    removed: int
    done: bool


class MemoryStore(LocationStore):
    """Bindings in process memory, lost when the process ends.

    ``update`` never awaits between reading and writing, so within one event
    loop it is atomic without a lock.  ``purge`` and ``count`` yield to the
    event loop after every ``step`` AORs.
    """

    def __init__(self, *, step: int = PURGE_STEP) -> None:
        if step < 1:
            raise ValueError(f"a purge step must examine at least one AOR, not {step}")
        self._aors: dict[str, dict[str, Binding]] = {}
        self._step = step
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

    def _batches(self) -> Iterator[list[str]]:
        """The AORs as they are now, ``step`` at a time (each may be gone or
        written again by the time its batch comes)."""
        names = list(self._open())
        step = self._step
        for start in range(0, len(names), step):
            yield names[start:start + step]

    def purge_steps(self, now: float) -> Iterator[PurgeStep]:
        """Free the bindings expired at ``now``, one step of at most ``step``
        AORs per item; never awaits (``purge`` yields between the items)."""
        names = list(self._open())
        if not names:
            yield PurgeStep(0, 0, True)
            return
        step = self._step
        for start in range(0, len(names), step):
            batch = names[start:start + step]
            aors = self._open()
            removed = 0
            for aor in batch:
                bindings = aors.get(aor)
                if bindings is None:
                    continue
                expired = [key for key, b in bindings.items() if b.expires_at <= now]
                if expired:
                    for key in expired:
                        del bindings[key]
                    removed += len(expired)
                    if not bindings:
                        del aors[aor]
            yield PurgeStep(len(batch), removed, start + step >= len(names))

    async def purge(self, now: float) -> int:
        removed = 0
        for step in self.purge_steps(now):
            removed += step.removed
            if not step.done:
                await asyncio.sleep(0)  # let SIP traffic through between steps
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
        """The unexpired bindings, counted ``step`` AORs at a time (yielding
        between steps: an AOR first written meanwhile is not counted)."""
        total = 0
        for batch in self._batches():
            aors = self._open()
            for aor in batch:
                bindings = aors.get(aor)
                if bindings:
                    total += sum(b.expires_at > now for b in bindings.values())
            await asyncio.sleep(0)
        return total

    async def ping(self) -> None:
        self._open()

    async def close(self) -> None:
        self._closed = True
