"""SUBSCRIBE/NOTIFY (RFC 6665) between two sipwire endpoints: subscriber and notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sipwire import Request, Response
from sipwire.dialog import Dialog
from sipwire.message.fields.events import SubscriptionState
from sipwire.message.uri import URI
from sipwire.ua import Endpoint, ServerTransactionHandle
from sipwire.ua.subscriber import (
    Notification,
    Notifier,
    Subscriber,
    SubscriptionError,
    message_summary_body,
    subscribe,
)

from .conftest import FAST, TIMEOUT, MakeEndpoint, request, uri

ALICE = "sip:alice@example.com"


def mailbox_of(boxes: dict[str, tuple[int, int]]) -> object:
    def mailbox(resource: URI) -> tuple[int, int]:
        return boxes.get(resource.user or "", (0, 0))
    return mailbox


async def notifier_endpoint(make_endpoint: MakeEndpoint, boxes: dict[str, tuple[int, int]],
                            **options: int) -> tuple[Endpoint, Notifier]:
    ep = await make_endpoint("udp:127.0.0.1:0")
    notifier = Notifier(ep, **options)
    notifier.serve_message_summary(mailbox_of(boxes))  # type: ignore[arg-type]
    return ep, notifier


def test_message_summary_body() -> None:
    body = message_summary_body(2, 8, account=URI.parse("sip:alice@vmail.example.com"),
                                new_urgent=1)
    assert body == (b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n"
                    b"Voice-Message: 2/8 (1/0)\r\n")
    assert message_summary_body(0, 3).startswith(b"Messages-Waiting: no\r\n")


async def test_subscribe_notify_refresh_and_unsubscribe(make_endpoint: MakeEndpoint) -> None:
    boxes = {"bob": (1, 4)}
    server, notifier = await notifier_endpoint(make_endpoint, boxes)
    client = await make_endpoint("udp:127.0.0.1:0")
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE, expires=600), TIMEOUT)
    assert sub.expires == 600 and sub.dialog is not None
    updates = sub.notifications()
    first = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert first.state.state == "active" and 590 <= (first.state.expires or 0) <= 600
    assert first.content_type == "application/simple-message-summary"
    assert b"Voice-Message: 1/4 (0/0)" in first.body
    assert sub.state == "active" and notifier.subscriptions == 1
    # a change of state reaches the subscriber
    boxes["bob"] = (2, 4)
    assert await notifier.notify("message-summary", URI.parse(uri(server))) == 1
    second = await asyncio.wait_for(anext(updates), TIMEOUT)
    assert b"Voice-Message: 2/4" in second.body
    # a refresh within the dialog: 200, and a NOTIFY at once (§4.2.1.2)
    refreshed = await asyncio.wait_for(sub.refresh(300), TIMEOUT)
    assert refreshed.status == 200 and sub.expires == 300
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


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"expires": 10}, 423), ({"accept": ["application/pidf+xml"]}, 406)])
async def test_too_brief_and_not_acceptable(make_endpoint: MakeEndpoint,
                                            kwargs: dict[str, object], status: int) -> None:
    server, _ = await notifier_endpoint(make_endpoint, {}, min_expires=60)
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(SubscriptionError) as caught:
        await asyncio.wait_for(subscribe(client, uri(server), "message-summary", from_=ALICE,
                                         **kwargs), TIMEOUT)  # type: ignore[arg-type]
    response = caught.value.response
    assert response is not None and response.status == status
    if status == 423:
        assert response.headers.get("Min-Expires") == "60"


async def test_a_refused_subscriber(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("udp:127.0.0.1:0")
    notifier = Notifier(server)
    notifier.serve("message-summary", "application/simple-message-summary",
                   lambda resource: b"", authorize=lambda request: 403)
    client = await make_endpoint("udp:127.0.0.1:0")
    with pytest.raises(SubscriptionError, match="403"):
        await asyncio.wait_for(subscribe(client, uri(server), "message-summary", from_=ALICE),
                               TIMEOUT)


async def test_the_notifier_ends_an_expired_subscription(make_endpoint: MakeEndpoint) -> None:
    server, notifier = await notifier_endpoint(make_endpoint, {}, min_expires=1)
    client = await make_endpoint("udp:127.0.0.1:0")
    sub = await asyncio.wait_for(subscribe(client, uri(server), "message-summary",
                                           from_=ALICE, expires=1), TIMEOUT)
    sub.auto_refresh = False  # a subscriber that lets it lapse
    states = [n.state async for n in _bounded(sub.notifications())]
    assert [s.state for s in states] == ["active", "terminated"]
    assert states[-1].reason == "timeout" and notifier.subscriptions == 0


async def _bounded(items: AsyncIterator[Notification]) -> AsyncIterator[Notification]:
    async with asyncio.timeout(TIMEOUT):
        async for item in items:
            yield item


async def test_a_notify_for_no_subscription_is_481(make_endpoint: MakeEndpoint) -> None:
    client = await make_endpoint("udp:127.0.0.1:0")
    Subscriber.of(client)
    other = await make_endpoint("udp:127.0.0.1:0")
    notify = request("NOTIFY", uri(client), headers=[
        ("Event", "message-summary"), ("Subscription-State", "active"),
        ("Contact", f"<{uri(other)}>")])
    notify.headers.set("To", f"<{uri(client)}>;tag=nothing")
    response = await asyncio.wait_for(other.request(notify), TIMEOUT)
    assert response.status == 481


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
    assert sub.terminated and sub.reason == "timer-n"


async def test_options_lists_the_packages_served(make_endpoint: MakeEndpoint) -> None:
    server, _ = await notifier_endpoint(make_endpoint, {})
    client = await make_endpoint("udp:127.0.0.1:0")
    response = await asyncio.wait_for(client.request(request("OPTIONS", uri(server))), TIMEOUT)
    assert response.headers.getall("Allow-Events") == ["message-summary"]
    assert "SUBSCRIBE" in response.headers.getall("Allow")
