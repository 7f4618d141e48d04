"""Settings of one transport layer (every limit belongs to an instance)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

from ..message.parser import DEFAULT_LIMITS, Limits
from .base import Flow

__all__ = ["Capture", "TransportConfig"]


class Capture(Protocol):
    """Told of the exact bytes of every SIP message at the transport's edge
    (``sipwire.trace``): a datagram as received or sent, each framed message
    of a stream as received and each message as written, the SIP payload of a
    WebSocket message.  Called in the event loop: it must not block."""

    def received(self, flow: Flow, data: bytes) -> None:
        """``data`` arrived on ``flow`` (``flow.remote`` sent it)."""

    def sent(self, flow: Flow, data: bytes) -> None:
        """``data`` left on ``flow`` (to ``flow.remote``)."""


@dataclass(frozen=True)
class TransportConfig:
    """How a ``TransportLayer`` sends, receives and bounds what peers can make it hold."""

    #: message size, header count and line length limits (per message, per stream buffer)
    limits: Limits = DEFAULT_LIMITS
    #: §18.1.1: a request over this many bytes that would go by UDP goes by TCP
    #: (1300 when the path MTU is unknown); None never switches
    udp_max_request_size: int | None = 1300
    #: RFC 3581 §3: put an ``rport`` flag in the top Via of requests we send
    rport: bool = True
    #: §18.1.2: drop responses whose top Via sent-by is not one we insert
    check_sent_by: bool = True
    #: §8.2.2/§18.3: answer an unparsable request (400, 505, 513) when its
    #: Via, From, To, Call-ID and CSeq can be recovered
    answer_malformed: bool = True
    #: §18: close a connection after this many seconds without a whole message,
    #: a keep-alive or a send (at least 64*T1 = 32 s so that transactions
    #: finish on it); bytes that do not end a message do not count
    idle_timeout: float = 120.0
    #: seconds from the first byte of a message on a connection to its last;
    #: past it the connection is aborted, unanswered (RFC 3261 has no response
    #: to a partial message): a peer trickling bytes cannot hold it (0: no limit)
    message_timeout: float = 10.0
    #: the most connections, accepted and opened together
    max_connections: int = 1024
    #: the most connections one source (an IPv4 address, an IPv6 /64) may open
    #: to us (0: no cap).  When ``max_connections`` are open, a connection from
    #: a source holding fewer than another closes that other's least recently
    #: active connection instead of being refused: one source cannot lock
    #: others out.
    max_connections_per_source: int = 64
    #: UDP datagrams other than responses one source may send per second; the
    #: rest of the second's are dropped unread (Kamailio's pike).  0: no limit,
    #: the default of the layer, which a UA uses too: all a UA receives comes
    #: from its proxy.  ``sipwire serve``, which strangers reach, sets 200.
    max_requests_per_source: int = 0
    #: log lines about what peers send (unparsable messages, refused or closed
    #: connections, sources over their rate): at most this many of each kind
    #: per ``log_interval`` seconds, the next one counting those held back (0:
    #: every line)
    log_limit: int = 10
    log_interval: float = 60.0
    #: seconds to open a connection (TCP connect, TLS handshake, WebSocket upgrade)
    connect_timeout: float = 10.0
    #: seconds a send may wait for a peer that does not read
    write_timeout: float = 10.0
    #: seconds ``close()`` waits for connections to close cleanly before aborting them
    close_timeout: float = 2.0
    #: bytes queued for a stream connection before ``send`` waits for the peer
    write_buffer_limit: int = 256 * 1024
    #: bytes queued on a UDP socket before datagrams are dropped
    udp_send_buffer_limit: int = 1024 * 1024
    #: the ``*_nowait`` sends over UDP leave at the end of the event loop's
    #: round, all together (``UdpListener.coalesce``): less CPU per message for
    #: a busy server; a failure then reaches the caller's ``on_error``
    udp_coalesce_sends: bool = False
    #: SO_RCVBUF of UDP listening sockets (the kernel caps it at net.core.rmem_max);
    #: None keeps the system default.  A busy server needs room for bursts.
    udp_receive_buffer: int | None = None
    #: SO_REUSEPORT on every listening socket: several processes bind the same
    #: address, and the kernel spreads datagrams and connections among them by a
    #: hash of their addresses (``sipwire.server.workers``)
    reuse_port: bool = False
    #: each UDP listening point without an advertised ``sent_by`` also gets a
    #: socket of this process's own, on the same address and a port the kernel
    #: picks.  A request sent with ``private=True`` leaves from it, and its Via
    #: names that port (§18.1.1), so its responses come back to this process
    #: and not to whichever process sharing the listening port the kernel's
    #: hash picks (``sipwire.server.workers``).  Only for peers that reply to
    #: the Via: a flow through a NAT, opened by the peer to the listening port,
    #: must be sent on from the listening socket (RFC 5626 §5.3).
    udp_private_send: bool = False
    #: answers and other sends running in the background (beyond it they are dropped)
    max_pending_sends: int = 1024
    #: TLS and WSS listening points (required to listen on them)
    tls_server_context: ssl.SSLContext | None = None
    #: TLS and WSS connections we open (``tls.client_context(ca, verify=...)``
    #: makes one); None: the system's CA store, the peer's certificate and name
    #: verified (RFC 5922 §7.3)
    tls_client_context: ssl.SSLContext | None = None
    #: told of every message's bytes as received and sent (None: no capture,
    #: which costs one None check per message)
    capture: Capture | None = None
    #: the resource of WebSocket connections we open (RFC 7118 §4.1)
    ws_path: str = "/"
    #: WebSocket Ping frames every so many seconds (RFC 7118 §6); None sends none
    ws_ping_interval: float | None = None
    #: the most WebSocket frames queued on a connection before reading pauses
    ws_max_queue: int = 4
