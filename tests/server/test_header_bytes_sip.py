"""NUL and bytes that are not UTF-8 in a header, sent to ``sipwire serve`` over
real sockets: answered 400 before any work (RFC 3261 §25.1), never stored nor
forwarded."""

from __future__ import annotations

from pathlib import Path

from .conftest import OpenPhone, Serve
from .phone import response_of, status


async def test_a_contact_that_is_not_utf8_is_400_and_not_stored(
        serve: Serve, phone: OpenPhone, tmp_path: Path) -> None:
    """A Latin-1 display name once reached the SQLite store, which cannot
    encode it: 500, and a store failure logged for a client's mistake."""
    server = await serve(store=f"sqlite:///{tmp_path / 'loc.db'}")
    alice = await phone("alice", server)
    data = bytes(alice.register()).replace(b"Contact: <", b'Contact: "M\xfcller" <')
    alice.send(data)
    bad = response_of(await alice.receive())
    assert bad.status == 400
    assert "Contact" in bad.reason and "UTF-8" in bad.reason
    assert await server.store.lookup(alice.aor, server.clock()) == []
    ok = response_of(await alice.request(alice.register(
        contact=f'"Müller" <{alice.contact}>')))
    assert ok.status == 200 and ok.contact[0].display_name == "Müller"


async def test_a_nul_is_400_on_a_stream_which_stays_open(serve: Serve,
                                                         phone: OpenPhone) -> None:
    server = await serve()
    bob = await phone("bob", server)
    assert status(await bob.request(bob.register())) == 200
    alice = await phone("alice", server, transport="tcp")
    message = alice.build("MESSAGE", bob.aor, headers=[("X-Note", "before")])
    alice.send(bytes(message).replace(b"X-Note: before", b"X-Note: a\x00b"))
    bad = response_of(await alice.receive())
    assert bad.status == 400 and "NUL" in bad.reason
    assert await bob.silence() == []  # never forwarded
    # the connection goes on: the next request on it is served
    alice.send(alice.build("MESSAGE", bob.aor))
    got = await bob.expect("MESSAGE")
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200


async def test_an_escaped_nul_in_a_display_name_is_forwarded_as_it_came(
        serve: Serve, phone: OpenPhone) -> None:
    """RFC 4475 §3.1.1.3: ``"\\<NUL>"`` in a quoted-string is a quoted-pair."""
    server = await serve()
    bob = await phone("bob", server)
    assert status(await bob.request(bob.register())) == 200
    alice = await phone("alice", server)
    message = alice.build("MESSAGE", bob.aor, from_=f'"x" <{alice.aor}>;tag=a1')
    alice.send(bytes(message).replace(b'From: "x"', b'From: "N\\\x00L"'))
    got = await bob.expect("MESSAGE")
    assert b'From: "N\\\x00L" <' in bytes(got.message)
    bob.answer(got, 200)
    assert status(await alice.expect(200)) == 200
