"""Two UserAgents on 127.0.0.1 over real sockets: calls made, taken, held, ended
and refused (RFC 3261 §13-15, RFC 3264 §8.4), with short timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from sipwire import Request, Response, parse
from sipwire.sdp import Direction, Negotiated
from sipwire.transaction import TimerConfig
from sipwire.transport import TransportConfig
from sipwire.ua import (
    Call,
    CallFailed,
    CallState,
    Ended,
    Endpoint,
    EndpointConfig,
    ServerTransactionHandle,
    UserAgent,
    UserAgentConfig,
)
from sipwire.ua.call import Answered, Held, MessageReceived, Resumed, Ringing

from .conftest import FAST, QUICK, TIMEOUT, MakeEndpoint, once

MakeUA = Callable[..., Awaitable[UserAgent]]


def config(timers: TimerConfig = QUICK, **options: Any) -> UserAgentConfig:
    return UserAgentConfig(endpoint=EndpointConfig(timers=timers, supported=("replaces",)),
                           **options)


@pytest_asyncio.fixture
async def make_ua() -> AsyncIterator[MakeUA]:
    """``await make_ua("alice", ...)``: a started UserAgent for sip:NAME@127.0.0.1,
    closed when the test ends."""
    agents: list[UserAgent] = []

    async def make(name: str, *, timers: TimerConfig = QUICK, **options: Any) -> UserAgent:
        ua = UserAgent(["udp:127.0.0.1:0"], aor=f"sip:{name}@127.0.0.1",
                       config=config(timers, **options))
        agents.append(ua)
        return await ua.start()

    yield make
    for ua in agents:
        await asyncio.wait_for(ua.close(), TIMEOUT)


def address(ua: UserAgent | Endpoint, user: str = "bob") -> str:
    endpoint = ua.endpoint if isinstance(ua, UserAgent) else ua
    return f"sip:{user}@127.0.0.1:{endpoint.listening_points[0].port}"


async def next_call(ua: UserAgent) -> Call:
    async with asyncio.timeout(TIMEOUT):
        async for call in ua.incoming():
            return call
    raise AssertionError("the incoming calls ended")


async def answering(ua: UserAgent, *, ring: bool = True) -> Call:
    call = await next_call(ua)
    if ring:
        await call.ringing()
    await call.answer()
    return call


async def connected(alice: UserAgent, bob: UserAgent) -> tuple[Call, Call]:
    """alice calls bob, who rings and answers: both calls, up."""
    callee = asyncio.ensure_future(answering(bob))
    caller = await asyncio.wait_for(alice.call(address(bob)), TIMEOUT)
    return caller, await asyncio.wait_for(callee, TIMEOUT)


def stream(call: Call) -> Negotiated:
    assert call.media is not None
    return call.media


def direction(call: Call) -> Direction:
    return stream(call).streams[0].direction


async def ended(call: Call) -> Ended:
    return await asyncio.wait_for(asyncio.shield(call.ended), TIMEOUT)


async def test_a_call_answered_and_hung_up_by_the_caller(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob", rtp_ports=(20000, 20098))
    caller, callee = await connected(alice, bob)

    assert caller.state is callee.state is CallState.CONFIRMED
    assert caller.call_id == callee.call_id
    assert caller.dialog is not None and callee.dialog is not None
    # one dialog seen from both ends (§12): the tags swap places
    assert caller.dialog.id.local_tag == callee.dialog.id.remote_tag
    assert caller.dialog.id.remote_tag == callee.dialog.id.local_tag
    assert str(caller.remote_uri).startswith("sip:bob@127.0.0.1")
    assert str(callee.remote_uri) == "sip:alice@127.0.0.1"
    # offer and answer (RFC 3264): each sends where the other receives
    [ours] = stream(caller).streams if caller.media else ()
    [theirs] = stream(callee).streams if callee.media else ()
    assert (ours.local_port, ours.remote_port) == (16384, 20000)
    assert (theirs.local_port, theirs.remote_port) == (20000, 16384)
    assert ours.remote_address == theirs.local_address == "127.0.0.1"
    assert ours.codec is not None and ours.codec.name == "opus"  # the first of DEFAULT_CODECS
    assert ours.direction is theirs.direction is Direction.SENDRECV
    assert alice.calls == (caller,) and bob.calls == (callee,)

    await asyncio.wait_for(caller.hangup(), TIMEOUT)
    assert await ended(caller) == Ended("bye", "local")
    assert await ended(callee) == Ended("bye", "remote")
    assert alice.calls == () and bob.calls == ()
    events = [e async for e in caller.events()]
    assert [type(e) for e in events] == [Ringing, Answered, Ended]
    assert events[0] == Ringing(180, "Ringing")


async def test_the_callee_hangs_up(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    caller, callee = await connected(alice, bob)
    seen: list[object] = []
    caller.on_event(seen.append)
    await asyncio.wait_for(callee.hangup(), TIMEOUT)
    assert await ended(caller) == Ended("bye", "remote")
    assert await ended(callee) == Ended("bye", "local")
    assert seen == [Ended("bye", "remote")]
    # the dialog is gone: a BYE for it now gets 481 (§15.1.2)
    assert caller.dialog is not None and caller.dialog.terminated


async def test_a_busy_callee(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")

    async def busy() -> Call:
        call = await next_call(bob)
        await call.reject(486)
        return call

    callee = asyncio.ensure_future(busy())
    with pytest.raises(CallFailed) as failure:
        await asyncio.wait_for(alice.call(address(bob)), TIMEOUT)
    assert (failure.value.status, failure.value.reason) == (486, "Busy Here")
    assert str(failure.value) == "486 Busy Here"
    assert await ended(await callee) == Ended("rejected", "local", 486)
    assert alice.calls == ()


async def test_hold_and_unhold_by_re_invite(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    caller, callee = await connected(alice, bob)
    invites: list[Request] = []

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "INVITE":
            invites.append(message)
        return True

    bob.endpoint.receive_filter = once(spy)
    await asyncio.wait_for(caller.hold(), TIMEOUT)
    # RFC 3264 §8.4: the offer is sendonly, the answer recvonly
    assert b"a=sendonly" in invites[-1].body
    assert invites[-1].to.tag == callee.dialog.id.local_tag  # type: ignore[union-attr]
    assert caller.on_hold and not caller.held and direction(caller) is Direction.SENDONLY
    assert callee.held and not callee.on_hold and direction(callee) is Direction.RECVONLY
    await asyncio.wait_for(caller.unhold(), TIMEOUT)
    assert b"a=sendrecv" in invites[-1].body
    assert invites[-1].cseq.seq > invites[-2].cseq.seq
    assert not caller.on_hold and direction(caller) is Direction.SENDRECV
    assert not callee.held and direction(callee) is Direction.SENDRECV

    # the callee holds too, then hangs up
    await asyncio.wait_for(callee.hold(), TIMEOUT)
    assert caller.held and direction(caller) is Direction.RECVONLY
    await asyncio.wait_for(callee.hangup(), TIMEOUT)
    await ended(caller)
    caller_events = [type(e) async for e in caller.events()]
    callee_events = [e async for e in callee.events()]
    assert caller_events == [Ringing, Answered, Held, Resumed, Held, Ended]
    assert [type(e) for e in callee_events] == [Answered, Held, Resumed, Held, Ended]
    assert callee_events[1] == Held("remote", callee_events[1].media)


async def test_glare_is_resolved_by_491_and_a_retry(make_ua: MakeUA) -> None:
    # §14.2: a re-INVITE while ours is out gets 491; §14.1: retried after a random wait
    alice, bob = await make_ua("alice"), await make_ua("bob")
    caller, callee = await connected(alice, bob)
    statuses: list[int] = []

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Response) and message.cseq.method == "INVITE":
            statuses.append(message.status)
        return True

    alice.endpoint.receive_filter = spy
    bob.endpoint.receive_filter = spy
    await asyncio.wait_for(asyncio.gather(caller.hold(), callee.hold()), TIMEOUT)
    assert caller.on_hold and callee.on_hold
    assert direction(caller) is direction(callee) is Direction.INACTIVE
    assert 491 in statuses


async def test_a_message_within_the_call(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    caller, callee = await connected(alice, bob)
    response = await asyncio.wait_for(caller.message("hello bob"), TIMEOUT)
    assert response.status == 200
    response = await asyncio.wait_for(callee.message("hello alice"), TIMEOUT)
    assert response.status == 200
    got = [e async for e in _until(callee.events(), MessageReceived)]
    assert isinstance(got[-1], MessageReceived) and got[-1].text == "hello bob"
    got = [e async for e in _until(caller.events(), MessageReceived)]
    assert isinstance(got[-1], MessageReceived) and got[-1].text == "hello alice"
    assert caller.dialog is not None
    assert got[-1].request.to.tag == caller.dialog.id.local_tag


async def _until(events: AsyncIterator[object], kind: type) -> AsyncIterator[object]:
    async with asyncio.timeout(TIMEOUT):
        async for event in events:
            yield event
            if isinstance(event, kind):
                return


async def test_cancel_before_the_answer(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    rung: asyncio.Future[Call] = asyncio.get_running_loop().create_future()

    async def ring_only() -> None:
        call = await next_call(bob)
        await call.ringing()
        rung.set_result(call)

    ringer = asyncio.ensure_future(ring_only())
    task = asyncio.ensure_future(alice.call(address(bob)))
    callee = await asyncio.wait_for(rung, TIMEOUT)
    await ringer
    task.cancel()  # the caller gives up: CANCEL (§9.1)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await ended(callee) == Ended("cancelled", "remote", 487)
    assert callee.state is CallState.TERMINATED and bob.calls == ()
    assert alice.calls == ()


async def test_timeout_cancels_the_invite(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    ringing = asyncio.ensure_future(next_call(bob))
    with pytest.raises(TimeoutError):
        await alice.call(address(bob), timeout=0.5)
    callee = await asyncio.wait_for(ringing, TIMEOUT)
    assert await ended(callee) == Ended("cancelled", "remote", 487)


class _SlowToTerminate(asyncio.DatagramProtocol):
    """A far end on a real socket that rings (a 180 with a Contact, or like
    some gateways without), answers a CANCEL at once and sends the 487 of the
    INVITE only ``delay`` seconds later (§9.2 allows it)."""

    def __init__(self, delay: float, contact: bool) -> None:
        self.delay = delay
        self.contact = contact
        self.transport: asyncio.DatagramTransport | None = None
        self.acked = asyncio.get_running_loop().create_future()
        self.invite: Request | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        request = parse(data)
        assert isinstance(request, Request)
        if request.method == "INVITE":
            self.invite = request
            contact = f"sip:bob@127.0.0.1:{self.port}" if self.contact else None
            ringing = request.reply(180, contact=contact)
            ringing.to.tag = "slow"
            self.transport.sendto(bytes(ringing), addr)
        elif request.method == "CANCEL":
            self.transport.sendto(bytes(request.reply(200)), addr)
            assert self.invite is not None
            terminated = self.invite.reply(487)
            terminated.to.tag = "slow"
            asyncio.get_running_loop().call_later(
                self.delay, self.transport.sendto, bytes(terminated), addr)
        elif request.method == "ACK" and not self.acked.done():
            self.acked.set_result(request)


@pytest.mark.parametrize("contact", [True, False], ids=["180", "180-without-contact"])
async def test_a_timed_out_call_ends_with_the_487_of_its_invite(contact: bool) -> None:
    """§9.1: the CANCEL's 200 does not end the INVITE; ``call()`` raises once
    the INVITE's own 487 is there, so nothing of the call arrives after it.
    A 180 without Contact makes no early dialog (§12.1.2) but still rings."""
    received: list[bytes] = []

    class Capture:
        def received(self, flow: object, data: bytes) -> None:
            received.append(data)

        def sent(self, flow: object, data: bytes) -> None:
            pass

    loop = asyncio.get_running_loop()
    transport, bob = await loop.create_datagram_endpoint(
        lambda: _SlowToTerminate(0.3, contact), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    # RFC 3261's T1 (500 ms): on a loaded host nothing is retransmitted meanwhile
    endpoint = EndpointConfig(timers=TimerConfig(timer_d=0.1),
                              transport=TransportConfig(capture=Capture()))
    alice = UserAgent(["udp:127.0.0.1:0"], aor="sip:alice@127.0.0.1",
                      config=UserAgentConfig(endpoint=endpoint))
    try:
        async with alice:
            with pytest.raises(TimeoutError):
                await alice.call(f"sip:bob@127.0.0.1:{port}", timeout=0.2)
            # in the order each status first arrived (a retransmission repeats one)
            statuses = list(dict.fromkeys(data.split(b" ", 2)[1] for data in received))
            assert statuses == [b"180", b"200", b"487"]
            ack = await asyncio.wait_for(bob.acked, TIMEOUT)  # §17.1.1.3: the 487 acknowledged
            assert bob.invite is not None and ack.to.tag == "slow"
            assert ack.cseq.seq == bob.invite.cseq.seq
            assert alice.calls == ()
    finally:
        transport.close()


async def test_a_redirect_is_followed(make_ua: MakeUA, make_endpoint: MakeEndpoint) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    redirector = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    invites: list[Request] = []

    @redirector.handles("INVITE")
    async def moved(request: Request, tx: ServerTransactionHandle) -> Response:
        invites.append(request)
        return tx.reply(302, contact=address(bob))

    callee = asyncio.ensure_future(answering(bob))
    caller = await asyncio.wait_for(alice.call(address(redirector, "carol")), TIMEOUT)
    answered = await asyncio.wait_for(callee, TIMEOUT)
    # §8.1.3.4: the new INVITE keeps Call-ID and From tag, with a higher CSeq
    assert answered.invite.call_id == invites[0].call_id == caller.call_id
    assert answered.invite.from_.tag == invites[0].from_.tag
    assert answered.invite.cseq.seq > invites[0].cseq.seq
    assert str(answered.invite.uri) == address(bob)
    await caller.hangup()
    await ended(answered)


async def test_requests_of_no_dialog_get_481(make_ua: MakeUA,
                                             make_endpoint: MakeEndpoint) -> None:
    bob = await make_ua("bob")
    other = await make_endpoint("udp:127.0.0.1:0", timers=QUICK)
    for method in ("BYE", "INVITE", "INFO"):
        request = Request.build(method, address(bob), from_="sip:mallory@127.0.0.1",
                                to=f"<{address(bob)}>;tag=nosuchdialog",
                                contact=other.contact())
        response = await asyncio.wait_for(other.request(request), TIMEOUT)
        assert response.status == 481, method


async def test_no_ack_ends_the_call(make_ua: MakeUA) -> None:
    # §13.3.1.4: no ACK in 64*T1 after the 2xx: the callee ends the call with BYE
    alice, bob = await make_ua("alice", timers=FAST), await make_ua("bob", timers=FAST)
    byes: list[Request] = []

    def drop_ack(message: Request | Response, flow: object) -> bool:
        return not (isinstance(message, Request) and message.method == "ACK")

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "BYE":
            byes.append(message)
        return True

    bob.endpoint.receive_filter = drop_ack
    alice.endpoint.receive_filter = once(spy)
    callee = asyncio.ensure_future(answering(bob, ring=False))
    caller = await asyncio.wait_for(alice.call(address(bob)), TIMEOUT)
    with pytest.raises(CallFailed) as failure:
        await asyncio.wait_for(callee, TIMEOUT)
    assert failure.value.status == 408
    assert await ended(caller) == Ended("bye", "remote")
    assert len(byes) == 1 and byes[0].call_id == caller.call_id
