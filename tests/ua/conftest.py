"""Fixtures for the endpoint tests: event loops, timer settings, endpoints.

Every async test here runs twice, on asyncio's own loop and on uvloop (when
installed).  The certificate fixture is the transport tests' one.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from sipwire import Request
from sipwire.auth import DigestClient
from sipwire.transaction import TimerConfig
from sipwire.transport import TransportConfig
from sipwire.ua import Endpoint, EndpointConfig
from tests.transport.conftest import Certificate, certificate, tls_config

__all__ = ["Certificate", "certificate", "tls_config"]

#: seconds any single wait in these tests may take
TIMEOUT = 5.0
#: T1 = 5 ms: Timer B/F fire after 64*T1 = 0.32 s, retransmissions start at 5 ms
FAST = TimerConfig(t1=0.005, t2=0.02, t4=0.02, timer_d=0.05)
#: T1 = 10 ms for tests that must see a retransmission but no timeout
QUICK = TimerConfig(t1=0.01, t2=0.04, t4=0.04, timer_d=0.1)


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    factories: dict[str, Callable[[], Any]] = {"asyncio": asyncio.new_event_loop}
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    return factories


MakeEndpoint = Callable[..., Awaitable[Endpoint]]


@pytest_asyncio.fixture
async def make_endpoint() -> AsyncIterator[MakeEndpoint]:
    """``await make_endpoint("udp:127.0.0.1:0", ..., timers=..., transport=...)``:
    a started endpoint, closed when the test ends."""
    endpoints: list[Endpoint] = []

    async def make(*specs: str, timers: TimerConfig | None = None,
                   transport: TransportConfig | None = None,
                   credentials: DigestClient | None = None, **options: Any) -> Endpoint:
        config = EndpointConfig(timers=timers or TimerConfig(),
                                transport=transport or TransportConfig(), **options)
        ep = Endpoint(specs, config=config, credentials=credentials)
        endpoints.append(ep)
        return await ep.start()

    yield make
    for ep in endpoints:
        await asyncio.wait_for(ep.close(), TIMEOUT)


def port(ep: Endpoint, transport: str = "udp") -> int:
    return next(p.port for p in ep.listening_points if p.transport == transport.upper())


def uri(ep: Endpoint, transport: str = "udp", user: str = "bob") -> str:
    """The URI of ``ep``'s listening point for ``transport``."""
    params = "" if transport == "udp" else f";transport={transport}"
    return f"sip:{user}@127.0.0.1:{port(ep, transport)}{params}"


def request(method: str, to: str, **kwargs: Any) -> Request:
    return Request.build(method, to, from_="sip:alice@example.com", **kwargs)


def once(spy: Callable[[Any, object], bool]) -> Callable[[Any, object], bool]:
    """A receive filter that shows ``spy`` each message once: a retransmission
    (the same bytes again, as UDP with a short T1 sends on a loaded machine)
    is passed on without it."""
    seen: set[bytes] = set()

    def keep(message: Any, flow: object) -> bool:
        data = bytes(message)
        if data in seen:
            return True
        seen.add(data)
        return spy(message, flow)
    return keep
