"""Transfers between UserAgents on 127.0.0.1: REFER and its NOTIFYs (RFC 3515),
and attended transfer with Replaces (RFC 3891, RFC 5589 §7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sipwire import Request, Response
from sipwire.dialog import Rel100, SessionTimerConfig
from sipwire.dialog.session_timer import TimerState
from sipwire.ua import Call, CallEvent, CallFailed, CallState, Ended, ReceiveFilter, ReferResult
from sipwire.ua.call import ReferNotified, Transferred

from .test_agent import MakeUA, address, answering, connected, ended, make_ua, next_call

__all__ = ["make_ua"]

TIMEOUT = 5.0


async def test_blind_transfer(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    a_b, b_a = await connected(alice, bob)
    refers: list[Request] = []
    notifies: list[Request] = []

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "REFER":
            refers.append(message)
        if isinstance(message, Request) and message.method == "NOTIFY":
            notifies.append(message)
        return True

    alice.endpoint.receive_filter = spy
    bob.endpoint.receive_filter = spy
    at_carol = asyncio.ensure_future(answering(carol))
    result = await asyncio.wait_for(b_a.refer(address(carol, "carol")), TIMEOUT)
    assert result == ReferResult(200, "OK") and result.ok
    c_a = await asyncio.wait_for(at_carol, TIMEOUT)

    # what arrived: the REFER at alice, within the call; NOTIFYs at bob (100, then
    # 200), each once: a retransmission over UDP (T1 is 10 ms here) is the same CSeq
    refers = list({r.cseq.seq: r for r in refers}.values())
    notifies = list({n.cseq.seq: n for n in notifies}.values())
    [refer] = refers
    assert refer.call_id == a_b.call_id and refer.headers.get("Refer-To") == \
        f"<{address(carol, 'carol')}>"
    assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"]
    assert (notifies[-1].headers.get("Subscription-State") or "").startswith("terminated")
    assert [n.headers.get("Event") for n in notifies] == ["refer", "refer"]
    # the new call: alice to carol, referred by bob
    assert c_a.invite.headers.get("Referred-By") == "<sip:bob@127.0.0.1>"
    *_, transferred = [e async for e in _first(a_b.events(), Transferred)]
    assert isinstance(transferred, Transferred) and transferred.call is not None
    a_c = transferred.call
    assert a_c.state is CallState.CONFIRMED and a_c.call_id == c_a.call_id
    progress = [e async for e in _first(b_a.events(), ReferNotified, final=True)]
    assert progress[-2:] == [ReferNotified(100, "Trying", False), ReferNotified(200, "OK", True)]

    # the transferor hangs up its call; the new one stays up
    await asyncio.wait_for(b_a.hangup(), TIMEOUT)
    assert await ended(a_b) == Ended("bye", "remote")
    assert a_c.state is CallState.CONFIRMED and alice.calls == (a_c,)
    await a_c.hangup()
    assert await ended(c_a) == Ended("bye", "remote")


async def test_a_failed_transfer_reports_the_status(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    a_b, b_a = await connected(alice, bob)

    async def busy() -> None:
        call = await next_call(carol)
        await call.reject(486)

    refusing = asyncio.ensure_future(busy())
    result = await asyncio.wait_for(b_a.refer(address(carol, "carol")), TIMEOUT)
    await refusing
    assert result == ReferResult(486, "Busy Here") and not result.ok
    *_, transferred = [e async for e in _first(a_b.events(), Transferred)]
    assert isinstance(transferred, Transferred) and transferred.failed is not None
    assert transferred.failed.status == 486
    assert a_b.state is b_a.state is CallState.CONFIRMED  # the call goes on


async def test_a_transfer_refused(make_ua: MakeUA) -> None:
    alice = await make_ua("alice", accept_transfers=False)
    bob = await make_ua("bob")
    _, b_a = await connected(alice, bob)
    result = await asyncio.wait_for(b_a.refer("sip:carol@127.0.0.1:9"), TIMEOUT)
    assert result == ReferResult(603, "Decline")


async def test_attended_transfer_with_replaces(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    a_b, b_a = await connected(alice, bob)          # A calls B
    b_c, c_b = await connected(bob, carol)          # B calls C (consultation)
    invites: list[Request] = []
    seen: set[bytes] = set()  # a retransmitted INVITE counts once

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Request) and message.method == "INVITE" \
                and bytes(message) not in seen:
            seen.add(bytes(message))
            invites.append(message)
        return True

    carol.endpoint.receive_filter = spy
    # B transfers A to C, replacing B-C (RFC 5589 §7)
    result = await asyncio.wait_for(b_a.refer(b_c), TIMEOUT)
    assert result.ok
    # C got an INVITE with Replaces naming its dialog with B, answered it, and
    # ended the replaced call with a BYE to B
    [invite] = invites
    assert c_b.dialog is not None
    assert invite.headers.get("Replaces") == (
        f"{c_b.call_id};to-tag={c_b.dialog.id.local_tag};from-tag={c_b.dialog.id.remote_tag}")
    assert await ended(c_b) == Ended("replaced", "local")
    assert await ended(b_c) == Ended("bye", "remote")
    c_a = next(c for c in carol.calls if c.call_id == invite.call_id)
    assert c_a.replaces is c_b and c_a.state is CallState.CONFIRMED
    *_, transferred = [e async for e in _first(a_b.events(), Transferred)]
    assert isinstance(transferred, Transferred) and transferred.call is not None
    a_c = transferred.call
    assert a_c.state is CallState.CONFIRMED and a_c.call_id == c_a.call_id
    # B leaves; A and C talk
    await asyncio.wait_for(b_a.hangup(), TIMEOUT)
    await ended(a_b)
    assert alice.calls == (a_c,) and carol.calls == (c_a,) and bob.calls == ()
    assert a_c.media is not None and c_a.media is not None
    assert a_c.media.streams[0].remote_port == c_a.media.streams[0].local_port


async def test_replaces_for_no_dialog_is_481(make_ua: MakeUA) -> None:
    alice, carol = await make_ua("alice"), await make_ua("carol")
    try:
        await asyncio.wait_for(alice.call(address(carol, "carol"), headers=[
            ("Replaces", "nosuchcall;to-tag=1;from-tag=2")]), TIMEOUT)
    except Exception as exc:
        assert getattr(exc, "status", None) == 481
    else:
        raise AssertionError("a Replaces naming no dialog was accepted")


async def _first(events: AsyncIterator[CallEvent], kind: type, *,
                 final: bool = False) -> AsyncIterator[CallEvent]:
    """The events up to the first ``kind`` (with ``final`` set, when asked)."""
    async with asyncio.timeout(TIMEOUT):
        async for event in events:
            yield event
            if isinstance(event, kind) and (not final or getattr(event, "final", False)):
                return


@pytest.mark.parametrize("caller_policy", [Rel100.SUPPORTED, Rel100.REQUIRED])
async def test_reliable_ringing_and_prack(make_ua: MakeUA, caller_policy: Rel100) -> None:
    # RFC 3262: the callee prefers 100rel, the caller supports (or requires) it:
    # 180 goes with Require: 100rel and an RSeq, the caller PRACKs it with RAck
    alice = await make_ua("alice", rel100=caller_policy)
    bob = await make_ua("bob", rel100=Rel100.PREFERRED)
    at_alice: list[Request | Response] = []
    at_bob: list[Request | Response] = []

    def spy(into: list[Request | Response]) -> ReceiveFilter:
        seen: set[bytes] = set()  # a retransmission (T1 is short here) counts once

        def keep(message: Request | Response, flow: object) -> bool:
            data = bytes(message)
            if data not in seen:
                seen.add(data)
                into.append(message)
            return True
        return keep

    alice.endpoint.receive_filter = spy(at_alice)
    bob.endpoint.receive_filter = spy(at_bob)
    caller, callee = await connected(alice, bob)
    [invite] = [m for m in at_bob if isinstance(m, Request) and m.method == "INVITE"]
    assert "100rel" in invite.headers.getall("Supported")
    assert ("100rel" in invite.headers.getall("Require")) == (caller_policy is Rel100.REQUIRED)
    [ringing] = [m for m in at_alice if isinstance(m, Response) and m.status == 180]
    assert ringing.headers.getall("Require") == ["100rel"]
    rseq = ringing.headers.get("RSeq")
    assert rseq is not None and rseq.isdigit()
    [prack] = [m for m in at_bob if isinstance(m, Request) and m.method == "PRACK"]
    assert prack.headers.get("RAck") == f"{rseq} {invite.cseq.seq} INVITE"
    assert prack.to.tag == callee.local_tag  # within the early dialog
    assert [m.status for m in at_bob if isinstance(m, Response)] == []  # nothing stray
    assert any(isinstance(m, Response) and m.cseq.method == "PRACK" and m.status == 200
               for m in at_alice)
    await caller.hangup()
    await ended(callee)


async def test_100rel_required_but_not_supported(make_ua: MakeUA) -> None:
    # RFC 3262 §4: Require: 100rel to a UAS without it gets 420 with Unsupported
    alice = await make_ua("alice", rel100=Rel100.REQUIRED)
    bob = await make_ua("bob", rel100=Rel100.DISABLED)
    with pytest.raises(CallFailed) as failure:
        await asyncio.wait_for(alice.call(address(bob)), TIMEOUT)
    assert failure.value.status == 420
    assert failure.value.response is not None
    assert failure.value.response.headers.get("Unsupported") == "100rel"


async def test_session_timer_negotiated(make_ua: MakeUA) -> None:
    # RFC 4028: the caller asks for 120 s; the callee's 2xx names the interval
    # and the refresher, and both sessions arm their timers
    timer = SessionTimerConfig(interval=120, min_se=90)
    alice = await make_ua("alice", session_timer=timer)
    bob = await make_ua("bob", session_timer=timer)
    oks: list[Response] = []
    seen: set[bytes] = set()  # a retransmitted 200 counts once

    def spy(message: Request | Response, flow: object) -> bool:
        if isinstance(message, Response) and message.cseq.method == "INVITE" \
                and message.status == 200 and bytes(message) not in seen:
            seen.add(bytes(message))
            oks.append(message)
        return True

    alice.endpoint.receive_filter = spy
    caller, callee = await connected(alice, bob)
    assert caller.invite.headers.get("Session-Expires") == "120"
    assert "timer" in caller.invite.headers.getall("Supported")
    [ok] = oks
    expires = ok.headers.get("Session-Expires")
    assert expires is not None and expires.startswith("120;refresher=")
    assert "timer" in ok.headers.getall("Require")
    loop = asyncio.get_running_loop()
    for call in (caller, callee):
        deadline = call.session.next_deadline()
        assert deadline is not None and loop.time() + 30 < deadline <= loop.time() + 120
    await caller.hangup()
    await ended(callee)


async def timed_call(make_ua: MakeUA) -> tuple[Call, Call, dict[Call, list[Request]]]:
    """alice calls bob, both with session timers (120 s); the requests each receives."""
    timer = SessionTimerConfig(interval=120, min_se=90)
    alice = await make_ua("alice", session_timer=timer)
    bob = await make_ua("bob", session_timer=timer)
    at_alice: list[Request] = []
    at_bob: list[Request] = []

    def spy(into: list[Request]) -> ReceiveFilter:
        seen: set[bytes] = set()  # a retransmission counts once

        def keep(message: Request | Response, flow: object) -> bool:
            if isinstance(message, Request) and bytes(message) not in seen:
                seen.add(bytes(message))
                into.append(message)
            return True
        return keep

    alice.endpoint.receive_filter = spy(at_alice)
    bob.endpoint.receive_filter = spy(at_bob)
    caller, callee = await connected(alice, bob)
    return caller, callee, {caller: at_alice, callee: at_bob}


def fire_timer(call: Call) -> None:
    """The call's session timer, due: its armed deadline is taken as now (a driven
    clock: the test does not wait the minutes RFC 4028 counts in)."""
    armed, deadline = call._timer, call.session.next_deadline()
    assert armed is not None and deadline is not None
    armed.cancel()
    call._timer_when = deadline
    call._on_timer()


async def test_session_refresh_by_update(make_ua: MakeUA) -> None:
    # RFC 4028 §7.4: the refresher sends an UPDATE (the peer's Allow lists it)
    # without offer at half the interval; the peer's answer re-arms both timers
    caller, callee, received = await timed_call(make_ua)
    refresher = caller if caller.session.session_timer is not None and \
        caller.session.session_timer.state is TimerState.LOCAL else callee
    assert refresher.session.session_timer is not None
    assert refresher.session.session_timer.state is TimerState.LOCAL
    other = callee if refresher is caller else caller
    seen = len(received[other])
    fire_timer(refresher)
    async with asyncio.timeout(TIMEOUT):
        while refresher.session.modify_state.value != "idle":
            await asyncio.sleep(0.01)
    assert refresher.state is other.state is CallState.CONFIRMED
    [update] = [r for r in received[other][seen:] if r.method == "UPDATE"]
    assert update.body == b"" and update.to.tag == other.local_tag
    assert (update.headers.get("Session-Expires") or "").startswith("120")
    deadline = other.session.next_deadline()
    assert deadline is not None and deadline > asyncio.get_running_loop().time() + 30
    await caller.hangup()
    assert await ended(callee) == Ended("bye", "remote")


async def test_session_expires_without_refresh(make_ua: MakeUA) -> None:
    # RFC 4028 §10: no refresh by the expiry: the side that waited sends BYE
    caller, callee, _ = await timed_call(make_ua)
    waiting = caller if caller.session.session_timer is not None and \
        caller.session.session_timer.state is TimerState.REMOTE else callee
    other = callee if waiting is caller else caller
    assert waiting.session.session_timer is not None
    assert waiting.session.session_timer.state is TimerState.REMOTE
    fire_timer(waiting)
    assert await ended(waiting) == Ended("session expired", "local")
    assert await ended(other) == Ended("bye", "remote")
