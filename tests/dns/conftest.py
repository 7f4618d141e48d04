"""Fixtures of the DNS tests: a real authoritative server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .zone_server import ZoneServer
from .zones import zone


@pytest_asyncio.fixture
async def dns_server() -> AsyncIterator[ZoneServer]:
    """The test zone on a free port (UDP and TCP), with its default ports."""
    server = await ZoneServer(zone()).start()
    try:
        yield server
    finally:
        await server.close()
