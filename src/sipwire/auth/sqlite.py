"""A :class:`~sipwire.auth.store.UserStore` in an SQLite file (stdlib ``sqlite3``).

One table, one row per (username, realm)::

    users(username, realm, ha1_md5, ha1_sha256, ha1_sha512_256, created)

HA1s only (see ``store``).  The file is created readable by its owner only,
and ``secure_delete`` is on so that a replaced or removed HA1 does not linger
in free pages.
"""

from __future__ import annotations

import builtins
import errno
import os
import sqlite3
import time
import urllib.parse
from pathlib import Path
from types import TracebackType

from .store import UserExists, UserRecord

__all__ = ["SQLiteUserStore", "read_users"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username       TEXT NOT NULL,
    realm          TEXT NOT NULL,
    ha1_md5        TEXT,
    ha1_sha256     TEXT,
    ha1_sha512_256 TEXT,
    created        REAL NOT NULL,
    PRIMARY KEY (realm, username)
)
"""
#: column -> hash name
_COLUMNS = {"ha1_md5": "MD5", "ha1_sha256": "SHA-256", "ha1_sha512_256": "SHA-512-256"}
_SELECT = f"SELECT username, realm, {', '.join(_COLUMNS)}, created FROM users"


class SQLiteUserStore:
    """Users in an SQLite database at ``path`` (``":memory:"`` for a private one).

    Each change is committed at once.  Use as a context manager, or ``close()``.
    """

    __slots__ = ("_db", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not Path(self.path).exists():
            # Create it owner-only before SQLite does with the umask's mode.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA secure_delete = ON")
        with self._db:
            self._db.execute(_SCHEMA)

    def get(self, username: str, realm: str) -> UserRecord | None:
        row = self._db.execute(f"{_SELECT} WHERE realm = ? AND username = ?",
                               (realm, username)).fetchone()
        return None if row is None else _record(row)

    def add(
        self, username: str, realm: str, password: str, *, replace: bool = False,
        created: float | None = None,
    ) -> UserRecord:
        """Store the HA1s of ``password``; ``created`` defaults to the current time."""
        record = UserRecord.from_password(
            username, realm, password, created=time.time() if created is None else created)
        return self.add_record(record, replace=replace)

    def add_record(self, record: UserRecord, *, replace: bool = False) -> UserRecord:
        """Store a record made elsewhere (HA1s imported from another system)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        values = [record.ha1s.get(name) for name in _COLUMNS.values()]
        created = time.time() if record.created is None else record.created
        try:
            with self._db:
                self._db.execute(
                    f"{verb} INTO users (username, realm, {', '.join(_COLUMNS)}, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.username, record.realm, *values, created))
        except sqlite3.IntegrityError:
            raise UserExists(f"{record.username}@{record.realm}") from None
        return UserRecord(record.username, record.realm, record.ha1s, created)

    def remove(self, username: str, realm: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM users WHERE realm = ? AND username = ?",
                                      (realm, username))
        return cursor.rowcount > 0

    def list(self, realm: str | None = None) -> builtins.list[UserRecord]:
        if realm is None:
            rows = self._db.execute(f"{_SELECT} ORDER BY realm, username")
        else:
            rows = self._db.execute(f"{_SELECT} WHERE realm = ? ORDER BY username", (realm,))
        return [_record(row) for row in rows]

    def __len__(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        return count

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SQLiteUserStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_users(path: str | os.PathLike[str], *, timeout: float = 0.5) -> builtins.list[UserRecord]:
    """Every record of the user file at ``path``, read-only: a missing file is
    ``FileNotFoundError`` (never created), one that is not a user file
    ``sqlite3.DatabaseError``.  ``timeout`` bounds the wait for a writer's lock."""
    text = str(path)
    if not Path(text).is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", text)
    uri = f"file:{urllib.parse.quote(os.path.abspath(text))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        return [_record(row) for row in db.execute(f"{_SELECT} ORDER BY realm, username")]
    finally:
        db.close()


def _record(row: tuple[object, ...]) -> UserRecord:
    username, realm, *ha1s, created = row
    hashes = {name: value for name, value in zip(_COLUMNS.values(), ha1s, strict=True)
              if isinstance(value, str)}
    assert isinstance(username, str) and isinstance(realm, str)
    assert isinstance(created, (int, float))
    return UserRecord(username, realm, hashes, float(created))
