"""sipwire's UserAgent and baresip calling each other through ``sipwire serve``:
call and hang up, hold and unhold by re-INVITE (RFC 3264 §8.4), blind transfer
by REFER (RFC 3515), each both ways.  What arrived at the far end is read from
baresip's SIP trace, or from the UserAgent's events.

baresip 1.0 (Debian's) has no 100rel: reliable provisional responses are tested
between two UserAgents instead (tests/ua/interop/test_agents.py)."""

from __future__ import annotations

import asyncio

from sipwire import Request
from sipwire.ua import Call, CallState, Ended, UserAgent
from sipwire.ua.call import Held, Resumed, Transferred
from tests.server.matrix.baresip import Baresip
from tests.server.matrix.observe import Match, Observed, request, response, summary

from .conftest import TIMEOUT, Site


async def arrived(phone: Baresip, match: Match, timeout: float = TIMEOUT) -> Observed:
    """The first message of baresip's trace that ``match`` accepts, waiting for it."""
    async with asyncio.timeout(timeout):
        while True:
            for seen in phone.observed():
                if match(seen):
                    return seen
            await asyncio.sleep(0.05)


async def arrived_all(phone: Baresip, match: Match, count: int) -> list[Observed]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            found = [s for s in phone.observed() if match(s)]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


async def incoming(ua: UserAgent) -> Call:
    async with asyncio.timeout(TIMEOUT):
        async for call in ua.incoming():
            return call
    raise AssertionError("no call came")


async def answer_next(ua: UserAgent) -> Call:
    call = await incoming(ua)
    await call.ringing()
    await call.answer()
    return call


async def events_until(call: Call, kind: type) -> list[object]:
    got: list[object] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in call.events():
            got.append(event)
            if isinstance(event, kind):
                return got
    raise AssertionError(f"no {kind.__name__} in {got}")


def body_of(seen: Observed) -> bytes:
    return seen.message.body


async def test_sipwire_calls_baresip_and_hangs_up(site: Site) -> None:
    bob = await site.phone("bob")
    alice = await site.agent("alice")
    call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), TIMEOUT)
    assert call.state is CallState.CONFIRMED
    stream = call.media.streams[0] if call.media else None
    assert stream is not None and stream.codec is not None
    assert stream.codec.name.upper() in ("PCMU", "PCMA")  # baresip's g711
    bye = await asyncio.wait_for(call.hangup(), TIMEOUT)
    assert bye is not None and bye.status == 200
    # at baresip: our INVITE (authenticated by the server, then forwarded), our
    # ACK for its 200, our BYE
    cid = call.call_id
    for method in ("INVITE", "ACK", "BYE"):
        await arrived(bob, request(method, cid))
    await arrived(bob, response(200, "BYE", cid, direction="out"))


async def test_baresip_calls_sipwire_and_hangs_up(site: Site) -> None:
    alice = await site.agent("alice")
    bob = await site.phone("bob")
    taking = asyncio.ensure_future(answer_next(alice))
    await bob.dial("sip:alice@127.0.0.1", "caller")
    call = await asyncio.wait_for(taking, TIMEOUT)
    cid = call.call_id
    assert str(call.remote_uri) == "sip:bob@127.0.0.1"
    await arrived(bob, response(180, "INVITE", cid))  # our ringing()
    await arrived(bob, response(200, "INVITE", cid))
    await arrived(bob, request("ACK", cid, direction="out"))
    await bob.hangup()
    assert await asyncio.wait_for(asyncio.shield(call.ended), TIMEOUT) == Ended("bye", "remote")
    await arrived(bob, response(200, "BYE", cid))  # our 200 reached it


async def test_sipwire_hangs_up_a_call_from_baresip(site: Site) -> None:
    alice = await site.agent("alice")
    bob = await site.phone("bob")
    taking = asyncio.ensure_future(answer_next(alice))
    await bob.dial("sip:alice@127.0.0.1", "callee")
    call = await asyncio.wait_for(taking, TIMEOUT)
    await arrived(bob, request("ACK", call.call_id, direction="out"))
    bye = await asyncio.wait_for(call.hangup(), TIMEOUT)
    assert bye is not None and bye.status == 200
    seen = await arrived(bob, request("BYE", call.call_id))
    assert isinstance(seen.message, Request)
    assert seen.message.to.tag == call.dialog.id.remote_tag  # type: ignore[union-attr]


async def test_sipwire_holds_and_resumes_baresip(site: Site) -> None:
    bob = await site.phone("bob")
    alice = await site.agent("alice")
    call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), TIMEOUT)
    cid = call.call_id
    await asyncio.wait_for(call.hold(), TIMEOUT)
    stream = call.media.streams[0] if call.media else None
    assert stream is not None and stream.direction.value == "sendonly"
    await asyncio.wait_for(call.unhold(), TIMEOUT)
    assert call.media is not None and call.media.streams[0].direction.value == "sendrecv"
    # at baresip: two re-INVITEs in the dialog, sendonly then sendrecv, each
    # answered and acknowledged
    reinvites = await arrived_all(bob, request("INVITE", cid, in_dialog=True), 2)
    assert b"a=sendonly" in body_of(reinvites[0])
    assert b"a=sendrecv" in body_of(reinvites[1])
    answers = await arrived_all(bob, response(200, "INVITE", cid, direction="out"), 3)
    assert b"a=recvonly" in body_of(answers[1]), summary(bob.observed(), cid)
    acks = await arrived_all(bob, request("ACK", cid), 3)
    assert len({a.message.cseq.seq for a in acks}) == 3
    await call.hangup()
    await arrived(bob, request("BYE", cid))


async def test_baresip_holds_and_resumes_sipwire(site: Site) -> None:
    alice = await site.agent("alice")
    bob = await site.phone("bob")
    taking = asyncio.ensure_future(answer_next(alice))
    await bob.dial("sip:alice@127.0.0.1", "callee")
    call = await asyncio.wait_for(taking, TIMEOUT)
    await arrived(bob, request("ACK", call.call_id, direction="out"))
    await bob.command("hold")
    held = await events_until(call, Held)
    assert held[-1] == Held("remote", call.media)
    assert call.held and call.media is not None
    assert call.media.streams[0].direction.value in ("recvonly", "inactive")
    await bob.command("resume")
    await events_until(call, Resumed)
    assert not call.held and call.media.streams[0].direction.value == "sendrecv"
    # our answers reached baresip: recvonly to its hold, sendrecv to its resume
    answers = await arrived_all(
        bob, response(200, "INVITE", call.call_id, direction="in"), 3)
    assert b"a=recvonly" in body_of(answers[1]) or b"a=inactive" in body_of(answers[1])
    assert b"a=sendrecv" in body_of(answers[2])
    await call.hangup()


async def test_sipwire_transfers_baresip(site: Site) -> None:
    bob = await site.phone("bob")
    alice = await site.agent("alice")
    carol = await site.agent("carol")
    at_carol = asyncio.ensure_future(answer_next(carol))
    call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), TIMEOUT)
    result = await asyncio.wait_for(call.refer("sip:carol@127.0.0.1"), TIMEOUT)
    assert result.ok, result
    carol_call = await asyncio.wait_for(at_carol, TIMEOUT)
    assert str(carol_call.remote_uri) == "sip:bob@127.0.0.1"
    # at baresip: the REFER in the call, its INVITE to carol, NOTIFYs out with
    # the sipfrag of carol's answer
    refer = await arrived(bob, request("REFER", call.call_id, in_dialog=True))
    assert isinstance(refer.message, Request)
    assert refer.message.headers.get("Refer-To") == "<sip:carol@127.0.0.1>"
    await arrived(bob, request("INVITE", carol_call.call_id, direction="out"))
    notify = await arrived(bob, lambda s: request("NOTIFY", call.call_id, direction="out")(s)
                           and b"200" in s.message.body)
    assert notify.message.body.startswith(b"SIP/2.0 200")
    await call.hangup()
    await carol_call.hangup()
    await arrived(bob, request("BYE", carol_call.call_id))


async def test_baresip_transfers_sipwire(site: Site) -> None:
    alice = await site.agent("alice")
    carol = await site.agent("carol")
    bob = await site.phone("bob")
    at_carol = asyncio.ensure_future(answer_next(carol))
    call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), TIMEOUT)
    await bob.command("transfer", "sip:carol@127.0.0.1")
    events = await events_until(call, Transferred)
    transferred = events[-1]
    assert isinstance(transferred, Transferred) and transferred.call is not None
    carol_call = await asyncio.wait_for(at_carol, TIMEOUT)
    assert carol_call.call_id == transferred.call.call_id
    assert str(carol_call.remote_uri) == "sip:alice@127.0.0.1"
    # at baresip: its REFER answered 202, and our NOTIFYs (100, then 200)
    await arrived(bob, response(202, "REFER", call.call_id))
    notify = await arrived(bob, lambda s: request("NOTIFY", call.call_id)(s)
                           and s.message.body.startswith(b"SIP/2.0 200"))
    assert (notify.message.headers.get("Subscription-State") or "").startswith("terminated")
    await transferred.call.hangup()
    assert await asyncio.wait_for(asyncio.shield(carol_call.ended), TIMEOUT) == \
        Ended("bye", "remote")
