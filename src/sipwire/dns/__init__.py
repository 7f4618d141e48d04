"""RFC 3263 (Locating SIP Servers): NAPTR, SRV and A/AAAA lookups, failover.

A sans-I/O procedure (``Resolution``: a URI and DNS answers in, ordered
targets out), a TTL cache and a blacklist with the time passed in, the
per-request target list of §4.3 failover, and ``DnsResolver``, the asyncio
driver on dnspython (imported when first used).  docs/dns.md tells how
targets are chosen.
"""

from typing import TYPE_CHECKING, Any

from .args import add_dns_argument, parse_dns_server, resolver_from_args
from .cache import Blacklist, DnsCache
from .failover import TargetList, is_failure, retry_after
from .procedure import (
    NAPTR_SERVICES,
    DnsTarget,
    Resolution,
    address_families,
    needs_dns,
    srv_order,
)
from .records import Answer, Naptr, Query, RecordType, Srv

if TYPE_CHECKING:
    from .resolver import DnsResolver, Nameserver

__all__ = [
    "NAPTR_SERVICES",
    "Answer",
    "Blacklist",
    "DnsCache",
    "DnsResolver",
    "DnsTarget",
    "Nameserver",
    "Naptr",
    "Query",
    "RecordType",
    "Resolution",
    "Srv",
    "TargetList",
    "add_dns_argument",
    "address_families",
    "is_failure",
    "needs_dns",
    "parse_dns_server",
    "resolver_from_args",
    "retry_after",
    "srv_order",
]


def __getattr__(name: str) -> Any:
    if name in ("DnsResolver", "Nameserver"):
        from . import resolver

        return getattr(resolver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
