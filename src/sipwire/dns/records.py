"""The DNS data the RFC 3263 procedure reads: questions, records and answers.

Plain frozen values, free of any DNS library: the asyncio driver
(``resolver.py``) turns a wire answer into an ``Answer``, and the sans-I/O
procedure (``procedure.py``) and cache (``cache.py``) only ever see these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Answer", "Naptr", "Query", "RecordType", "Srv"]


class RecordType(enum.StrEnum):
    """The record types RFC 3263 asks for (§4.1 NAPTR, §4.2 SRV, A and AAAA)."""

    NAPTR = "NAPTR"
    SRV = "SRV"
    A = "A"
    AAAA = "AAAA"


@dataclass(frozen=True, slots=True)
class Query:
    """One question: ``name`` (absolute, lower case, no trailing dot) and type."""

    name: str
    rdtype: RecordType

    @classmethod
    def of(cls, name: str, rdtype: RecordType) -> Query:
        return cls(name.lower().rstrip("."), rdtype)

    def __str__(self) -> str:
        return f"{self.name} {self.rdtype}"


@dataclass(frozen=True, slots=True)
class Naptr:
    """A NAPTR record (RFC 3403 §4.1): ``order`` first, then ``preference``;
    ``flags`` "s" says the replacement is an SRV name (RFC 3263 §4.1)."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str


@dataclass(frozen=True, slots=True)
class Srv:
    """An SRV record (RFC 2782): a ``target`` of "." means "no such service"."""

    priority: int
    weight: int
    port: int
    target: str


Record = Naptr | Srv | str


@dataclass(frozen=True, slots=True)
class Answer:
    """What the DNS said to one ``Query``: records (NAPTR, SRV, or the address
    text of A / AAAA) and how long that holds, in seconds.

    No records is a negative answer (NXDOMAIN or NODATA); its ``ttl`` is the
    one RFC 2308 §5 gives it (the SOA's TTL bounded by its MINIMUM field), 0
    when the server sent no SOA.  ``failed`` marks a query that got no usable
    answer at all (timeout, SERVFAIL, REFUSED): it is not cached.
    """

    records: tuple[Record, ...] = ()
    ttl: float = 0.0
    failed: bool = False

    @property
    def negative(self) -> bool:
        return not self.records

    def naptrs(self) -> list[Naptr]:
        return [r for r in self.records if isinstance(r, Naptr)]

    def srvs(self) -> list[Srv]:
        return [r for r in self.records if isinstance(r, Srv)]

    def addresses(self) -> list[str]:
        return [r for r in self.records if isinstance(r, str)]
