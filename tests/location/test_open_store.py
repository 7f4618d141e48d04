"""open_store(url) and the Binding record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipwire.location import (
    Binding,
    MemoryStore,
    Source,
    SQLiteStore,
    open_store,
    purge_periodically,
)

from .test_store_contract import AOR, T0, binding


async def test_memory() -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)


async def test_sqlite_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"sqlite:///{tmp_path}/loc.db")  # sqlite:////tmp/...: absolute
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == f"{tmp_path}/loc.db"
    await absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    assert isinstance(relative, SQLiteStore) and relative.path == "rel.db"
    await relative.put(binding(), T0)
    await relative.close()
    assert (tmp_path / "rel.db").exists()
    in_memory = open_store("sqlite:///:memory:")
    assert isinstance(in_memory, SQLiteStore) and in_memory.path == ":memory:"
    await in_memory.close()


@pytest.mark.parametrize("url", [
    "memory:/x", "sqlite:", "sqlite://host/x.db", "sqlite:///", "postgres://db/x",
    "loc.db", "",
])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)


def test_binding_json_round_trip() -> None:
    b = binding(path=("<sip:p1;lr>",), instance_id="urn:uuid:1", reg_id=2,
                source=Source("WSS", "2001:db8::1", 443, None), user_agent=None)
    assert Binding.from_json(b.to_json()) == b
    plain = binding()
    assert Binding.from_json(plain.to_json()) == plain


def test_binding_remaining_and_contact_header() -> None:
    b = Binding(aor=AOR, contact="sip:alice@192.0.2.1",
                contact_value='"Alice" <sip:alice@192.0.2.1>;expires=3600;q=0.5',
                expires_at=T0 + 3600)
    assert b.remaining(T0) == 3600
    assert b.remaining(T0 + 0.4) == 3600  # whole seconds, rounded up
    assert b.remaining(T0 + 3600) == 0
    assert b.remaining(T0 + 9999) == 0
    assert str(b.contact_header(T0 + 600)) == '"Alice" <sip:alice@192.0.2.1>;expires=3000;q=0.5'
    assert b.uri.host == "192.0.2.1"


def test_contact_header_of_a_binding_written_by_hand() -> None:
    b = Binding(aor=AOR, contact="sip:alice@192.0.2.1", contact_value="not a contact <",
                expires_at=T0 + 60)
    assert str(b.contact_header(T0)) == "<sip:alice@192.0.2.1>;expires=60"


async def test_purge_periodically() -> None:
    store = MemoryStore()
    await store.put(binding("sip:a@192.0.2.1", expires=10), T0)
    await store.put(binding("sip:b@192.0.2.2", expires=1000), T0)
    now = [T0]

    class Flaky(MemoryStore):
        calls = 0

        async def purge(self, now: float) -> int:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("transient")
            return await store.purge(now)

    now[0] = T0 + 100
    task = asyncio.create_task(purge_periodically(Flaky(), 0.001, clock=lambda: now[0]))
    while Flaky.calls < 3:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [b.contact for b in await store.lookup(AOR, T0)] == ["sip:b@192.0.2.2"]
    assert await store.purge(T0 + 100) == 0  # the expired one was already purged
