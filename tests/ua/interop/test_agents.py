"""Two (or three) sipwire UserAgents through ``sipwire serve``: calls, hold and
hang-up from each side, attended transfer with Replaces (RFC 5589 §7, RFC 3891),
and a forked INVITE answered twice (RFC 3261 §13.2.2.4)."""

from __future__ import annotations

import asyncio

import pytest

from sipwire import Request, Response
from sipwire.dialog import Rel100
from sipwire.sdp import Direction
from sipwire.ua import Call, CallState, Ended, UserAgent
from sipwire.ua.call import Held, Resumed

from ..conftest import once
from .conftest import TIMEOUT, Site


async def answer_next(ua: UserAgent) -> Call:
    async with asyncio.timeout(TIMEOUT):
        async for call in ua.incoming():
            await call.ringing()
            await call.answer()
            return call
    raise AssertionError("no call came")


async def ended(call: Call) -> Ended:
    return await asyncio.wait_for(asyncio.shield(call.ended), TIMEOUT)


def direction(call: Call) -> Direction:
    assert call.media is not None
    return call.media.streams[0].direction


async def connected(caller: UserAgent, callee: UserAgent, target: str) -> tuple[Call, Call]:
    taking = asyncio.ensure_future(answer_next(callee))
    call = await asyncio.wait_for(caller.call(target), TIMEOUT)
    return call, await asyncio.wait_for(taking, TIMEOUT)


@pytest.mark.parametrize("side", ["caller", "callee"])
async def test_call_hold_and_hang_up_from_each_side(site: Site, side: str) -> None:
    alice, bob = await site.agent("alice"), await site.agent("bob")
    received: list[Request] = []

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request):
            received.append(message)
        return True

    a_b, b_a = await connected(alice, bob, "sip:bob@127.0.0.1")
    assert a_b.call_id == b_a.call_id
    # the server Record-Routes: requests in the dialog go through it (§16.12)
    assert a_b.dialog is not None and a_b.dialog.route_set
    hop = a_b.dialog.route_set[0].uri  # the server's, with its signed token as user
    assert (hop.host, hop.port, hop.lr) == ("127.0.0.1", site.port, True)
    holder, other = (a_b, b_a) if side == "caller" else (b_a, a_b)
    (bob if side == "caller" else alice).endpoint.receive_filter = once(spy)

    await asyncio.wait_for(holder.hold(), TIMEOUT)
    assert direction(holder) is Direction.SENDONLY and direction(other) is Direction.RECVONLY
    await asyncio.wait_for(holder.unhold(), TIMEOUT)
    assert direction(holder) is direction(other) is Direction.SENDRECV
    bye = await asyncio.wait_for(holder.hangup(), TIMEOUT)
    assert bye is not None and bye.status == 200
    assert await ended(other) == Ended("bye", "remote")
    assert [type(e) async for e in other.events()][-3:] == [Held, Resumed, Ended]
    # what arrived at the other end, through the server
    methods = [r.method for r in received if r.call_id == a_b.call_id]
    assert methods == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    assert b"a=sendonly" in received[0].body and b"a=sendrecv" in received[2].body


async def test_attended_transfer_with_replaces(site: Site) -> None:
    alice, bob, carol = (await site.agent("alice"), await site.agent("bob"),
                         await site.agent("carol"))
    a_b, b_a = await connected(alice, bob, "sip:bob@127.0.0.1")          # A calls B
    b_c, c_b = await connected(bob, carol, "sip:carol@127.0.0.1")        # B calls C
    invites: list[Request] = []

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "INVITE":
            invites.append(message)
        return True

    carol.endpoint.receive_filter = once(spy)
    await asyncio.wait_for(b_c.hold(), TIMEOUT)  # B puts C on hold while it transfers
    # B refers A to C with Replaces naming B-C (Refer-To: <sip:carol@127.0.0.1?Replaces=...>)
    result = await asyncio.wait_for(b_a.refer(b_c), TIMEOUT)
    assert result.ok, result
    replacing = [i for i in invites if i.headers.get("Replaces") is not None]
    assert len(replacing) == 1
    assert c_b.dialog is not None
    assert replacing[0].headers.get("Replaces") == (
        f"{c_b.call_id};to-tag={c_b.dialog.id.local_tag};from-tag={c_b.dialog.id.remote_tag}")
    assert replacing[0].from_.uri.user == "alice"
    # C's dialog with B is replaced: C sent BYE to B
    assert await ended(c_b) == Ended("replaced", "local")
    assert await ended(b_c) == Ended("bye", "remote")
    c_a = next(c for c in carol.calls if c.call_id == replacing[0].call_id)
    assert c_a.replaces is c_b and c_a.state is CallState.CONFIRMED
    # B hangs up on A: A-C is up, and media flows between them
    await asyncio.wait_for(b_a.hangup(), TIMEOUT)
    assert await ended(a_b) == Ended("bye", "remote")
    [a_c] = alice.calls
    assert a_c.call_id == c_a.call_id and a_c.state is CallState.CONFIRMED
    assert direction(a_c) is direction(c_a) is Direction.SENDRECV
    response = await asyncio.wait_for(a_c.message("hello carol"), TIMEOUT)
    assert response.status == 200
    await asyncio.wait_for(c_a.hangup(), TIMEOUT)
    assert await ended(a_c) == Ended("bye", "remote")
    assert alice.calls == bob.calls == carol.calls == ()


async def test_a_forked_call_answered_twice(site: Site) -> None:
    # bob registered from two UserAgents: the server forks; both answer; the
    # caller keeps the first 2xx and ACKs and BYEs the other (§13.2.2.4)
    alice = await site.agent("alice")
    bob1, bob2 = await site.agent("bob"), await site.agent("bob")
    first = asyncio.ensure_future(answer_next(bob1))
    second = asyncio.ensure_future(answer_next(bob2))
    call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), TIMEOUT)
    b1, b2 = await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
    kept = b1 if b1.dialog.id.local_tag == call.dialog.id.remote_tag else b2  # type: ignore[union-attr]
    dropped = b2 if kept is b1 else b1
    # the extra one got its ACK (answer() returned) and then a BYE
    assert await ended(dropped) == Ended("bye", "remote")
    assert kept.state is CallState.CONFIRMED and call.state is CallState.CONFIRMED
    await asyncio.wait_for(call.hangup(), TIMEOUT)
    assert await ended(kept) == Ended("bye", "remote")


async def test_cancelled_through_the_server(site: Site) -> None:
    alice, bob = await site.agent("alice"), await site.agent("bob")
    rung: asyncio.Future[Call] = asyncio.get_running_loop().create_future()

    async def ring_only() -> None:
        async with asyncio.timeout(TIMEOUT):
            async for call in bob.incoming():
                await call.ringing()
                rung.set_result(call)
                return

    ringer = asyncio.ensure_future(ring_only())
    placing = asyncio.ensure_future(alice.call("sip:bob@127.0.0.1"))
    callee = await asyncio.wait_for(rung, TIMEOUT)
    await ringer
    placing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await placing
    assert await ended(callee) == Ended("cancelled", "remote", 487)


@pytest.mark.parametrize("calling", ["alice", "bob"])
async def test_100rel_both_ways_through_the_server(site: Site, calling: str) -> None:
    # RFC 3262 both ways: whoever calls, the callee's 180 goes reliably and its
    # PRACK travels the early dialog through the server's Record-Route
    alice = await site.agent("alice", rel100=Rel100.PREFERRED)
    bob = await site.agent("bob", rel100=Rel100.PREFERRED)
    caller, callee = (alice, bob) if calling == "alice" else (bob, alice)
    target = "sip:bob@127.0.0.1" if callee is bob else "sip:alice@127.0.0.1"
    pracks: list[Request] = []
    ringing: list[Response] = []

    def at_callee(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "PRACK":
            pracks.append(message)
        return True

    def at_caller(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Response) and message.status == 180:
            ringing.append(message)
        return True

    callee.endpoint.receive_filter = once(at_callee)
    caller.endpoint.receive_filter = once(at_caller)
    a, b = await connected(caller, callee, target)
    [reliable] = ringing
    assert reliable.headers.getall("Require") == ["100rel"]
    [prack] = pracks
    assert prack.headers.get("RAck") == f"{reliable.headers.get('RSeq')} " \
                                        f"{a.invite.cseq.seq} INVITE"
    assert prack.to.tag == b.local_tag and prack.call_id == b.call_id
    await asyncio.wait_for(a.hangup(), TIMEOUT)
    assert await ended(b) == Ended("bye", "remote")
