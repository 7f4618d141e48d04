"""NatPinger: OPTIONS keep-alives to UDP bindings behind a NAT, over real
sockets on 127.0.0.1, one round at a time (the test is the clock)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.location import Binding, MemoryStore, Source, StoreError
from sipwire.server.natping import NatPinger
from sipwire.transport import Flow, TransportLayer

WAIT = 3.0
AOR = "sip:bob@example.com"


@dataclass
class Phone(asyncio.DatagramProtocol):
    """A UDP socket that answers every OPTIONS 200 while ``answering``."""

    answering: bool = True
    pings: list[Request] = field(default_factory=list)
    io: asyncio.DatagramTransport | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.io = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        request = sipwire.parse(data)
        assert isinstance(request, Request) and request.method == "OPTIONS"
        self.pings.append(request)
        self.arrived.set()
        if self.answering:
            assert self.io is not None
            self.io.sendto(bytes(request.reply(200, to_tag="phone")), addr)

    @property
    def port(self) -> int:
        assert self.io is not None
        port: int = self.io.get_extra_info("sockname")[1]
        return port

    async def ping(self) -> Request:
        await asyncio.wait_for(self.arrived.wait(), WAIT)
        self.arrived.clear()
        return self.pings[-1]


@dataclass
class Setup:
    store: MemoryStore
    layer: TransportLayer
    pinger: NatPinger
    passed: list[Request | Response]
    local: str

    async def phone(self, *, answering: bool = True) -> Phone:
        _, phone = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: Phone(answering), local_addr=("127.0.0.1", 0))
        return phone

    async def register(self, contact: str, source: Source, **changes: object) -> Binding:
        binding = Binding(aor=AOR, contact=contact, contact_value=f"<{contact}>",
                          expires_at=time.time() + 3600, source=source,
                          updated_at=time.time()).replace(**changes)
        await self.store.put(binding, time.time())
        return binding

    async def contacts(self) -> list[str]:
        return [b.contact for b in await self.store.lookup(AOR, time.time())]

    async def round(self) -> None:
        await self.pinger.ping_round()
        await asyncio.sleep(0.05)  # for the answers to come back


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    store = MemoryStore()
    passed: list[Request | Response] = []
    layer = TransportLayer()
    point = await layer.listen("udp:127.0.0.1:0")
    pinger = NatPinger(store, layer, interval=30, max_missed=3, clock=time.time)

    def engine(message: Request | Response, flow: Flow) -> None:
        passed.append(message)

    layer.on_message = pinger.intercept(engine)
    yield Setup(store, layer, pinger, passed, str(point.address))
    await layer.close()


async def test_a_phone_that_answers_is_pinged_every_round_and_kept(setup: Setup) -> None:
    phone = await setup.phone()
    contact = "sip:bob@192.168.1.20:5060"  # the REGISTER came from the NAT's mapping
    await setup.register(contact, Source("UDP", "127.0.0.1", phone.port, setup.local))
    for _ in range(5):
        await setup.round()
        ping = await phone.ping()
        assert str(ping.uri) == contact and ping.to.uri.aor == AOR
    assert len(phone.pings) == 5
    assert await setup.contacts() == [contact]
    assert setup.passed == []  # the answers stopped at the pinger


async def test_a_phone_that_stops_answering_is_removed_after_three_misses(
        setup: Setup) -> None:
    phone = await setup.phone(answering=False)
    contact = "sip:bob@192.168.1.20:5060"
    await setup.register(contact, Source("UDP", "127.0.0.1", phone.port, setup.local))
    for _ in range(3):
        await setup.round()
        await phone.ping()
    assert await setup.contacts() == [contact]
    await setup.round()  # the fourth round counts the third miss
    assert await setup.contacts() == []
    assert len(phone.pings) == 3


async def test_an_answer_or_a_new_register_starts_the_count_again(setup: Setup) -> None:
    phone = await setup.phone(answering=False)
    contact = "sip:bob@192.168.1.20:5060"
    source = Source("UDP", "127.0.0.1", phone.port, setup.local)
    await setup.register(contact, source)
    for _ in range(2):
        await setup.round()
    phone.answering = True
    await setup.round()  # answered: 0 missed
    phone.answering = False
    for _ in range(2):
        await setup.round()
    await setup.register(contact, source, updated_at=time.time() + 1)  # re-registered
    for _ in range(3):
        await setup.round()
    assert await setup.contacts() == [contact]
    assert len(phone.pings) == 8


async def test_only_udp_bindings_behind_a_nat_registered_here_are_pinged(
        setup: Setup) -> None:
    phone = await setup.phone()
    here = setup.local
    port = phone.port
    await setup.register(f"sip:a@127.0.0.1:{port}", Source("UDP", "127.0.0.1", port, here))
    await setup.register("sip:b@10.0.0.2", Source("TCP", "127.0.0.1", port, here))
    await setup.register("sip:c@10.0.0.3", Source("UDP", "127.0.0.1", port, "192.0.2.9:5060"))
    await setup.register("sip:d@10.0.0.4;ob", Source("UDP", "127.0.0.1", port, here),
                         instance_id="urn:uuid:00000000-0000-0000-0000-000000000001",
                         reg_id=1)
    await setup.register("sip:e@10.0.0.5", Source("UDP", "127.0.0.1", port, here),
                         path=("<sip:edge.example.com;lr>",))
    await setup.register("sip:f@10.0.0.6", Source("UDP", "127.0.0.1", port, here))
    await setup.round()
    await phone.ping()
    await asyncio.sleep(0.05)
    assert [str(p.uri) for p in phone.pings] == ["sip:f@10.0.0.6"]


def test_an_interval_is_needed() -> None:
    with pytest.raises(ValueError):
        NatPinger(MemoryStore(), TransportLayer(), interval=0, clock=time.time)


async def test_a_round_failed_by_the_store_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    class Down(MemoryStore):
        async def aors(self, now: float) -> list[str]:
            raise StoreError("redis: Connection refused")

    layer = TransportLayer()
    pinger = NatPinger(Down(), layer, interval=0.01, clock=time.time)
    with caplog.at_level(logging.INFO, logger="sipwire.server"):
        task = asyncio.get_running_loop().create_task(pinger.run())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await layer.close()
    assert caplog.records
    assert {r.getMessage() for r in caplog.records} == {
        "NAT keep-alive round failed: redis: Connection refused"}
    assert all(r.exc_info is None for r in caplog.records)
