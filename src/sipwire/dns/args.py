"""The ``--dns-server`` option every command that sends requests shares.

``add_dns_argument(parser)`` adds it; ``resolver_from_args(args)`` makes the
``DnsResolver`` it asks for: that nameserver, or the system's configuration
(``/etc/resolv.conf``) when the option is absent.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..transport.base import is_ip, normalize_ip

if TYPE_CHECKING:  # dnspython loads only when a resolver is made
    from .resolver import DnsResolver

__all__ = ["add_dns_argument", "parse_dns_server", "resolver_from_args"]


def add_dns_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--dns-server HOST:PORT`` (RFC 3263 lookups go there)."""
    parser.add_argument(
        "--dns-server", metavar="HOST:PORT", default=None, type=_checked,
        help="nameserver for the RFC 3263 NAPTR/SRV/A/AAAA lookups of names, an IP "
             "address with an optional port (default 53), e.g. 127.0.0.1:5353 or "
             "[::1]:53 (default: the system's, from /etc/resolv.conf)")


def _checked(text: str) -> str:
    """argparse's check of ``--dns-server`` (a bad one is a usage error, status 2)."""
    try:
        parse_dns_server(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parse_dns_server(text: str) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:53``, ``::1`` -> (address, port).

    Raises ValueError for anything else: a nameserver is an IP address (a name
    would need a nameserver to find it)."""
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad DNS server {text!r}: expected [IPv6]:PORT")
        port = rest[1:] or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not is_ip(host):
        raise ValueError(f"bad DNS server {text!r}: the host must be an IP address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad DNS server {text!r}: bad port {port!r}")
    return normalize_ip(host), int(port)


def resolver_from_args(args: argparse.Namespace) -> DnsResolver:
    """The resolver ``--dns-server`` asks for (ValueError for a bad value)."""
    from .resolver import DnsResolver

    server = getattr(args, "dns_server", None)
    if server:
        return DnsResolver([parse_dns_server(server)])
    return DnsResolver()
