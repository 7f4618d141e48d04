"""The registrar over each store: the same answers, and concurrent REGISTERs."""

from __future__ import annotations

import asyncio

from sipwire.location import LocationStore, Source
from sipwire.registrar import Registrar

from .conftest import AOR, T0, register


async def test_register_refresh_query_remove(any_store: LocationStore) -> None:
    registrar = Registrar(any_store, ["example.com"])
    source = Source("TLS", "203.0.113.5", 5061, "tls:0")
    first = await registrar.handle(register(
        '<sip:alice@192.0.2.4>;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=1',
        "<sip:alice@192.0.2.5>", headers=["Supported: outbound"]), T0, source)
    assert first.status == 400  # two live contacts with a reg-id
    first = await registrar.handle(register(
        "<sip:alice@192.0.2.4>;q=0.5", "<sip:alice@192.0.2.5>;expires=600"), T0, source)
    assert first.status == 200
    assert [(str(c.uri), c.expires) for c in first.contact] == [
        ("sip:alice@192.0.2.5", 600), ("sip:alice@192.0.2.4", 3600)]
    stale = await registrar.handle(register("<sip:alice@192.0.2.4>", cseq=1826), T0)
    assert stale.status == 500
    refresh = await registrar.handle(register("<sip:alice@192.0.2.4>", cseq=1827), T0 + 100,
                                     source)
    # the refresh dropped q=0.5 (now 1.0, first) and restarted its 3600 s
    assert [(str(c.uri), c.expires) for c in refresh.contact] == [
        ("sip:alice@192.0.2.4", 3600), ("sip:alice@192.0.2.5", 500)]
    query = await registrar.handle(register(call_id="q@ua", cseq=1), T0 + 600)
    assert [str(c.uri) for c in query.contact] == ["sip:alice@192.0.2.4"]
    (b,) = await any_store.lookup(AOR, T0 + 600)
    assert b.source == source
    gone = await registrar.handle(register("*", expires=0, cseq=1828), T0 + 700)
    assert gone.status == 200 and gone.contact == []
    assert await any_store.aors(T0) == []


async def test_fifty_concurrent_registers_lose_nothing(any_store: LocationStore) -> None:
    registrar = Registrar(any_store, ["example.com"], max_contacts=50)
    requests = [register(f"<sip:alice@192.0.2.{i}:5060>", call_id=f"ua{i}@host", cseq=1)
                for i in range(50)]
    responses = await asyncio.gather(*(registrar.handle(r, T0) for r in requests))
    assert all(r.status == 200 for r in responses)
    # each 200 lists at least its own binding; the last one written lists all
    assert max(len(r.contact) for r in responses) == 50
    assert len(await any_store.lookup(AOR, T0)) == 50


async def test_concurrent_registers_never_pass_max_contacts(any_store: LocationStore) -> None:
    """The limit is checked inside the store's transaction: twenty UAs
    registering at once leave exactly max_contacts bindings, and the others
    are refused 403 with nothing stored."""
    registrar = Registrar(any_store, ["example.com"], max_contacts=7)
    requests = [register(f"<sip:alice@192.0.2.{i}:5060>", call_id=f"ua{i}@host", cseq=1)
                for i in range(20)]
    responses = await asyncio.gather(*(registrar.handle(r, T0) for r in requests))
    assert sorted(r.status for r in responses) == [200] * 7 + [403] * 13
    assert {r.reason for r in responses if r.status == 403} == {"Too Many Registered Contacts"}
    stored = {b.contact for b in await any_store.lookup(AOR, T0)}
    assert len(stored) == 7
    for request, response in zip(requests, responses, strict=True):
        assert (str(request.contact[0].uri) in stored) == (response.status == 200)


async def test_fifty_concurrent_refreshes_of_one_ua(any_store: LocationStore) -> None:
    """One UA's REGISTERs arriving together: each is accepted or refused as out
    of order, and the binding ends with the highest CSeq that was accepted."""
    registrar = Registrar(any_store, ["example.com"])
    requests = [register("<sip:alice@192.0.2.4>", cseq=n) for n in range(1, 51)]
    responses = await asyncio.gather(*(registrar.handle(r, T0) for r in requests))
    accepted = [r.cseq.seq for r in responses if r.status == 200]
    assert {r.status for r in responses} <= {200, 500}
    assert accepted == sorted(accepted)  # each accepted one was higher than the last
    (b,) = await any_store.lookup(AOR, T0)
    assert b.cseq == max(accepted)
