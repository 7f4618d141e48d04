"""What one address-of-record, one REGISTER and one request may cost ``sipwire
serve``, over real sockets: contacts per AOR, Contacts per REGISTER, the
length of a Contact, a 200 too big for UDP, and Max-Breadth (RFC 5393)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sipwire.server import Server
from sipwire.server.config import ConfigError, ServerConfig, add_arguments, load_config

from .conftest import OpenPhone, Serve
from .phone import Phone, request_of, response_of, status
from .processes import Serving, free_port, start_serve

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def fake_contact(phone: Phone, i: int, pad: int = 0) -> str:
    """A contact of ``phone``'s user that nobody listens at (all of one length
    for one ``pad``)."""
    extra = f";pad={'x' * pad}" if pad else ""
    return f"<sip:{phone.user}@192.0.2.1:{10000 + i}{extra}>"


async def register_contacts(phone: Phone, count: int, *, pad: int = 0, first: int = 0) -> None:
    for i in range(first, first + count):
        request = phone.register(contact=fake_contact(phone, i, pad), call_id=f"ua{i}@test")
        assert status(await phone.request(request)) == 200


# -- contacts per address-of-record -------------------------------------------------------


async def test_an_eleventh_contact_is_403_by_default_and_nothing_is_stored(
        serve: Serve, phone: OpenPhone) -> None:
    server = await serve()  # the default max_contacts, 10
    alice = await phone("alice", server)
    await register_contacts(alice, 10)
    refused = response_of(await alice.request(
        alice.register(contact=fake_contact(alice, 10), call_id="ua10@test")))
    assert (refused.status, refused.reason) == (403, "Too Many Registered Contacts")
    assert "limit of 10" in (refused.headers.get("Warning") or "")
    assert len(await server.store.lookup(alice.aor, server.clock())) == 10
    # a refresh of one of the ten is no new contact: accepted
    refresh = response_of(await alice.request(
        alice.register(contact=fake_contact(alice, 3), call_id="ua3@test")))
    assert refresh.status == 200 and len(refresh.contact) == 10


async def test_max_contacts_is_configurable(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(max_contacts=2)
    alice = await phone("alice", server)
    await register_contacts(alice, 2)
    assert status(await alice.request(
        alice.register(contact=fake_contact(alice, 2), call_id="ua2@test"))) == 403


# -- Contacts per REGISTER -----------------------------------------------------------------


def crowded_register(phone: Phone, count: int) -> bytes:
    """A REGISTER with ``count`` Contacts, 100 to a header line (a line is at
    most 16384 characters)."""
    values = [f'"UA {i}" {fake_contact(phone, i)};q=0.5' for i in range(count)]
    lines = [", ".join(values[i:i + 100]) for i in range(0, count, 100)]
    request = phone.register(contact=None, headers=[("Contact", line) for line in lines],
                             call_id=f"crowd-{time.monotonic_ns()}@test")
    return bytes(request)


async def test_a_thousand_contacts_are_refused_at_once_and_block_nothing(
        serve: Serve, phone: OpenPhone) -> None:
    """Each took 0.6-1 s of CPU, and ten kept an OPTIONS unanswered for 5 s."""
    server = await serve()
    mallory = await phone("mallory", server)
    data = crowded_register(mallory, 1000)
    assert 30000 < len(data) < 65000
    started = time.process_time()
    for _ in range(10):
        mallory.send(data)
    bob = await phone("bob", server)
    asked = time.monotonic()
    options = response_of(await bob.request(bob.build("OPTIONS", "sip:example.com"), 2.0))
    assert options.status == 200 and time.monotonic() - asked < 1.0
    refusals = [response_of(await mallory.receive()) for _ in range(10)]
    assert {(r.status, r.reason) for r in refusals} == {(403, "Too Many Registered Contacts")}
    assert "more than 10 Contacts in one REGISTER" in (refusals[0].headers.get("Warning") or "")
    assert time.process_time() - started < 1.0  # the server runs in this process
    assert await server.store.lookup(mallory.aor, server.clock()) == []


async def test_max_contacts_per_register_is_configurable(serve: Serve, phone: OpenPhone) -> None:
    server = await serve(max_contacts=50, max_contacts_per_register=3)
    alice = await phone("alice", server)
    three = ", ".join(fake_contact(alice, i) for i in range(3))
    ok = await alice.request(alice.register(contact=None, headers=[("Contact", three)]))
    assert status(ok) == 200 and len(response_of(ok).contact) == 3
    four = ", ".join(fake_contact(alice, i) for i in range(10, 14))
    assert status(await alice.request(alice.register(contact=None,
                                                     headers=[("Contact", four)]))) == 403


# -- the size of a Contact, and of the 200 ---------------------------------------------------


async def test_a_query_returns_a_bounded_200(serve: Serve, phone: OpenPhone) -> None:
    """A 247-byte query returned 49 KB.  Now the 200 lists at most
    max_contacts (10) Contacts of at most max_contact_length (1024)."""
    server = await serve()
    alice = await phone("alice", server, transport="tcp")
    longest = 1024 - len(fake_contact(alice, 0, pad=0)) - len(";pad=")
    assert len(fake_contact(alice, 0, pad=longest)) == 1024
    await register_contacts(alice, 10, pad=longest)
    too_long = alice.register(contact=fake_contact(alice, 99, pad=longest + 1), call_id="x@t")
    refused = response_of(await alice.request(too_long))
    assert refused.status == 400 and "longer than 1024" in (refused.headers.get("Warning") or "")
    eve = await phone("alice", server)  # anyone, over UDP: auth is off here
    query = eve.register(expires=None, contact=None)
    answer = response_of(await eve.request(query))
    assert answer.status == 200 and len(answer.contact) == 10
    assert len(bytes(answer)) < 12 * 1024
    assert len(bytes(answer)) / len(bytes(query)) < 50


async def test_a_200_too_big_for_udp_is_500_not_dropped(serve: Serve, phone: OpenPhone) -> None:
    """Past about 1,330 contacts the 200 was dropped (an INFO line) while the
    binding was stored.  Now it is a 500 saying why, and nothing is stored."""
    server = await serve(max_contact_length=0)
    tcp = await phone("alice", server, transport="tcp")
    await register_contacts(tcp, 4, pad=13000)  # over TCP any 200 goes back
    udp = await phone("alice", server)
    refused = response_of(await udp.request(
        udp.register(contact=fake_contact(udp, 20, pad=13000), call_id="big@test")))
    assert refused.status == 500
    assert "would not fit in a UDP datagram" in (refused.headers.get("Warning") or "")
    assert len(await server.store.lookup(udp.aor, server.clock())) == 4
    # a fifth over TCP (its 200, over 65,535 bytes, is more than the test phone reads)
    tcp.send(tcp.register(contact=fake_contact(tcp, 4, pad=13000), call_id="ua4@test"))
    async with asyncio.timeout(3):
        while len(await server.store.lookup(udp.aor, server.clock())) < 5:
            await asyncio.sleep(0.01)
    query = response_of(await udp.request(udp.register(expires=None, contact=None)))
    assert query.status == 500 and "over TCP or TLS" in (query.headers.get("Warning") or "")


# -- Max-Breadth (RFC 5393) ------------------------------------------------------------------


async def bobs(phone: OpenPhone, server: Server, count: int) -> list[Phone]:
    """``count`` phones registered as bob, each with its own contact."""
    phones = [await phone("bob", server) for _ in range(count)]
    for i, bob in enumerate(phones):
        request = bob.register(call_id=f"bob{i}@test")
        assert status(await bob.request(request)) == 200
    return phones


async def test_forwarded_requests_carry_max_breadth_60(serve: Serve, phone: OpenPhone) -> None:
    # §5.3.3: a request without one gets one, "RECOMMENDED to be 60"
    server = await serve()
    (bob,) = await bobs(phone, server, 1)
    alice = await phone("alice", server)
    alice.send(alice.build("MESSAGE", bob.aor, body=b"hi"))
    got = await bob.expect("MESSAGE")
    assert request_of(got).headers.getall("Max-Breadth") == ["60"]
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_a_fork_wider_than_max_breadth_is_440(serve: Serve, phone: OpenPhone) -> None:
    """Forking to 500 contacts took 3.6 s: now a fork is never wider than
    max_breadth (default 60, here 3), nor than the request's Max-Breadth."""
    server = await serve(max_breadth=3)
    phones = await bobs(phone, server, 4)
    alice = await phone("alice", server)
    refused = response_of(await alice.request(alice.build("INVITE", "sip:bob@example.com",
                                                          body=SDP)))
    assert (refused.status, refused.reason) == (440, "Max-Breadth Exceeded")
    for bob in phones:
        assert await bob.silence(0.1) == []  # no branch at all
    # with three contacts, each branch gets a third of it
    assert status(await phones[3].request(phones[3].register(expires=0, call_id="bob3@test"))) \
        == 200
    invite = alice.build("INVITE", "sip:bob@example.com", body=SDP)
    alice.send(invite)
    branches = [request_of(await bob.expect("INVITE")) for bob in phones[:3]]
    assert [b.headers.getall("Max-Breadth") for b in branches] == [["1"]] * 3
    # a caller may ask for less: two is not enough for three contacts
    narrow = alice.build("INVITE", "sip:bob@example.com", body=SDP,
                         headers=[("Max-Breadth", "2")])
    assert status(await alice.request(narrow)) == 440


# -- configuration ---------------------------------------------------------------------------


def parse(*flags: str, config_file: Path | None = None) -> ServerConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return load_config(parser.parse_args(list(flags)), str(config_file) if config_file else None)


def limits(config: ServerConfig) -> tuple[int, int, int, int]:
    return (config.max_contacts, config.max_contacts_per_register, config.max_contact_length,
            config.max_breadth)


def test_limit_defaults() -> None:
    assert limits(parse()) == (10, 10, 1024, 60)


def test_limits_from_toml_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text("[registrar]\nmax_contacts = 3\nmax_contacts_per_register = 2\n"
                    "max_contact_length = 300\n[proxy]\nmax_breadth = 7\n")
    assert limits(parse(config_file=path)) == (3, 2, 300, 7)
    flags = ("--max-contacts", "0", "--max-contacts-per-register", "5",
             "--max-contact-length", "0", "--max-breadth", "1")
    assert limits(parse(*flags, config_file=path)) == (0, 5, 0, 1)


@pytest.mark.parametrize("flags", [("--max-contacts", "-1"), ("--max-breadth", "0"),
                                   ("--max-contacts-per-register", "-2"),
                                   ("--max-contact-length", "-5")])
def test_bad_limits_are_refused(flags: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        parse(*flags)



# -- through the command --------------------------------------------------------------------


@pytest.fixture
async def serve_command(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """``sipwire serve FLAGS`` on a free UDP port of 127.0.0.1 (auth off, memory
    store, domain example.com): returns the port."""
    started: list[Serving] = []

    async def start(*flags: str) -> int:
        port = free_port()
        started.append(await start_serve(
            "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com",
            "--store", "memory:", "--auth", "off", *flags, cwd=tmp_path))
        return port

    yield start
    for serving in started:
        await serving.kill()


async def limits_over_the_wire(port: int, contacts: int, per_register: int, length: int,
                               breadth: int) -> None:
    """Each limit of a running ``serve`` at ``port``, one past it."""
    alice = await Phone.open("alice", ("127.0.0.1", port))
    carol = await Phone.open("carol", ("127.0.0.1", port))
    # as many bobs as max_breadth allows plus one, if max_contacts lets them register
    callees = [await Phone.open("bob", ("127.0.0.1", port))
               for _ in range(min(breadth + 1, contacts))]
    try:
        await register_contacts(alice, contacts)
        assert status(await alice.request(alice.register(
            contact=fake_contact(alice, contacts), call_id="over@test"))) == 403
        crowd = ", ".join(fake_contact(carol, i) for i in range(per_register + 1))
        assert status(await carol.request(carol.register(
            contact=None, headers=[("Contact", crowd)]))) == 403
        pad = length - len(fake_contact(carol, 0)) - len(";pad=") + 1
        long = fake_contact(carol, 0, pad=pad)
        assert len(long) == length + 1
        assert status(await carol.request(carol.register(contact=long))) == 400
        for i, bob in enumerate(callees):
            assert status(await bob.request(bob.register(call_id=f"bob{i}@test"))) == 200
        if len(callees) > breadth:
            wide = carol.build("MESSAGE", "sip:bob@example.com")
            assert status(await carol.request(wide)) == 440
            gone = callees.pop()
            assert status(await gone.request(gone.register(
                expires=0, call_id=f"bob{len(callees)}@test"))) == 200
        else:  # the caller's own Max-Breadth is the narrower
            narrow = carol.build("MESSAGE", "sip:bob@example.com",
                                 headers=[("Max-Breadth", str(len(callees) - 1))])
            assert status(await carol.request(narrow)) == 440
        carol.send(carol.build("MESSAGE", "sip:bob@example.com"))
        got = [request_of(await bob.expect("MESSAGE")) for bob in callees]
        assert sum(int(m.headers["Max-Breadth"]) for m in got) == breadth
    finally:
        for phone in (alice, carol, *callees):
            phone.close()


async def test_the_defaults_of_the_command(serve_command: Callable[..., Awaitable[int]]) -> None:
    await limits_over_the_wire(await serve_command(), 10, 10, 1024, 60)


async def test_the_flags_of_the_command(serve_command: Callable[..., Awaitable[int]]) -> None:
    port = await serve_command("--max-contacts", "5", "--max-contacts-per-register", "3",
                               "--max-contact-length", "100", "--max-breadth", "2")
    await limits_over_the_wire(port, 5, 3, 100, 2)
