"""A Redis location service that goes down under ``sipwire serve`` and comes
back: 503 with Retry-After meanwhile (RFC 3261 §21.5.4), one log line when
the outage starts and one when it ends, and service again after it.

It was a 500 without Retry-After and a traceback per request (7 MB of log in
7 s).  The redis-server is the test's own (``RedisProcess``), stopped and
started again on its port by its PID; skipped without a binary unless
``SIPWIRE_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwire import Request, Response

from ..location.redis_server import RedisProcess, find_redis_server
from .conftest import OpenPhone, Serve
from .phone import Phone, request_of, status

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


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


async def final(phone: Phone, request: Request) -> Response:
    """The final response to ``request``; one to an INVITE is ACKed."""
    phone.send(request)
    while True:
        response = (await phone.receive()).message
        if isinstance(response, Response) and response.status >= 200 \
                and response.call_id == request.call_id:
            break
    if request.method == "INVITE":
        ack = phone.build("ACK", str(request.uri), call_id=request.call_id,
                          cseq=request.cseq.seq)
        ack.headers.set("Via", str(response.via[0]))
        ack.headers.set("To", response.headers["To"])
        phone.send(ack)
    return response


async def test_a_redis_outage_is_503_with_retry_after_and_one_line_each_way(
        serve: Serve, phone: OpenPhone, redis: RedisProcess,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = await serve(store=redis.url)
    alice, bob = await phone("alice", server), await phone("bob", server)
    assert status(await alice.request(alice.register())) == 200

    redis.stop()
    refused: list[Response] = []
    for _ in range(30):
        refused.append(await final(alice, alice.register()))
    for _ in range(10):  # lookups of the proxy (§16.5)
        refused.append(await final(bob, bob.build("MESSAGE", alice.aor, body=b"hi")))
    refused.append(await final(bob, bob.build("INVITE", alice.aor, body=SDP)))
    assert {(r.status, r.headers.get("Retry-After")) for r in refused} == {(503, "5")}
    assert "location service is unavailable" in (refused[0].headers.get("Warning") or "")

    redis.start()  # empty: persistence is off, as after a crash
    assert status(await alice.request(alice.register())) == 200
    bob.send(bob.build("MESSAGE", alice.aor, body=b"back"))
    got = await alice.expect("MESSAGE")
    assert request_of(got).body == b"back"
    alice.answer(got, 200)
    assert status(await bob.expect(200)) == 200

    ours = [r for r in caplog.records if r.name.startswith("sipwire")]
    assert [r for r in ours if r.exc_info is not None] == []  # not a traceback in sight
    loud = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    assert len(loud) == 2, loud
    assert loud[0].startswith("location store unavailable: redis: ")
    assert "answering 503 with Retry-After 5" in loud[0]
    assert loud[1].startswith("location store available again after ")
    assert "41 requests were answered 503" in loud[1]
