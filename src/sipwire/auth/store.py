"""User records and stores: HA1s only, never a password.

A :class:`UserRecord` holds, for one user in one realm, ``H(user:realm:password)``
for each hash the server may offer (MD5, SHA-256, SHA-512-256; RFC 7616 §5.2).
The password itself is hashed on the way in and dropped.  Keep in mind that
an HA1 is as good as the password *for its realm* (anyone holding it can
answer challenges of that realm), so a store still deserves file permissions
and backups like a password file; it just does not reveal the password for
use elsewhere.

:class:`UserStore` is what the ``sipwire user add|list|remove`` command and a
registrar need; :class:`MemoryUserStore` and
:class:`~sipwire.auth.sqlite.SQLiteUserStore` implement it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from .digest import get_algorithm, ha1

__all__ = [
    "STORED_HASHES",
    "MemoryUserStore",
    "UserExists",
    "UserRecord",
    "UserStore",
    "split_address",
]

#: the hashes a record made from a password carries an HA1 for
STORED_HASHES = ("MD5", "SHA-256", "SHA-512-256")


class UserExists(KeyError):
    """``add`` without ``replace=True`` for a user already in the realm."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user of one realm: ``ha1s`` maps a hash name (``"SHA-256"``) to its HA1.

    ``created`` is the time the record was made, in seconds since the epoch,
    when known.
    """

    username: str
    realm: str
    ha1s: Mapping[str, str] = field(default_factory=dict)
    created: float | None = None

    def __post_init__(self) -> None:
        if not self.username or not self.realm:
            raise ValueError("a user record needs a username and a realm")
        canonical = {get_algorithm(name).base: value.lower() for name, value in self.ha1s.items()}
        object.__setattr__(self, "ha1s", MappingProxyType(canonical))

    @classmethod
    def from_password(
        cls, username: str, realm: str, password: str, *, created: float | None = None,
        hashes: Iterable[str] = STORED_HASHES,
    ) -> UserRecord:
        """A record with the HA1 of every hash in ``hashes``; the password is not kept."""
        return cls(username, realm, {h: ha1(username, realm, password, h) for h in hashes},
                   created)

    def ha1(self, algorithm: str | None) -> str | None:
        """The HA1 to check a response made with ``algorithm`` (``-sess`` included)."""
        return self.ha1s.get(get_algorithm(algorithm).base)

    def __repr__(self) -> str:
        # HA1s are password-equivalent for the realm: keep them out of logs.
        return (f"UserRecord(username={self.username!r}, realm={self.realm!r}, "
                f"hashes={sorted(self.ha1s)!r}, created={self.created!r})")


@runtime_checkable
class UserStore(Protocol):
    """What the registrar, the proxy and the ``sipwire user`` command use.

    ``get`` is the lookup ``DigestServer.verify`` takes (``store.get``).
    """

    def get(self, username: str, realm: str) -> UserRecord | None:
        """The record of ``username`` in ``realm``, or None."""
        ...

    def add(
        self, username: str, realm: str, password: str, *, replace: bool = False,
        created: float | None = None,
    ) -> UserRecord:
        """Store the HA1s of ``password``; raise ``UserExists`` unless ``replace``."""
        ...

    def remove(self, username: str, realm: str) -> bool:
        """Remove a user; False when there was none."""
        ...

    def list(self, realm: str | None = None) -> builtins.list[UserRecord]:
        """Every user (of ``realm`` if given), sorted by realm then username."""
        ...


class MemoryUserStore:
    """A :class:`UserStore` in a dict: tests, and servers configured from code."""

    __slots__ = ("_users",)

    def __init__(self, records: Iterable[UserRecord] = ()) -> None:
        self._users: dict[tuple[str, str], UserRecord] = {}
        for record in records:
            self.add_record(record)

    def get(self, username: str, realm: str) -> UserRecord | None:
        return self._users.get((username, realm))

    def add(
        self, username: str, realm: str, password: str, *, replace: bool = False,
        created: float | None = None,
    ) -> UserRecord:
        record = UserRecord.from_password(username, realm, password, created=created)
        return self.add_record(record, replace=replace)

    def add_record(self, record: UserRecord, *, replace: bool = False) -> UserRecord:
        """Store a record made elsewhere (HA1s imported from another system)."""
        key = (record.username, record.realm)
        if not replace and key in self._users:
            raise UserExists(f"{record.username}@{record.realm}")
        self._users[key] = record
        return record

    def remove(self, username: str, realm: str) -> bool:
        return self._users.pop((username, realm), None) is not None

    def list(self, realm: str | None = None) -> builtins.list[UserRecord]:
        return [self._users[key] for key in sorted(self._users, key=lambda k: (k[1], k[0]))
                if realm is None or key[1] == realm]

    def __len__(self) -> int:
        return len(self._users)


def split_address(address: str) -> tuple[str, str]:
    """``"alice@example.com"`` (or ``sip:alice@example.com``) -> ``("alice", "example.com")``.

    How ``sipwire user add alice@example.com`` names a user: the realm is the
    domain, as RFC 3261 §22.1 recommends.  The last ``@`` splits, so a
    username may itself contain one.
    """
    text = address.strip()
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        text = rest
    username, at, realm = text.rpartition("@")
    if not at or not username or not realm:
        raise ValueError(f"{address!r} is not user@realm")
    return username, realm
