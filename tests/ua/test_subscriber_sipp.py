"""SIPp subscribes to a sipwire notifier (RFC 6665 §4.2): SIPp checks the 200's
Expires, the NOTIFY's Subscription-State and message-summary body, and the final
NOTIFY after its unsubscribe (terminated;reason=timeout)."""

from __future__ import annotations

from pathlib import Path

from sipwire.dialog.events import MessageCounts, MessageSummary
from sipwire.message.uri import URI
from sipwire.ua.subscriber import Notifier
from tests.sipp.conftest import StartSipp, sipp_path, start_sipp

from .conftest import MakeEndpoint, port

__all__ = ["sipp_path", "start_sipp"]  # fixtures of tests/sipp, used here

SCENARIOS = Path(__file__).parents[1] / "dialog_sipp"


async def test_sipp_subscribes_to_a_sipwire_notifier(make_endpoint: MakeEndpoint,
                                                     start_sipp: StartSipp) -> None:
    ep = await make_endpoint("udp:127.0.0.1:0")
    notifier = Notifier(ep)
    asked: list[URI] = []

    def mailbox(resource: URI) -> MessageSummary:
        asked.append(resource)
        return MessageSummary(True, counts=(("Voice-Message", MessageCounts(3, 1)),))

    notifier.serve_message_summary(mailbox)
    sipp = await start_sipp("-sf", str(SCENARIOS / "subscriber.xml"), "-s", "bob",
                            f"127.0.0.1:{port(ep)}", calls=1)
    assert await sipp.wait() == 0, sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0"
    assert notifier.subscriptions == 0
    assert {str(r) for r in asked} == {f"sip:bob@127.0.0.1:{port(ep)}"}
