"""``sipwire subscribe``: against a sipwire notifier (message-summary, RFC 3842)
and against SIPp as the notifier (RFC 6665)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipwire.dialog.events import MESSAGE_SUMMARY, MessageCounts, MessageSummary
from sipwire.ua import Endpoint
from sipwire.ua.subscriber import Notifier
from tests.server.processes import wait_listening
from tests.sipp.conftest import StartSipp, sipp_path, start_sipp

from .conftest import RunCli

__all__ = ["sipp_path", "start_sipp"]  # fixtures of tests/sipp, used here

SCENARIOS = Path(__file__).parents[1] / "dialog_sipp"


async def test_subscribe_to_a_sipwire_notifier_prints_the_notify(run_cli: RunCli) -> None:
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        notifier = Notifier(ep)
        notifier.serve_message_summary(lambda resource: MessageSummary(
            True, counts=(("Voice-Message", MessageCounts(5, 2, 0, 0)),)))
        target = f"sip:alice@127.0.0.1:{ep.listening_points[0].port}"
        result = await run_cli("subscribe", target, "--event", "message-summary",
                               "--count", "1", "--expires", "120")
        assert result.status == 0, result.err
        lines = result.out.splitlines()
        assert lines[0] == f"subscribed {target} event=message-summary expires=120"
        assert lines[1].startswith("NOTIFY 1 Subscription-State: active;expires=1")
        assert "Voice-Message: 5/2 (0/0)" in lines
        # --count 1: it unsubscribed, and the notifier's final NOTIFY was taken
        assert lines[-1] == "terminated timeout"
        assert notifier.subscriptions == 0
        methods = [line.split()[3] for line in result.err.splitlines()
                   if line.split()[1] == "->" and not line.split()[3].startswith("SIP/")]
        assert methods == ["SUBSCRIBE", "SUBSCRIBE"]


async def test_subscribe_ends_when_sipp_terminates_the_subscription(
        run_cli: RunCli, start_sipp: StartSipp) -> None:
    sipp = await start_sipp("-sf", str(SCENARIOS / "notifier.xml"), calls=1)
    await wait_listening(sipp.port, "udp")
    target = f"sip:alice@127.0.0.1:{sipp.port}"
    result = await run_cli("subscribe", target, "--event", "message-summary")
    assert result.status == 0, result.err + sipp.report()
    lines = result.out.splitlines()
    assert lines[0] == f"subscribed {target} event=message-summary expires=60"
    assert lines[1] == "NOTIFY 1 Subscription-State: active;expires=60"
    assert lines[2:4] == ["Messages-Waiting: yes", "Voice-Message: 2/0 (0/0)"]
    assert lines[4] == "NOTIFY 2 Subscription-State: terminated;reason=noresource"
    assert lines[-1] == "terminated noresource"
    assert await asyncio.wait_for(sipp.wait(), 20) == 0, sipp.report()
    assert sipp.stats()["SuccessfulCall(C)"] == "1"


async def test_an_event_nobody_serves_exits_1(run_cli: RunCli) -> None:
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        Notifier(ep).serve(MESSAGE_SUMMARY, lambda resource: MessageSummary(False))
        target = f"sip:alice@127.0.0.1:{ep.listening_points[0].port}"
        result = await run_cli("subscribe", target, "--event", "presence")
        assert result.status == 1 and result.out == ""
        assert result.err.splitlines()[-1].endswith("489 Bad Event")


async def test_sigint_unsubscribes(run_cli: RunCli) -> None:
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        notifier = Notifier(ep)
        notifier.serve_message_summary(lambda resource: MessageSummary(False))
        target = f"sip:alice@127.0.0.1:{ep.listening_points[0].port}"
        result = await run_cli("subscribe", target, "--event", "message-summary",
                               interrupt_after="Messages-Waiting: no")
        assert result.status == 0, result.err
        lines = result.out.splitlines()
        assert lines[1].startswith("NOTIFY 1 Subscription-State: active;expires=")
        # SIGINT: Expires 0, and the final NOTIFY (RFC 6665 §4.1.2.3) is printed too
        assert "NOTIFY 2 Subscription-State: terminated;reason=timeout" in lines
        assert lines[-1] == "terminated timeout"
        assert notifier.subscriptions == 0
