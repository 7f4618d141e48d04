"""The memory store's purge: an incremental pass in bounded steps, its work
counted per step (not timed)."""

from __future__ import annotations

import asyncio

import pytest

from sipwire.location import Binding, MemoryStore, StoreError
from sipwire.location.memory_store import PURGE_STEP, PurgeStep

T0 = 1_000_000.0


def binding(user: int, expires: float, contact: int = 0) -> Binding:
    return Binding(aor=f"sip:u{user}@example.com", contact=f"sip:u{user}@192.0.2.{contact}",
                   contact_value=f"<sip:u{user}@192.0.2.{contact}>",
                   expires_at=T0 + expires, call_id=f"c{user}", cseq=1, updated_at=T0)


async def fill(store: MemoryStore, users: int, expires: float, first: int = 0) -> None:
    for user in range(first, first + users):
        await store.put(binding(user, expires), T0)


async def test_each_step_looks_at_a_bounded_number_of_aors() -> None:
    store = MemoryStore(step=100)
    await fill(store, 1050, 30)
    steps = list(store.purge_steps(T0 + 60))
    assert [s.examined for s in steps] == [100] * 10 + [50]
    assert sum(s.removed for s in steps) == 1050
    assert [s.done for s in steps] == [False] * 10 + [True]
    assert await store.aors(T0) == []
    assert await store.count(T0) == 0


async def test_live_bindings_cost_steps_but_are_kept() -> None:
    store = MemoryStore(step=100)
    await fill(store, 250, 3600)
    steps = list(store.purge_steps(T0 + 60))
    assert steps == [PurgeStep(100, 0, False), PurgeStep(100, 0, False),
                     PurgeStep(50, 0, True)]
    assert await store.count(T0 + 60) == 250


async def test_only_expired_bindings_go() -> None:
    store = MemoryStore()
    await fill(store, 300, 3600)
    await fill(store, 10, 30, first=300)
    await store.put(binding(1, 30, contact=1), T0)  # a second contact of u1, expiring
    assert [s.removed for s in store.purge_steps(T0 + 29)] == [0, 0]
    assert sum(s.removed for s in store.purge_steps(T0 + 30)) == 11
    assert await store.count(T0 + 30) == 300
    assert len(await store.lookup("sip:u1@example.com", T0)) == 1


async def test_empty_store_is_one_empty_step() -> None:
    assert list(MemoryStore().purge_steps(T0)) == [PurgeStep(0, 0, True)]


async def test_writes_between_steps_are_safe() -> None:
    store = MemoryStore(step=10)
    await fill(store, 30, 30)
    steps = store.purge_steps(T0 + 60)
    assert next(steps) == PurgeStep(10, 10, False)
    # between steps: an AOR of a later batch is removed, one is refreshed,
    # a new one is added (after the pass began: not looked at)
    assert await store.remove("sip:u25@example.com") == 1
    await store.put(binding(26, 3600), T0 + 40)
    await store.put(binding(99, 30), T0)
    rest = list(steps)
    assert [s.examined for s in rest] == [10, 10]
    assert sum(s.removed for s in rest) == 18
    assert await store.aors(T0) == ["sip:u26@example.com", "sip:u99@example.com"]


async def test_purge_yields_between_steps() -> None:
    store = MemoryStore(step=10)
    await fill(store, 95, 30)
    ticks = 0

    async def other_traffic() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_traffic())
    await asyncio.sleep(0)
    before = ticks
    assert await store.purge(T0 + 30) == 95
    # ten steps, nine yields: the other task ran after each
    assert ticks - before >= 9
    task.cancel()


async def test_count_in_steps() -> None:
    store = MemoryStore(step=3)
    await fill(store, 10, 30)
    await store.put(binding(1, 60, contact=2), T0)
    assert await store.count(T0) == 11
    assert await store.count(T0 + 30) == 1


def test_default_step_and_bad_step() -> None:
    assert PURGE_STEP <= 1000
    with pytest.raises(ValueError):
        MemoryStore(step=0)


async def test_closed_store_refuses_a_purge_step() -> None:
    store = MemoryStore()
    await fill(store, 3, 30)
    await store.close()
    with pytest.raises(StoreError):
        next(store.purge_steps(T0))
