"""``sipwire options``: OPTIONS probes like ping (RFC 3261 §11), against an endpoint of the test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sipwire import Request, Response
from sipwire.transport import Flow, TransportConfig
from sipwire.ua import Endpoint, EndpointConfig, ServerTransactionHandle
from tests.transport.conftest import Certificate, certificate

from .conftest import RunCli

__all__ = ["certificate"]


@pytest_asyncio.fixture
async def server(certificate: Certificate) -> AsyncIterator[Endpoint]:
    config = EndpointConfig(transport=TransportConfig(
        tls_server_context=certificate.server_context()))
    async with Endpoint(["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"],
                        config=config) as ep:
        yield ep


def uri(ep: Endpoint, transport: str = "udp") -> str:
    port = next(p.port for p in ep.listening_points if p.transport == transport.upper())
    return f"sip:ping@127.0.0.1:{port}"


async def test_a_200_exits_0(server: Endpoint, run_cli: RunCli) -> None:
    result = await run_cli("options", uri(server))
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"OPTIONS {uri(server)} via udp:127.0.0.1:{uri(server).rsplit(':', 1)[1]}"
    assert re.fullmatch(r"200 OK from udp:127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms", lines[1])
    assert lines[-2] == f"--- {uri(server)} options statistics ---"
    assert lines[-1].startswith("1 probes sent, 1 answered 2xx, 0 failed (0% failed), rtt ")
    assert result.err == ""


async def test_count_sends_that_many_probes_each_a_new_request(server: Endpoint,
                                                               run_cli: RunCli) -> None:
    seen: list[Request] = []

    def record(message: Request | Response, flow: Flow) -> bool:
        if isinstance(message, Request):
            seen.append(message)
        return True

    server.receive_filter = record
    result = await run_cli("options", uri(server), "--count", "3", "--interval", "0.05")
    assert result.status == 0, result.err
    lines = result.out.splitlines()[1:4]
    assert [line.split()[0] for line in lines] == ["200"] * 3
    assert [m[1] for line in lines if (m := re.search(r"seq=(\d+) ", line))] == ["1", "2", "3"]
    assert "3 probes sent, 3 answered 2xx" in result.out
    # out of any dialog, each its own request: §8.1.1.4 Call-ID, §8.1.1.3 From tag
    assert [r.method for r in seen] == ["OPTIONS"] * 3
    assert len({r.call_id for r in seen}) == 3
    assert len({r.from_.tag for r in seen}) == 3 and None not in {r.from_.tag for r in seen}
    assert [(r.cseq.seq, r.cseq.method) for r in seen] == [(1, "OPTIONS")] * 3
    assert seen[0].headers.get("User-Agent", "").startswith("sipwire/")


async def test_a_404_exits_1(server: Endpoint, run_cli: RunCli) -> None:
    @server.handles("OPTIONS")
    async def not_found(request: Request, tx: ServerTransactionHandle) -> Response:
        return tx.reply(404)

    result = await run_cli("options", uri(server), "-c", "2", "-i", "0")
    assert result.status == 1
    assert "404 Not Found from" in result.out
    assert "2 probes sent, 0 answered 2xx, 2 failed (100% failed)" in result.out


async def test_a_timeout_exits_1(server: Endpoint, run_cli: RunCli) -> None:
    server.receive_filter = lambda message, flow: False
    result = await run_cli("options", uri(server), "--timeout", "0.3")
    assert result.status == 1
    assert "seq=1: timeout, no final response in 0.3 s" in result.out
    assert "1 probes sent, 0 answered 2xx, 1 failed" in result.out


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_over_tcp_and_tls(server: Endpoint, run_cli: RunCli, transport: str) -> None:
    result = await run_cli("options", uri(server, transport), "-t", transport, "--insecure")
    assert result.status == 0, result.err
    assert f"200 OK from {transport}:127.0.0.1:" in result.out


async def test_tls_verifies_the_certificate_unless_insecure(server: Endpoint,
                                                            run_cli: RunCli) -> None:
    result = await run_cli("options", uri(server, "tls"), "-t", "tls")
    assert result.status == 1  # a self-signed certificate: 503 (§8.1.3.1)
    assert "503 Service Unavailable (transport error) to tls:127.0.0.1:" in result.out


async def test_ctrl_c_prints_the_summary(server: Endpoint, run_cli: RunCli) -> None:
    result = await run_cli("options", uri(server), "--count", "1000", "--interval", "0.1",
                           interrupt_after="seq=2")
    assert result.status == 0, result.err
    assert "options statistics ---" in result.out
    assert re.search(r"^(2|3) probes sent, \1 answered 2xx", result.out, re.MULTILINE)


@pytest.mark.parametrize("args", [
    ["options", "not a uri"],
    ["options", "tel:+15551234"],
    ["options", "sip:a@127.0.0.1", "--count", "0"],
    ["options", "sip:a@127.0.0.1", "--from", "nope"],
    ["options", "sip:a@127.0.0.1", "--transport", "sctp"],
])
async def test_usage_errors_exit_2(run_cli: RunCli, args: list[str]) -> None:
    result = await run_cli(*args)
    assert result.status == 2 and result.out == ""
    assert result.err
