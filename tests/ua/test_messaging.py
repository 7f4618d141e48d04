"""MESSAGE (RFC 3428) between two sipwire endpoints, and OPTIONS built from what
an endpoint's handlers announce (RFC 3261 §11.2)."""

from __future__ import annotations

import asyncio

import pytest

from sipwire import Request, Response
from sipwire.auth import DigestClient
from sipwire.ua import Endpoint, ServerTransactionHandle
from sipwire.ua.messaging import (
    MAX_MESSAGE_SIZE,
    MessageReceiver,
    MessageSender,
    ReceivedMessage,
    build_message,
)

from .conftest import TIMEOUT, MakeEndpoint, request, uri


def test_a_message_has_no_contact_and_a_text_body() -> None:
    message = build_message("sip:bob@example.com", "héllo", from_="sip:alice@example.com",
                            route="sip:proxy.example.com")
    assert message.method == "MESSAGE" and message.contact == []  # RFC 3428 §4
    assert message.body == "héllo".encode()
    assert message.headers.get("Content-Type") == "text/plain;charset=UTF-8"
    assert str(message.route[0].uri) == "sip:proxy.example.com;lr"


def test_a_message_over_1300_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="1300"):
        build_message("sip:bob@example.com", "x" * MAX_MESSAGE_SIZE,
                      from_="sip:alice@example.com")
    large = build_message("sip:bob@example.com", "x" * 2000, from_="sip:alice@example.com",
                          max_size=None)
    assert len(large.body) == 2000


async def test_a_message_is_delivered_and_answered_200(make_endpoint: MakeEndpoint) -> None:
    bob = await make_endpoint("udp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")
    receiver = MessageReceiver(bob)
    sender = MessageSender(alice, "sip:alice@example.com")
    response = await asyncio.wait_for(sender.send(uri(bob), "hello, bob"), TIMEOUT)
    assert response.status == 200
    assert response.body == b"" and response.contact == []  # RFC 3428 §7
    message = await asyncio.wait_for(receiver.get(), TIMEOUT)
    assert message.text == "hello, bob" and message.content_type == "text/plain"
    assert str(message.sender.uri) == "sip:alice@example.com"
    assert message.request.contact == []


async def test_a_relay_answers_202_and_a_handler_chooses(make_endpoint: MakeEndpoint) -> None:
    bob = await make_endpoint("udp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")
    seen: list[str] = []

    async def refuse_rude(message: ReceivedMessage) -> int | None:
        seen.append(message.text)
        return 488 if "rude" in message.text else None

    receiver = MessageReceiver(bob, refuse_rude, status=202)
    sender = MessageSender(alice, "sip:alice@example.com")
    assert (await sender.send(uri(bob), "kind words")).status == 202
    assert (await sender.send(uri(bob), "rude words")).status == 488
    assert seen == ["kind words", "rude words"]
    assert [m.text for m in receiver.received] == ["kind words"]
    with pytest.raises(ValueError):
        MessageReceiver(bob, status=204)


async def test_415_with_accept_and_413(make_endpoint: MakeEndpoint) -> None:
    bob = await make_endpoint("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")
    MessageReceiver(bob, accept=("text/plain",), max_size=100)
    sender = MessageSender(alice, "sip:alice@example.com", max_size=None)
    html = await sender.send(uri(bob), "<b>hi</b>", content_type="text/html")
    assert html.status == 415 and html.headers.getall("Accept") == ["text/plain"]
    big = await sender.send(uri(bob, "tcp"), "y" * 200)
    assert big.status == 413


async def test_a_challenged_message_is_sent_again_with_credentials(
        make_endpoint: MakeEndpoint) -> None:
    bob = await make_endpoint("udp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")
    texts: list[str] = []

    @bob.handles("MESSAGE")
    async def challenge(req: Request, tx: ServerTransactionHandle) -> Response:
        if req.headers.get("Proxy-Authorization") is None:
            return tx.reply(407, headers=[("Proxy-Authenticate",
                                           'Digest realm="example.com", nonce="n1", qop="auth"')])
        texts.append(req.body.decode())
        return tx.reply(200)

    sender = MessageSender(alice, "sip:alice@example.com",
                           credentials=DigestClient("alice", "secret"))
    response = await asyncio.wait_for(sender.send(uri(bob), "let me in"), TIMEOUT)
    assert response.status == 200 and texts == ["let me in"]
    assert response.cseq.seq == 2  # §22.2


async def test_messages_to_one_uri_never_overlap(make_endpoint: MakeEndpoint) -> None:
    """RFC 3428 §8: one pending out-of-dialog MESSAGE per URI."""
    bob = await make_endpoint("udp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")
    pending = 0
    most = 0

    async def slow(message: ReceivedMessage) -> None:
        nonlocal pending, most
        pending += 1
        most = max(most, pending)
        await asyncio.sleep(0.02)
        pending -= 1

    MessageReceiver(bob, slow)
    sender = MessageSender(alice, "sip:alice@example.com")
    responses = await asyncio.wait_for(
        asyncio.gather(*(sender.send(uri(bob), f"m{n}") for n in range(4))), TIMEOUT)
    assert [r.status for r in responses] == [200] * 4
    assert most == 1


async def test_options_describes_the_handlers_and_what_they_announced(
        make_endpoint: MakeEndpoint) -> None:
    bob: Endpoint = await make_endpoint("udp:127.0.0.1:0")
    alice = await make_endpoint("udp:127.0.0.1:0")

    async def options() -> Response:
        return await asyncio.wait_for(alice.request(request("OPTIONS", uri(bob))), TIMEOUT)

    before = await options()
    assert before.headers.getall("Allow") == ["OPTIONS"]
    assert before.headers.get("Allow-Events") is None
    MessageReceiver(bob)
    bob.announce(supported=["timer"], events=["message-summary"])
    after = await options()
    assert after.headers.getall("Allow") == ["OPTIONS", "MESSAGE"]
    assert after.headers.getall("Accept") == ["application/sdp", "text/plain", "message/cpim"]
    assert after.headers.getall("Supported") == ["timer"]
    assert after.headers.getall("Allow-Events") == ["message-summary"]
    assert bob.supported_options == ["timer"] and "text/plain" in bob.accepted_types
    # an option tag announced is no longer answered 420 (§8.2.2.3)
    required = request("MESSAGE", uri(bob), headers=[("Require", "timer")],
                       body=b"x", content_type="text/plain")
    assert (await asyncio.wait_for(alice.request(required), TIMEOUT)).status == 200
