"""The memory store's purge: expiry order, bounded steps, counted work (not time)."""

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


async def fill(store: MemoryStore, users: int, expires: float) -> None:
    for user in range(users):
        await store.put(binding(user, expires), T0)


async def test_nothing_due_costs_nothing() -> None:
    store = MemoryStore()
    await fill(store, 5000, 3600)
    assert store.purge_step(T0 + 60) == PurgeStep(examined=0, removed=0, done=True)
    assert await store.count(T0 + 60) == 5000


async def test_expired_bindings_go_in_bounded_steps() -> None:
    store = MemoryStore(step=100)
    await fill(store, 1050, 30)
    steps = []
    while True:
        step = store.purge_step(T0 + 60)
        steps.append(step)
        if step.done:
            break
    assert [s.examined for s in steps] == [100] * 10 + [50]
    assert sum(s.removed for s in steps) == 1050
    assert [s.done for s in steps] == [False] * 10 + [True]
    assert await store.aors(T0) == []
    assert await store.count(T0 + 60) == 0


async def test_only_what_is_due_is_examined() -> None:
    store = MemoryStore()
    await fill(store, 300, 3600)
    for user in range(300, 310):
        await store.put(binding(user, 30), T0)
    assert store.purge_step(T0 + 29) == PurgeStep(0, 0, True)
    assert store.purge_step(T0 + 30) == PurgeStep(10, 10, True)
    assert await store.count(T0 + 30) == 300


async def test_refreshed_binding_is_looked_at_once_and_kept() -> None:
    store = MemoryStore()
    await store.put(binding(1, 30), T0)
    await store.put(binding(1, 3600), T0 + 10)  # a refresh: expires later
    # the entry of the first expiry is due; the AOR is looked at, nothing freed,
    # and it waits under its new expiry
    assert store.purge_step(T0 + 40) == PurgeStep(1, 0, True)
    assert store.purge_step(T0 + 41) == PurgeStep(0, 0, True)
    assert [b.contact for b in await store.lookup("sip:u1@example.com", T0 + 41)] == [
        "sip:u1@192.0.2.0"]
    assert store.purge_step(T0 + 3600) == PurgeStep(1, 1, True)
    assert await store.lookup("sip:u1@example.com", T0) == []


async def test_earlier_expiry_is_purged_on_time() -> None:
    store = MemoryStore()
    await store.put(binding(1, 3600), T0)
    await store.put(binding(1, 30, contact=1), T0)  # a second contact, expiring sooner
    assert store.purge_step(T0 + 30) == PurgeStep(1, 1, True)
    assert len(await store.lookup("sip:u1@example.com", T0)) == 1
    assert await store.count(T0 + 30) == 1


async def test_shortened_expiry_leaves_a_stale_entry_that_is_skipped() -> None:
    store = MemoryStore()
    await store.put(binding(1, 3600), T0)
    await store.put(binding(1, 30), T0 + 1)  # same contact, shorter
    assert store.purge_step(T0 + 30) == PurgeStep(1, 1, True)
    await store.put(binding(1, 7200), T0 + 40)
    # the 3600 s entry is stale (the AOR was emptied and written again since)
    # and the 7200 s one is the AOR's; popping the stale one frees nothing
    assert store.purge_step(T0 + 3600) == PurgeStep(1, 0, True)
    assert await store.count(T0 + 3600) == 1


async def test_removed_aor_leaves_nothing_to_purge() -> None:
    store = MemoryStore()
    await fill(store, 3, 30)
    assert await store.remove("sip:u1@example.com") == 1
    step = store.purge_step(T0 + 30)
    assert (step.examined, step.removed) == (3, 2)
    assert await store.count(T0) == 0


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
    # nine steps ended early and yielded: the other task ran after each
    assert ticks - before >= 9
    task.cancel()


async def test_count_is_kept_not_walked() -> None:
    store = MemoryStore()
    await fill(store, 10, 30)
    await store.put(binding(1, 60, contact=2), T0)
    assert await store.count(T0) == 11
    assert await store.count(T0 + 30) == 1
    await store.update("sip:u1@example.com", lambda current: [], T0 + 31)
    assert await store.count(T0 + 31) == 0


def test_default_step_and_bad_step() -> None:
    assert PURGE_STEP <= 1000
    with pytest.raises(ValueError):
        MemoryStore(step=0)


async def test_closed_store_refuses_a_purge_step() -> None:
    store = MemoryStore()
    await store.close()
    with pytest.raises(StoreError):
        store.purge_step(T0)
