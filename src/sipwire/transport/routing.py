"""The Via rules of RFC 3261 §18 and RFC 3581, as plain functions (no I/O)."""

from __future__ import annotations

from ..message.fields.via import Via
from .base import Address, Target, Transport, TransportError, normalize_ip

__all__ = ["mark_received", "response_target", "sent_by_key", "stamp_via",
           "udp_response_address"]


#: each transport's name as Via writes it (``Transport.value`` without the
#: enum's descriptor, on every request sent)
_NAMES: dict[Transport, str] = {member: member.value for member in Transport}


def stamp_via(via: Via, transport: Transport, host: str, port: int, *, rport: bool) -> None:
    """Write the transport used and our sent-by into a request's top Via.

    §18.1.1: the client transport inserts sent-by, and changes the transport
    when a large request goes by TCP instead of UDP.  RFC 3581 §3: with
    ``rport``, add the valueless ``rport`` flag asking for symmetric routing.
    """
    via.transport = _NAMES[transport]
    via.host = host
    via.port = port
    if rport and via.rport is None:
        via.rport = True


def mark_received(via: Via, source: Address) -> None:
    """Record where a request came from in its top Via.

    §18.2.1: add ``received`` when sent-by's host is a name or an address
    other than the packet source.  RFC 3581 §4: a valueless ``rport`` gets
    the source port, and then ``received`` is added even when it equals the
    sent-by address.  A ``received`` the sender wrote itself is removed:
    only the element that received the packet may say where it came from,
    and the auth throttle and bans read it (``server.policy.source_address``).
    """
    if via.rport is True:
        via.rport = source.port
        via.received = source.host
    elif normalize_ip(via.host) != source.host:
        via.received = source.host
    elif "received" in via.params:
        via.received = None


def response_target(via: Via) -> Target:
    """Where a response goes when no open connection carries it (§18.2.2).

    Reliable transports: a new connection to ``received`` (else the sent-by
    host) at the sent-by port.  Unreliable: ``maddr`` at the sent-by port;
    else ``received`` at ``rport`` (RFC 3581 §4) or the sent-by port; else the
    sent-by host and port.  A missing port is the transport's default.
    """
    transport = Transport.parse(via.transport)
    port = via.port if via.port is not None else transport.default_port
    if transport.reliable:
        return Target(transport, via.received or via.host, port)
    if via.maddr:
        return Target(transport, via.maddr, port)
    received = via.received
    if received:
        rport = via.rport
        if type(rport) is int:
            return Target(transport, received, rport)
        return Target(transport, received, port)
    return Target(transport, via.host, port)


def udp_response_address(via: Via) -> tuple[str, int] | None:
    """``response_target(via)``'s host and port when its transport is UDP
    (None otherwise), without building a ``Target``: the path of every
    response a UDP server sends (§18.2.2, RFC 3581 §4)."""
    transport = via.transport
    if transport != "UDP" and transport.upper() != "UDP":
        return None
    params = via.params
    port = via.port if via.port is not None else 5060
    maddr = params.get("maddr")
    if maddr:
        return maddr.strip("[]"), port
    received = params.get("received")
    if received:
        rport = via.rport
        return received.strip("[]"), rport if type(rport) is int else port
    return via.host.strip("[]"), port


def sent_by_key(via: Via) -> tuple[str, int]:
    """sent-by as compared by §18.1.2: normalized host, port with its default."""
    port = via.port
    if port is not None:  # the usual case: no default to look up
        return normalize_ip(via.host), port
    try:
        transport = Transport.parse(via.transport)
    except TransportError:
        return normalize_ip(via.host), via.port or 5060
    return normalize_ip(via.host), via.port if via.port is not None else transport.default_port
