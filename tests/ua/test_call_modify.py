"""Calls between UserAgents on 127.0.0.1 where the session changes: in-dialog
requests challenged by the peer (§22.2), the callee refusing a modification
(§14.2), the answer in a reliable 180 (RFC 3261 §13.2.1, RFC 3262 §5) and an
UPDATE with a new offer in the early dialog (RFC 3311 §5.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from sipwire import Request, Response
from sipwire.auth.client import DigestClient
from sipwire.auth.server import DigestServer
from sipwire.dialog import Rel100
from sipwire.sdp import Direction
from sipwire.ua import (
    CallFailed,
    CallState,
    Ended,
    ReceiveFilter,
    ServerTransactionHandle,
    UserAgent,
)
from sipwire.ua.call import Held

from .conftest import TIMEOUT, MakeEndpoint
from .test_agent import MakeUA, address, connected, direction, ended, make_ua, next_call

__all__ = ["make_ua"]

Handler = Callable[[Request, ServerTransactionHandle], Awaitable[Response | None]]


def spy(into: list[Request | Response]) -> ReceiveFilter:
    """Keeps each message received, a retransmission (the same bytes again:
    T1 is 5 ms here) once."""
    seen: set[bytes] = set()

    def keep(message: Request | Response, flow: object) -> bool:
        data = bytes(message)
        if data not in seen:
            seen.add(data)
            into.append(message)
        return True
    return keep


def challenge_in_dialog(ua: UserAgent, *methods: str) -> None:
    """``ua`` answers each of ``methods`` within a dialog that has no
    Authorization with a 401 (§22.2), and passes the retried one on."""
    digest = DigestServer("test.example")
    loop = asyncio.get_running_loop()
    router = ua.endpoint.dialog_router
    assert router is not None

    async def challenge(request: Request, handle: ServerTransactionHandle) -> Response:
        return digest.challenge(request, loop.time())

    def challenging(request: Request) -> Handler | None:
        if request.method in methods and request.headers.get("Authorization") is None:
            return challenge
        return router(request)

    ua.endpoint.dialog_router = challenging


async def test_a_reinvite_and_a_bye_challenged_by_the_peer_are_sent_again(
        make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    alice.endpoint.credentials = DigestClient("alice", "secret")
    at_bob: list[Request | Response] = []
    bob.endpoint.receive_filter = spy(at_bob)
    caller, callee = await connected(alice, bob)
    challenge_in_dialog(bob, "INVITE", "BYE")

    await asyncio.wait_for(caller.hold(), TIMEOUT)
    reinvites = [m for m in at_bob if isinstance(m, Request) and m.method == "INVITE"
                 and m.to.tag is not None]
    assert len(reinvites) == 2
    first, retry = reinvites
    assert first.headers.get("Authorization") is None
    assert retry.headers.get("Authorization") is not None
    assert retry.cseq.seq == first.cseq.seq + 1
    # the 2xx of the retry was acknowledged with its CSeq (§13.2.2.4)
    acks = [m for m in at_bob if isinstance(m, Request) and m.method == "ACK"]
    assert acks[-1].cseq.seq == retry.cseq.seq
    assert caller.on_hold and direction(caller) is Direction.SENDONLY
    assert direction(callee) is Direction.RECVONLY
    async with asyncio.timeout(TIMEOUT):
        async for event in callee.events():
            if isinstance(event, Held):
                assert event.by == "remote"
                break

    # the next request of the dialog takes a CSeq above the retry's (§12.2.1.1)
    ok = await asyncio.wait_for(caller.message("after the challenge"), TIMEOUT)
    assert ok.status == 200
    [message] = [m for m in at_bob if isinstance(m, Request) and m.method == "MESSAGE"]
    assert message.cseq.seq == retry.cseq.seq + 1

    response = await asyncio.wait_for(caller.hangup(), TIMEOUT)
    assert response is not None and response.status == 200
    byes = [m for m in at_bob if isinstance(m, Request) and m.method == "BYE"]
    assert [b.headers.get("Authorization") is not None for b in byes] == [False, True]
    assert byes[1].cseq.seq == byes[0].cseq.seq + 1
    assert await ended(callee) == Ended("bye", "remote")
    assert await ended(caller) == Ended("bye", "local")


async def test_the_callee_refuses_a_hold_and_accepts_a_resume(make_ua: MakeUA) -> None:
    alice, bob = await make_ua("alice"), await make_ua("bob")
    caller, callee = await connected(alice, bob)
    seen: list[str] = []

    def no_hold(request: Request) -> int | None:
        seen.append(request.method)
        return 488 if b"a=sendonly" in request.body else None

    callee.on_modification(no_hold)
    with pytest.raises(CallFailed) as refused:
        await asyncio.wait_for(caller.hold(), TIMEOUT)
    assert refused.value.status == 488
    # §14.1: the session is as if the re-INVITE had not been sent
    assert not caller.on_hold and direction(caller) is Direction.SENDRECV
    assert direction(callee) is Direction.SENDRECV
    assert caller.state is callee.state is CallState.CONFIRMED
    await asyncio.wait_for(caller.update(), TIMEOUT)  # a new offer, sendrecv: accepted
    assert seen == ["INVITE", "UPDATE"]
    callee.on_modification(None)
    await asyncio.wait_for(caller.hold(), TIMEOUT)
    assert direction(callee) is Direction.RECVONLY
    await asyncio.wait_for(caller.hangup(), TIMEOUT)
    assert await ended(callee) == Ended("bye", "remote")


async def test_the_reliable_180_has_the_answer_and_the_caller_updates_before_the_answer(
        make_ua: MakeUA) -> None:
    alice = await make_ua("alice", rel100=Rel100.SUPPORTED)
    bob = await make_ua("bob", rel100=Rel100.PREFERRED)
    at_alice: list[Request | Response] = []
    at_bob: list[Request | Response] = []
    alice.endpoint.receive_filter = spy(at_alice)
    bob.endpoint.receive_filter = spy(at_bob)
    placing = asyncio.ensure_future(alice.call(address(bob)))
    callee = await next_call(bob)
    await asyncio.wait_for(callee.ringing(), TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        while not any(isinstance(m, Request) and m.method == "PRACK" for m in at_bob):
            await asyncio.sleep(0.01)
    [ringing] = [m for m in at_alice if isinstance(m, Response) and m.status == 180]
    assert ringing.headers.get("RSeq") is not None
    assert ringing.headers.get("Content-Type") == "application/sdp"
    assert b"m=audio" in ringing.body
    # the exchange is complete before the answer: both sides have the media
    assert callee.media is not None
    [caller] = alice.calls
    assert caller.state is CallState.EARLY and caller.media is not None
    # RFC 3311 §5.1: the caller may now offer again, in an UPDATE of the early dialog
    await asyncio.wait_for(caller.update(hold=True), TIMEOUT)
    [update] = [m for m in at_bob if isinstance(m, Request) and m.method == "UPDATE"]
    assert b"a=sendonly" in update.body
    assert direction(callee) is Direction.RECVONLY
    await asyncio.wait_for(callee.answer(), TIMEOUT)
    assert await asyncio.wait_for(placing, TIMEOUT) is caller
    [ok] = [m for m in at_alice if isinstance(m, Response) and m.status == 200
            and m.cseq.method == "INVITE"]
    assert ok.body == b""  # the answer went in the 180 (§13.2.1)
    assert caller.dialog is not None and caller.dialog.state.value == "confirmed"
    assert caller.on_hold
    await asyncio.wait_for(caller.hangup(), TIMEOUT)
    assert await ended(callee) == Ended("bye", "remote")


@pytest.mark.parametrize("policy", [Rel100.SUPPORTED, Rel100.DISABLED])
async def test_prack_is_allowed_with_100rel_and_a_stray_one_gets_481(
        make_ua: MakeUA, make_endpoint: MakeEndpoint, policy: Rel100) -> None:
    # RFC 3262 §3: a PRACK matching no reliable 1xx gets 481; Allow lists PRACK
    # when we do reliable provisional responses
    bob = await make_ua("bob", rel100=policy)
    assert ("PRACK" in bob.allowed_methods) is (policy is not Rel100.DISABLED)
    client = await make_endpoint("udp:127.0.0.1:0")
    prack = Request.build("PRACK", address(bob), from_="sip:alice@127.0.0.1;tag=a1",
                          to=f"<{address(bob)}>;tag=nosuchdialog",
                          headers=[("RAck", "1 1 INVITE")])
    response = await asyncio.wait_for(client.request(prack), TIMEOUT)
    assert response.status == (481 if policy is not Rel100.DISABLED else 405)
    options = await asyncio.wait_for(client.request(Request.build(
        "OPTIONS", address(bob), from_="sip:alice@127.0.0.1")), TIMEOUT)
    allow = [m.strip() for m in ",".join(options.headers.getall("Allow")).split(",")]
    assert ("PRACK" in allow) is (policy is not Rel100.DISABLED)
