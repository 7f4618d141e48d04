"""What the resolver remembers, with the time passed in: DNS answers for
their TTL, and targets that failed for a while.

``DnsCache`` keeps each ``Answer`` until ``now + ttl`` (RFC 1035 §3.2.1;
negative answers for the time RFC 2308 §5 gives them), bounded both in
entries (the least recently used goes first) and in time (``max_ttl``,
``max_negative_ttl``: RFC 2308 §5 suggests one to three hours at most for a
negative answer).  ``Blacklist`` holds the targets a request failed on
(RFC 3263 §4.3) so that the next requests try them last, for ``duration``
seconds or the Retry-After of a 503 (RFC 3261 §21.5.4), bounded likewise.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .records import Answer, Query

__all__ = ["Blacklist", "DnsCache"]


class DnsCache:
    """Answers by query until they expire; ``now`` is any monotonic clock."""

    def __init__(self, max_entries: int = 4096, *, max_ttl: float = 86400.0,
                 max_negative_ttl: float = 3600.0) -> None:
        if max_entries < 1:
            raise ValueError("a DNS cache holds at least one answer")
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self._entries: OrderedDict[Query, tuple[float, Answer]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: Query, now: float) -> Answer | None:
        """The cached answer to ``query``, or None when absent or expired.

        The answer comes back with the TTL it has left (RFC 1035 §4.1.3: a
        cached record is handed on with its remaining time)."""
        entry = self._entries.get(query)
        if entry is None:
            return None
        expires, answer = entry
        if now >= expires:
            del self._entries[query]
            return None
        self._entries.move_to_end(query)
        return Answer(answer.records, expires - now)

    def put(self, query: Query, answer: Answer, now: float) -> None:
        """Keep ``answer`` for its TTL (capped); a failure, or a TTL of 0, is not kept."""
        if answer.failed:
            return
        ttl = min(answer.ttl, self.max_negative_ttl if answer.negative else self.max_ttl)
        if ttl <= 0:
            self._entries.pop(query, None)
            return
        self._entries[query] = (now + ttl, answer)
        self._entries.move_to_end(query)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Blacklist:
    """Targets that failed, each until a time; the oldest entry goes when full."""

    def __init__(self, duration: float = 30.0, max_entries: int = 1024) -> None:
        if duration < 0 or max_entries < 1:
            raise ValueError("a blacklist needs a duration >= 0 and room for one target")
        self.duration = duration
        self.max_entries = max_entries
        self._until: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def add(self, key: Hashable, now: float, retry_after: float | None = None) -> float:
        """Blacklist ``key`` for ``retry_after`` seconds (a 503's Retry-After)
        or ``duration``; returns until when."""
        until = now + (retry_after if retry_after is not None else self.duration)
        self._until.pop(key, None)
        self._until[key] = until
        while len(self._until) > self.max_entries:
            self._until.popitem(last=False)
        return until

    def remove(self, key: Hashable) -> None:
        self._until.pop(key, None)

    def blocked(self, key: Hashable, now: float) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if now >= until:
            del self._until[key]
            return False
        return True
