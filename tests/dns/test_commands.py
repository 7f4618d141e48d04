"""``--dns-server`` on the commands: ``sipwire options``, ``send``, ``message``,
``register`` and ``call`` to a name, and a real ``sipwire serve`` process
relaying to a domain name, each against the test zone on 127.0.0.1, with
failover from a target answering 503 to the next one (asserted where the
request arrived)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest_asyncio

from sipwire import Request, Response
from sipwire.ua import Endpoint
from sipwire.ua.server import ServerTransactionHandle
from tests.cli.conftest import COMMAND, RunCli, run_cli
from tests.server.processes import Serving, free_port, kill_all, start_serve

from .zone_server import ZoneServer
from .zones import zone

__all__ = ["run_cli"]

TIMEOUT = 10.0


@dataclass
class Target:
    """An endpoint standing for one SRV target, answering ``status``."""

    endpoint: Endpoint
    status: int
    got: list[Request] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.endpoint.listening_points[0].port


@pytest_asyncio.fixture
async def targets(dns_server: ZoneServer) -> AsyncIterator[tuple[Target, Target]]:
    """failover.test's first target answers 503, its second 200 (202 to MESSAGE)."""
    made: list[Target] = []
    for status in (503, 200):
        ep = Endpoint(["udp:127.0.0.1:0"])
        await ep.start()
        target = Target(ep, status)

        async def answer(request: Request, tx: ServerTransactionHandle,
                         target: Target = target) -> Response:
            target.got.append(request)
            if target.status != 200:
                return tx.reply(target.status)
            if request.method == "OPTIONS":
                return target.endpoint.options_response(tx)
            return tx.reply(202 if request.method == "MESSAGE" else 200)

        ep.on_request(answer)
        made.append(target)
    first, second = made
    dns_server.replace(zone(first_port=first.port, second_port=second.port))
    yield first, second
    for target in made:
        await asyncio.wait_for(target.endpoint.close(), TIMEOUT)


async def test_options_to_a_name(dns_server: ZoneServer, targets: tuple[Target, Target],
                                 run_cli: RunCli) -> None:
    first, second = targets
    result = await run_cli("options", "sip:probe@failover.test", "--count", "2",
                           "--interval", "0", "--dns-server", dns_server.address)
    assert result.status == 0, result.err
    assert result.out.count(f"200 OK from udp:127.0.0.1:{second.port}") == 2
    # the first probe met the 503 and went on; the second skipped the first target
    assert len(first.got) == 1 and len(second.got) == 2
    assert dns_server.count("failover.test", "NAPTR") == 1  # then the cache


async def test_send_to_a_name(dns_server: ZoneServer, targets: tuple[Target, Target],
                              run_cli: RunCli, tmp_path: Path) -> None:
    first, second = targets
    path = tmp_path / "message.sip"
    path.write_text("MESSAGE sip:carol@failover.test SIP/2.0\n"
                    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\n"
                    "Max-Forwards: 70\n"
                    "From: <sip:alice@example.test>;tag=1928301774\n"
                    "To: <sip:carol@failover.test>\n"
                    "Call-ID: dns-send@example.test\n"
                    "CSeq: 1 MESSAGE\n"
                    "Content-Length: 0\n\n")
    result = await run_cli("send", str(path), "--dns-server", dns_server.address)
    assert result.status == 0, result.err
    assert "SIP/2.0 202 Accepted" in result.out
    assert [r.method for r in first.got] == ["MESSAGE"]  # answered 503: the next target
    assert [r.method for r in second.got] == ["MESSAGE"]
    assert str(second.got[0].uri) == "sip:carol@failover.test"  # §4: the URI is kept


async def test_a_bad_dns_server_is_a_usage_error(run_cli: RunCli) -> None:
    result = await run_cli("options", "sip:probe@failover.test", "--dns-server", "ns.test")
    assert result.status == 2
    assert "--dns-server" in result.err and "IP address" in result.err


async def test_serve_relays_to_a_domain_name(dns_server: ZoneServer,
                                            targets: tuple[Target, Target],
                                            tmp_path: Path) -> None:
    first, second = targets
    port = free_port()
    serving: Serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--auth", "off",
        "--relay", "--store", "memory:", "--log-level", "info",
        "--dns-server", dns_server.address, cwd=tmp_path)
    try:
        async with Endpoint(["udp:127.0.0.1:0"]) as alice:
            for n in (1, 2):
                request = Request.build("MESSAGE", "sip:carol@failover.test",
                                        from_="sip:alice@example.com",
                                        call_id=f"relay-{n}@example.com")
                response = await asyncio.wait_for(
                    alice.request(request, f"udp:127.0.0.1:{port}"), TIMEOUT)
                assert response.status == 202
        # the proxy tried the first target (503), then the second; the next
        # request went straight to the second (the first is blacklisted)
        assert len(first.got) == 1 and len(second.got) == 2
        relayed = second.got[0]
        assert str(relayed.uri) == "sip:carol@failover.test"
        assert len(relayed.via) == 2  # the proxy's Via on top of alice's
        assert relayed.top_via.branch != first.got[0].top_via.branch  # a new transaction
        await serving.wait_for("RFC 3263 §4.3")
        assert await serving.terminate() == 0
    finally:
        await serving.kill()


async def test_message_to_a_name(dns_server: ZoneServer, targets: tuple[Target, Target],
                                 run_cli: RunCli) -> None:
    # the user-agent commands share the option (sipwire.dns.add_dns_argument)
    first, second = targets
    result = await run_cli("message", "sip:carol@failover.test", "hello",
                           "--from", "sip:alice@example.test",
                           "--dns-server", dns_server.address)
    assert result.status == 0, result.err
    assert [r.method for r in first.got] == ["MESSAGE"]  # 503, then the next target
    assert [r.body for r in second.got] == [b"hello"]


async def test_register_to_a_name(dns_server: ZoneServer, targets: tuple[Target, Target],
                                  run_cli: RunCli) -> None:
    # the REGISTER's Request-URI is the domain: RFC 3263 finds its registrar
    first, second = targets
    result = await run_cli("register", "sip:alice@failover.test", "--expires", "60",
                           "--dns-server", dns_server.address)
    assert result.status == 0, result.err
    assert [r.method for r in first.got] == ["REGISTER"]  # 503, then the next target
    (register,) = second.got
    assert register.method == "REGISTER" and str(register.uri) == "sip:failover.test"


async def test_call_to_a_name(dns_server: ZoneServer, tmp_path: Path,
                              run_cli: RunCli) -> None:
    """``sipwire call`` to a name: the INVITE meets the first target's 503 and
    goes to the second, a real ``sipwire answer``; the call is answered and
    ended there (its BYE reached the callee)."""
    busy = Endpoint(["udp:127.0.0.1:0"])
    await busy.start()
    got: list[str] = []

    async def unavailable(request: Request, tx: ServerTransactionHandle) -> Response:
        got.append(request.method)
        return tx.reply(503)

    busy.on_request(unavailable)
    port = free_port()
    dns_server.replace(zone(first_port=busy.listening_points[0].port, second_port=port))
    answer = await asyncio.create_subprocess_exec(
        *COMMAND, "answer", "--listen", f"udp:127.0.0.1:{port}", "--count", "1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
    try:
        assert answer.stdout is not None
        line = await asyncio.wait_for(answer.stdout.readline(), TIMEOUT)
        assert line.startswith(b"listening on"), line
        result = await run_cli("call", "sip:bob@failover.test", "--timeout", "10",
                               "--dns-server", dns_server.address)
        assert result.status == 0, result.err
        assert got == ["INVITE"]
        out, err = await asyncio.wait_for(answer.communicate(), TIMEOUT)
        assert answer.returncode == 0, err
        assert b"by remote (bye)" in out  # the callee got the caller's BYE
    finally:
        await kill_all([answer])
        await asyncio.wait_for(busy.close(), TIMEOUT)


async def test_options_says_where_it_resolves(dns_server: ZoneServer,
                                              targets: tuple[Target, Target],
                                              run_cli: RunCli) -> None:
    result = await run_cli("options", "sip:probe@failover.test", "--count", "1",
                           "--dns-server", dns_server.address)
    assert result.status == 0, result.err
    assert result.out.splitlines()[0] == (f"OPTIONS sip:probe@failover.test via RFC 3263 "
                                          f"(DNS at {dns_server.address})")
