"""Back-pressure from the Redis store under ``sipwire serve``: when every
connection of its bounded pool is busy, or as many commands as it allows
already wait on its pipelined connection, a request is answered 503 with
Retry-After (RFC 3261 §21.5.4), not 500, and served again afterwards.

The redis-server is the test's own (``RedisProcess``, stopped by its PID);
skipped without a binary unless ``SIPWIRE_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from sipwire import Response
from sipwire.location import RedisStore, StoreError
from sipwire.server.app import Server
from sipwire.server.metrics import TimedStore

from ..location.redis_server import RedisProcess, find_redis_server
from .conftest import OpenPhone, Serve
from .phone import status


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("SIPWIRE_REQUIRE_REDIS") == "1":
            pytest.fail("SIPWIRE_REQUIRE_REDIS=1 but no redis-server binary was found")
        pytest.skip("no redis-server binary (apt-get install redis-server)")
    process = RedisProcess(binary, str(tmp_path))
    process.start()
    yield process
    process.stop()


async def test_commands_waiting_on_redis_past_the_bound_are_503_with_retry_after(
        serve: Serve, phone: OpenPhone, redis: RedisProcess) -> None:
    """Redis stops writing (CLIENT PAUSE WRITE): the REGISTER in progress
    waits for its write, the next ones find ``max_in_flight`` (1) reached and
    get 503; when Redis writes again, the waiting one gets its 200."""
    server = await serve(store=f"{redis.url}?max_in_flight=1")
    alice, bob = await phone("alice", server), await phone("bob", server)
    assert status(await alice.request(alice.register())) == 200
    admin = Redis.from_url(redis.url)
    try:
        await admin.client_pause(10_000, all=False)
        waiting = alice.register()
        alice.send(waiting)
        async with asyncio.timeout(5):  # until its write waits on the connection
            while not _waiting_commands(server):
                await asyncio.sleep(0.01)
        for _ in range(3):
            refused = (await bob.request(bob.register())).message
            assert isinstance(refused, Response)
            assert (refused.status, refused.headers.get("Retry-After")) == (503, "5")
        await admin.client_unpause()
        answered = (await alice.expect(200)).message
        assert answered.call_id == waiting.call_id
    finally:
        await admin.client_unpause()
        await admin.aclose()
    assert status(await bob.request(bob.register())) == 200


async def test_an_exhausted_redis_pool_is_a_store_error(
        serve: Serve, phone: OpenPhone, redis: RedisProcess) -> None:
    """The operations on the bounded pool (purge, the listings of /metrics
    and ``sipwire registrations``) fail as StoreError when no connection
    frees up within the pool's timeout, and work once one is free."""
    server = await serve(store=f"{redis.url}?max_connections=1&timeout=0.05")
    store = server.store
    assert isinstance(store, TimedStore) and isinstance(store.inner, RedisStore)
    pool = store.inner.client.connection_pool
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register())) == 200
    taken = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(StoreError, match="busy"):
            await store.purge(server.clock())
    finally:
        await pool.release(taken)
    assert await store.purge(server.clock()) == 0


def _waiting_commands(server: Server) -> int:
    store = server.store
    assert isinstance(store, TimedStore) and isinstance(store.inner, RedisStore)
    fast = store.inner._fast
    proto = fast._proto if fast is not None else None
    return len(proto.waiting) if proto is not None else 0
