"""User stores: HA1s only, memory and SQLite."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwire.auth import (
    MemoryUserStore,
    SQLiteUserStore,
    UserExists,
    UserRecord,
    UserStore,
    ha1,
    split_address,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UserStore]:
    if request.param == "memory":
        yield MemoryUserStore()
    else:
        with SQLiteUserStore(tmp_path / "users.db") as db:
            yield db


def test_stores_implement_the_protocol(store: UserStore) -> None:
    assert isinstance(store, UserStore)


def test_add_get_list_remove(store: UserStore) -> None:
    record = store.add("alice", "example.com", PASSWORD, created=1700000000.0)
    store.add("bob", "example.com", "other")
    store.add("alice", "example.org", "third")
    got = store.get("alice", "example.com")
    assert got is not None and got.created == 1700000000.0
    assert got.ha1("MD5") == ha1("alice", "example.com", PASSWORD, "MD5") == record.ha1("MD5")
    assert got.ha1("SHA-256-sess") == ha1("alice", "example.com", PASSWORD, "SHA-256")
    assert store.get("alice", "example.net") is None
    assert store.get("Alice", "example.com") is None  # usernames compare exactly
    assert [(r.realm, r.username) for r in store.list()] == [
        ("example.com", "alice"), ("example.com", "bob"), ("example.org", "alice")]
    assert [r.username for r in store.list("example.org")] == ["alice"]
    assert store.remove("alice", "example.com")
    assert not store.remove("alice", "example.com")
    assert store.get("alice", "example.com") is None


def test_adding_twice_needs_replace(store: UserStore) -> None:
    store.add("alice", "example.com", "one")
    with pytest.raises(UserExists):
        store.add("alice", "example.com", "two")
    store.add("alice", "example.com", "two", replace=True)
    got = store.get("alice", "example.com")
    assert got is not None and got.ha1("MD5") == ha1("alice", "example.com", "two")


def test_record_keeps_no_password_and_hides_ha1s_from_repr() -> None:
    record = UserRecord.from_password("alice", "example.com", PASSWORD)
    assert set(record.ha1s) == {"MD5", "SHA-256", "SHA-512-256"}
    assert PASSWORD not in repr(record)
    assert record.ha1s["MD5"] not in repr(record)
    assert not any(PASSWORD in str(getattr(record, f)) for f in record.__slots__)


def test_sqlite_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with SQLiteUserStore(path) as db:
        db.add("alice", "example.com", PASSWORD)
    with SQLiteUserStore(path) as db:
        got = db.get("alice", "example.com")
        assert got is not None
        assert got.ha1("SHA-256") == ha1("alice", "example.com", PASSWORD, "SHA-256")
        assert len(db) == 1


def test_sqlite_file_holds_ha1s_but_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with SQLiteUserStore(path) as db:
        db.add("alice", "example.com", PASSWORD)
        db.add("bob", "example.com", "first password")
        db.add("bob", "example.com", "second password", replace=True)
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # journals included
    assert ha1("alice", "example.com", PASSWORD, "SHA-256").encode() in files
    for secret in (PASSWORD, "first password", "second password"):
        assert secret.encode() not in files
        assert secret.encode("utf-16-le") not in files
    # secure_delete: the replaced HA1 is gone from the free pages too
    assert ha1("bob", "example.com", "first password").encode() not in files


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    SQLiteUserStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_imports_ha1_records(tmp_path: Path) -> None:
    with SQLiteUserStore(tmp_path / "users.db") as db:
        db.add_record(UserRecord("carol", "example.com", {"md5": "AB" * 16}, 5.0))
        got = db.get("carol", "example.com")
        assert got is not None and got.ha1s == {"MD5": "ab" * 16} and got.created == 5.0
        assert got.ha1("SHA-256") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("alice@example.com", ("alice", "example.com")),
    ("sip:alice@example.com", ("alice", "example.com")),
    ("a@b@example.com", ("a@b", "example.com")),
])
def test_split_address(text: str, expected: tuple[str, str]) -> None:
    assert split_address(text) == expected


@pytest.mark.parametrize("text", ["alice", "@example.com", "alice@"])
def test_split_address_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        split_address(text)
