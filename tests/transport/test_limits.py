"""What a stranger can make the transport layer spend: log lines."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from sipwire.transport import TransportConfig
from sipwire.transport.loglimit import LogLimiter

from .conftest import TIMEOUT, MakePeer, RawUdp, eventually
from .test_udp import raw_request

MakeRaw = Callable[..., Awaitable[RawUdp]]


# -- log lines from untrusted input ---------------------------------------------------------


async def test_a_flood_of_junk_datagrams_writes_a_bounded_log(
        make_peer: MakePeer, raw_udp: MakeRaw, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipwire.transport")
    b = await make_peer("udp:127.0.0.1:0", config=TransportConfig(log_limit=5,
                                                                  log_interval=0.3))
    client = await raw_udp()
    for _ in range(10):
        for _ in range(30):
            client.send(b"\xff junk \xff" * 20, b.port("udp"))
        await asyncio.sleep(0.01)  # let the layer read: the socket's buffer is bounded
    async with asyncio.timeout(TIMEOUT):  # until read after the junk (UDP may lose it)
        while b.inbox.queue.empty():
            client.send(raw_request("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKj1"), b.port("udp"))
            await asyncio.sleep(0.02)

    def unparsable() -> list[str]:
        return [r.getMessage() for r in caplog.records if "unparsable" in r.getMessage()]

    assert len(unparsable()) == 5
    await asyncio.sleep(0.3)
    client.send(b"\xff junk", b.port("udp"))
    await eventually(lambda: len(unparsable()) == 6)
    held = re.search(r"\((\d+) more like this suppressed\)", unparsable()[-1])
    assert held is not None and 1 <= int(held.group(1)) <= 295


def test_the_log_limiter_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("sipwire.test"), 2, 10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="sipwire.test")
    written = [limiter.log(logging.INFO, "a", "line %d", n) for n in range(5)]
    assert written == [True, True, False, False, False]
    assert limiter.log(logging.INFO, "b", "other kind")  # kinds are counted apart
    assert limiter.suppressed("a") == 3
    now[0] = 10.0
    assert limiter.log(logging.INFO, "a", "line %d", 5)
    assert [r.getMessage() for r in caplog.records] == [
        "line 0", "line 1", "other kind", "line 5 (3 more like this suppressed)"]
