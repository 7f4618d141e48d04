"""Overload control under ``sipwire serve``: while requests pile up behind a
slow location store, a new REGISTER is answered 503 with Retry-After at once
(RFC 3261 §21.5.4), while a retransmission of the REGISTER in progress is
absorbed by its server transaction (§17.2.2) and answered by it when the
store is done, and a request inside a dialog still goes through.

The store is made slow by a test hook: ``open_store`` is replaced by one
that returns a memory store whose writes wait for the test to let them go.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipwire import Response
from sipwire.location import Binding, MemoryStore
from sipwire.location.store import Change
from sipwire.server import app

from .conftest import OpenPhone, Serve
from .phone import status

WAIT = 5.0


class GatedStore(MemoryStore):
    """A memory store whose updates wait until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        self.entered.set()
        await self.gate.wait()
        return await super().update(aor, change, now)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> GatedStore:
    store = GatedStore()
    monkeypatch.setattr(app, "open_store", lambda url: store)
    return store


async def test_new_requests_get_503_while_a_retransmission_is_absorbed(
        serve: Serve, phone: OpenPhone, gated: GatedStore) -> None:
    server = await serve(overload_max_pending=1, overload_max_lag=0.0,
                         overload_retry_after=7)
    alice = await phone("alice", server)
    bob = await phone("bob", server)

    register_a = alice.register()
    alice.send(register_a)
    await asyncio.wait_for(gated.entered.wait(), WAIT)  # stuck in the store

    # a new REGISTER: refused before the registrar or the store sees it
    refused = await bob.request(bob.register())
    assert status(refused) == 503
    assert isinstance(refused.message, Response)
    assert refused.message.headers.get("Retry-After") == "7"

    # the retransmission of alice's REGISTER joins its transaction: no 503
    alice.send(register_a)
    assert [status(got) for got in await alice.silence(0.3)] == []

    # a request inside a dialog (a To tag) is not shed
    bye = bob.build("BYE", "sip:carol@example.com", to="<sip:carol@example.com>;tag=t1")
    in_dialog = await bob.request(bye)
    assert status(in_dialog) != 503

    gated.gate.set()
    answered = await alice.expect(200)
    assert answered.message.call_id == register_a.call_id
    # and a retransmission after the answer gets the same 200 from the transaction
    alice.send(register_a)
    again = await alice.expect(200)
    assert again.message.call_id == register_a.call_id

    # nothing waits any more: new requests are handled again
    assert status(await bob.request(bob.register(call_id="reg-bob-2@test"))) == 200
    assert len(await gated.lookup(alice.aor, server.clock())) == 1


async def test_the_receive_queue_fill_counts_what_the_kernel_holds_unread(
        serve: Serve) -> None:
    """The queue the overload control watches: datagrams sent while the
    event loop cannot read (this test holds it) wait in the kernel's queue,
    which fills up."""
    server = await serve()
    transport = server.engine.transport
    assert transport.receive_queue_fill() < 0.5
    host, port = server.address("udp")
    held = 0.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
        for _ in range(400):  # at most 40,000 datagrams, whatever SO_RCVBUF is
            for _ in range(100):
                flood.sendto(b"x" * 600, (host, port))
            held = transport.receive_queue_fill()  # no await: nothing was read
            if held > 0.5:
                break
    assert 0.5 < held <= 1.0
