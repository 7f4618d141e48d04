"""``sipwire send``: a request from a file in a client transaction (RFC 3261 §17.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from sipwire import Request, Response
from sipwire.ua import Endpoint, ServerTransactionHandle

from .conftest import RunCli


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Endpoint]:
    async with Endpoint(["udp:127.0.0.1:0"]) as ep:
        yield ep


def message_file(tmp_path: Path, method: str, port: int, body: str = "") -> Path:
    """A request as an editor saves it: LF line endings, placeholder Via."""
    lines = [
        f"{method} sip:bob@127.0.0.1:{port} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=1928301774",
        f"To: <sip:bob@127.0.0.1:{port}>",
        "Call-ID: a84b4c76e66710@example.com",
        f"CSeq: 314159 {method}",
        "Contact: <sip:alice@192.0.2.1>",
    ]
    if body:
        lines.append("Content-Type: text/plain")
    lines.append(f"Content-Length: {len(body)}")
    path = tmp_path / f"{method.lower()}.sip"
    path.write_text("\n".join(lines) + "\n\n" + body)
    return path


def port(ep: Endpoint) -> int:
    return ep.listening_points[0].port


async def test_send_prints_every_response(server: Endpoint, run_cli: RunCli,
                                          tmp_path: Path) -> None:
    acked: list[Request | None] = []

    @server.handles("INVITE")
    async def invite(request: Request, tx: ServerTransactionHandle) -> None:
        await tx.respond(180)
        await tx.respond(tx.reply(200, contact=server.contact()))
        acked.append(await tx.wait_ack())

    result = await run_cli("send", str(message_file(tmp_path, "INVITE", port(server))))
    assert result.status == 0, result.err
    assert result.out.startswith("SIP/2.0 180 Ringing\n")
    assert "\nSIP/2.0 200 OK\n" in result.out
    assert "CSeq: 314159 INVITE" in result.out
    assert "LF line endings converted" in result.err
    assert "2xx acknowledged" in result.err
    async with asyncio.timeout(5):
        while not acked:
            await asyncio.sleep(0.01)
    assert acked[0] is not None


async def test_the_same_file_twice_makes_two_requests_unless_keep_ids(
        server: Endpoint, run_cli: RunCli, tmp_path: Path) -> None:
    seen: list[Request] = []

    @server.handles("MESSAGE")
    async def message(request: Request, tx: ServerTransactionHandle) -> Response:
        seen.append(request)
        return tx.reply(200)

    path = message_file(tmp_path, "MESSAGE", port(server))
    for _ in range(2):
        assert (await run_cli("send", str(path))).status == 0
    assert len({r.call_id for r in seen}) == 2 and len({r.via[0].branch for r in seen}) == 2
    assert len({r.from_.tag for r in seen}) == 2
    first = await run_cli("send", str(path), "--keep-ids")
    again = await run_cli("send", str(path), "--keep-ids")
    assert first.status == 0 and seen[-1].call_id == "a84b4c76e66710@example.com"
    # the first transaction still exists: the same From tag, Call-ID and CSeq from
    # another sent-by is a merged request (§8.2.2.2)
    assert again.status == 1 and again.out.startswith("SIP/2.0 482 Loop Detected")


async def test_send_json(server: Endpoint, run_cli: RunCli, tmp_path: Path) -> None:
    @server.handles("MESSAGE")
    async def message(request: Request, tx: ServerTransactionHandle) -> Response:
        assert request.body == b"hello"
        return tx.reply(202)

    path = message_file(tmp_path, "MESSAGE", port(server), body="hello")
    result = await run_cli("send", str(path), "--json")
    assert result.status == 0, result.err
    [response] = json.loads(result.out)
    assert response["kind"] == "response" and response["status"] == 202


async def test_send_to_another_target_and_non_2xx_exits_1(server: Endpoint, run_cli: RunCli,
                                                          tmp_path: Path) -> None:
    path = message_file(tmp_path, "SUBSCRIBE", 9)  # the Request-URI points nowhere
    result = await run_cli("send", str(path), "--to", f"sip:127.0.0.1:{port(server)}")
    assert result.status == 1
    assert result.out.startswith("SIP/2.0 405 Method Not Allowed\n")


async def test_send_timeout_exits_1(server: Endpoint, run_cli: RunCli, tmp_path: Path) -> None:
    server.receive_filter = lambda message, flow: False
    path = message_file(tmp_path, "OPTIONS", port(server))
    result = await run_cli("send", str(path), "--timeout", "0.3")
    assert result.status == 1 and result.out == ""
    assert "no final response in 0.3 s" in result.err


async def test_send_reads_standard_input(server: Endpoint, run_cli: RunCli,
                                         tmp_path: Path) -> None:
    data = message_file(tmp_path, "OPTIONS", port(server)).read_bytes()
    result = await run_cli("send", "-", stdin=data)
    assert result.status == 0, result.err
    assert result.out.startswith("SIP/2.0 200 OK\n")


async def test_send_refuses_a_response_or_garbage(run_cli: RunCli, tmp_path: Path) -> None:
    response = tmp_path / "response.sip"
    response.write_text("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>"
                        ";tag=1\nTo: <sip:c@d>\nCall-ID: x\nCSeq: 1 OPTIONS\n"
                        "Content-Length: 0\n\n")
    garbage = tmp_path / "garbage.sip"
    garbage.write_text("hello\n\n")
    for path in (response, garbage, tmp_path / "missing.sip"):
        result = await run_cli("send", str(path))
        assert result.status == 2 and result.out == "" and result.err
