"""Reliable provisionals (RFC 3262) against SIPp as the caller: a sipwire UAS
sends its 180 (with the answer) through ``ReliableProvisionals``, holds its 200
until SIPp's PRACK (RAck built from the RSeq SIPp read off the wire) is
matched, then the call completes.  SIPp checks Require, RSeq and the order of
the two 200s (sipp_prack.xml); the UAS checks the PRACK matched."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from sipwire import Request, Response
from sipwire.dialog import (
    Acknowledged,
    Rel100,
    ReliableProvisionals,
    SendFinal,
    SendPrackResponse,
    SendProvisional,
    uas_decision,
)
from sipwire.transaction import TimerConfig
from sipwire.ua import Endpoint, EndpointConfig, ServerTransactionHandle
from tests.sipp import conftest as sipp

# the SIPp fixtures of tests/sipp: run bounded, stopped by PID
sipp_path = sipp.sipp_path
start_sipp = sipp.start_sipp
HERE = Path(__file__).parent
ANSWER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


async def test_sipp_pracks_the_reliable_180_before_the_200(start_sipp: sipp.StartSipp) -> None:
    loop = asyncio.get_running_loop()
    timers = TimerConfig()
    reliable: list[ReliableProvisionals] = []
    invites: list[ServerTransactionHandle] = []
    acknowledged = asyncio.Event()
    seen: list[str] = []
    async with await Endpoint(["udp:127.0.0.1:0"],
                              config=EndpointConfig(timers=timers)).start() as ep:
        ep.announce(supported=["100rel"])  # so the endpoint does not answer 420 itself
        contact = ep.contact("udp")

        async def send(actions: list[object], tx: ServerTransactionHandle) -> None:
            for action in actions:
                if isinstance(action, SendProvisional | SendFinal | SendPrackResponse):
                    await tx.respond(action.response)
                elif isinstance(action, Acknowledged):
                    seen.append(f"PRACK for {action.provisional.status}")
                    acknowledged.set()

        @ep.handles("INVITE")
        async def invite(request: Request, tx: ServerTransactionHandle) -> Response | None:
            decision = uas_decision(request, Rel100.SUPPORTED)
            assert decision.reliable and decision.reject is None
            rel = ReliableProvisionals(request, timers=timers, rng=random.Random(3))
            reliable.append(rel)
            invites.append(tx)
            ringing = tx.reply(180, contact=contact, body=ANSWER, content_type="application/sdp")
            await send(list(rel.send(ringing, loop.time())), tx)
            # the 180 carried an answer: the 2xx is held until its PRACK (§3, §5)
            held = rel.send_final(tx.reply(200, contact=contact, body=ANSWER,
                                           content_type="application/sdp"), loop.time())
            assert held == []
            await asyncio.wait_for(acknowledged.wait(), 10)
            ack = await tx.wait_ack()
            seen.append("ACK" if ack is not None else "no ACK")
            return None

        @ep.handles("PRACK")
        async def prack(request: Request, tx: ServerTransactionHandle) -> Response | None:
            actions = list(reliable[0].receive_prack(request, loop.time()))
            # the PRACK's 200 first, then the 2xx to the INVITE it released
            await send([a for a in actions if not isinstance(a, SendFinal)], tx)
            invite_tx = [a for a in actions if isinstance(a, SendFinal)]
            assert len(invite_tx) == 1
            seen.append("200 released")
            await invites[0].respond(invite_tx[0].response)
            return None

        @ep.handles("BYE")
        async def bye(request: Request, tx: ServerTransactionHandle) -> Response:
            seen.append("BYE")
            return tx.reply(200)

        port = ep.listening_points[0].port
        run = await start_sipp("-sf", str(HERE / "sipp_prack.xml"), f"127.0.0.1:{port}",
                               calls=1)
        assert await run.wait() == 0, run.report()
    assert seen[:3] == ["PRACK for 180", "200 released", "ACK"] and seen[-1] == "BYE"
    assert reliable[0].next_deadline() is None
