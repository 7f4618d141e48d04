"""SUBSCRIBE/NOTIFY (RFC 6665) between two sipwire endpoints: subscriber and notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sipwire import Request, Response
from sipwire.dialog import Dialog
from sipwire.dialog.events import MESSAGE_SUMMARY, MessageCounts, MessageSummary
from sipwire.message.fields.events import SubscriptionState
from sipwire.message.uri import URI
from sipwire.ua import Endpoint, ServerTransactionHandle
from sipwire.ua.subscriber import (
    Notification,
    Notifier,
    Subscriber,
    SubscriptionError,
    subscribe,
)

from .conftest import FAST, TIMEOUT, MakeEndpoint, request, uri

ALICE = "sip:alice@example.com"


def summary(new: int, old: int) -> MessageSummary:
    return MessageSummary(new > 0, counts=(("voice-message", MessageCounts(new, old, 0, 0)),))


def mailbox_of(boxes: dict[str, tuple[int, int]]) -> Callable[[URI], MessageSummary]:
    def mailbox(resource: URI) -> MessageSummary:
        return summary(*boxes.get(resource.user or "", (0, 0)))
    return mailbox


async def notifier_endpoint(make_endpoint: MakeEndpoint, boxes: dict[str, tuple[int, int]],
                            **options: int) -> tuple[Endpoint, Notifier]:
    ep = await make_endpoint("udp:127.0.0.1:0")
    notifier = Notifier(ep, **options)
    notifier.serve_message_summary(mailbox_of(boxes))
    return ep, notifier


async def test_subscribe_notify_refresh_and_unsubscribe(make_endpoint: MakeEndpoint) -> None:
    boxes = {"bob": (1, 4)}
    server, notifier = await notifier_endpoint(make_endpoint, boxes)
    client = await make_endpoint("udp:127.0.0.1:0")
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE, expires=600), TIMEOUT)
    # the 200's Expires, or the NOTIFY's remaining time when the NOTIFY came first
    assert sub.expires is not None and 590 <= sub.expires <= 600 and sub.dialog is not None
    updates = sub.notifications()
    first = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert first.state.state == "active" and 590 <= (first.state.expires or 0) <= 600
    assert first.content_type == "application/simple-message-summary"
    assert b"voice-message: 1/4 (0/0)" in first.body
    assert sub.state == "active" and notifier.subscriptions == 1
    # a change of state reaches the subscriber
    boxes["bob"] = (2, 4)
    assert await notifier.notify("message-summary", URI.parse(uri(server))) == 1
    second = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert MessageSummary.parse(second.body).count("voice-message") == MessageCounts(2, 4, 0, 0)
    # a refresh within the dialog: 200, and a NOTIFY at once (§4.2.1.2)
    refreshed = await asyncio.wait_for(sub.refresh(300), TIMEOUT)
    # the 200's Expires, or the remaining time of a NOTIFY handled before it
    assert refreshed.status == 200 and sub.expires is not None and 290 <= sub.expires <= 300
    third = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert (third.state.expires or 0) <= 300
    # unsubscribe: Expires 0, then the final NOTIFY (§4.1.2.3, §4.2.1.4)
    response = await asyncio.wait_for(sub.unsubscribe(), TIMEOUT)
    assert response is not None and response.status == 200
    assert sub.terminated and sub.reason == "timeout"
    assert [n.state.state for n in sub.received] == ["active"] * 3 + ["terminated"]
    assert [n async for n in updates] == [sub.received[-1]]  # and the iteration ends
    assert notifier.subscriptions == 0
    # the requests within the dialog went up by one each (§12.2.1.1)
    assert sub.dialog.local_seq == 3


async def test_a_package_not_served_is_489_with_allow_events(
        make_endpoint: MakeEndpoint) -> None:
    server, _ = await notifier_endpoint(make_endpoint, {})
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(SubscriptionError) as caught:
        await asyncio.wait_for(subscribe(client, uri(server), "presence", from_=ALICE), TIMEOUT)
    response = caught.value.response
    assert response is not None and response.status == 489
    assert response.headers.getall("Allow-Events") == ["message-summary"]
    assert Subscriber.of(client).subscriptions == []


async def test_an_accept_the_package_cannot_meet_is_406(make_endpoint: MakeEndpoint) -> None:
    server, _ = await notifier_endpoint(make_endpoint, {})
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(SubscriptionError) as caught:
        await asyncio.wait_for(subscribe(client, uri(server), "message-summary", from_=ALICE,
                                         accept=["application/pidf+xml"]), TIMEOUT)
    response = caught.value.response
    assert response is not None and response.status == 406
    assert response.headers.get("Accept") == "application/simple-message-summary"


async def test_too_brief_is_asked_again_with_min_expires(make_endpoint: MakeEndpoint) -> None:
    """423 with Min-Expires (§4.2.1.1): the SUBSCRIBE goes again asking for that."""
    server, notifier = await notifier_endpoint(make_endpoint, {}, min_expires=60)
    client = await make_endpoint("udp:127.0.0.1:0")
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE, expires=10), TIMEOUT)
    # (59: the remaining time of a NOTIFY handled before the 200)
    assert sub.expires in (59, 60) and notifier.subscriptions == 1
    assert sub.core.request.cseq.seq == 2


async def test_a_refused_subscriber(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    notifier = Notifier(server)
    notifier.serve(MESSAGE_SUMMARY, lambda resource: summary(0, 0),
                   authorize=lambda request: 403)
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(SubscriptionError, match="403"):
        await asyncio.wait_for(subscribe(client, uri(server), "message-summary", from_=ALICE),
                               TIMEOUT)


async def test_the_notifier_ends_an_expired_subscription(make_endpoint: MakeEndpoint) -> None:
    """§4.2.1.4: unrefreshed, the subscription ends with NOTIFY terminated;reason=timeout
    (a bare endpoint subscribes here: a Subscription would refresh it)."""
    server, notifier = await notifier_endpoint(make_endpoint, {}, min_expires=1)
    client = await make_endpoint("udp:127.0.0.1:0")
    states: list[str] = []
    ended = asyncio.Event()

    @client.handles("NOTIFY")
    async def notified(req: Request, tx: ServerTransactionHandle) -> Response:
        states.append(req.headers.get("Subscription-State") or "")
        if states[-1].startswith("terminated"):
            ended.set()
        return tx.reply(200)

    asked = request("SUBSCRIBE", uri(server), contact=client.contact(),
                    headers=[("Event", "message-summary"), ("Expires", "1")])
    assert (await asyncio.wait_for(client.request(asked), TIMEOUT)).status == 200
    await asyncio.wait_for(ended.wait(), TIMEOUT)
    assert states[0].startswith("active;expires=") and states[-1] == "terminated;reason=timeout"
    assert notifier.subscriptions == 0


async def _bounded(items: AsyncIterator[Notification]) -> AsyncIterator[Notification]:
    async with asyncio.timeout(TIMEOUT):
        async for item in items:
            yield item


async def test_a_notify_for_no_subscription_is_481_or_489(make_endpoint: MakeEndpoint) -> None:
    """§4.1.3: 489 for a package we never subscribed to, 481 for one we did."""
    client = await make_endpoint("udp:127.0.0.1:0")
    subscriber = Subscriber.of(client)
    other = await make_endpoint("udp:127.0.0.1:0")

    async def stray_notify() -> Response:
        notify = request("NOTIFY", uri(client), headers=[
            ("Event", "message-summary"), ("Subscription-State", "active"),
            ("Contact", f"<{uri(other)}>")])
        notify.headers.set("To", f"<{uri(client)}>;tag=nothing")
        return await asyncio.wait_for(other.request(notify), TIMEOUT)

    assert (await stray_notify()).status == 489
    subscriber.cores.packages.register(MESSAGE_SUMMARY)
    assert (await stray_notify()).status == 481


async def test_a_notify_before_the_2xx_creates_the_dialog(make_endpoint: MakeEndpoint) -> None:
    """§4.1.2.4: the NOTIFY may overtake the 200; it is accepted and creates the dialog."""
    server = await make_endpoint("udp:127.0.0.1:0")

    @server.handles("SUBSCRIBE")
    async def notify_first(req: Request, tx: ServerTransactionHandle) -> Response:
        response = tx.reply(200, headers=[("Expires", "120")], contact=server.contact())
        dialog = Dialog.uas(req, response)
        notify = dialog.create_request(
            "NOTIFY", body=b"Messages-Waiting: no\r\n",
            content_type="application/simple-message-summary",
            headers=[("Event", "message-summary"),
                     ("Subscription-State", SubscriptionState("active", expires=120))])
        assert (await server.request(notify)).status == 200
        return response

    client = await make_endpoint("udp:127.0.0.1:0")
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE, expires=120), TIMEOUT)
    assert sub.state == "active" and len(sub.received) == 1
    assert sub.dialog is not None and sub.expires == 120


async def test_no_notify_in_timer_n_ends_the_subscription(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")

    @server.handles("SUBSCRIBE")
    async def silent(req: Request, tx: ServerTransactionHandle) -> Response:
        return tx.reply(200, headers=[("Expires", "60")], contact=server.contact())

    client = await make_endpoint("udp:127.0.0.1:0", timers=FAST)
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE), TIMEOUT)
    assert [n async for n in _bounded(sub.notifications())] == []
    assert sub.terminated and sub.reason == "Timer N"


async def test_options_lists_the_packages_served(make_endpoint: MakeEndpoint) -> None:
    server, _ = await notifier_endpoint(make_endpoint, {})
    client = await make_endpoint("udp:127.0.0.1:0")
    response = await asyncio.wait_for(client.request(request("OPTIONS", uri(server))), TIMEOUT)
    assert response.headers.getall("Allow-Events") == ["message-summary"]
    assert "SUBSCRIBE" in response.headers.getall("Allow")
