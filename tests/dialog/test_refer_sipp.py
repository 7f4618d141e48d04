"""A sipwire referee (RFC 3515) against SIPp as the referrer: REFER, 202, a
NOTIFY "SIP/2.0 100 Trying" and, once the referenced request succeeded, the
final NOTIFY "SIP/2.0 200 OK" ending the implicit subscription.  SIPp checks
Event, Subscription-State, Content-Type and the sipfrag bodies (sipp_refer.xml)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipwire import Request, Response
from sipwire.dialog import ReferNotifier, SendRequest, SendResponse, SubscriptionAction
from sipwire.ua import Endpoint, ServerTransactionHandle
from tests.sipp import conftest as sipp

# the SIPp fixtures of tests/sipp: run bounded, stopped by PID
sipp_path = sipp.sipp_path
start_sipp = sipp.start_sipp
HERE = Path(__file__).parent


async def test_sipp_refers_and_hears_the_progress(start_sipp: sipp.StartSipp) -> None:
    loop = asyncio.get_running_loop()
    referees: list[ReferNotifier] = []
    answers: list[int] = []
    async with await Endpoint(["udp:127.0.0.1:0"]).start() as ep:

        async def perform(actions: list[SubscriptionAction],
                          tx: ServerTransactionHandle | None) -> None:
            for action in actions:
                if isinstance(action, SendResponse):
                    assert tx is not None
                    await tx.respond(action.response)
                elif isinstance(action, SendRequest):
                    response = await ep.request(action.request)
                    answers.append(response.status)
                    referees[0].notifier.receive_response(action.request, response, loop.time())

        @ep.handles("REFER")
        async def refer(request: Request, tx: ServerTransactionHandle) -> Response | None:
            referee, actions = ReferNotifier.receive_refer(request, loop.time(),
                                                           contact=ep.contact("udp"))
            assert referee is not None, actions
            referees.append(referee)
            await perform(actions, tx)
            # the referenced INVITE to Carol "succeeded": the final NOTIFY
            await perform(referee.progress(200, loop.time()), None)
            return None

        port = ep.listening_points[0].port
        run = await start_sipp("-sf", str(HERE / "sipp_refer.xml"), f"127.0.0.1:{port}",
                               calls=1)
        assert await run.wait() == 0, run.report()
        for _ in range(100):
            if len(answers) == 2:
                break
            await asyncio.sleep(0.02)
    assert answers == [200, 200]
    (referee,) = referees
    assert referee.terminated
    assert (referee.target.method, str(referee.target.uri)) == ("INVITE", "sip:carol@example.com")
