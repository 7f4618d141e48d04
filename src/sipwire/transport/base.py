"""What every transport shares: transport names, addresses, flows, listening
points, the connection base class and ``TransportError`` (RFC 3261 §18).
"""

from __future__ import annotations

import abc
import asyncio
import enum
import functools
import ipaddress
import itertools
import logging
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._frozen import quick_init
from ..message.errors import ParseError
from ..message.message import kept_bytes
from ..message.parser import BadMessage, KeepAlive, StreamEvent
from ..message.uri import three_colon_ipv6

if TYPE_CHECKING:
    from .config import Capture

__all__ = [
    "Address",
    "Connection",
    "ConnectionOwner",
    "Flow",
    "ListeningPoint",
    "Target",
    "Transport",
    "TransportError",
    "is_ip",
    "normalize_ip",
    "source_key",
]

logger = logging.getLogger("sipwire.transport")


class Transport(enum.StrEnum):
    """A SIP transport as it is written in Via (RFC 3261 §20.42, RFC 7118 §5.1)."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"
    WS = "WS"
    WSS = "WSS"

    @classmethod
    def parse(cls, text: str) -> Transport:
        """``udp`` / ``UDP`` -> ``Transport.UDP``; ``TransportError`` for others."""
        found = _BY_NAME.get(text)  # the usual spellings, without the enum's lookup
        if found is not None:
            return found
        try:
            return cls(text.upper())
        except ValueError:
            raise TransportError(f"unsupported transport {text!r}") from None

    @property
    def reliable(self) -> bool:
        """Everything but UDP is reliable (§17.1.1.1 timers, §18.2.2 routing)."""
        return self is not Transport.UDP

    @property
    def secure(self) -> bool:
        return self is Transport.TLS or self is Transport.WSS

    @property
    def default_port(self) -> int:
        """§18.1.1: 5060 for UDP and TCP, 5061 for TLS; RFC 7118 §5.5: 80 / 443."""
        return _DEFAULT_PORTS[self]


#: ``Transport.parse``'s answers for the names in upper and in lower case
_BY_NAME: dict[str, Transport] = {
    **{member.value: member for member in Transport},
    **{member.value.lower(): member for member in Transport},
}

_DEFAULT_PORTS = {
    Transport.UDP: 5060, Transport.TCP: 5060, Transport.TLS: 5061,
    Transport.WS: 80, Transport.WSS: 443,
}


class TransportError(Exception):
    """A message could not be sent (RFC 3261 §18.4).

    The transaction layer turns it into the 503 of §8.1.3.1 (``status_code``).
    ``nothing_sent`` is True when the message never left: no address for the
    target, no connection (refused, timed out, a failed TLS handshake, whose
    ``reason`` starts with "TLS: ").  A proxy may then say why in the 503 it
    counts for the branch (§16.9, a Warning of §20.43).
    """

    status_code = 503

    def __init__(self, reason: str, *, target: object = None,
                 nothing_sent: bool = False) -> None:
        self.reason = reason
        self.target = target
        self.nothing_sent = nothing_sent
        super().__init__(f"{reason} ({target})" if target is not None else reason)


# Both run several times per message on the same few hosts; ipaddress parsing is
# slow.  The caches are bounded: hosts a peer makes up only evict one another.
def ip_text(host: str) -> str:
    """``host`` as ``ipaddress`` reads it: no brackets, and the three-colon
    IPv6 form that parse() tolerates (RFC 5954 §4.1) with two colons."""
    bare = host.strip("[]")
    if ":::" in bare and three_colon_ipv6(bare):
        return bare.replace(":::", "::", 1)
    return bare


@functools.lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (IPv6 with or without brackets)."""
    try:
        ipaddress.ip_address(ip_text(host))
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def normalize_ip(host: str) -> str:
    """The canonical text of an IP literal, brackets dropped and IPv4-mapped
    IPv6 addresses shown as IPv4; other text is returned lower-cased."""
    try:
        ip = ipaddress.ip_address(ip_text(host))
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def source_key(host: str) -> str:
    """The peer that per-source limits count ``host`` as: an IPv4 address is
    itself, an IPv6 address its /64 (interface identifiers are 64 bits, RFC
    4291 §2.5.1: one host picks among 2**64 addresses of its network, and
    counting each apart would count nothing).  An IPv4-mapped IPv6 address is
    its IPv4 address."""
    return host if ":" not in host else _ipv6_source(host)


@functools.lru_cache(maxsize=4096)
def _ipv6_source(host: str) -> str:
    try:
        ip = ipaddress.ip_address(ip_text(host).partition("%")[0])
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@functools.lru_cache(maxsize=256)
def _unspecified(host: str) -> bool:
    return ipaddress.ip_address(host).is_unspecified


@quick_init
@dataclass(frozen=True, slots=True)
class Address:
    """An IP address (no brackets) and a port: one end of a flow."""

    host: str
    port: int

    @classmethod
    def from_sockname(cls, name: Any) -> Address:
        """From a socket address tuple (2-tuple for IPv4, 4-tuple for IPv6)."""
        return cls(normalize_ip(str(name[0])), int(name[1]))

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def uri_host(self) -> str:
        """The host as written in a URI or Via: IPv6 in brackets (§19.1.1)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        return f"{self.uri_host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the layer above asks a request to go: transport, host, port.

    The host is an IP literal or a name (resolved with ``getaddrinfo``; RFC
    3263 is the caller's business); ``port`` None means the transport's
    default port.
    """

    transport: Transport
    host: str
    port: int | None = None

    def __post_init__(self) -> None:
        if type(self.transport) is not Transport:
            object.__setattr__(self, "transport", Transport.parse(str(self.transport)))
        object.__setattr__(self, "host", self.host.strip("[]"))

    @classmethod
    def parse(cls, text: str) -> Target:
        """``udp:192.0.2.1:5060``, ``tls:example.com``, ``ws:[::1]:8080``."""
        transport, host, port = _split_spec(text)
        return cls(transport, host, port)

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else self.transport.default_port

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.effective_port}"


@dataclass(frozen=True, slots=True)
class ListeningPoint:
    """A transport, address and port the layer listens on (§18.2.1).

    ``sent_by`` is the host written into the Via sent-by of requests sent from
    here (§18.1.1), e.g. an FQDN or a public address; None means the bound
    address (or, for a wildcard bind, the local address of the flow used).
    """

    transport: Transport
    host: str
    port: int
    sent_by: str | None = None

    @classmethod
    def parse(cls, spec: str, *, sent_by: str | None = None) -> ListeningPoint:
        """``udp:127.0.0.1:5060``, ``tcp:[::1]:0``, ``tls:0.0.0.0`` (default port)."""
        transport, host, port = _split_spec(spec)
        if not is_ip(host):
            raise ValueError(f"a listening point binds an IP address, not {host!r}")
        return cls(transport, normalize_ip(host), port if port is not None
                   else transport.default_port, sent_by)

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)

    @property
    def wildcard(self) -> bool:
        """Bound to every address (``0.0.0.0`` or ``::``); asked on every send."""
        return _unspecified(self.host)

    @property
    def family(self) -> socket.AddressFamily:
        return self.address.family

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.address}"


_SPEC_RE = re.compile(r"(?i)(udp|tcp|tls|wss|ws):(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?")


def _split_spec(text: str) -> tuple[Transport, str, int | None]:
    m = _SPEC_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"expected transport:host[:port], not {text!r}")
    port = int(m.group(3)) if m.group(3) is not None else None
    if port is not None and port > 65535:
        raise ValueError(f"port {port} out of range in {text!r}")
    return Transport(m.group(1).upper()), m.group(2).strip("[]"), port


@quick_init
@dataclass(frozen=True, slots=True)
class Flow:
    """The path a message took or takes (RFC 5626 §3's "flow").

    ``remote`` is the peer's address (the packet source of a received
    message), ``local`` our address on it, and ``connection`` the connection
    for reliable transports (None for UDP).  The layer above keeps the flow of
    a request to send its responses back the same way (§18.2.2).
    """

    transport: Transport
    remote: Address
    local: Address
    connection: Connection | None = None

    @property
    def reliable(self) -> bool:
        return self.transport.reliable


class ConnectionOwner(Protocol):
    """What a connection tells the transport layer that owns it."""

    def connection_opened(self, connection: Connection) -> bool:
        """A connection is up; False refuses it (the connection closes)."""

    def event_received(self, connection: Connection, event: StreamEvent) -> None:
        """A message or unparsable message arrived (keep-alives stay below)."""

    def framing_failed(self, connection: Connection, error: ParseError,
                       data: bytes) -> bytes | None:
        """The stream cannot be framed any more (§18.3): ``data`` is the start
        of the message that broke it.  Returns the response to write before
        the connection closes, or None to close without one."""

    def message_timed_out(self, connection: Connection) -> None:
        """No whole message arrived within ``message_timeout`` of its first
        byte: the connection is aborted once this returns."""

    def connection_closed(self, connection: Connection) -> None:
        """The connection is gone."""


#: orders activity on every connection (the loop's clock may tick in milliseconds)
_activity = itertools.count()


class Connection(abc.ABC):
    """A reliable connection (TCP, TLS, WS, WSS), pooled by the transport layer.

    It closes itself after ``idle_timeout`` seconds without a whole message,
    a keep-alive, or a send (§18: kept open at least as long as a transaction
    lives, 64*T1), and answers CRLF keep-alive pings itself (RFC 5626
    §3.5.1).  Bytes that do not complete a message are no activity: a peer
    that trickles them is aborted ``message_timeout`` seconds after the first
    byte of the message (0: never), or it could hold the connection forever.
    ``inbound`` is True for a connection a peer opened to us.
    """

    transport: Transport
    local: Address
    remote: Address
    #: told of each message's bytes (``TransportConfig.capture``), set by the owner
    capture: Capture | None = None

    def __init__(self, transport: Transport, owner: ConnectionOwner, idle_timeout: float,
                 *, message_timeout: float = 0.0, inbound: bool = False) -> None:
        self.transport = transport
        self.owner = owner
        self.idle_timeout = idle_timeout
        self.message_timeout = message_timeout
        self.inbound = inbound
        self.local = self.remote = Address("0.0.0.0", 0)
        self._loop = asyncio.get_running_loop()
        self._last_active = self._loop.time()
        #: the order of the last activity among all connections (LRU eviction)
        self.activity = next(_activity)
        self._idle_timer: asyncio.TimerHandle | None = None
        #: when the first byte of the message being received arrived (None: none is)
        self._message_since: float | None = None
        self._message_timer: asyncio.TimerHandle | None = None
        self._closed = self._loop.create_future()
        self._flow: Flow | None = None
        #: True once the owner accepted it (and so will hear of its closing)
        self.registered = False

    @property
    def flow(self) -> Flow:
        flow = self._flow
        if flow is None:
            flow = self._flow = Flow(self.transport, self.remote, self.local, self)
        return flow

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True while messages can be sent on the connection."""

    @abc.abstractmethod
    async def send(self, data: bytes) -> None:
        """Send one message; ``TransportError`` if the connection fails."""

    @abc.abstractmethod
    def close(self) -> None:
        """Start closing; ``wait_closed()`` returns once it is closed."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Close at once, dropping unsent data."""

    @abc.abstractmethod
    def _send_pong(self) -> None:
        """Answer a CRLF ping with a single CRLF (RFC 5626 §3.5.1)."""

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    @property
    def closed(self) -> bool:
        return self._closed.done()

    @property
    def last_active(self) -> float:
        """The event loop's time of the last whole message, keep-alive or send."""
        return self._last_active

    def _register(self) -> bool:
        """Ask the owner to accept the connection; start the idle timer."""
        if not self.owner.connection_opened(self):
            return False
        self.registered = True
        self._touch()
        self._idle_timer = self._loop.call_at(self._last_active + self.idle_timeout,
                                              self._check_idle)
        return True

    def _touch(self) -> None:
        self._last_active = self._loop.time()
        self.activity = next(_activity)

    def _check_idle(self) -> None:
        due = self._last_active + self.idle_timeout
        since = self._message_since
        if since is not None and self.message_timeout > 0:
            # a message on its way has its own deadline
            due = max(due, since + self.message_timeout)
        if self._loop.time() >= due:
            logger.debug("closing idle connection %s", self)
            self._idle_timer = None
            self.close()
        else:
            self._idle_timer = self._loop.call_at(due, self._check_idle)

    def _received(self, completed: bool, pending: bool) -> None:
        """After a read: ``completed`` when it ended a message or keep-alive,
        ``pending`` when bytes of an unfinished message are held."""
        if not pending:
            self._message_since = None
        elif completed or self._message_since is None:
            # the unfinished message began in this read
            self._message_since = now = self._loop.time()
            if self._message_timer is None and self.message_timeout > 0:
                self._message_timer = self._loop.call_at(now + self.message_timeout,
                                                         self._check_message)

    def _check_message(self) -> None:
        self._message_timer = None
        since = self._message_since
        if since is None or self.closed:
            return
        due = since + self.message_timeout
        if self._loop.time() >= due:
            self.owner.message_timed_out(self)
            self.abort()
        else:
            self._message_timer = self._loop.call_at(due, self._check_message)

    def _dispatch(self, event: StreamEvent) -> None:
        self._touch()
        if isinstance(event, KeepAlive):
            if event.ping:
                self._send_pong()
            return
        if isinstance(event, BadMessage):
            # The traceback's frames reach back to the list holding this event:
            # a cycle that would keep every bad message until a full GC.
            event.error.__traceback__ = None
        if self.capture is not None:
            # the framed bytes, before the layer above marks the Via (§18.2.1)
            self.capture.received(self.flow, event.data if isinstance(event, BadMessage)
                                  else kept_bytes(event))
        self.owner.event_received(self, event)

    def _finished(self) -> None:
        """Called once when the connection is gone."""
        if self._closed.done():
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._message_timer is not None:
            self._message_timer.cancel()
            self._message_timer = None
        self._closed.set_result(None)
        if self.registered:
            self.owner.connection_closed(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.transport} {self.local} -> {self.remote}>"
