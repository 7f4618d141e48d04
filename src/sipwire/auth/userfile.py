"""Where the digest users of ``sipwire serve`` live, and the server's view of
that file, which follows it while the server runs.

``sipwire serve`` and ``sipwire user add|list|remove`` find the user file the
same way (``users_location``):

1. the path given: ``--users FILE`` (or ``users = "FILE"`` in the TOML file of
   ``serve --config``);
2. else ``$SIPWIRE_USERS``;
3. else ``$XDG_DATA_HOME/sipwire/users.db``, that is
   ``~/.local/share/sipwire/users.db`` when ``XDG_DATA_HOME`` is unset (the
   XDG Base Directory Specification's place for a user's data).

None of them depends on the current directory, so the server started from
another directory, or by a service manager, reads the users that ``sipwire
user add`` wrote.  A service running as its own account sets
``SIPWIRE_USERS`` (or ``--users``) to a path of its own, such as
``/var/lib/sipwire/users.db``.

A file that was named (1 or 2) must exist when the server starts with
authentication on: a mistyped path is an error naming it, never a new empty
file.  The default location may not exist yet; the server then has no user,
answers 403 to every request it would challenge, and starts using the file
as soon as ``sipwire user add`` creates it.

:class:`UserFile` holds the records in memory, so that a lookup costs no
I/O.  It rereads the file when its inode, size or modification time changed,
looking at most once per ``interval`` seconds and only when asked for a user
(the authentication path), and whenever ``reload()`` is called (SIGHUP).
"""

from __future__ import annotations

import builtins
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .sqlite import SQLiteUserStore, read_users
from .store import UserRecord

__all__ = ["UserFile", "UsersFileError", "UsersLocation", "default_users_path",
           "users_location"]

log = logging.getLogger("sipwire.auth")


class UsersFileError(ValueError):
    """A user file that cannot be used: missing when named, or not a user file."""


def default_users_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/sipwire/users.db`` (``~/.local/share/sipwire/users.db``)."""
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME", "")
    # the specification ignores a relative XDG_DATA_HOME
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "sipwire" / "users.db"


@dataclass(frozen=True, slots=True)
class UsersLocation:
    """The user file and how it was chosen: ``given`` is True when an operator
    named it (``--users`` or the ``users`` setting, ``$SIPWIRE_USERS``), and
    ``origin`` says which (``"--users"``, ``"$SIPWIRE_USERS"``), for messages."""

    path: Path
    given: bool
    origin: str


def users_location(configured: str | os.PathLike[str] | None = None,
                   environ: Mapping[str, str] | None = None) -> UsersLocation:
    """The user file of ``--users``/``users`` ``configured`` (empty or None: not
    given), else of ``$SIPWIRE_USERS``, else the default (see the module docs)."""
    if configured:
        return UsersLocation(Path(configured).expanduser().absolute(), True, "--users")
    env = os.environ if environ is None else environ
    named = env.get("SIPWIRE_USERS", "")
    if named:
        return UsersLocation(Path(named).expanduser().absolute(), True, "$SIPWIRE_USERS")
    return UsersLocation(default_users_path(env), False, "the default location")


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is written or replaced; None when it is absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class UserFile:
    """The users of an SQLite user file, held in memory and reread on change.

    A :class:`~sipwire.auth.store.UserStore`: ``get`` and ``len()`` first look
    whether the file changed (at most once per ``interval`` seconds of
    ``clock``) and reread it if so.  ``add`` and ``remove`` write the file.
    Raises ``UsersFileError`` when the file is missing and ``must_exist``, or
    cannot be read as a user file.  A later failure to read it (a writer
    holding a lock too long, a broken file) keeps the users read before, is
    logged, and is tried again at the next check; a file removed while
    running leaves no user (every challenge is then refused).
    """

    __slots__ = ("_clock", "_next_check", "_signature", "_users", "interval", "path")

    def __init__(self, path: str | os.PathLike[str], *, must_exist: bool = True,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.interval = interval
        self._clock = clock
        self._users: dict[tuple[str, str], UserRecord] = {}
        self._signature: tuple[int, int, int] | None = None
        self._next_check = clock() + interval
        if must_exist and _signature(self.path) is None:
            raise UsersFileError(f"{self.path}: no such user file")
        self.reload()

    @property
    def exists(self) -> bool:
        """Whether the file was there when last read."""
        return self._signature is not None

    def reload(self) -> int:
        """Read the file now; the number of users.  Raises ``UsersFileError``
        (keeping the users read before) when it cannot be read."""
        signature = _signature(self.path)
        if signature is None:
            self._users = {}
        else:
            try:
                records: Iterable[UserRecord] = read_users(self.path)
            except (OSError, sqlite3.Error) as exc:
                raise UsersFileError(f"{self.path}: cannot read users: {exc}") from None
            self._users = {(r.username, r.realm): r for r in records}
        self._signature = signature
        return len(self._users)

    def _follow(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self.interval
        signature = _signature(self.path)
        if signature == self._signature:
            return
        before = len(self._users)
        try:
            count = self.reload()
        except UsersFileError as exc:
            log.warning("%s; keeping the %d users read before", exc, before)
            return
        if signature is None:
            log.warning("user file %s is gone: no user (every challenge is answered 403)",
                        self.path)
        else:
            log.info("user file %s changed: %d users (were %d)", self.path, count, before)

    def get(self, username: str, realm: str) -> UserRecord | None:
        self._follow()
        return self._users.get((username, realm))

    def __len__(self) -> int:
        self._follow()
        return len(self._users)

    @property
    def held(self) -> int:
        """How many users are held now, without looking at the file."""
        return len(self._users)

    def list(self, realm: str | None = None) -> builtins.list[UserRecord]:
        self._follow()
        return [self._users[key] for key in sorted(self._users, key=lambda k: (k[1], k[0]))
                if realm is None or key[1] == realm]

    def add(self, username: str, realm: str, password: str, *, replace: bool = False,
            created: float | None = None) -> UserRecord:
        """Add a user to the file (created if need be) and reread it."""
        with SQLiteUserStore(self.path) as store:
            record = store.add(username, realm, password, replace=replace, created=created)
        self.reload()
        return record

    def remove(self, username: str, realm: str) -> bool:
        if self._signature is None:
            return False
        with SQLiteUserStore(self.path) as store:
            removed = store.remove(username, realm)
        self.reload()
        return removed
