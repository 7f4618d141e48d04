"""A location store in Redis, shared by several sipwire nodes.

Layout, under a key prefix (``sipwire:loc`` by default):

``{prefix}:aor:{aor}``
    a hash: ``Binding.key`` -> the binding as JSON.  Its TTL is set from the
    latest ``expires_at`` plus a grace period at each write, so an AOR nobody
    refreshes or purges still leaves Redis in the end.
``{prefix}:aors``
    a sorted set: AOR -> its latest ``expires_at``, for listing AORs.
``{prefix}:expiry``
    a sorted set: AOR -> its earliest ``expires_at``, for purging.

Expiry is decided by the scores and the ``now`` given to each call, never by
Redis's clock, so a driven clock in tests and nodes whose clocks differ
slightly see the same bindings.  An update is optimistic: WATCH the AOR's
hash, read it, compute, then MULTI/EXEC the writes; if another node wrote the
AOR in between, EXEC fails and the update is tried again.  Updates of one AOR
within one node also wait for each other (an ``asyncio.Lock`` per AOR), so
retries happen only between nodes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from .binding import Binding, sort_bindings
from .store import Change, KeyedLock, LocationStore, StoreError, check_change

__all__ = ["RedisStore"]


class RedisStore(LocationStore):
    """Bindings in Redis through a ``redis.asyncio.Redis`` client.

    Build one with ``RedisStore.from_url("redis://host:6379/0")`` (the store
    then owns, and closes, the client) or hand it a client of your own.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "sipwire:loc",
        grace: float = 60.0,
        max_retries: int = 200,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.grace = grace
        self.max_retries = max_retries
        self._owns_client = owns_client
        self._locks = KeyedLock()
        self._closed = False
        self._aors_key = f"{prefix}:aors"
        self._expiry_key = f"{prefix}:expiry"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store with its own client for ``redis://host:port/db`` (or ``rediss://``)."""
        store_options = {k: options.pop(k) for k in ("prefix", "grace", "max_retries")
                         if k in options}
        client = Redis.from_url(url, decode_responses=True, **options)
        return cls(client, owns_client=True, **store_options)

    def _key(self, aor: str) -> str:
        return f"{self.prefix}:aor:{aor}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the location store is closed")

    # -- the interface ----------------------------------------------------------------

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        new, _ = await self._transact(aor, change, now)
        return new

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        self._check_open()
        try:
            raw = await self.client.hgetall(self._key(aor))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        bindings = (Binding.from_json(value) for value in raw.values())
        return sort_bindings([b for b in bindings if not b.expired(now)])

    async def remove(self, aor: str) -> int:
        _, removed = await self._transact(aor, lambda current: [], float("-inf"))
        return removed

    async def purge(self, now: float) -> int:
        self._check_open()
        try:
            due = await self.client.zrangebyscore(self._expiry_key, "-inf", now)
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        removed = 0
        for aor in due:
            _, count = await self._transact(_text(aor), lambda current: current, now)
            removed += count
        return removed

    async def aors(self, now: float) -> list[str]:
        self._check_open()
        try:
            found = await self.client.zrangebyscore(self._aors_key, f"({now!r}", "+inf")
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return sorted(_text(aor) for aor in found)

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        if aor is not None:
            return await self.lookup(aor, now)
        names = await self.aors(now)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._key(name))
                hashes: list[dict[Any, Any]] = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [b for raw in hashes for b in sort_bindings(
            [b for b in map(Binding.from_json, raw.values()) if not b.expired(now)])]

    async def count(self, now: float) -> int:
        """Hash entries of the AORs with an unexpired binding, in one round trip:
        a binding that expired since the last ``purge`` may still count."""
        names = await self.aors(now)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hlen(self._key(name))
                lengths: list[int] = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return sum(lengths)

    async def ping(self) -> None:
        self._check_open()
        try:
            await self.client.ping()
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self.client.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self.client!r}, prefix={self.prefix!r})"

    # -- the optimistic transaction ----------------------------------------------------

    async def _transact(self, aor: str, change: Change, now: float) -> tuple[list[Binding], int]:
        """Run ``change`` on ``aor`` atomically; return the new bindings and how
        many hash entries were deleted."""
        self._check_open()
        async with self._locks(aor):
            for attempt in range(self.max_retries):
                try:
                    return await self._attempt(aor, change, now)
                except WatchError:
                    # Another node wrote this AOR between our WATCH and EXEC.
                    await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
                except RedisError as exc:
                    raise StoreError(f"redis: {exc}") from exc
        raise StoreError(f"gave up updating {aor!r} after {self.max_retries} conflicts")

    async def _attempt(self, aor: str, change: Change, now: float) -> tuple[list[Binding], int]:
        key = self._key(aor)
        async with self.client.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            raw: dict[Any, Any] = await pipe.hgetall(key)
            current = {_text(k): Binding.from_json(v) for k, v in raw.items()}
            live = sort_bindings([b for b in current.values() if not b.expired(now)])
            new = check_change(aor, change(live), now)
            keep = {b.key for b in new}
            gone = [k for k in current if k not in keep]
            changed: dict[Any, Any] = {b.key: b.to_json() for b in new if current.get(b.key) != b}
            pipe.multi()  # type: ignore[no-untyped-call]
            if new:
                if gone:
                    pipe.hdel(key, *gone)
                if changed:
                    pipe.hset(key, mapping=changed)
                latest = max(b.expires_at for b in new)
                earliest = min(b.expires_at for b in new)
                pipe.pexpire(key, max(1, int((latest - now + self.grace) * 1000)))
                pipe.zadd(self._aors_key, {aor: latest})
                pipe.zadd(self._expiry_key, {aor: earliest})
            else:
                pipe.delete(key)
                pipe.zrem(self._aors_key, aor)
                pipe.zrem(self._expiry_key, aor)
            await pipe.execute()
        return new, len(gone)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
