"""``serve --http``: /metrics as Prometheus parses it after real REGISTERs and
a real INVITE through the proxy, and /health following the store (a
redis-server of the test's own, stopped and started by its PID).  Then the
endpoint's HTTP manners, in process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipwire import Request, Response
from sipwire.server.config import ConfigError, ServerConfig
from sipwire.server.control import Operations

from ..location.redis_server import RedisProcess, find_redis_server
from .conftest import Serve
from .phone import Phone, status
from .processes import free_port, start_serve

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("SIPWIRE_REQUIRE_REDIS") == "1":
            pytest.fail("SIPWIRE_REQUIRE_REDIS=1 but no redis-server binary was found")
        pytest.skip("no redis-server binary (apt-get install redis-server)")
    process = RedisProcess(binary, str(tmp_path))
    process.start()
    yield process
    process.stop()


async def http(port: int, path: str, method: str = "GET",
               raw: bytes | None = None) -> tuple[int, dict[str, str], str]:
    """One request to 127.0.0.1:port: status, headers (lower-case names), body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw if raw is not None else
                     f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        async with asyncio.timeout(10):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip())
                   for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body.decode()


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_and_health_of_a_serve_on_redis(tmp_path: Path,
                                                      redis: RedisProcess) -> None:
    port, http_port = free_port(), free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--auth", "off",
        "--store", redis.url, "--http", f"127.0.0.1:{http_port}", "--control", "",
        "--t1", "0.1", "--no-uvloop", cwd=tmp_path)
    alice = await Phone.open("alice", ("127.0.0.1", port))
    bob = await Phone.open("bob", ("127.0.0.1", port))
    try:
        await serving.wait_for("http=127.0.0.1:")
        code, headers, body = await http(http_port, "/health")
        assert (code, body) == (200, "ok\n")
        for phone in (alice, bob):
            assert status(await phone.request(phone.register())) == 200

        # alice calls bob; bob lets the proxy retransmit once, then answers
        invite = alice.build("INVITE", "sip:bob@example.com", to="<sip:bob@example.com>")
        alice.send(invite)
        first = await bob.expect("INVITE")
        again = await bob.expect("INVITE")  # Timer A: the same request again
        assert again.message.top_via.branch == first.message.top_via.branch
        bob.answer(first, 200)
        assert status(await alice.expect(200)) == 200

        code, headers, body = await http(http_port, "/metrics")
        assert code == 200
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = parse(body)
        received = "sipwire_sip_requests_received_total"
        assert value(samples, received, method="REGISTER") == 2
        assert value(samples, received, method="INVITE") == 1
        assert value(samples, "sipwire_sip_requests_sent_total", method="INVITE") >= 2
        assert value(samples, "sipwire_sip_responses_received_total", method="INVITE",
                     status="200") >= 1
        assert value(samples, "sipwire_sip_responses_sent_total", method="INVITE",
                     status="100") == 1
        assert value(samples, "sipwire_sip_responses_sent_total", method="INVITE",
                     status="200") >= 1
        assert value(samples, "sipwire_sip_responses_sent_total", method="REGISTER",
                     status="200") == 2
        assert value(samples, "sipwire_sip_retransmissions_total") >= 1
        assert value(samples, "sipwire_bindings") == 2
        assert value(samples, "sipwire_store_up") == 1
        assert value(samples, "sipwire_store_latency_seconds_count", operation="update") == 2
        assert value(samples, "sipwire_store_latency_seconds_count", operation="lookup") >= 1
        assert value(samples, "sipwire_store_latency_seconds_bucket", operation="update",
                     le="+Inf") == 2
        assert ("sipwire_event_loop_lag_seconds_count", ()) in samples
        assert value(samples, "sipwire_connections_open", transport="tcp") == 0
        assert value(samples, "sipwire_draining") == 0

        redis.stop()  # the location service goes away
        code, _, body = await http(http_port, "/health")
        assert code == 503
        assert body.startswith("location store unavailable: redis:"), body
        samples = parse((await http(http_port, "/metrics"))[2])
        assert value(samples, "sipwire_store_up") == 0
        assert ("sipwire_bindings", ()) not in samples

        redis.start()
        code, _, body = await http(http_port, "/health")
        assert (code, body) == (200, "ok\n")
    finally:
        alice.close()
        bob.close()
        assert await serving.terminate() == 0


async def test_transactions_by_state_while_a_call_rings(tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--domain", "example.com", "--auth", "off",
        "--store", "memory:", "--http", f"127.0.0.1:{http_port}", "--control", "",
        "--no-uvloop", cwd=tmp_path)
    alice = await Phone.open("alice", ("127.0.0.1", port))
    bob = await Phone.open("bob", ("127.0.0.1", port))
    try:
        await serving.wait_for("http=")
        assert status(await bob.request(bob.register())) == 200
        alice.send(alice.build("INVITE", "sip:bob@example.com", to="<sip:bob@example.com>"))
        ringing = await bob.expect("INVITE")
        bob.answer(ringing, 180)
        assert status(await alice.expect(180)) == 180
        samples = parse((await http(http_port, "/metrics"))[2])
        assert value(samples, "sipwire_transactions", kind="invite_server",
                     state="proceeding") == 1
        assert value(samples, "sipwire_transactions", kind="invite_client",
                     state="proceeding") == 1
        assert value(samples, "sipwire_sip_responses_received_total", method="INVITE",
                     status="180") == 1
        bob.answer(ringing, 486)
        assert status(await alice.expect(486)) == 486
    finally:
        alice.close()
        bob.close()
        assert await serving.terminate() == 0


async def test_http_manners(serve: Serve) -> None:
    server = await serve(http="127.0.0.1:0", control="")
    operations = await Operations(server).start()
    try:
        port = operations.http.address[1]
        code, _, body = await http(port, "/nothing")
        assert (code, body) == (404, "not found: try /metrics or /health\n")
        code, headers, body = await http(port, "/metrics", method="HEAD")
        assert (code, body) == (200, "")
        assert int(headers["content-length"]) > 100
        assert (await http(port, "/metrics", method="POST"))[0] == 405
        assert (await http(port, "", raw=b"nonsense\r\n\r\n"))[0] == 400
        big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10_000 + b"\r\n\r\n"
        assert (await http(port, "", raw=big))[0] == 431
        server.engine.draining = True
        code, _, body = await http(port, "/health")
        assert (code, body) == (503, "draining: stopping, new requests are answered 503\n")
    finally:
        await operations.close()


async def test_metrics_count_what_an_in_process_server_answers(serve: Serve) -> None:
    server = await serve(http="127.0.0.1:0", control="")
    operations = await Operations(server).start()
    phone = await Phone.open("dave", server.address("udp"))
    try:
        request: Request = phone.build("OPTIONS", f"sip:{server.address('udp')[0]}:"
                                                  f"{server.address('udp')[1]}")
        assert status(await phone.request(request)) == 200
        samples = parse(await operations.operator.metrics_text())
        assert value(samples, "sipwire_sip_requests_received_total", method="OPTIONS") == 1
        assert value(samples, "sipwire_sip_responses_sent_total", method="OPTIONS",
                     status="200") == 1
    finally:
        phone.close()
        await operations.close()


def test_http_address_is_checked() -> None:
    with pytest.raises(ConfigError, match="--http: expected HOST:PORT"):
        ServerConfig(http="9090").check()
    assert ServerConfig(http="[::1]:9090").check().http == "[::1]:9090"


async def test_auth_failures_and_bans_are_counted(serve: Serve) -> None:
    from sipwire.auth import DigestClient, MemoryUserStore

    users = MemoryUserStore()
    users.add("alice", "example.com", "right")
    server = await serve(auth="on", user_store=users, ban_users=2, control="")
    operator = Operations(server).operator
    phones = [await Phone.open(user, server.address("udp")) for user in ("alice", "mallory")]
    try:
        for phone in phones:  # two users failing from one address: it is banned
            request = phone.register()
            challenge = await phone.request(request)
            assert status(challenge) == 401
            assert isinstance(challenge.message, Response)
            wrong = DigestClient(phone.user, "wrong").answer(challenge.message, request)
            assert wrong is not None
            phone.send(wrong)
            await phone.silence(0.3)  # its answer, if any (the ban drops it)
        samples = parse(await operator.metrics_text())
        assert value(samples, "sipwire_auth_failures_total") == 2
        assert value(samples, "sipwire_bans") == 1
        stats = await operator.stats()
        assert stats["sipwire_bans"] == 1
    finally:
        for phone in phones:
            phone.close()


async def test_an_http_address_in_use_stops_the_start(tmp_path: Path) -> None:
    import socket

    from .processes import sipwire_command, sipwire_environment

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        code, _, err = await sipwire_command(
            "serve", "--listen", f"udp:127.0.0.1:{free_port()}", "--auth", "off", "--store",
            "memory:", "--control", "", "--http", f"127.0.0.1:{http_port}", "--no-uvloop",
            env=sipwire_environment(tmp_path), cwd=tmp_path)
    assert code == 1
    assert err.splitlines()[-1] == (f"sipwire serve: cannot start: cannot serve HTTP on "
                                    f"127.0.0.1:{http_port}: address already in use")


async def test_open_connections_are_counted_by_transport(serve: Serve) -> None:
    server = await serve(control="")
    operator = Operations(server).operator
    phone = await Phone.open("erin", server.address("tcp"), transport="tcp")
    try:
        assert status(await phone.request(phone.register())) == 200
        samples = parse(await operator.metrics_text())
        assert value(samples, "sipwire_connections_open", transport="tcp") == 1
        assert value(samples, "sipwire_connections_open", transport="tls") == 0
    finally:
        phone.close()


async def test_no_store_check_starts_unhealthy_until_the_store_answers(
        tmp_path: Path, redis: RedisProcess) -> None:
    """``--no-store-check``: a Redis down at start does not stop the start;
    /health answers 503 naming the store until it answers, then 200."""
    redis.stop()
    port, http_port = free_port(), free_port()
    serving = await start_serve(
        "--listen", f"udp:127.0.0.1:{port}", "--auth", "off", "--store", redis.url,
        "--no-store-check", "--http", f"127.0.0.1:{http_port}", "--control", "",
        "--no-uvloop", cwd=tmp_path)
    try:
        await serving.wait_for("http=127.0.0.1:")
        code, _, body = await http(http_port, "/health")
        assert code == 503
        assert body.startswith("location store unavailable: redis:"), body
        redis.start()
        code, _, body = await http(http_port, "/health")
        assert (code, body) == (200, "ok\n")
        assert value(parse((await http(http_port, "/metrics"))[2]), "sipwire_store_up") == 1
    finally:
        assert await serving.terminate() == 0


async def test_connections_over_the_limit_are_answered_503_at_once() -> None:
    """Silent connections hold handlers for ``timeout`` seconds each; past
    ``max_connections`` a newcomer is answered 503 + Retry-After without being
    read, and once they are gone the endpoint serves again."""
    from sipwire.server.http import HttpServer

    async def metrics() -> str:
        return "up 1\n"

    async def health() -> str | None:
        return None

    server = await HttpServer("127.0.0.1", 0, metrics=metrics, health=health, timeout=30.0,
                              max_connections=2).start()
    port = server.address[1]
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    try:
        # both silent connections are being served (their handlers wait to read)
        async with asyncio.timeout(5):
            while len(server._handlers) < 2:
                await asyncio.sleep(0.01)
        code, headers, body = await http(port, "/metrics")
        assert (code, headers["retry-after"], body) == (503, "1", "too many connections\n")
    finally:
        for _, writer in silent:
            writer.close()
    async with asyncio.timeout(5):
        while server._handlers:
            await asyncio.sleep(0.01)
    code, headers, body = await http(port, "/metrics")
    assert (code, body) == (200, "up 1\n")
    assert "retry-after" not in headers
    await server.close()
    with pytest.raises(ValueError, match="at least 1"):
        HttpServer("127.0.0.1", 0, metrics=metrics, health=health, max_connections=0)
