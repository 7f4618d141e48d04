"""The LocationStore contract, run against every store (memory, SQLite, Redis)."""

from __future__ import annotations

import asyncio

import pytest

from sipwire.location import Binding, LocationStore, Source, StoreError

from .conftest import OpenNode

AOR = "sip:alice@example.com"
T0 = 1_000_000.0


def binding(contact: str = "sip:alice@192.0.2.1:5060", *, aor: str = AOR,
            expires: float = 3600, now: float = T0, **fields: object) -> Binding:
    values: dict[str, object] = {
        "contact_value": f"<{contact}>", "expires_at": now + expires, "call_id": "c1@ua",
        "cseq": 1, "updated_at": now,
    }
    values.update(fields)
    return Binding(aor=aor, contact=contact, **values)  # type: ignore[arg-type]


async def test_empty(store: LocationStore) -> None:
    assert await store.lookup(AOR, T0) == []
    assert await store.aors(T0) == []
    assert await store.purge(T0) == 0
    assert await store.remove(AOR) == 0


async def test_every_field_round_trips(store: LocationStore) -> None:
    full = Binding(
        aor=AOR,
        contact="sip:alice@198.51.100.7:49152;transport=tcp;ob",
        contact_value='"Alice" <sip:alice@198.51.100.7:49152;transport=tcp;ob>;q=0.7;'
                      '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1',
        expires_at=T0 + 3600.5,
        q=0.7,
        call_id="843817637684230@998sdasdh09",
        cseq=1826,
        path=("<sip:p3.example.com;lr>", "<sip:p1.example.net;lr;ob>"),
        instance_id="urn:uuid:00000000-0000-1000-8000-000A95A0E128",
        reg_id=1,
        source=Source("TCP", "198.51.100.7", 49152, "node1/conn/17"),
        user_agent="Softphone Beta1.5 (Ünïcode)",
        updated_at=T0 + 0.25,
    )
    assert await store.put(full, T0) == [full]
    assert await store.lookup(AOR, T0) == [full]
    minimal = binding("tel:+12025550123", aor="sip:bob@example.com")
    await store.put(minimal, T0)
    assert await store.lookup("sip:bob@example.com", T0) == [minimal]


async def test_lookup_sorts_by_q_then_most_recent(store: LocationStore) -> None:
    low = binding("sip:a@192.0.2.1", q=0.1)
    high = binding("sip:b@192.0.2.2", q=1.0)
    mid_old = binding("sip:c@192.0.2.3", q=0.5, updated_at=T0 - 10)
    mid_new = binding("sip:d@192.0.2.4", q=0.5, updated_at=T0)
    for b in (low, mid_old, high, mid_new):
        await store.put(b, T0)
    assert await store.lookup(AOR, T0) == [high, mid_new, mid_old, low]


async def test_update_replaces_the_set(store: LocationStore) -> None:
    a, b, c = binding("sip:a@192.0.2.1"), binding("sip:b@192.0.2.2"), binding("sip:c@192.0.2.3")
    await store.update(AOR, lambda current: [a, b], T0)
    seen: list[list[Binding]] = []

    def change(current: list[Binding]) -> list[Binding]:
        seen.append(current)
        return [b.replace(cseq=2), c]

    result = await store.update(AOR, change, T0)
    assert sorted(seen[-1], key=lambda x: x.contact) == [a, b]
    assert sorted(result, key=lambda x: x.contact) == [b.replace(cseq=2), c]
    assert sorted(await store.lookup(AOR, T0), key=lambda x: x.contact) == result


async def test_a_failing_change_writes_nothing(store: LocationStore) -> None:
    a = binding("sip:a@192.0.2.1")
    await store.put(a, T0)

    def change(current: list[Binding]) -> list[Binding]:
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await store.update(AOR, change, T0)
    assert await store.lookup(AOR, T0) == [a]


async def test_a_change_for_another_aor_or_with_duplicates_is_refused(
        store: LocationStore) -> None:
    with pytest.raises(ValueError):
        await store.update(AOR, lambda c: [binding(aor="sip:bob@example.com")], T0)
    with pytest.raises(ValueError):
        await store.update(AOR, lambda c: [binding(), binding(cseq=9)], T0)
    assert await store.lookup(AOR, T0) == []


async def test_flow_bindings_are_keyed_by_instance_and_reg_id(store: LocationStore) -> None:
    plain = binding("sip:alice@192.0.2.1")
    flow1 = binding("sip:alice@192.0.2.1", instance_id="urn:uuid:1", reg_id=1)
    flow2 = binding("sip:alice@192.0.2.1", instance_id="urn:uuid:1", reg_id=2)
    assert len({plain.key, flow1.key, flow2.key}) == 3
    for b in (plain, flow1, flow2):
        await store.put(b, T0)
    assert len(await store.lookup(AOR, T0)) == 3
    moved = flow1.replace(contact="sip:alice@203.0.113.9:3000", contact_value="<sip:x@y>")
    assert moved.key == flow1.key
    await store.put(moved, T0)
    assert sorted(b.contact for b in await store.lookup(AOR, T0)) == [
        "sip:alice@192.0.2.1", "sip:alice@192.0.2.1", "sip:alice@203.0.113.9:3000"]


async def test_expired_bindings_are_never_returned(store: LocationStore) -> None:
    short = binding("sip:a@192.0.2.1", expires=60)
    long = binding("sip:b@192.0.2.2", expires=3600)
    await store.put(short, T0)
    await store.put(long, T0)
    assert await store.lookup(AOR, T0 + 59.9) == [short, long] or \
        await store.lookup(AOR, T0 + 59.9) == [long, short]
    # expires_at is the first instant the binding is gone
    assert await store.lookup(AOR, T0 + 60) == [long]
    assert await store.aors(T0 + 60) == [AOR]
    assert await store.lookup(AOR, T0 + 3600) == []
    assert await store.aors(T0 + 3600) == []


async def test_update_sees_only_unexpired_and_drops_the_rest(store: LocationStore) -> None:
    await store.put(binding("sip:a@192.0.2.1", expires=10), T0)
    await store.put(binding("sip:b@192.0.2.2", expires=100), T0)
    seen: list[str] = []

    def change(current: list[Binding]) -> list[Binding]:
        seen.extend(b.contact for b in current)
        return current

    await store.update(AOR, change, T0 + 50)
    assert seen == ["sip:b@192.0.2.2"]
    # the expired one was deleted by that write: nothing left for purge
    assert await store.purge(T0 + 50) == 0


async def test_purge(store: LocationStore) -> None:
    await store.put(binding("sip:a@192.0.2.1", expires=10), T0)
    await store.put(binding("sip:b@192.0.2.2", expires=100), T0)
    await store.put(binding("sip:c@192.0.2.3", aor="sip:bob@example.com", expires=10), T0)
    await store.put(binding("sip:d@192.0.2.4", aor="sip:carol@example.com", expires=500), T0)
    assert await store.purge(T0) == 0
    assert await store.purge(T0 + 10) == 2
    assert await store.purge(T0 + 10) == 0
    assert await store.aors(T0 + 10) == ["sip:alice@example.com", "sip:carol@example.com"]
    assert [b.contact for b in await store.lookup(AOR, T0 + 10)] == ["sip:b@192.0.2.2"]
    assert await store.purge(T0 + 1000) == 2
    assert await store.aors(T0) == []
    assert await store.lookup("sip:carol@example.com", T0) == []


async def test_aors_are_listed_sorted(store: LocationStore) -> None:
    for aor in ("sip:zed@example.com", "sip:alice@example.com", "sips:bob@example.org"):
        await store.put(binding(aor=aor), T0)
        await store.put(binding("sip:other@192.0.2.9", aor=aor), T0)
    assert await store.aors(T0) == [
        "sip:alice@example.com", "sip:zed@example.com", "sips:bob@example.org"]


async def test_remove_all(store: LocationStore) -> None:
    await store.put(binding("sip:a@192.0.2.1"), T0)
    await store.put(binding("sip:b@192.0.2.2", expires=1), T0)
    await store.put(binding(aor="sip:bob@example.com"), T0)
    assert await store.remove(AOR) == 2
    assert await store.lookup(AOR, T0) == []
    assert await store.aors(T0) == ["sip:bob@example.com"]
    assert await store.remove(AOR) == 0


async def test_odd_characters_in_aor_and_contact(store: LocationStore) -> None:
    aor = "sip:al ice:*{x}@example.com"
    b = binding('sip:"odd";user@192.0.2.1', aor=aor, contact_value="<sip:odd>")
    await store.put(b, T0)
    assert await store.lookup(aor, T0) == [b]
    assert await store.aors(T0) == [aor]


async def test_fifty_concurrent_refreshes_lose_nothing(store: LocationStore) -> None:
    contacts = [f"sip:alice@192.0.2.{i}:5060" for i in range(50)]
    await asyncio.gather(*(store.put(binding(c), T0) for c in contacts))
    assert sorted(b.contact for b in await store.lookup(AOR, T0)) == sorted(contacts)


async def test_fifty_concurrent_read_modify_writes_are_serialized(store: LocationStore) -> None:
    """Each update reads the counter binding and writes it plus one: a lost
    update would leave the count below 50."""
    await store.put(binding(cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    await asyncio.gather(*(store.update(AOR, bump, T0) for _ in range(50)))
    (final,) = await store.lookup(AOR, T0)
    assert final.cseq == 50


async def test_two_nodes_share_bindings(open_node: OpenNode) -> None:
    node1, node2 = await open_node(), await open_node()
    b = binding()
    await node1.put(b, T0)
    assert await node2.lookup(AOR, T0) == [b]
    assert await node2.aors(T0) == [AOR]
    assert await node2.remove(AOR) == 1
    assert await node1.lookup(AOR, T0) == []


async def test_two_nodes_fifty_concurrent_refreshes(open_node: OpenNode) -> None:
    node1, node2 = await open_node(), await open_node()
    contacts = [f"sip:alice@192.0.2.{i}:5060" for i in range(50)]
    await asyncio.gather(*(
        (node1 if i % 2 else node2).put(binding(c), T0) for i, c in enumerate(contacts)
    ))
    for node in (node1, node2):
        assert sorted(b.contact for b in await node.lookup(AOR, T0)) == sorted(contacts)


async def test_two_nodes_fifty_concurrent_read_modify_writes(open_node: OpenNode) -> None:
    node1, node2 = await open_node(), await open_node()
    await node1.put(binding(cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    await asyncio.gather(*(
        (node1 if i % 2 else node2).update(AOR, bump, T0) for i in range(50)
    ))
    (final,) = await node2.lookup(AOR, T0)
    assert final.cseq == 50


async def test_a_closed_store_refuses_work(store: LocationStore) -> None:
    await store.close()
    await store.close()  # twice is fine
    with pytest.raises(StoreError):
        await store.lookup(AOR, T0)
    with pytest.raises(StoreError):
        await store.put(binding(), T0)
