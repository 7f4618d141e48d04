"""``sipwire message``: to baresip through ``sipwire serve`` (the text must reach
baresip), and to a sipwire endpoint directly (RFC 3428)."""

from __future__ import annotations

import asyncio

from sipwire.ua import Endpoint
from sipwire.ua.messaging import MessageReceiver
from tests.ua.test_messaging_baresip import PASSWORD, WAIT, OpenSite, need_baresip, site

from .conftest import RunCli

__all__ = ["need_baresip", "site"]  # fixtures, used here


async def test_message_to_baresip_through_sipwire_serve(site: OpenSite, run_cli: RunCli) -> None:
    where = await site("alice", "bob")
    phone = await where.baresip("bob", f"sip:alice@127.0.0.1:{where.port}")
    result = await run_cli("message", f"sip:bob@127.0.0.1:{where.port}", "hello baresip",
                           "--user", "alice", "--password-stdin",
                           stdin=f"{PASSWORD}\n".encode())
    assert result.status == 0, result.err
    assert result.out == "200 OK\n"
    ladder = [line.split(maxsplit=3)[3] for line in result.err.splitlines()]
    assert ladder[:2] == [f"MESSAGE sip:bob@127.0.0.1:{where.port} SIP/2.0",
                          "SIP/2.0 407 Proxy Authentication Required"]
    assert ladder[-1] == "SIP/2.0 200 OK"
    # what arrived at the far end: baresip's trace holds the MESSAGE and its text
    async with asyncio.timeout(WAIT):
        while b"hello baresip" not in phone.messages("in"):
            await asyncio.sleep(0.05)


async def test_message_to_an_endpoint_directly(run_cli: RunCli) -> None:
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        receiver = MessageReceiver(ep, accept=("text/plain",))
        port = ep.listening_points[0].port
        result = await run_cli("message", f"sip:bob@127.0.0.1:{port}", "grüße",
                               "--from", "sip:alice@example.com")
        assert result.status == 0, result.err
        assert result.out == "200 OK\n"
        message = await asyncio.wait_for(receiver.get(), WAIT)
        assert message.text == "grüße" and str(message.sender.uri) == "sip:alice@example.com"
        assert message.request.contact == []  # RFC 3428 §4
        plain = await run_cli("message", f"sip:bob@127.0.0.1:{port}", "from nobody")
        assert plain.status == 0, plain.err
        assert str(receiver.received[1].sender.uri) == "sip:sipwire@127.0.0.1"  # the default
        refused = await run_cli("message", f"sip:bob@127.0.0.1:{port}", "<b>hi</b>",
                                "--content-type", "text/html")
        assert refused.status == 1 and refused.out == ""
        assert refused.err.splitlines()[-1] == "sipwire message: 415 Unsupported Media Type"
        assert len(receiver.received) == 2


async def test_a_message_over_1300_bytes_is_a_usage_error(run_cli: RunCli) -> None:
    result = await run_cli("message", "sip:bob@127.0.0.1:9", "x" * 1400)
    assert result.status == 2
    assert "1300" in result.err.splitlines()[-1]


async def test_a_password_without_a_user_is_a_usage_error(run_cli: RunCli) -> None:
    result = await run_cli("message", "sip:127.0.0.1:9", "hi", "--from", "sip:example.com",
                           "--password-stdin", stdin=b"x\n")
    assert result.status == 2 and "--user" in result.err
