"""SQLiteStore: persistence across restarts, WAL, sharing one file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sipwire.location import Binding, Source, SQLiteStore, StoreError

from .test_store_contract import AOR, T0, binding


async def test_bindings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    kept = [
        binding(f"sip:alice@192.0.2.{i}", q=i / 10, path=("<sip:edge.example.com;lr>",),
                source=Source("UDP", "192.0.2.1", 5060 + i), user_agent="ua")
        for i in range(1, 6)
    ]
    for b in kept:
        await store.put(b, T0)
    await store.put(binding("sip:bob@192.0.2.9", aor="sip:bob@example.com"), T0)
    await store.put(binding("sip:short@192.0.2.10", expires=5), T0)
    await store.close()

    reopened = SQLiteStore(path)
    try:
        later = T0 + 10  # the short one has expired meanwhile
        assert await reopened.lookup(AOR, later) == sorted(kept, key=lambda b: -b.q)
        assert await reopened.aors(later) == ["sip:alice@example.com", "sip:bob@example.com"]
        assert await reopened.purge(later) == 1
    finally:
        await reopened.close()


async def test_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    store = SQLiteStore(path)
    await store.put(binding(), T0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()


async def test_in_memory_database() -> None:
    store = SQLiteStore(":memory:")
    await store.put(binding(), T0)
    assert len(await store.lookup(AOR, T0)) == 1
    await store.close()


async def test_two_connections_to_one_file_serialize_updates(tmp_path: Path) -> None:
    """Two stores on one file stand for two processes: BEGIN IMMEDIATE
    serializes their read-modify-writes."""
    one, two = SQLiteStore(tmp_path / "loc.db"), SQLiteStore(tmp_path / "loc.db")
    await one.put(binding(cseq=0), T0)

    def bump(current: list[Binding]) -> list[Binding]:
        (only,) = current
        return [only.replace(cseq=only.cseq + 1)]

    await asyncio.gather(*((one if i % 2 else two).update(AOR, bump, T0) for i in range(40)))
    (final,) = await two.lookup(AOR, T0)
    assert final.cseq == 40
    await one.close()
    await two.close()


async def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loc.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(path)


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing-dir" / "loc.db")
