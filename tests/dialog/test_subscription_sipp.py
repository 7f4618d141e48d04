"""A sipwire notifier (RFC 6665 §4.2) against SIPp as the subscriber: SUBSCRIBE,
200 and the immediate NOTIFY with a message-summary body (RFC 3842), then an
unsubscribe answered by the final NOTIFY.  SIPp checks what reached it
(sipp_subscribe.xml); the notifier checks SIPp's 200s to its NOTIFYs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipwire import Request, Response
from sipwire.dialog import (
    EventPackages,
    MessageCounts,
    MessageSummary,
    Notifier,
    NotifierState,
    SendRequest,
    SendResponse,
    SubscriptionAction,
)
from sipwire.transaction import TimerConfig
from sipwire.ua import Endpoint, EndpointConfig, ServerTransactionHandle
from tests.sipp import conftest as sipp

# the SIPp fixtures of tests/sipp: run bounded, stopped by PID
sipp_path = sipp.sipp_path
start_sipp = sipp.start_sipp
HERE = Path(__file__).parent

SUMMARY = MessageSummary(True, "sip:alice@example.com",
                         (("Voice-Message", MessageCounts(2, 8, 0, 2)),))


async def test_sipp_subscribes_unsubscribes_and_gets_both_notifies(
        start_sipp: sipp.StartSipp) -> None:
    loop = asyncio.get_running_loop()
    config = EndpointConfig(timers=TimerConfig())
    notifiers: dict[str, Notifier] = {}
    notify_answers: list[int] = []
    async with await Endpoint(["udp:127.0.0.1:0"], config=config).start() as ep:

        async def perform(actions: list[SubscriptionAction], tx: ServerTransactionHandle,
                          notifier: Notifier) -> None:
            for action in actions:
                if isinstance(action, SendResponse):
                    await tx.respond(action.response)
                elif isinstance(action, SendRequest):
                    response = await ep.request(action.request)
                    notify_answers.append(response.status)
                    notifier.receive_response(action.request, response, loop.time())

        @ep.handles("SUBSCRIBE")
        async def subscribe(request: Request, tx: ServerTransactionHandle) -> Response | None:
            if request.to.tag is None:
                notifier, actions = Notifier.receive_subscribe(
                    request, loop.time(), packages=EventPackages.default(),
                    contact=ep.contact("udp"), resource_state=SUMMARY, to_tag=tx.to_tag)
                assert notifier is not None, actions
                notifiers[request.call_id] = notifier
            else:
                notifier = notifiers[request.call_id]
                actions = notifier.receive_subscribe_refresh(request, loop.time(), SUMMARY)
            await perform(actions, tx, notifier)
            return None

        port = ep.listening_points[0].port
        run = await start_sipp("-sf", str(HERE / "sipp_subscribe.xml"),
                               f"127.0.0.1:{port}", calls=1)
        assert await run.wait() == 0, run.report()
        # SIPp answered both NOTIFYs with 200 and the subscription is over
        for _ in range(100):
            if len(notify_answers) == 2:
                break
            await asyncio.sleep(0.02)
    assert notify_answers == [200, 200]
    (notifier,) = notifiers.values()
    assert notifier.state is NotifierState.TERMINATED
