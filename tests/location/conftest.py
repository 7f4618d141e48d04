"""Fixtures for the location stores: one contract, three stores.

``store`` is parametrized over memory, SQLite (a file in tmp_path) and Redis
(a redis-server started for the session, see ``redis_server.py``; skipped
when there is no binary unless ``SIPWIRE_REQUIRE_REDIS=1``).  ``open_node``
opens a further store on the same backing data: a second sipwire node.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from sipwire.location import LocationStore, MemoryStore, SQLiteStore

from .redis_server import find_redis_server, run_redis_server

OpenNode = Callable[[], Awaitable[LocationStore]]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server for the session: ``SIPWIRE_TEST_REDIS_URL`` or our own."""
    external = os.environ.get("SIPWIRE_TEST_REDIS_URL")
    if external:
        yield external
        return
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("SIPWIRE_REQUIRE_REDIS") == "1":
            pytest.fail("SIPWIRE_REQUIRE_REDIS=1 but no redis-server binary was found")
        pytest.skip("no redis-server binary (apt-get install redis-server)")
    with run_redis_server(binary) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_node(kind: str, tmp_path: Path,
                    request: pytest.FixtureRequest) -> AsyncIterator[OpenNode]:
    """Opens stores that share one location service (one node each)."""
    opened: list[LocationStore] = []
    shared_memory = MemoryStore()
    prefix = f"test:{uuid.uuid4().hex}"
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""

    async def open_one() -> LocationStore:
        store: LocationStore
        if kind == "memory":
            # one process, one dict: "nodes" of a memory store share the object
            store = shared_memory
        elif kind == "sqlite":
            store = SQLiteStore(tmp_path / "loc.db")
        else:
            from sipwire.location import RedisStore

            store = RedisStore.from_url(url, prefix=prefix)
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(open_node: OpenNode) -> LocationStore:
    return await open_node()
