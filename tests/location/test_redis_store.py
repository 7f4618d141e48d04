"""RedisStore: nodes sharing one Redis, key layout, expiry by score."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from sipwire.location import Binding, RedisStore, Source, StoreError, open_store

from .test_store_contract import AOR, T0, binding


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_a_binding_registered_through_node1_is_found_by_node2(
        redis_url: str, prefix: str) -> None:
    node1 = RedisStore.from_url(redis_url, prefix=prefix)
    node2 = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        b = binding(source=Source("TCP", "198.51.100.7", 49152, "node1/conn/3"))
        await node1.put(b, T0)
        assert await node2.lookup(AOR, T0) == [b]
        assert (await node2.lookup(AOR, T0))[0].source == b.source
        assert await node2.aors(T0) == [AOR]
        await node2.put(binding("sip:alice@192.0.2.99"), T0)
        assert len(await node1.lookup(AOR, T0)) == 2
        assert await node1.purge(T0 + 3600) == 2
        assert await node2.lookup(AOR, T0) == []
    finally:
        await node1.close()
        await node2.close()


async def test_fifty_refreshes_through_two_clients(redis_url: str, prefix: str) -> None:
    """Two separate connections, as two nodes, racing on one AOR: WATCH/MULTI
    retries, nothing is lost."""
    node1 = RedisStore.from_url(redis_url, prefix=prefix)
    node2 = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        contacts = [f"sip:alice@192.0.2.{i}:5060" for i in range(50)]
        await asyncio.gather(*(
            (node1 if i % 2 else node2).put(binding(c), T0) for i, c in enumerate(contacts)
        ))
        assert len(await node1.lookup(AOR, T0)) == 50
    finally:
        await node1.close()
        await node2.close()


async def test_key_layout_and_ttl(redis_url: str, prefix: str) -> None:
    store = RedisStore.from_url(redis_url, prefix=prefix, grace=30)
    raw = Redis.from_url(redis_url, decode_responses=True)
    try:
        await store.put(binding("sip:a@192.0.2.1", expires=100), T0)
        await store.put(binding("sip:b@192.0.2.2", expires=200), T0)
        key = f"{prefix}:aor:{AOR}"
        assert sorted(await raw.hkeys(key)) == ["sip:a@192.0.2.1", "sip:b@192.0.2.2"]
        ttl = await raw.pttl(key)
        assert 200_000 < ttl <= 230_000  # latest expiry + grace, from the given now
        assert await raw.zscore(f"{prefix}:aors", AOR) == T0 + 200
        assert await raw.zscore(f"{prefix}:expiry", AOR) == T0 + 100
        await store.remove(AOR)
        assert await raw.exists(key) == 0
        assert await raw.zscore(f"{prefix}:aors", AOR) is None
    finally:
        await store.close()
        await raw.aclose()


async def test_prefixes_separate_location_services(redis_url: str, prefix: str) -> None:
    one = RedisStore.from_url(redis_url, prefix=prefix + ":one")
    two = RedisStore.from_url(redis_url, prefix=prefix + ":two")
    try:
        await one.put(binding(), T0)
        assert await two.lookup(AOR, T0) == []
        assert await two.aors(T0) == []
    finally:
        await one.close()
        await two.close()


async def test_a_client_of_your_own_without_decoding(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)  # bytes responses
    store = RedisStore(client, prefix=prefix)
    b = binding()
    await store.put(b, T0)
    assert await store.lookup(AOR, T0) == [b]
    assert await store.aors(T0) == [AOR]
    assert await store.purge(T0 + 4000) == 1
    await store.close()  # not ours: still open
    assert await client.ping()
    await client.aclose()


async def test_open_store_redis_url(redis_url: str, prefix: str) -> None:
    store = open_store(redis_url, prefix=prefix)
    assert isinstance(store, RedisStore)
    await store.put(binding(), T0)
    assert len(await store.lookup(AOR, T0)) == 1
    await store.close()


async def test_an_unreachable_server_is_a_store_error() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(StoreError):
        await store.lookup(AOR, T0)
    with pytest.raises(StoreError):
        await store.put(binding(), T0)
    await store.close()


def test_contention_gives_up_after_max_retries() -> None:
    """A change that another writer always beats ends in StoreError, not a loop."""
    # Exercised through a fake client whose write script always finds the
    # hash changed since it was read, to make the conflict certain.
    writes: list[int] = []

    class Client:
        async def hgetall(self, key: str) -> dict[str, str]:
            return {}

        def register_script(self, script: str) -> object:
            async def run(keys: list[str], args: list[object]) -> int:
                writes.append(1)
                return 0
            return run

    store = RedisStore(Client(), max_retries=3)  # type: ignore[arg-type]

    def change(current: list[Binding]) -> list[Binding]:
        return [binding()]

    with pytest.raises(StoreError, match="after 3 conflicts"):
        asyncio.run(store.update(AOR, change, T0))
    assert len(writes) == 3


async def test_the_pool_is_bounded_and_a_burst_waits_for_it(redis_url: str, prefix: str) -> None:
    """Fifty updates and fifty counts at once: the updates share the one
    pipelined connection, the counts at most ``max_connections`` of the pool,
    and none fails."""
    name = f"bounded-{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(redis_url, prefix=prefix, max_connections=3,
                                pool_timeout=5.0, client_name=name)
    raw = Redis.from_url(redis_url, decode_responses=True)
    try:
        done = await asyncio.gather(*(
            store.put(binding(f"sip:u{i}@192.0.2.1", aor=f"sip:u{i}@example.com"), T0)
            for i in range(50)))
        assert all(len(bindings) == 1 for bindings in done)
        counts = await asyncio.gather(*(store.count(T0) for _ in range(50)))
        assert counts == [50] * 50
        clients = await raw.client_list()
        assert 2 <= sum(1 for c in clients if c.get("name") == name) <= 1 + 3
        assert len(await store.aors(T0)) == 50
    finally:
        await store.close()
        await raw.aclose()


async def test_the_url_sets_the_pool_bound(redis_url: str, prefix: str) -> None:
    store = RedisStore.from_url(f"{redis_url}?max_connections=7&timeout=0.25", prefix=prefix)
    try:
        pool = store.client.connection_pool
        assert pool.max_connections == 7
        assert pool.timeout == 0.25  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_an_exhausted_pool_is_a_store_error_saying_so(redis_url: str, prefix: str) -> None:
    """Back-pressure: with every connection taken, an operation waits
    ``pool_timeout`` and fails with StoreError (which the registrar answers
    503), not with redis-py's own exception; it works again once one is free."""
    store = RedisStore.from_url(redis_url, prefix=prefix, max_connections=1, pool_timeout=0.05)
    pool = store.client.connection_pool
    try:
        await store.put(binding(), T0)
        taken = await pool.get_connection()  # type: ignore[no-untyped-call]
        with pytest.raises(StoreError, match=r"every connection of the pool \(1\) is busy"):
            await store.aors(T0)
        with pytest.raises(StoreError, match="busy"):
            await store.purge(T0)
        with pytest.raises(StoreError, match="busy"):
            await store.count(T0)
        await pool.release(taken)
        assert await store.aors(T0) == [AOR]
    finally:
        await store.close()


async def test_purge_in_batches_removes_only_what_expired(
        redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sipwire.location import redis_store

    monkeypatch.setattr(redis_store, "PURGE_BATCH", 7)
    store = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        for i in range(30):
            aor = f"sip:p{i}@example.com"
            await store.put(binding(f"sip:short@192.0.2.{i}", aor=aor, expires=10), T0)
            if i % 3 == 0:  # a third keep a longer binding
                await store.put(binding(f"sip:long@192.0.2.{i}", aor=aor, expires=100), T0)
        assert await store.purge(T0 + 5) == 0
        assert await store.purge(T0 + 50) == 30
        assert await store.aors(T0 + 50) == sorted(f"sip:p{i}@example.com"
                                                   for i in range(0, 30, 3))
        assert await store.count(T0 + 50) == 10
        assert await store.purge(T0 + 500) == 10
        assert await store.aors(T0) == []
    finally:
        await store.close()


async def test_a_write_after_another_nodes_write_is_retried(redis_url: str, prefix: str) -> None:
    """The compare-and-write script refuses a write when the hash changed
    since it was read; the update is then computed again from the new hash."""
    one = RedisStore.from_url(redis_url, prefix=prefix)
    two = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        await one.put(binding("sip:a@192.0.2.1"), T0)
        calls = 0

        def change(current: list[Binding]) -> list[Binding]:
            nonlocal calls
            calls += 1
            return [*current, binding("sip:c@192.0.2.3")]

        real = one._hgetall

        async def read_then_race(key: str) -> dict[Any, Any]:
            got: dict[Any, Any] = await real(key)
            if calls == 0:  # the other node writes between our read and our write
                await two.put(binding("sip:b@192.0.2.2"), T0)
            return got

        one._hgetall = read_then_race  # type: ignore[method-assign]
        new = await one.update(AOR, change, T0)
        assert calls == 2
        assert sorted(b.contact for b in new) == ["sip:a@192.0.2.1", "sip:b@192.0.2.2",
                                                  "sip:c@192.0.2.3"]
    finally:
        await one.close()
        await two.close()


async def test_past_max_in_flight_an_operation_fails_at_once(redis_url: str, prefix: str) -> None:
    """Back-pressure on the pipelined connection: with ``max_in_flight``
    commands waiting for Redis, another update or lookup is StoreError (503)
    at once; those already sent complete."""
    store = RedisStore.from_url(f"{redis_url}?max_in_flight=2", prefix=prefix)
    try:
        await store.put(binding(), T0)  # connected
        results = await asyncio.gather(
            *(store.put(binding(aor=f"sip:f{i}@example.com"), T0) for i in range(5)),
            store.lookup(AOR, T0), return_exceptions=True)
        failed = [r for r in results if isinstance(r, StoreError)]
        assert len(failed) == 4
        assert all("2 commands already wait for Redis" in str(r) for r in failed)
        assert [len(r) for r in results if isinstance(r, list)] == [1, 1]
        assert len(await store.lookup(AOR, T0)) == 1
    finally:
        await store.close()


async def test_a_restarted_redis_gets_the_script_again(redis_url: str, prefix: str) -> None:
    """EVALSHA of a script Redis forgot (a restart, SCRIPT FLUSH) falls back to EVAL."""
    store = RedisStore.from_url(redis_url, prefix=prefix)
    raw = Redis.from_url(redis_url, decode_responses=True)
    try:
        await store.put(binding("sip:a@192.0.2.1"), T0)
        await raw.script_flush()
        await store.put(binding("sip:b@192.0.2.2"), T0)
        assert len(await store.lookup(AOR, T0)) == 2
    finally:
        await store.close()
        await raw.aclose()


def test_the_pipelined_connection_under_uvloop(redis_url: str, prefix: str) -> None:
    """uvloop, which ``sipwire serve`` runs on, calls ``connection_made`` only
    after ``create_connection`` has returned: the first command still goes out."""
    uvloop = pytest.importorskip("uvloop")

    async def register_and_look_up() -> list[Binding]:
        store = RedisStore.from_url(redis_url, prefix=prefix, socket_timeout=5)
        try:
            await store.put(binding(), T0)
            return await store.lookup(AOR, T0)
        finally:
            await store.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(register_and_look_up()) == [binding()]
