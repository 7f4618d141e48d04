"""Back-pressure from the Redis store under ``sipwire serve``: when every
connection of its bounded pool is busy, a REGISTER is answered 503 with
Retry-After (RFC 3261 §21.5.4), not 500, and 200 again once one is free.

The redis-server is the test's own (``RedisProcess``, stopped by its PID);
skipped without a binary unless ``SIPWIRE_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwire import Response
from sipwire.location import RedisStore
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


async def test_an_exhausted_redis_pool_is_503_with_retry_after(
        serve: Serve, phone: OpenPhone, redis: RedisProcess) -> None:
    server = await serve(store=f"{redis.url}?max_connections=1&timeout=0.05")
    store = server.store
    assert isinstance(store, TimedStore) and isinstance(store.inner, RedisStore)
    pool = store.inner.client.connection_pool
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register())) == 200

    taken = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        for _ in range(3):
            refused = (await alice.request(alice.register())).message
            assert isinstance(refused, Response)
            assert (refused.status, refused.headers.get("Retry-After")) == (503, "5")
    finally:
        await pool.release(taken)
    assert status(await alice.request(alice.register())) == 200
