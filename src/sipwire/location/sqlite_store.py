"""A location store in one SQLite file: the embedded default.

WAL journal, one connection used by one worker thread, so the event loop never
blocks on the disk and updates are serialized in this process; ``BEGIN
IMMEDIATE`` takes SQLite's write lock before reading, so processes sharing
the file serialize their updates of an AOR too.  With ``synchronous=NORMAL``
in WAL mode a committed update survives the process ending (a crash
included); it can be lost only with the machine's power.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .binding import Binding, Source, sort_bindings
from .store import Change, LocationStore, StoreError, check_change

__all__ = ["SQLiteStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS binding (
    aor TEXT NOT NULL,
    key TEXT NOT NULL,
    contact TEXT NOT NULL,
    contact_value TEXT NOT NULL,
    expires_at REAL NOT NULL,
    q REAL NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    path TEXT NOT NULL,
    instance_id TEXT,
    reg_id INTEGER,
    transport TEXT,
    source_host TEXT,
    source_port INTEGER,
    source_local TEXT,
    user_agent TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (aor, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS binding_expires_at ON binding (expires_at);
"""

_COLUMNS = ("aor, key, contact, contact_value, expires_at, q, call_id, cseq, path, instance_id, "
            "reg_id, transport, source_host, source_port, source_local, user_agent, updated_at")
_SELECT = f"SELECT {_COLUMNS} FROM binding"
_INSERT = f"INSERT OR REPLACE INTO binding ({_COLUMNS}) VALUES ({', '.join('?' * 17)})"

Row = tuple[Any, ...]


class SQLiteStore(LocationStore):
    """Bindings in an SQLite database at ``path`` (``":memory:"`` for none).

    Every unexpired binding is there again when the file is opened anew.
    """

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = str(path)
        # Opened here (a few milliseconds), used only in the worker thread after.
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open location database {self.path!r}: {exc}") from exc
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open location database {self.path!r}: {exc}") from exc
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sipwire-sqlite")
        self._closed = False

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema version {version}, expected {SCHEMA_VERSION}")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    async def _run(self, work: Callable[[], T]) -> T:
        if self._closed:
            raise StoreError("the location store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work)
        except sqlite3.Error as exc:
            raise StoreError(f"location database {self.path!r}: {exc}") from exc

    # -- the interface ----------------------------------------------------------------

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        return await self._run(lambda: self._update(aor, change, now))

    def _update(self, aor: str, change: Change, now: float) -> list[Binding]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(f"{_SELECT} WHERE aor = ?", (aor,)).fetchall()
            current = {b.key: b for b in map(_binding, rows)}
            live = sort_bindings([b for b in current.values() if not b.expired(now)])
            new = check_change(aor, change(live), now)
            keep = {b.key for b in new}
            conn.executemany("DELETE FROM binding WHERE aor = ? AND key = ?",
                             [(aor, key) for key in current if key not in keep])
            conn.executemany(_INSERT, [_row(b) for b in new if current.get(b.key) != b])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new

    async def lookup(self, aor: str, now: float) -> list[Binding]:
        rows = await self._run(lambda: self._conn.execute(
            f"{_SELECT} WHERE aor = ? AND expires_at > ?", (aor, now)).fetchall())
        return sort_bindings([_binding(row) for row in rows])

    async def remove(self, aor: str) -> int:
        return await self._run(lambda: self._conn.execute(
            "DELETE FROM binding WHERE aor = ?", (aor,)).rowcount)

    async def purge(self, now: float) -> int:
        return await self._run(lambda: self._conn.execute(
            "DELETE FROM binding WHERE expires_at <= ?", (now,)).rowcount)

    async def aors(self, now: float) -> list[str]:
        rows = await self._run(lambda: self._conn.execute(
            "SELECT DISTINCT aor FROM binding WHERE expires_at > ? ORDER BY aor",
            (now,)).fetchall())
        return [str(row[0]) for row in rows]

    async def bindings(self, now: float, aor: str | None = None) -> list[Binding]:
        where, args = ("expires_at > ?", (now,)) if aor is None else \
            ("aor = ? AND expires_at > ?", (aor, now))
        rows = await self._run(lambda: self._conn.execute(
            f"{_SELECT} WHERE {where} ORDER BY aor", args).fetchall())
        by_aor: dict[str, list[Binding]] = {}
        for row in rows:
            binding = _binding(row)
            by_aor.setdefault(binding.aor, []).append(binding)
        return [b for name in sorted(by_aor) for b in sort_bindings(by_aor[name])]

    async def count(self, now: float) -> int:
        row = await self._run(lambda: self._conn.execute(
            "SELECT COUNT(*) FROM binding WHERE expires_at > ?", (now,)).fetchone())
        return int(row[0])

    async def ping(self) -> None:
        await self._run(lambda: self._conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._closed = True
        self._executor.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


def _row(b: Binding) -> Row:
    source = b.source
    return (
        b.aor, b.key, b.contact, b.contact_value, b.expires_at, b.q, b.call_id, b.cseq,
        json.dumps(list(b.path)), b.instance_id, b.reg_id,
        source.transport if source else None, source.host if source else None,
        source.port if source else None, source.local if source else None,
        b.user_agent, b.updated_at,
    )


def _binding(row: Row) -> Binding:
    (aor, _key, contact, contact_value, expires_at, q, call_id, cseq, path, instance_id,
     reg_id, transport, host, port, local, user_agent, updated_at) = row
    source = None
    if transport is not None:
        source = Source(str(transport), str(host), int(port),
                        None if local is None else str(local))
    return Binding(
        aor=str(aor), contact=str(contact), contact_value=str(contact_value),
        expires_at=float(expires_at), q=float(q),
        call_id=str(call_id), cseq=int(cseq),
        path=tuple(json.loads(str(path))),
        instance_id=None if instance_id is None else str(instance_id),
        reg_id=None if reg_id is None else int(reg_id),
        source=source, user_agent=None if user_agent is None else str(user_agent),
        updated_at=float(updated_at),
    )
