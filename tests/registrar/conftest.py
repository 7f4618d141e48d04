"""Fixtures and a REGISTER builder for the registrar tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

import sipwire
from sipwire.location import LocationStore, MemoryStore, SQLiteStore
from sipwire.message.message import Request
from sipwire.registrar import Registrar

from ..location.conftest import redis_url  # noqa: F401  (the session Redis server)

#: a POSIX time to drive the registrar with: Sat, 13 Nov 2010 23:29:00 GMT
T0 = 1289690940.0
AOR = "sip:alice@example.com"


def register(
    *contacts: str,
    call_id: str = "843817637684230@998sdasdh09",
    cseq: int = 1826,
    expires: int | str | None = None,
    to: str = "<sip:alice@example.com>",
    uri: str = "sip:example.com",
    method: str = "REGISTER",
    vias: int = 1,
    headers: Iterable[str] = (),
) -> Request:
    """A REGISTER as UAs send it, parsed from literal bytes."""
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"Via: SIP/2.0/UDP 192.0.2.{i + 1}:5060;branch=z9hG4bKnashds{i}"
              for i in reversed(range(vias))]
    lines += [
        "Max-Forwards: 70",
        f"To: {to}",
        "From: <sip:alice@example.com>;tag=456248",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += list(headers)
    lines += ["Content-Length: 0", "", ""]
    message = sipwire.parse("\r\n".join(lines).encode())
    assert isinstance(message, Request)
    return message


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def registrar(store: MemoryStore) -> Registrar:
    return Registrar(store, ["example.com"], aliases=["192.0.2.100"])


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path
                    ) -> AsyncIterator[LocationStore]:
    """Each of the three stores in turn."""
    store: LocationStore
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "loc.db")
    else:
        from sipwire.location import RedisStore

        url = request.getfixturevalue("redis_url")
        store = RedisStore.from_url(url, prefix=f"test:{uuid.uuid4().hex}")
    yield store
    await store.close()
