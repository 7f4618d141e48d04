"""The signed token in the user part of this proxy's Record-Route URIs.

A record-routing proxy stays on the path of a dialog (RFC 3261 §16.6 step 4)
and later receives its in-dialog requests with its own URI in Route
(§16.4, §16.12).  A stranger can write that Route too.  So the proxy puts a
token in the user part of the URI it records, and only a Route that carries
a valid token for the request's dialog makes the request "routed here":

    Record-Route: <sip:AYB_AAF_S7TwV1NwW1Jb6A@192.0.2.1:5060;transport=tcp;lr>

The token is base64url (no padding) of::

    flags (1 byte) | caller's hop | callee's hop | MAC (10 bytes)

- A hop is where requests towards one side of the dialog go, and the only
  place they go: the caller's is the flow its request came on (the
  connection for TCP, TLS and WebSocket, RFC 5626 §5.3's flow token; the
  source address for UDP, which is also where a NATed phone is reached);
  the callee's is where the proxy sent the request (the registered flow,
  or the next hop: an address, or a host name resolved again when used).
  Each is present when its flag bit is set, as a code (1 byte: the
  transport in the low 4 bits, bit 4 set for IPv6, bit 5 for a name), the
  port (2 bytes) and the address (4 or 16 bytes) or the name (1 byte of
  length, then its bytes).
- The MAC is keyed BLAKE2b (RFC 7693 §2.9: its key mode is a MAC, no HMAC
  wrapper needed) of a key derived from the secret over the Call-ID, the
  From tag of the dialog-creating request and the flags and hops, 10 bytes
  long.  A request from the caller carries that tag in From, one from the
  callee in To; which of the two verifies tells the direction, and so which
  hop is next.  Format 1 tokens, made by earlier versions with HMAC-SHA256
  (cut to 10 bytes) under the same key, are still verified, so an upgrade
  with a configured secret keeps the dialogs set up before it.  BLAKE2b is
  chosen for its cost: a MAC is made once per dialog and checked once per
  in-dialog request, and HMAC through OpenSSL costs four times as much.

Pinning both hops is what keeps the token from being a relay ticket: whoever
set up the dialog knows the Call-ID and the tags, and could claim to be
either side, but a request that claims to come from the callee only goes
back to the caller's hop, and one from the caller only to the callee's,
whatever its Request-URI and Route say.

No expiry is encoded: a dialog may last for days.  A new secret (a restart
without a configured one) invalidates the tokens of dialogs set up before;
their in-dialog requests are then treated as requests from outside the
dialog (challenged, or refused relay).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from .._frozen import quick_init
from ..location.binding import Source

__all__ = ["RouteToken", "Verified"]

_MAC_SIZE = 10
_CALLER_FLOW = 0x01
_CALLEE_FLOW = 0x02
_VERSION = 0x20  # high nibble: token format 2 (keyed BLAKE2b)
_VERSION_HMAC = 0x10  # format 1 (HMAC-SHA256), still verified
_TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
_IPV6 = 0x10
_NAME = 0x20
#: base64url's alphabet to base64's, and back (RFC 4648 §5)
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


@quick_init
@dataclass(frozen=True, slots=True)
class Verified:
    """A token that is valid for the request it came on.

    ``from_caller`` is True when the request comes from the side that sent
    the dialog-creating request (its From tag signed the token).
    ``next_flow`` is the hop of the other side, where the request must go
    (``host`` an IP address, or a name to resolve), or None when the token
    holds none for that side.
    """

    from_caller: bool
    next_flow: Source | None


def _encode_flow(flow: Source) -> bytes:
    code = _TRANSPORTS.index(flow.transport.upper())
    port = flow.port.to_bytes(2, "big")
    try:
        ip = ipaddress.ip_address(flow.host.strip("[]"))
    except ValueError:
        name = flow.host.lower().encode("ascii")
        return bytes((code | _NAME,)) + port + bytes((len(name),)) + name
    if ip.version == 6:
        code |= _IPV6
    return bytes((code,)) + port + ip.packed


def _decode_flow(data: bytes, at: int) -> tuple[Source, int] | None:
    if at + 3 > len(data):
        return None
    code = data[at]
    kind = code & 0x0F
    if kind >= len(_TRANSPORTS) or code & ~(_IPV6 | _NAME | 0x0F) or \
            (code & _IPV6 and code & _NAME):
        return None
    port = int.from_bytes(data[at + 1:at + 3], "big")
    if code & _NAME:
        if at + 4 > len(data):
            return None
        end = at + 4 + data[at + 3]
        if end > len(data):
            return None
        try:
            host = data[at + 4:end].decode("ascii")
        except UnicodeDecodeError:
            return None
        return Source(_TRANSPORTS[kind], host, port), end
    size = 16 if code & _IPV6 else 4
    end = at + 3 + size
    if end > len(data):
        return None
    return Source(_TRANSPORTS[kind], str(ipaddress.ip_address(data[at + 3:end])), port), end


# The same few peers' hops come back in every dialog between them: decoding
# them (ipaddress is slow) is done once per distinct body.  Bounded; only
# bodies under a valid MAC get here, so strangers cannot fill it.
@functools.lru_cache(maxsize=1024)
def _decode_hops(body: bytes) -> tuple[Source | None, Source | None] | None:
    """The (caller's, callee's) hops of a token body, or None if malformed."""
    flags = body[0]
    hops: list[Source | None] = [None, None]
    at = 1
    for index, bit in enumerate((_CALLER_FLOW, _CALLEE_FLOW)):
        if flags & bit:
            decoded = _decode_flow(body, at)
            if decoded is None:
                return None
            hops[index], at = decoded
    if at != len(body):
        return None
    return hops[0], hops[1]


def _message(call_id: str, tag: str, body: bytes) -> bytes:
    """What a token's MAC covers."""
    return b"\x00".join((call_id.encode("utf-8", "surrogateescape"),
                         tag.encode("utf-8", "surrogateescape"), body))


@functools.lru_cache(maxsize=1024)
def _encoded(flow: Source) -> bytes:
    return _encode_flow(flow)


_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9.])?")


@functools.lru_cache(maxsize=1024)
def _flowable(flow: Source) -> bool:
    """Whether ``flow`` can be written in a token: a known transport, and an
    IP address or a host name of at most 253 characters."""
    if flow.transport.upper() not in _TRANSPORTS or not 0 <= flow.port < 65536:
        return False
    host = flow.host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOSTNAME.fullmatch(host) is not None
    return True


class RouteToken:
    """Signs and checks Record-Route tokens with one secret (see the module)."""

    __slots__ = ("_key", "_keyed")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a Record-Route token secret needs at least 16 bytes")
        self._key = hashlib.sha256(b"sipwire record-route\x00" + secret).digest()
        # the key block compressed once: each MAC starts from a copy
        self._keyed = hashlib.blake2b(key=self._key, digest_size=_MAC_SIZE)

    def _mac(self, call_id: str, tag: str, body: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(_message(call_id, tag, body))
        return mac.digest()

    def _hmac(self, call_id: str, tag: str, body: bytes) -> bytes:
        """The MAC of a format 1 token (HMAC-SHA256, cut to 10 bytes)."""
        return hmac.digest(self._key, _message(call_id, tag, body), "sha256")[:_MAC_SIZE]

    # a plain assignment, not a decorator over lru_cache: the compiled build
    # (Cython) takes @staticmethod only over a function
    flowable = staticmethod(_flowable)

    def sign(self, call_id: str, from_tag: str | None, *, caller_flow: Source | None = None,
             callee_flow: Source | None = None) -> str:
        """The token for a dialog-creating request with ``call_id`` and
        ``from_tag``; ``caller_flow`` and ``callee_flow`` are the hops that
        requests towards each side must take (see the module docs)."""
        flags = _VERSION
        body = b""
        if caller_flow is not None:
            flags |= _CALLER_FLOW
            body += _encoded(caller_flow)
        if callee_flow is not None:
            flags |= _CALLEE_FLOW
            body += _encoded(callee_flow)
        body = bytes((flags,)) + body
        raw = body + self._mac(call_id, from_tag or "", body)
        # base64.urlsafe_b64encode, without its two Python frames
        return binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).rstrip(
            b"=").decode("ascii")

    def verify(self, token: str | None, call_id: str, from_tag: str | None,
               to_tag: str | None) -> Verified | None:
        """The verdict on ``token`` for a request of the dialog (``call_id``,
        ``from_tag``, ``to_tag`` as the request carries them), or None when
        it is missing, malformed or signed for another dialog."""
        if not token or len(token) > 400:
            return None
        try:
            # base64.urlsafe_b64decode (not strict), without its Python frames;
            # a token that is not ASCII raises UnicodeEncodeError, a ValueError
            raw = binascii.a2b_base64(
                (token + "=" * (-len(token) % 4)).encode("ascii").translate(_FROM_URLSAFE))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 1 + _MAC_SIZE:
            return None
        body, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
        flags = body[0]
        if flags & ~(0xF0 | _CALLER_FLOW | _CALLEE_FLOW):
            return None
        version = flags & 0xF0
        if version == _VERSION:
            made = self._mac
        elif version == _VERSION_HMAC:
            made = self._hmac
        else:
            return None
        if hmac.compare_digest(mac, made(call_id, from_tag or "", body)):
            from_caller = True
        elif to_tag is not None and hmac.compare_digest(mac, made(call_id, to_tag, body)):
            from_caller = False
        else:
            return None
        hops = _decode_hops(body)
        if hops is None:
            return None
        return Verified(from_caller, hops[1] if from_caller else hops[0])
