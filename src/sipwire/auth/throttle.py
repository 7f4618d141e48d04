"""Failed-attempt throttling against online password guessing (RFC 7616 §5.7).

Two limits, each on what an attacker cannot choose freely:

*Lockout of a user from a source.*  Failures are counted per (user, source):
``max_failures`` within ``window`` seconds lock that user out *from that
source* for ``lockout`` seconds, doubled for each repeated lockout of the
pair and capped at ``max_lockout``.  A pair that authenticates, or whose
next failure comes more than ``max_lockout`` seconds after its last lockout
ended, starts afresh.  So an attack on alice from 192.0.2.7 never refuses alice from
anywhere else, nor bob from 192.0.2.7; alice at 192.0.2.7 herself is refused
while the attack goes on, and for the rest of its last lockout.

*Ban of a source.*  A source that fails as ``ban_users`` different users
within ``ban_window`` seconds is scanning (svwar, svcrack over a list of
extensions, the "friendly-scanner" that tries 100/100, 101/101, ...): it is
banned, every user alike, for ``ban_time`` seconds, as fail2ban bans an
address after ``maxretry`` failures within ``findtime`` for ``bantime``.
One user failing many times from a NATed office is not a scan and is left to
the lockout.

A *user* and a *source* are opaque keys chosen by the caller: the claimed
username with its realm, and the peer's IP address, are the usual ones.
:class:`~sipwire.auth.DigestServer` answers a locked-out user 403 Forbidden
with a Retry-After, without checking its credentials (RFC 3261 §22.1 allows
a 403 in place of a repeated challenge), and a banned source likewise before
reading any credentials; ``sipwire serve`` drops a banned source's requests
without answering (see ``server/policy.py``).

Memory is bounded: at most ``max_entries`` (user, source) pairs and
``max_sources`` sources are tracked, the least recently active forgotten
first, and a source remembers at most ``ban_users`` users.  (An attacker
with more addresses than the bounds can push a locked pair or a ban out;
size them for the attack you expect.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["FailureThrottle", "Penalty"]


@dataclass(frozen=True, slots=True)
class Penalty:
    """A refusal in force: of ``user`` from ``source``, or of the whole
    source (``banned``), from ``since`` until ``until``; ``reason`` is for logs."""

    source: str
    user: str | None
    since: float
    until: float
    reason: str

    @property
    def banned(self) -> bool:
        return self.user is None

    def retry_after(self, now: float) -> float:
        """Seconds left, for a Retry-After (RFC 3261 §20.33)."""
        return max(self.until - now, 0.0)


@dataclass(slots=True)
class _Pair:
    first: float  # start of the current counting window
    count: int = 0
    #: lockouts so far: the next lasts lockout * 2**strikes (capped)
    strikes: int = 0
    locked: Penalty | None = None
    #: end of the last lockout (strikes are forgiven max_lockout after it)
    released: float = 0.0


@dataclass(slots=True)
class _Source:
    #: user -> time of its last failure from this source, within ban_window
    users: dict[str, float] = field(default_factory=dict)
    banned: Penalty | None = None


class FailureThrottle:
    """Locks out a user from a source after repeated failures (with backoff),
    and bans a source that fails as many users; see the module docs."""

    __slots__ = ("_pairs", "_sources", "ban_time", "ban_users", "ban_window", "failures",
                 "lockout", "max_entries", "max_failures", "max_lockout", "max_sources",
                 "window")

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        lockout: float = 300.0,
        *,
        max_lockout: float = 3600.0,
        ban_users: int = 5,
        ban_window: float = 600.0,
        ban_time: float = 3600.0,
        max_entries: int = 10_000,
        max_sources: int = 10_000,
    ) -> None:
        if max_failures < 1 or max_entries < 1 or max_sources < 1:
            raise ValueError("max_failures, max_entries and max_sources must be at least 1")
        if ban_users < 0:
            raise ValueError("ban_users must be 0 (no bans) or more")
        if lockout < 0 or max_lockout < lockout:
            raise ValueError("need 0 <= lockout <= max_lockout")
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        #: distinct users failing from one source within ban_window that ban it; 0: never
        self.ban_users = ban_users
        self.ban_window = ban_window
        self.ban_time = ban_time
        self.max_entries = max_entries
        self.max_sources = max_sources
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        #: failures counted since start (``/metrics``)
        self.failures = 0

    # -- asking -------------------------------------------------------------------------

    def banned(self, source: str, now: float) -> Penalty | None:
        """The ban of ``source`` in force at ``now``, or None."""
        record = self._sources.get(source)
        if record is None or record.banned is None:
            return None
        if now >= record.banned.until:
            del self._sources[source]  # served its time: a clean slate
            return None
        self._sources.move_to_end(source)
        return record.banned

    def check(self, user: str, source: str, now: float) -> Penalty | None:
        """Whether ``user`` from ``source`` is refused at ``now``: the source's
        ban, else the pair's lockout, else None."""
        ban = self.banned(source, now)
        if ban is not None:
            return ban
        pair = self._pairs.get((user, source))
        if pair is None or pair.locked is None:
            return None
        if now >= pair.locked.until:
            pair.locked = None
            pair.count = 0
            return None
        self._pairs.move_to_end((user, source))
        return pair.locked

    # -- telling ------------------------------------------------------------------------

    def failure(self, user: str, source: str, now: float) -> Penalty | None:
        """Count one failure of ``user`` from ``source``; the penalty it started
        (a ban of the source, else a lockout of the pair), or None."""
        self.failures += 1
        ban = self._count_for_ban(user, source, now)
        key = (user, source)
        pair = self._pairs.get(key)
        if pair is not None and pair.locked is not None and now >= pair.locked.until:
            pair.locked, pair.count = None, 0
        if pair is None:
            pair = _Pair(now)
        elif pair.locked is None and pair.strikes and now - pair.released > self.max_lockout:
            pair = _Pair(now)  # quiet long enough: the backoff starts again
        if now - pair.first > self.window:
            pair.first, pair.count = now, 0
        pair.count += 1
        lockout: Penalty | None = None
        if pair.count >= self.max_failures and pair.locked is None:
            length = min(self.lockout * 2 ** min(pair.strikes, 62), self.max_lockout)
            pair.strikes += 1
            pair.released = now + length
            lockout = pair.locked = Penalty(
                source, user, now, now + length,
                f"{user} locked out from {source} for {length:g} s: {pair.count} failures "
                f"within {self.window:g} s (lockout {pair.strikes})")
        self._pairs[key] = pair
        self._pairs.move_to_end(key)
        while len(self._pairs) > self.max_entries:
            self._pairs.popitem(last=False)
        return ban if ban is not None else lockout

    def success(self, user: str, source: str) -> None:
        """``user`` authenticated from ``source``: forget the pair's failures
        and backoff (not a lockout in force, which it should not have got past)."""
        pair = self._pairs.get((user, source))
        if pair is not None and pair.locked is None:
            del self._pairs[(user, source)]

    def _count_for_ban(self, user: str, source: str, now: float) -> Penalty | None:
        if not self.ban_users:
            return None
        record = self._sources.get(source)
        if record is None:
            record = self._sources[source] = _Source()
        elif record.banned is not None:
            return None
        users = record.users
        for name in [name for name, when in users.items() if now - when > self.ban_window]:
            del users[name]
        users.pop(user, None)
        users[user] = now
        self._sources.move_to_end(source)
        while len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)
        if len(users) < self.ban_users:
            return None
        record.banned = Penalty(
            source, None, now, now + self.ban_time,
            f"{source} banned for {self.ban_time:g} s: failed to authenticate as "
            f"{len(users)} users within {self.ban_window:g} s")
        users.clear()
        return record.banned

    # -- size ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """The (user, source) pairs tracked."""
        return len(self._pairs)

    def bans(self, now: float) -> int:
        """The sources banned at ``now``."""
        return sum(1 for record in self._sources.values()
                   if record.banned is not None and now < record.banned.until)

    @property
    def sources(self) -> int:
        """The sources tracked for bans."""
        return len(self._sources)
