"""Interoperability with SIPp (RFC 3261 §13, §17, §18 against another implementation).

SIPp as UAS answering sipwire's INVITE (180, 200; sipwire ACKs and BYEs) and
OPTIONS; SIPp as UAC calling and probing a sipwire endpoint; and runs where
one side drops the first copy of a message so that the other's
retransmissions are exercised.  Over UDP and TCP.
"""

from __future__ import annotations

import asyncio

import pytest

from sipwire import Request, Response
from sipwire.transaction import TimerConfig
from sipwire.transport import Flow
from sipwire.ua import Endpoint, EndpointConfig, ServerTransactionHandle, build_in_dialog_request
from tests.server.processes import wait_listening

from .conftest import HERE, SIPP_TIMEOUT, StartSipp

TIMEOUT = 10.0
QUICK = TimerConfig(t1=0.02, t2=0.08, t4=0.08, timer_d=0.2)


def sipp_uri(port: int, transport: str) -> str:
    params = "" if transport == "udp" else ";transport=tcp"
    return f"sip:service@127.0.0.1:{port}{params}"


async def endpoint(transport: str, timers: TimerConfig | None = None) -> Endpoint:
    config = EndpointConfig(timers=timers or TimerConfig())
    return await Endpoint([f"{transport}:127.0.0.1:0"], config=config).start()


def answer_calls(ep: Endpoint, transport: str) -> list[Request]:
    """INVITE: 180 then 200 (with Contact, §13.3.1.4); BYE: 200.  Returns the
    requests the handlers saw."""
    seen: list[Request] = []

    @ep.handles("INVITE")
    async def invite(request: Request, tx: ServerTransactionHandle) -> None:
        seen.append(request)
        await tx.respond(180)
        await tx.respond(tx.reply(200, contact=ep.contact(transport)))

    @ep.handles("BYE")
    async def bye(request: Request, tx: ServerTransactionHandle) -> Response:
        seen.append(request)
        return tx.reply(200)

    return seen


# -- SIPp as UAS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_uas_answers_sipwire_invite(start_sipp: StartSipp, transport: str) -> None:
    sipp = await start_sipp("-sf", str(HERE / "uas_invite.xml"), calls=1, transport=transport)
    await wait_listening(sipp.port, transport)
    async with await endpoint(transport) as ep:
        invite = Request.build("INVITE", sipp_uri(sipp.port, transport),
                               from_="sip:alice@127.0.0.1", contact=ep.contact(transport))
        handle = ep.send(invite)
        statuses = []
        async with asyncio.timeout(TIMEOUT):
            async for response in handle:
                statuses.append(response.status)
        assert statuses == [180, 200], sipp.report()
        ok = handle.final_response
        assert ok is not None
        await ep.ack(invite, ok)
        bye = build_in_dialog_request("BYE", invite, ok, invite.cseq.seq + 1)
        assert (await asyncio.wait_for(ep.request(bye), TIMEOUT)).status == 200
        # SIPp fails a call whose connection closes before its timewait ends
        assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_uas_answers_sipwire_options(start_sipp: StartSipp, transport: str) -> None:
    sipp = await start_sipp("-sf", str(HERE / "options_uas.xml"), calls=3, transport=transport)
    await wait_listening(sipp.port, transport)
    async with await endpoint(transport) as ep:
        for seq in range(1, 4):
            options = Request.build("OPTIONS", sipp_uri(sipp.port, transport),
                                    from_="sip:alice@127.0.0.1", cseq=seq)
            response = await asyncio.wait_for(ep.request(options), TIMEOUT)
            assert response.status == 200, sipp.report()
        assert await sipp.wait() == 0, sipp.report()
    assert sipp.stats()["SuccessfulCall(C)"] == "3"


async def test_sipwire_retransmits_an_options_whose_answer_it_lost(
        start_sipp: StartSipp) -> None:
    """Timer E (§17.1.2.2) against SIPp: the first 200 is dropped on arrival; the
    retransmitted OPTIONS is answered again by SIPp."""
    sipp = await start_sipp("-sf", str(HERE / "options_uas.xml"), calls=1)
    await wait_listening(sipp.port, "udp")
    async with await endpoint("udp", QUICK) as ep:
        dropped: list[Response] = []

        def drop_first_response(message: Request | Response, flow: Flow) -> bool:
            if isinstance(message, Response) and not dropped:
                dropped.append(message)
                return False
            return True

        ep.receive_filter = drop_first_response
        options = Request.build("OPTIONS", sipp_uri(sipp.port, "udp"),
                                from_="sip:alice@127.0.0.1")
        response = await asyncio.wait_for(ep.request(options), TIMEOUT)
        assert response.status == 200 and len(dropped) == 1
        assert await sipp.wait() == 0, sipp.report()
    assert int(sipp.message_row("OPTIONS")[1]) >= 1, sipp.report()  # Retrans column


async def test_sipp_retransmits_the_2xx_whose_first_copy_sipwire_dropped(
        start_sipp: StartSipp) -> None:
    """§13.3.1.4 on SIPp's side, §13.2.2.4 on ours: the 200 comes again, we ACK it."""
    sipp = await start_sipp("-sf", str(HERE / "uas_invite.xml"), calls=1)
    await wait_listening(sipp.port, "udp")
    async with await endpoint("udp") as ep:
        dropped: list[Response] = []

        def drop_first_200(message: Request | Response, flow: Flow) -> bool:
            if isinstance(message, Response) and message.status == 200 and not dropped:
                dropped.append(message)
                return False
            return True

        ep.receive_filter = drop_first_200
        invite = Request.build("INVITE", sipp_uri(sipp.port, "udp"),
                               from_="sip:alice@127.0.0.1", contact=ep.contact())
        ok = await asyncio.wait_for(ep.request(invite), TIMEOUT)
        assert ok.status == 200 and dropped
        await ep.ack(invite, ok)
        bye = build_in_dialog_request("BYE", invite, ok, invite.cseq.seq + 1)
        assert (await asyncio.wait_for(ep.request(bye), TIMEOUT)).status == 200
        assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    assert int(stats["Retransmissions(C)"]) >= 1, sipp.report()
    assert stats["SuccessfulCall(C)"] == "1"


# -- SIPp as UAC ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_uac_calls_sipwire(start_sipp: StartSipp, transport: str) -> None:
    async with await endpoint(transport) as ep:
        seen = answer_calls(ep, transport)
        port = ep.listening_points[0].port
        sipp = await start_sipp("-sn", "uac", f"127.0.0.1:{port}", "-r", "50",
                                calls=3, transport=transport)
        assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "3" and stats["FailedCall(C)"] == "0"
    assert sorted(r.method for r in seen) == ["BYE"] * 3 + ["INVITE"] * 3


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_uac_probes_sipwire_with_options(start_sipp: StartSipp,
                                                    transport: str) -> None:
    async with await endpoint(transport) as ep:  # no handler: the default 200 (§11.2)
        port = ep.listening_points[0].port
        sipp = await start_sipp("-sf", str(HERE / "options_uac.xml"), f"127.0.0.1:{port}",
                                "-r", "200", "-l", "20", calls=50, transport=transport)
        assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    # (retransmissions are possible on a loaded machine: SIPp's timer is 50 ms)
    assert stats["SuccessfulCall(C)"] == "50" and stats["FailedCall(C)"] == "0"


async def test_sipp_retransmits_the_invite_sipwire_dropped(start_sipp: StartSipp) -> None:
    """Timer A on SIPp's side (§17.1.1.2): sipwire drops the first INVITE datagram;
    SIPp sends it again, and the call completes with one INVITE passed up."""
    async with await endpoint("udp") as ep:
        seen = answer_calls(ep, "udp")
        dropped: list[Request] = []

        def drop_first_invite(message: Request | Response, flow: Flow) -> bool:
            if isinstance(message, Request) and message.method == "INVITE" and not dropped:
                dropped.append(message)
                return False
            return True

        ep.receive_filter = drop_first_invite
        port = ep.listening_points[0].port
        sipp = await start_sipp("-sf", str(HERE / "uac_invite.xml"), f"127.0.0.1:{port}",
                                calls=1)
        assert await sipp.wait() == 0, sipp.report()
    assert len(dropped) == 1
    assert [r.method for r in seen] == ["INVITE", "BYE"]
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1"
    assert int(stats["Retransmissions(C)"]) >= 1, sipp.report()
    messages, retrans = (int(n) for n in sipp.message_row("INVITE")[:2])
    assert messages == 1 and retrans >= 1, sipp.report()


def test_the_sipp_timeout_bounds_every_run() -> None:
    assert 0 < SIPP_TIMEOUT < TIMEOUT * 2
