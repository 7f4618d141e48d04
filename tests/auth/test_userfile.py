"""The user file of ``sipwire serve``: where it is, and ``UserFile`` following
it (reread on change, at most once per interval, and on ``reload()``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sipwire.auth import SQLiteUserStore, UserFile, UsersFileError, users_location
from sipwire.auth import userfile as module
from sipwire.auth.userfile import default_users_path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def add(path: Path, user: str, realm: str = "example.com") -> None:
    with SQLiteUserStore(path) as store:
        store.add(user, realm, "secret")


@pytest.mark.parametrize(("configured", "env", "expected", "given"), [
    ("/etc/u.db", {"SIPWIRE_USERS": "/srv/s.db", "XDG_DATA_HOME": "/x"}, "/etc/u.db", True),
    ("", {"SIPWIRE_USERS": "/srv/s.db", "XDG_DATA_HOME": "/x"}, "/srv/s.db", True),
    (None, {"XDG_DATA_HOME": "/x"}, "/x/sipwire/users.db", False),
    (None, {"SIPWIRE_USERS": "", "XDG_DATA_HOME": "/x"}, "/x/sipwire/users.db", False),
    # the XDG Base Directory Specification ignores a relative path
    (None, {"XDG_DATA_HOME": "rel", "HOME": "/home/al"}, "/home/al/.local/share/sipwire/users.db",
     False),
    (None, {"HOME": "/home/al"}, "/home/al/.local/share/sipwire/users.db", False),
])
def test_the_user_file_is_the_one_given_else_sipwire_users_else_xdg(
        configured: str | None, env: dict[str, str], expected: str, given: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", env.get("HOME", "/home/al"))
    location = users_location(configured, env)
    assert (str(location.path), location.given) == (expected, given)


def test_no_location_depends_on_the_current_directory(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_users_path({}).is_absolute()
    assert users_location("rel/users.db", {}).path == tmp_path / "rel" / "users.db"


def test_a_missing_file_is_an_error_when_it_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsersFileError, match=f"{tmp_path / 'none.db'}: no such user file"):
        UserFile(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()


def test_a_file_that_is_not_a_user_file_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database, hopefully long enough to be read as a header " * 4)
    with pytest.raises(UsersFileError, match="cannot read users"):
        UserFile(junk)


def test_a_file_created_later_is_read_at_the_next_check(tmp_path: Path) -> None:
    path, clock = tmp_path / "sipwire" / "users.db", Clock()
    users = UserFile(path, must_exist=False, clock=clock)
    assert len(users) == 0 and not users.exists and not path.exists()
    path.parent.mkdir()
    add(path, "alice")
    assert users.get("alice", "example.com") is None  # within the interval: not looked at
    clock.now += 1.0
    assert users.get("alice", "example.com") is not None
    assert users.exists and len(users) == 1


def test_the_file_is_looked_at_once_per_interval_and_only_when_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock, interval=1.0)
    looks: list[Path] = []
    signature = module._signature

    def counted(p: Path) -> tuple[int, int, int] | None:
        looks.append(p)
        return signature(p)

    monkeypatch.setattr(module, "_signature", counted)
    for _ in range(1000):
        users.get("alice", "example.com")
        clock.now += 0.0005
    assert len(looks) == 0
    clock.now += 0.6
    for _ in range(1000):
        users.get("alice", "example.com")
    assert len(looks) == 1


def test_changes_are_followed_added_removed_replaced(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock)
    add(path, "bob")
    clock.now += 1
    with caplog.at_level(logging.INFO, "sipwire.auth"):
        assert users.get("bob", "example.com") is not None
    assert f"user file {path} changed: 2 users (were 1)" in caplog.text
    with SQLiteUserStore(path) as store:
        store.remove("alice", "example.com")
    clock.now += 1
    assert users.get("alice", "example.com") is None
    # replaced by another file (written aside, then renamed over it)
    other = tmp_path / "new.db"
    add(other, "carol")
    os.replace(other, path)
    clock.now += 1
    assert [r.username for r in users.list()] == ["carol"]


def test_held_counts_the_users_read_without_looking_at_the_file(tmp_path: Path) -> None:
    """What SIGHUP's "(were N)" reports: the users held before the reload, not
    those of a file changed meanwhile that len() would reread first."""
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock)
    add(path, "bob")
    clock.now += 1
    assert users.held == 1
    assert users.reload() == 2 and users.held == 2


def test_a_removed_file_leaves_no_user(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock)
    path.unlink()
    clock.now += 1
    with caplog.at_level(logging.WARNING, "sipwire.auth"):
        assert len(users) == 0
    assert f"user file {path} is gone" in caplog.text


def test_a_broken_file_keeps_the_users_read_before(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock)
    path.write_bytes(b"garbage " * 100)
    clock.now += 1
    with caplog.at_level(logging.WARNING, "sipwire.auth"):
        assert users.get("alice", "example.com") is not None
    assert "cannot read users" in caplog.text and "keeping the 1 users read before" in caplog.text
    with pytest.raises(UsersFileError):
        users.reload()
    assert len(users) == 1


def test_reload_reads_at_once(tmp_path: Path) -> None:
    path, clock = tmp_path / "users.db", Clock()
    add(path, "alice")
    users = UserFile(path, clock=clock)
    add(path, "bob")
    assert users.reload() == 2  # no interval to wait for
    assert users.get("bob", "example.com") is not None


def test_add_and_remove_write_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    users = UserFile(path, must_exist=False, clock=Clock())
    users.add("alice", "example.com", "secret")
    assert path.exists() and users.get("alice", "example.com") is not None
    with SQLiteUserStore(path) as store:
        assert [r.username for r in store.list()] == ["alice"]
    assert users.remove("alice", "example.com") and len(users) == 0
    assert not users.remove("alice", "example.com")
