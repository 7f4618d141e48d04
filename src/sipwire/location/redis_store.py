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
slightly see the same bindings.

An update is optimistic, in two round trips that hold no connection in
between: ``HGETALL`` the AOR's hash, compute the new bindings here, then one
Lua script (``EVALSHA``) that compares the hash with what was read and, only
if it is unchanged, writes the hash, its TTL and both sorted sets, atomically
(Redis runs a script alone).  If another node wrote the AOR in between, the
script writes nothing and the update is tried again.  Updates of one AOR
within one node also wait for each other (an ``asyncio.Lock`` per AOR), so
retries happen only between nodes.  (A WATCH/MULTI/EXEC transaction took
three round trips and a connection of its own for all of them: under load
the pool ran dry.)

The connection pool is bounded (``max_connections``, 32 by default) and a
request waits at most ``pool_timeout`` seconds for a connection; past that
the store raises ``StoreError``, which the registrar and the proxy answer 503
with Retry-After (RFC 3261 §21.5.4): back-pressure, not a 500.  Both can be
given as options or in the URL (``redis://host/0?max_connections=64&timeout=0.2``).

The hot path, ``update`` and ``lookup``, does not take a connection from the
pool per command: a store made by ``from_url`` (redis:// or unix://) sends
them on one pipelined connection of its own, every command written at once
and the replies matched in order, which costs a fraction of a redis-py call.
At most ``max_in_flight`` commands (2000 by default; an option or a query
parameter) wait on it; past that an operation fails at once with
``StoreError``, again a 503.  A connection with commands waiting and no
reply for ``socket_timeout`` (5 s by default) is dropped and made again.

``purge`` reads the due AORs from the expiry set and rewrites them in
batches, each batch one pipelined round trip to read and one to write.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .binding import Binding, sort_bindings
from .store import Change, KeyedLock, LocationStore, StoreError, check_change

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_POOL_TIMEOUT", "RedisStore"]

#: connections a store opens to Redis at most (redis-py's own default is 2**31)
DEFAULT_MAX_CONNECTIONS = 32
#: seconds an operation waits for a free connection before failing (then 503)
DEFAULT_POOL_TIMEOUT = 0.5
#: commands that may wait for Redis on the pipelined connection; past it an
#: operation fails at once (StoreError: 503)
DEFAULT_MAX_IN_FLIGHT = 2000
#: seconds without any reply, commands waiting, before the pipelined
#: connection counts as broken (``socket_timeout`` sets it)
DEFAULT_REPLY_TIMEOUT = 5.0
#: AORs purged per pipelined round trip
PURGE_BATCH = 500

#: KEYS: the AOR's hash, the aors set, the expiry set.  ARGV: the AOR, the
#: hash's TTL in ms (0: the AOR has no binding left), its latest and earliest
#: expiry, n, the n field/value pairs the hash held when read, m, the m fields
#: to delete, then the field/value pairs to set.  Returns 1 when written, 0
#: when the hash changed since it was read (nothing written).
_WRITE = """
local held = redis.call('HGETALL', KEYS[1])
local n = tonumber(ARGV[5])
if #held ~= 2 * n then return 0 end
if n > 0 then
  local read = {}
  for i = 6, 5 + 2 * n, 2 do read[ARGV[i]] = ARGV[i + 1] end
  for i = 1, #held, 2 do
    if read[held[i]] ~= held[i + 1] then return 0 end
  end
end
local at = 6 + 2 * n
local m = tonumber(ARGV[at])
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 1
end
if m > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, at + 1, at + m)) end
if #ARGV > at + m then redis.call('HSET', KEYS[1], unpack(ARGV, at + m + 1, #ARGV)) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""


_WRITE_SHA = hashlib.sha1(_WRITE.encode()).hexdigest()


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
        self._write = client.register_script(_WRITE)
        #: the pipelined connection of ``update`` and ``lookup`` (``from_url``
        #: makes one for redis:// and unix://); None: through ``client``
        self._fast: _Connection | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store with its own client for ``redis://host:port/db`` (or ``rediss://``).

        Its pool holds at most ``max_connections`` (default 32) and an
        operation waits at most ``pool_timeout`` seconds (default 0.5) for
        one: then ``StoreError``.  The URL's ``max_connections`` and
        ``timeout`` query parameters win over these options."""
        store_options = {k: options.pop(k) for k in ("prefix", "grace", "max_retries")
                         if k in options}
        url, query = _own_query(url, "max_in_flight")
        max_in_flight = query.get("max_in_flight") or \
            options.pop("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
        options.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        options["timeout"] = options.pop("pool_timeout", DEFAULT_POOL_TIMEOUT)
        pool = BlockingConnectionPool.from_url(url, decode_responses=True, **options)
        store = cls(Redis.from_pool(pool), owns_client=True, **store_options)
        settings = {**options, **parse_url(url)}
        if settings.get("connection_class") is not SSLConnection:
            store._fast = _Connection(
                settings, max_in_flight=int(max_in_flight),
                connect_timeout=float(settings.get("socket_connect_timeout") or 5.0),
                timeout=float(settings.get("socket_timeout") or DEFAULT_REPLY_TIMEOUT))
        return store

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
            values = list((await self._hgetall(self._key(aor))).values())
        except (RedisError, OSError, _ReplyError) as exc:
            raise self._error(exc) from exc
        bindings = (Binding.from_json(value) for value in values)
        return sort_bindings([b for b in bindings if not b.expired(now)])

    async def remove(self, aor: str) -> int:
        _, removed = await self._transact(aor, lambda current: [], float("-inf"))
        return removed

    async def purge(self, now: float) -> int:
        """Every AOR due in the expiry set, ``PURGE_BATCH`` at a time: one
        pipelined round trip reads their hashes, one runs their writes.  An
        AOR another node wrote meanwhile is purged on its own afterwards."""
        self._check_open()
        try:
            due = [_text(aor) for aor in
                   await self.client.zrangebyscore(self._expiry_key, "-inf", now)]
        except RedisError as exc:
            raise self._error(exc) from exc
        removed = 0
        for start in range(0, len(due), PURGE_BATCH):
            removed += await self._purge_batch(due[start:start + PURGE_BATCH], now)
        return removed

    async def _purge_batch(self, aors: list[str], now: float) -> int:
        removed = 0
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for aor in aors:
                    pipe.hgetall(self._key(aor))
                hashes: list[dict[Any, Any]] = await pipe.execute()
            plans = [self._plan(aor, raw, _unchanged, now)
                     for aor, raw in zip(aors, hashes, strict=True)]
            async with self.client.pipeline(transaction=False) as pipe:
                for (keys, args), _, _ in plans:
                    await self._write(keys=keys, args=args, client=pipe)
                written: list[int] = await pipe.execute()
        except RedisError as exc:
            raise self._error(exc) from exc
        for aor, ok, (_, _, gone) in zip(aors, written, plans, strict=True):
            if ok:
                removed += gone
            else:
                removed += (await self._transact(aor, _unchanged, now))[1]
        return removed

    async def aors(self, now: float) -> list[str]:
        self._check_open()
        try:
            found = await self.client.zrangebyscore(self._aors_key, f"({now!r}", "+inf")
        except RedisError as exc:
            raise self._error(exc) from exc
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
            raise self._error(exc) from exc
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
            raise self._error(exc) from exc
        return sum(lengths)

    async def ping(self) -> None:
        self._check_open()
        try:
            await self.client.ping()
        except RedisError as exc:
            raise self._error(exc) from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._fast is not None:
            self._fast.close()
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
                    raw = await self._hgetall(self._key(aor))
                    (keys, args), new, gone = self._plan(aor, raw, change, now)
                    if await self._compare_and_write(keys, args):
                        return new, gone
                except (RedisError, OSError, _ReplyError) as exc:
                    raise self._error(exc) from exc
                # Another node wrote this AOR between our read and our write.
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
        raise StoreError(f"gave up updating {aor!r} after {self.max_retries} conflicts")

    def _plan(self, aor: str, raw: dict[Any, Any], change: Change, now: float
              ) -> tuple[tuple[list[str], list[Any]], list[Binding], int]:
        """The write script's keys and arguments that turn ``raw`` (the hash
        as read) into ``change``'s bindings, those bindings, and how many
        hash entries the write deletes."""
        current = {_text(k): Binding.from_json(v) for k, v in raw.items()}
        live = sort_bindings([b for b in current.values() if not b.expired(now)])
        new = check_change(aor, change(live), now)
        keep = {b.key for b in new}
        gone = [k for k in current if k not in keep]
        args: list[Any] = [aor, 0, 0, 0, len(raw)]
        for pair in raw.items():
            args += pair
        args.append(len(gone))
        args += gone
        if new:
            latest = max(b.expires_at for b in new)
            args[1] = max(1, int((latest - now + self.grace) * 1000))
            args[2] = latest
            args[3] = min(b.expires_at for b in new)
            for b in new:
                if current.get(b.key) != b:
                    args += (b.key, b.to_json())
        keys = [self._key(aor), self._aors_key, self._expiry_key]
        return (keys, args), new, len(gone)

    async def _hgetall(self, key: str) -> dict[Any, Any]:
        fast = self._fast
        if fast is None:
            raw: dict[Any, Any] = await self.client.hgetall(key)
            return raw
        flat = await fast.call("HGETALL", key)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def _compare_and_write(self, keys: list[str], args: list[Any]) -> bool:
        fast = self._fast
        if fast is None:
            return bool(await self._write(keys=keys, args=args))
        try:
            return bool(await fast.call("EVALSHA", _WRITE_SHA, 3, *keys, *args))
        except _ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # a Redis that restarted has forgotten the script: EVAL loads it again
            return bool(await fast.call("EVAL", _WRITE, 3, *keys, *args))

    def _error(self, exc: Exception) -> StoreError:
        """``exc`` as the registrar and the proxy understand it (503)."""
        if isinstance(exc, RedisConnectionError) and isinstance(exc.__cause__, TimeoutError):
            pool = self.client.connection_pool
            return StoreError(f"redis: every connection of the pool ({pool.max_connections}) "
                              "is busy: overloaded")
        if isinstance(exc, TimeoutError) and not str(exc):
            return StoreError("redis: no answer in time")
        return StoreError(f"redis: {exc}")


class _ReplyError(Exception):
    """An error reply of Redis (``-ERR ...``, ``-NOSCRIPT ...``)."""


def _command(args: tuple[Any, ...]) -> bytes:
    """One command in RESP, the protocol of Redis: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, float):
            arg = repr(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def _reply(buf: bytearray, pos: int) -> tuple[Any, int] | None:
    """The RESP2 reply at ``pos`` and where it ends; None when not all of it
    has arrived."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line, pos = buf[pos], bytes(buf[pos + 1:end]), end + 2
    if kind == 0x24:  # $ bulk string
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            return None
        return bytes(buf[pos:pos + n]), pos + n + 2
    if kind == 0x2A:  # * array
        items: list[Any] = []
        for _ in range(int(line)):
            item = _reply(buf, pos)
            if item is None:
                return None
            items.append(item[0])
            pos = item[1]
        return items, pos
    if kind == 0x3A:  # : integer
        return int(line), pos
    if kind == 0x2B:  # + simple string
        return line.decode(), pos
    return _ReplyError(line.decode(errors="replace")), pos  # - error


class _Pipelined(asyncio.Protocol):
    """One connection to Redis carrying many commands at once: each is
    written as soon as it is asked for, and the replies, which Redis sends in
    order, resolve the waiting futures first in, first out.  No connection is
    taken from a pool and given back per command, which is most of what
    redis-py costs per call; ``max_in_flight`` bounds what may wait."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.replies = 0
        self._buf = bytearray()
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        waiting = self.waiting
        while waiting:
            parsed = _reply(buf, pos)
            if parsed is None:
                break
            value, pos = parsed
            self.replies += 1
            future = waiting.popleft()
            if not future.done():
                future.set_result(value)
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or ConnectionError("Redis closed the connection"))

    def fail(self, exc: BaseException) -> None:
        """Every command waiting gets ``exc``; the connection is not used again."""
        if self.lost is None:
            self.lost = exc
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class _Connection:
    """The store's pipelined connection for the hot path (``update`` and
    ``lookup``): made when first needed and again after it broke; a command
    waiting longer than ``timeout`` with no reply meanwhile breaks it."""

    def __init__(self, settings: dict[str, Any], *, max_in_flight: int,
                 connect_timeout: float, timeout: float) -> None:
        self.settings = settings
        self.max_in_flight = max_in_flight
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._proto: _Pipelined | None = None
        self._connecting: asyncio.Future[_Pipelined] | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def call(self, *args: Any) -> Any:
        proto = self._proto
        if proto is None or proto.lost is not None:
            proto = await self._connect()
        if len(proto.waiting) >= self.max_in_flight:
            raise StoreError(f"redis: {self.max_in_flight} commands already wait for "
                             "Redis: overloaded")
        return await self._send(proto, args)

    async def _send(self, proto: _Pipelined, args: tuple[Any, ...]) -> Any:
        transport = proto.transport
        assert transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._watchdog is None and proto is self._proto:
            self._arm(proto)
        proto.waiting.append(future)
        transport.write(_command(args))
        reply = await future
        if isinstance(reply, _ReplyError):
            raise reply
        return reply

    def _arm(self, proto: _Pipelined) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(
            self.timeout, self._check, proto, proto.replies)

    def _check(self, proto: _Pipelined, replies: int) -> None:
        """``timeout`` after arming: no reply since, with commands waiting,
        is a Redis that hangs; the commands fail and the next reconnects."""
        self._watchdog = None
        current = self._proto
        if current is None or current.lost is not None or not current.waiting:
            return
        if current is proto and proto.replies == replies:
            proto.fail(TimeoutError(f"no reply within {self.timeout:g} s"))
            return
        self._arm(current)

    async def _connect(self) -> _Pipelined:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, opened: asyncio.Future[_Pipelined]) -> None:
        self._connecting = None
        if not opened.cancelled() and opened.exception() is None:
            self._proto = opened.result()

    async def _open(self) -> _Pipelined:
        loop = asyncio.get_running_loop()
        settings = self.settings
        async with asyncio.timeout(self.connect_timeout):
            if settings.get("path"):
                transport, proto = await loop.create_unix_connection(_Pipelined,
                                                                     settings["path"])
            else:
                transport, proto = await loop.create_connection(
                    _Pipelined, settings.get("host", "localhost"), settings.get("port", 6379))
            # uvloop tells the protocol of its transport only in a later
            # callback (and its transports are not asyncio.Transport subclasses)
            proto.transport = transport
            password = settings.get("password")
            if password is not None:
                user = settings.get("username")
                await self._send(proto, ("AUTH", user, password) if user else ("AUTH", password))
            if settings.get("db"):
                await self._send(proto, ("SELECT", settings["db"]))
            if settings.get("client_name"):
                await self._send(proto, ("CLIENT", "SETNAME", settings["client_name"]))
        return proto

    def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._proto is not None:
            self._proto.fail(ConnectionError("the location store is closed"))
            self._proto = None


def _own_query(url: str, *names: str) -> tuple[str, dict[str, str]]:
    """``url`` without the query parameters ``names``, which are the store's
    and not redis-py's, and their values."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in names}
    if not ours:
        return url, ours
    rest = urlencode([(k, v) for k, v in pairs if k not in names])
    return urlunsplit(parts._replace(query=rest)), ours


def _unchanged(current: list[Binding]) -> list[Binding]:
    """The change of a purge: the unexpired bindings stay, the rest go."""
    return current


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
