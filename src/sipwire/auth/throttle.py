"""Failed-attempt throttling against online password guessing (RFC 7616 §5.7).

A *source* is an opaque key chosen by the caller: the peer's IP address is
the usual one (``"192.0.2.7"``); a username, or both, work as well.  After
``max_failures`` failures from one source within ``window`` seconds, that
source is locked out for ``lockout`` seconds: :class:`~sipwire.auth.DigestServer`
then answers its requests 403 Forbidden with a Retry-After, without checking
credentials.  We answer rather than drop: a legitimate client with a wrong
password learns to stop (RFC 3261 §22.1 allows a 403 in place of a repeated
challenge), and the server transaction has to absorb retransmissions with a
final response anyway.  A caller that prefers silence can drop the 403.

Memory is bounded: at most ``max_sources`` sources are tracked, the one whose
last failure is oldest being forgotten first.  (So an attacker with more
addresses than ``max_sources`` can push a locked source out; size the bound
for the attack you expect.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["FailureThrottle"]


@dataclass(slots=True)
class _Record:
    first: float  # start of the current counting window
    count: int
    locked_until: float | None = None


class FailureThrottle:
    """Counts authentication failures per source and locks out repeat offenders."""

    __slots__ = ("_sources", "lockout", "max_failures", "max_sources", "window")

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        lockout: float = 300.0,
        max_sources: int = 10_000,
    ) -> None:
        if max_failures < 1 or max_sources < 1:
            raise ValueError("max_failures and max_sources must be at least 1")
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_sources = max_sources
        self._sources: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, source: str, now: float) -> float | None:
        """Seconds until ``source`` may try again, or None when it is not locked out."""
        record = self._sources.get(source)
        if record is None or record.locked_until is None:
            return None
        if now >= record.locked_until:
            del self._sources[source]  # served its time: a clean slate
            return None
        return record.locked_until - now

    def failure(self, source: str, now: float) -> float | None:
        """Count one failure; return the lockout length if this one locked the source."""
        record = self._sources.get(source)
        if record is None or now - record.first > self.window:
            record = _Record(now, 0)
        record.count += 1
        if record.count >= self.max_failures:
            record.locked_until = now + self.lockout
        self._sources[source] = record
        self._sources.move_to_end(source)
        while len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)
        return self.lockout if record.locked_until is not None else None

    def success(self, source: str) -> None:
        """Forget the failures of ``source`` (it authenticated)."""
        record = self._sources.get(source)
        if record is not None and record.locked_until is None:
            del self._sources[source]

    def __len__(self) -> int:
        return len(self._sources)
