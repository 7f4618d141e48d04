"""The registrar of ``sipwire serve`` over real sockets (RFC 3261 §10.3)."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from sipwire import Response
from sipwire.message.fields.date import SIPDate

from .conftest import Clock, OpenPhone, Serve
from .phone import response_of, status


def contacts(response: Response) -> dict[str, int | None]:
    """Contact URI -> expires of a 200 to REGISTER (§10.3 step 8)."""
    return {str(c.uri): c.expires for c in response.contact}


async def test_register_adds_a_binding_and_answers_with_date(serve: Serve,
                                                             phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    got = await alice.request(alice.register(expires=60))
    ok = response_of(got)
    assert ok.status == 200
    assert contacts(ok) == {alice.contact: 60}
    date = ok.headers.get("Date")
    assert date is not None and SIPDate.parse(date)  # §10.3 step 8, §20.17
    [binding] = await server.store.lookup("sip:alice@example.com", server.clock())
    assert binding.contact == alice.contact
    assert binding.source is not None and binding.source.port == alice.port


async def test_refresh_keeps_one_binding_with_the_new_interval(serve: Serve,
                                                               phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register(expires=60))) == 200
    ok = response_of(await alice.request(alice.register(expires=30)))
    assert contacts(ok) == {alice.contact: 30}
    assert len(await server.store.lookup(alice.aor, server.clock())) == 1


async def test_two_contacts_then_remove_one_then_star(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    other = "sip:alice@192.0.2.7:5060"
    assert status(await alice.request(alice.register())) == 200
    ok = response_of(await alice.request(alice.register(contact=other)))
    assert set(contacts(ok)) == {alice.contact, other}

    ok = response_of(await alice.request(alice.register(expires=0)))  # §10.2.2
    assert set(contacts(ok)) == {other}

    assert status(await alice.request(alice.register(contact=other))) == 200
    star = alice.register(expires=0, contact="*")  # §10.3 step 6
    ok = response_of(await alice.request(star))
    assert ok.status == 200 and ok.contact == []
    assert await server.store.lookup(alice.aor, server.clock()) == []


async def test_star_without_expires_zero_is_400(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register(expires=60, contact="*"))) == 400


async def test_query_without_contact_lists_bindings(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    assert status(await alice.request(alice.register(expires=60))) == 200
    ok = response_of(await alice.request(alice.register(expires=None, contact=None)))
    assert list(contacts(ok)) == [alice.contact]  # §10.2.3


async def test_brief_interval_is_423_with_min_expires(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(min_expires=30)
    alice = await phone("alice", server)
    refused = response_of(await alice.request(alice.register(expires=10)))
    assert refused.status == 423 and refused.headers.get("Min-Expires") == "30"  # §10.3 step 7
    assert await server.store.lookup(alice.aor, server.clock()) == []


async def test_long_interval_is_shortened_to_max_expires(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(max_expires=120)
    alice = await phone("alice", server)
    ok = response_of(await alice.request(alice.register(expires=7200)))
    assert contacts(ok) == {alice.contact: 120}


async def test_default_expires_when_none_is_asked(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(default_expires=300)
    alice = await phone("alice", server)
    ok = response_of(await alice.request(alice.register(expires=None)))
    assert contacts(ok) == {alice.contact: 300}


async def test_domain_not_served_is_404(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    carol = await phone("carol", server, domain="biloxi.example.org")
    assert status(await carol.request(carol.register())) == 404  # §10.3 step 1


async def test_to_outside_the_domain_of_the_request_uri_is_404(serve: Serve,
                                                               phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    request = alice.register(to="<sip:alice@biloxi.example.org>")
    assert status(await alice.request(request)) == 404  # §10.3 step 5


async def test_register_to_our_address_is_accepted(serve: Serve, phone: OpenPhone) -> None:
    # a UA configured with the server's IP address as its registrar
    server = await serve()
    alice = await phone("alice", server)
    host, port = server.address("udp")
    assert status(await alice.request(alice.register(uri=f"sip:{host}:{port}"))) == 200


async def test_out_of_order_register_is_refused(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server)
    first = alice.register()
    assert status(await alice.request(first)) == 200
    stale = alice.register()
    stale.headers.set("CSeq", f"{first.cseq.seq - 1} REGISTER")
    assert status(await alice.request(stale)) == 500  # §10.3 step 7


async def test_bindings_expire_on_time(serve: Serve, phone: OpenPhone, clock: Clock) -> None:
    server = await serve(clock=clock)
    alice = await phone("alice", server)
    bob = await phone("bob", server)
    assert status(await alice.request(alice.register(expires=20))) == 200
    clock.advance(19)
    query = response_of(await alice.request(alice.register(expires=None, contact=None)))
    assert contacts(query) == {alice.contact: 1}
    # a request for alice still reaches her ...
    bob.send(bob.build("MESSAGE", alice.aor))
    reached = await alice.expect("MESSAGE")
    alice.answer(reached, 200)
    assert status(await bob.expect(200)) == 200
    clock.advance(2)
    # ... and no more once the binding expired (§10.2.1)
    query = response_of(await alice.request(alice.register(expires=None, contact=None)))
    assert contacts(query) == {}
    assert status(await bob.request(bob.build("MESSAGE", alice.aor))) == 404


async def test_a_real_second_passes(serve: Serve, phone: OpenPhone) -> None:
    # the real clock: a binding of 1 s is gone after it (min_expires lowered to 1)
    server = await serve(min_expires=1)
    alice = await phone("alice", server)
    assert contacts(response_of(await alice.request(alice.register(expires=1)))) == {
        alice.contact: 1}
    await asyncio.sleep(1.1)
    assert await server.store.lookup(alice.aor, server.clock()) == []


async def test_register_over_tcp(serve: Serve, phone: OpenPhone) -> None:
    server = await serve()
    alice = await phone("alice", server, transport="tcp")
    ok = response_of(await alice.request(alice.register()))
    assert ok.status == 200 and contacts(ok) == {alice.contact: 60}
    [binding] = await server.store.lookup(alice.aor, server.clock())
    assert binding.source is not None and binding.source.transport == "TCP"


async def test_register_through_our_route_reaches_the_registrar(serve: Serve,
                                                                phone: OpenPhone) -> None:
    # a UA with the server as outbound proxy preloads its Route (§16.4: ours, removed)
    server = await serve()
    alice = await phone("alice", server)
    host, port = server.address()
    request = alice.register(headers=[("Route", f"<sip:{host}:{port};lr>")])
    assert status(await alice.request(request)) == 200
    assert len(await server.store.lookup(alice.aor, server.clock())) == 1


async def test_each_transaction_is_logged(serve: Serve, phone: OpenPhone,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.server")
    server = await serve()
    alice = await phone("alice", server)
    request = alice.register()
    assert status(await alice.request(request)) == 200
    lines = [r.getMessage() for r in caplog.records if "method=REGISTER" in r.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    assert re.search(r"status=200 ", line) and f"call_id={request.call_id} " in line
    assert "from=sip:alice@example.com" in line and "to=sip:alice@example.com" in line
    assert re.search(r"duration_ms=\d+\.\d", line)


async def test_retransmitted_register_is_answered_from_the_transaction(
        serve: Serve, phone: OpenPhone) -> None:
    # §17.2.2: in Completed a retransmission gets the same final response. The
    # server keeps settled transactions as bytes; processing the REGISTER again
    # would fail it instead (§10.3 step 7: same Call-ID, CSeq not higher).
    server = await serve()
    alice = await phone("alice", server)
    register = alice.register(expires=60)
    first = response_of(await alice.request(register))
    again = response_of(await alice.request(register))
    assert first.status == again.status == 200
    assert bytes(again) == bytes(first)
    [binding] = await server.store.lookup("sip:alice@example.com", server.clock())
    assert binding.contact == alice.contact
    # answered transactions are retired into the layer's table until Timer J:
    # the response's bytes and flow, no transaction object, no engine record
    refresh = alice.register(expires=60)
    assert response_of(await alice.request(refresh)).status == 200
    assert server.engine._incoming == {}
    assert server.engine.transactions.retired == 2 and len(server.engine.transactions) == 0
    assert bytes(response_of(await alice.request(register))) == bytes(first)
