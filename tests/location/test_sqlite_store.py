"""SQLiteStore: persistence across restarts, WAL, sharing one file, group commit."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sipwire.location import Binding, Source, SQLiteStore, StoreError

from .test_store_contract import AOR, T0, binding


async def test_bindings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    kept = [
        binding(f"sip:alice@192.0.2.{i}", q=i / 10, path=("<sip:edge.example.com;lr>",),
                source=Source("UDP", "192.0.2.1", 5060 + i), user_agent="ua")
        for i in range(1, 6)
    ]
    for b in kept:
        await store.put(b, T0)
    await store.put(binding("sip:bob@192.0.2.9", aor="sip:bob@example.com"), T0)
    await store.put(binding("sip:short@192.0.2.10", expires=5), T0)
    await store.close()

    reopened = SQLiteStore(path)
    try:
        later = T0 + 10  # the short one has expired meanwhile
        assert await reopened.lookup(AOR, later) == sorted(kept, key=lambda b: -b.q)
        assert await reopened.aors(later) == ["sip:alice@example.com", "sip:bob@example.com"]
        assert await reopened.purge(later) == 1
    finally:
        await reopened.close()


async def test_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    await store.put(binding(), T0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()


async def test_in_memory_database() -> None:
    store = SQLiteStore(":memory:")
    await store.put(binding(), T0)
    assert len(await store.lookup(AOR, T0)) == 1
    await store.close()


async def test_two_connections_to_one_file_serialize_updates(tmp_path: Path) -> None:
    """Two stores on one file stand for two processes: BEGIN IMMEDIATE
    serializes their read-modify-writes, batched or not."""
    one, two = SQLiteStore(tmp_path / "loc.db"), SQLiteStore(tmp_path / "loc.db")
    await one.put(binding(cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    await asyncio.gather(*((one if i % 2 else two).update(AOR, bump, T0) for i in range(40)))
    (final,) = await two.lookup(AOR, T0)
    assert final.cseq == 40
    await one.close()
    await two.close()


async def test_two_connections_two_hundred_concurrent_updates_each_lose_nothing(
        tmp_path: Path) -> None:
    """Two processes' worth of load on one file: each store makes 200 updates
    at once, of its own AORs, of contacts of one shared AOR, and of a shared
    counter; every binding and every increment is there afterwards."""
    stores = [SQLiteStore(tmp_path / "loc.db"), SQLiteStore(tmp_path / "loc.db")]
    counter = "sip:counter@example.com"
    await stores[0].put(binding(aor=counter, cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    calls = []
    for s, store in enumerate(stores):
        for i in range(200):
            if i % 3 == 0:
                calls.append(store.put(binding(aor=f"sip:u{s}x{i}@example.com"), T0))
            elif i % 3 == 1:
                calls.append(store.put(binding(f"sip:alice@192.0.2.{s}:{i}"), T0))
            else:
                calls.append(store.update(counter, bump, T0))
    await asyncio.gather(*calls)

    for store in stores:
        (count,) = await store.lookup(counter, T0)
        assert count.cseq == 2 * len(range(2, 200, 3))
        assert sorted(b.contact for b in await store.lookup(AOR, T0)) == sorted(
            f"sip:alice@192.0.2.{s}:{i}" for s in (0, 1) for i in range(1, 200, 3))
        assert await store.aors(T0) == sorted(
            [AOR, counter] + [f"sip:u{s}x{i}@example.com" for s in (0, 1)
                              for i in range(0, 200, 3)])
    assert sum(store.commits for store in stores) <= 1 + 400
    for store in stores:
        await store.close()


async def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path)


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing-dir" / "loc.db")


# -- group commit ----------------------------------------------------------------------

@asynccontextmanager
async def busy(store: SQLiteStore) -> AsyncIterator[None]:
    """Keeps the store's thread inside an update (of its own AOR) until the
    block ends, so that the calls made in the block are queued, and then
    taken together as one batch: the thread's batch is all that is queued."""
    entered, gate = threading.Event(), threading.Event()

    def hold(current: list[Binding]) -> list[Binding]:
        entered.set()
        gate.wait()
        return current

    holding = asyncio.ensure_future(store.update("sip:gate@example.com", hold, T0))
    await asyncio.to_thread(entered.wait)
    try:
        yield
        # the tasks created in the block run up to their queued call
        await asyncio.sleep(0)
    finally:
        gate.set()
        await holding


async def test_concurrent_updates_are_committed_in_one_transaction(tmp_path: Path) -> None:
    """RFC 3261 §10.3: each update still answers with its AOR's bindings,
    once they are committed; the updates queued meanwhile share a commit."""
    store = SQLiteStore(tmp_path / "loc.db")
    async with busy(store):
        commits, batches = store.commits, store.batches
        wanted = [binding(f"sip:u{i}@192.0.2.1", aor=f"sip:u{i}@example.com")
                  for i in range(100)]
        calls = [asyncio.ensure_future(store.put(b, T0)) for b in wanted]
    results = await asyncio.gather(*calls)
    assert results == [[b] for b in wanted]
    # the gate's commit, then ours; its batch was taken already
    assert (store.commits, store.batches) == (commits + 2, batches + 1)
    for b in wanted:
        assert await store.lookup(b.aor, T0) == [b]
    await store.close()


async def test_without_group_commit_each_update_commits_alone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "loc.db", max_batch=1)
    async with busy(store):
        commits = store.commits
        calls = [asyncio.ensure_future(store.put(binding(f"sip:a@192.0.2.{i}"), T0))
                 for i in range(5)]
    await asyncio.gather(*calls)
    assert store.commits == commits + 1 + 5
    assert len(await store.lookup(AOR, T0)) == 5
    await store.close()


async def test_a_batch_is_at_most_max_batch_calls(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "loc.db", max_batch=4)
    assert store.max_batch == 4
    async with busy(store):
        commits = store.commits
        calls = [asyncio.ensure_future(store.put(binding(f"sip:a@192.0.2.{i}"), T0))
                 for i in range(10)]
    await asyncio.gather(*calls)
    assert store.commits == commits + 1 + 3  # the gate's, then 4 + 4 + 2
    assert len(await store.lookup(AOR, T0)) == 10
    await store.close()
    with pytest.raises(ValueError):
        SQLiteStore(tmp_path / "other.db", max_batch=0)


async def test_one_aor_twice_in_a_batch_is_applied_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "loc.db")
    await store.put(binding(cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    async with busy(store):
        commits = store.commits
        first = asyncio.ensure_future(store.update(AOR, bump, T0))
        second = asyncio.ensure_future(store.update(AOR, bump, T0))
        added = asyncio.ensure_future(store.put(binding("sip:alice@192.0.2.2"), T0))
    assert [b.cseq for b in await first] == [1]
    assert [b.cseq for b in await second] == [2]
    assert sorted((b.contact, b.cseq) for b in await added) == [
        ("sip:alice@192.0.2.1:5060", 2), ("sip:alice@192.0.2.2", 1)]
    assert store.commits == commits + 2
    assert await store.lookup(AOR, T0) == await added
    await store.close()


async def test_a_failing_change_fails_alone_and_leaves_nothing_written(
        tmp_path: Path) -> None:
    """§10.3 step 7: an update is committed if and only if all of it
    succeeds.  The unwritable binding fails after its update deleted the
    AOR's others: its savepoint brings them back, and the batch commits."""
    store = SQLiteStore(tmp_path / "loc.db")
    bob, carol = "sip:bob@example.com", "sip:carol@example.com"
    kept = [binding("sip:bob@192.0.2.1", aor=bob), binding("sip:bob@192.0.2.2", aor=bob)]
    for b in kept:
        await store.put(b, T0)
    unwritable = binding("sip:bob@192.0.2.3", aor=bob, path=(object(),))

    def abort(current: list[Binding]) -> list[Binding]:
        raise RuntimeError("486")

    async with busy(store):
        commits = store.commits
        before = asyncio.ensure_future(store.put(binding(), T0))
        partial = asyncio.ensure_future(store.update(bob, lambda current: [unwritable], T0))
        aborted = asyncio.ensure_future(store.update(carol, abort, T0))
        refused = asyncio.ensure_future(store.update(
            carol, lambda current: [binding(aor="sip:dave@example.com")], T0))
        after = asyncio.ensure_future(store.put(binding(aor=carol), T0))
    assert await before == [binding()]
    with pytest.raises(TypeError):
        await partial
    with pytest.raises(RuntimeError, match="486"):
        await aborted
    with pytest.raises(ValueError):
        await refused
    assert await after == [binding(aor=carol)]
    assert store.commits == commits + 2
    assert sorted(await store.lookup(bob, T0), key=lambda b: b.contact) == kept
    assert await store.lookup(carol, T0) == [binding(aor=carol)]
    assert await store.aors(T0) == [AOR, bob, carol]
    await store.close()


async def test_a_batch_whose_transaction_fails_fails_each_update(tmp_path: Path) -> None:
    """The write lock held elsewhere past ``timeout``: every update of the
    batch is a StoreError (503), none is written, and the store recovers."""
    path = tmp_path / "loc.db"
    store = SQLiteStore(path, timeout=0.01)
    await store.ping()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        calls = [store.put(binding(f"sip:a@192.0.2.{i}"), T0) for i in range(3)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(o, StoreError) and "locked" in str(o) for o in outcomes)
        # readers do not wait for the write lock (WAL)
        assert await store.lookup(AOR, T0) == []
    finally:
        other.execute("COMMIT")
        other.close()
    assert await store.put(binding(), T0) == [binding()]
    await store.close()


async def test_a_cancelled_caller_does_not_disturb_the_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "loc.db")
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        async with busy(store):
            cancelled = asyncio.ensure_future(store.put(binding("sip:alice@192.0.2.1"), T0))
            kept = asyncio.ensure_future(store.put(binding("sip:alice@192.0.2.2"), T0))
            await asyncio.sleep(0)  # both queued
            cancelled.cancel()
        assert len(await kept) == 2
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        # the call was done all the same, as a REGISTER whose 200 got lost
        assert len(await store.lookup(AOR, T0)) == 2
        await store.close()
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_close_finishes_the_queued_work_and_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    wanted = [binding(f"sip:alice@192.0.2.{i}") for i in range(10)]
    async with busy(store):
        calls = [asyncio.ensure_future(store.put(b, T0)) for b in wanted]
        looked = asyncio.ensure_future(store.lookup(AOR, T0))
        closing = asyncio.ensure_future(store.close())
        await asyncio.sleep(0)  # all queued, close() last
        with pytest.raises(StoreError, match="closed"):
            await store.put(binding(), T0)
    await closing
    await asyncio.gather(*calls)
    await looked  # answered too
    with pytest.raises(StoreError, match="closed"):
        await store.lookup(AOR, T0)
    await store.close()
    reopened = SQLiteStore(path)
    assert len(await reopened.lookup(AOR, T0)) == 10
    await reopened.close()


# -- the write lock between processes ----------------------------------------------------

def _hold_write_lock(path: Path) -> int:
    """Take the store's advisory write lock as another process would (a
    descriptor of its own: flock(2) locks belong to the open file)."""
    fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def test_an_update_waits_for_the_write_lock_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    assert store.lock_waits == 0
    await store.put(binding(), T0)
    assert store.lock_waits == 0  # nobody else held it
    assert (tmp_path / "loc.db-lock").exists()
    fd = _hold_write_lock(path)
    try:
        waiting = asyncio.ensure_future(store.put(binding("sip:alice@192.0.2.9"), T0))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # held elsewhere: the update waits
    finally:
        os.close(fd)  # the holder ends: the kernel drops its lock
    assert len(await asyncio.wait_for(waiting, 5)) == 2
    assert store.lock_waits == 1
    await store.close()


async def test_a_write_lock_held_past_the_timeout_fails_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path, timeout=0.05)
    await store.ping()
    fd = _hold_write_lock(path)
    try:
        outcomes = await asyncio.gather(
            *(store.put(binding(f"sip:a@192.0.2.{i}"), T0) for i in range(3)),
            return_exceptions=True)
        assert all(isinstance(o, StoreError) and "locked" in str(o) for o in outcomes)
        assert store.commits == 0
    finally:
        os.close(fd)
    assert await store.put(binding(), T0) == [binding()]
    assert store.commits == 1
    await store.close()


async def test_stores_in_memory_take_no_write_lock() -> None:
    store = SQLiteStore(":memory:")
    await store.put(binding(), T0)
    assert store.lock_waits == 0
    await store.close()


async def test_an_update_of_several_rows_that_fails_midway_writes_none(tmp_path: Path) -> None:
    """§10.3 step 7: the first of two new bindings is written, the second
    cannot be (a CSeq past SQLite's INTEGER): the update's savepoint takes
    the first back, and the AOR keeps what it had."""
    store = SQLiteStore(tmp_path / "loc.db")
    kept = binding("sip:alice@192.0.2.1")
    await store.put(kept, T0)
    fresh = binding("sip:alice@192.0.2.2")
    unstorable = binding("sip:alice@192.0.2.3", cseq=2**70)
    with pytest.raises(OverflowError):
        await store.update(AOR, lambda current: [fresh, unstorable], T0)
    assert await store.lookup(AOR, T0) == [kept]
    # one row (the usual REGISTER) needs no savepoint; it is all or nothing too
    with pytest.raises(OverflowError):
        await store.update(AOR, lambda current: [*current, unstorable], T0)
    assert await store.lookup(AOR, T0) == [kept]
    assert await store.update(AOR, lambda current: [fresh], T0) == [fresh]
    assert await store.lookup(AOR, T0) == [fresh]
    await store.close()
