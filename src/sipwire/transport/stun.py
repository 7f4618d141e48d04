"""The limited STUN server of a SIP UDP port (RFC 5626 §8, RFC 5389).

A UA behind a NAT keeps its UDP flow open, and learns whether its public
address changed, by sending STUN Binding requests to the SIP port of the
next hop (RFC 5626 §3.5.2, §4.4.2).  Every element receiving SIP over UDP
must answer them there (§8), with a Binding success response carrying the
XOR-MAPPED-ADDRESS of the request's source (RFC 5389 §7.3.1.1).

Sans-I/O: ``answer_binding(data, host, port)`` takes a datagram and its
source and returns the bytes to send back, or None.  ``StunMessage`` is the
codec of RFC 5389 §6 and §15, enough for this usage: no authentication
(§10), no backwards compatibility with RFC 3489 (RFC 5626 §8 asks for none).
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "BINDING",
    "ERROR_CODE",
    "FINGERPRINT",
    "MAGIC_COOKIE",
    "SOFTWARE",
    "UNKNOWN_ATTRIBUTES",
    "XOR_MAPPED_ADDRESS",
    "StunClass",
    "StunError",
    "StunMessage",
    "answer_binding",
    "read_xor_address",
    "xor_address",
]

#: §6: the fixed value of the header's second word
MAGIC_COOKIE = 0x2112A442
#: §6, §18.1: the one method RFC 5389 defines
BINDING = 0x001

# Attribute types (§18.2).  Below 0x8000 an attribute is comprehension-required.
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
REALM = 0x0014
NONCE = 0x0015
XOR_MAPPED_ADDRESS = 0x0020
SOFTWARE = 0x8022
ALTERNATE_SERVER = 0x8023
FINGERPRINT = 0x8028

#: §15: the comprehension-required attributes RFC 5389 defines.  Those a
#: Binding request has no use for here (USERNAME and MESSAGE-INTEGRITY
#: without an authentication usage) are "known-but-unexpected" and ignored
#: (§7.3); any other below 0x8000 gets 420 (§7.3.1).
_KNOWN_REQUIRED = frozenset({MAPPED_ADDRESS, USERNAME, MESSAGE_INTEGRITY, ERROR_CODE,
                             UNKNOWN_ATTRIBUTES, REALM, NONCE, XOR_MAPPED_ADDRESS})

HEADER_SIZE = 20
_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")
_COOKIE = MAGIC_COOKIE.to_bytes(4, "big")
#: §15.5: the CRC-32 of the message is XOR-ed with this ("STUN")
_FINGERPRINT_XOR = 0x5354554E
#: §15.1: the address families of (XOR-)MAPPED-ADDRESS
_IPV4, _IPV6 = 0x01, 0x02


class StunError(ValueError):
    """Bytes that are not a well-formed STUN message (RFC 5389 §6, §15).

    §7.3: such a message is silently discarded; on a port shared with SIP it
    is most likely not STUN at all.
    """


class StunClass(enum.IntEnum):
    """The two class bits of the message type (§6)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11


def message_type(method: int, message_class: StunClass) -> int:
    """The 14-bit message type: method bits M0-M11 with class bits C0 and C1
    between them (§6, Figure 3): Binding request 0x0001, success 0x0101."""
    return ((method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2
            | (message_class & 0b01) << 4 | (message_class & 0b10) << 7)


def split_type(value: int) -> tuple[int, StunClass]:
    """(method, class) of a message type; the inverse of ``message_type``."""
    method = (value & 0x000F) | (value >> 1) & 0x0070 | (value >> 2) & 0x0F80
    return method, StunClass((value >> 4) & 0b01 | (value >> 7) & 0b10)


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message (§6): method, class, the 96-bit transaction id and the
    attributes as (type, value) pairs, in order, values without padding."""

    method: int
    message_class: StunClass
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...] = ()

    def get(self, attribute: int) -> bytes | None:
        """The value of the first attribute of that type, or None."""
        for kind, value in self.attributes:
            if kind == attribute:
                return value
        return None

    @classmethod
    def decode(cls, data: bytes) -> StunMessage:
        """Read one whole STUN message (a UDP datagram); ``StunError`` if it is not.

        §7.3's checks: the first two bits zero, the magic cookie, a length
        that is a multiple of 4 and covers the attributes exactly (§15:
        each padded to 4 bytes), and a FINGERPRINT, when present, that is the
        last attribute and matches (§15.5).
        """
        if len(data) < HEADER_SIZE:
            raise StunError(f"{len(data)} bytes are too short for a STUN header (RFC 5389 §6)")
        kind, length, cookie, transaction_id = _HEADER.unpack_from(data)
        if kind & 0xC000:
            raise StunError("the first two bits of a STUN message are zero (RFC 5389 §6)")
        if cookie != MAGIC_COOKIE:
            raise StunError("no magic cookie (RFC 5389 §6)")
        if length & 3 or HEADER_SIZE + length != len(data):
            raise StunError(f"message length {length} does not match the {len(data) - 20} "
                            "bytes after the header (RFC 5389 §6)")
        attributes: list[tuple[int, bytes]] = []
        offset = HEADER_SIZE
        while offset < len(data):
            if offset + 4 > len(data):
                raise StunError("truncated attribute header (RFC 5389 §15)")
            attribute, size = _ATTRIBUTE.unpack_from(data, offset)
            start = offset + 4
            end = start + size
            following = start + ((size + 3) & ~3)
            if following > len(data):
                raise StunError(f"attribute 0x{attribute:04x} runs past the message "
                                "(RFC 5389 §15)")
            if attribute == FINGERPRINT:
                _check_fingerprint(data, offset, end)
            attributes.append((attribute, bytes(data[start:end])))
            offset = following
        method, message_class = split_type(kind)
        return cls(method, message_class, bytes(transaction_id), tuple(attributes))

    def encode(self, *, fingerprint: bool = False) -> bytes:
        """The wire form (§6, §15: attributes padded with zeros to 4 bytes);
        with ``fingerprint``, a FINGERPRINT attribute last (§15.5)."""
        if len(self.transaction_id) != 12:
            raise ValueError("a STUN transaction id is 96 bits (RFC 5389 §6)")
        body = bytearray()
        for attribute, value in self.attributes:
            if len(value) > 0xFFFF:
                raise ValueError(f"attribute 0x{attribute:04x} is over 65535 bytes")
            body += _ATTRIBUTE.pack(attribute, len(value)) + value + bytes(-len(value) & 3)
        length = len(body) + (8 if fingerprint else 0)
        if length > 0xFFFF:
            raise ValueError("a STUN message is at most 65535 bytes after its header")
        data = bytearray(_HEADER.pack(message_type(self.method, self.message_class), length,
                                      MAGIC_COOKIE, self.transaction_id))
        data += body
        if fingerprint:
            data += _ATTRIBUTE.pack(FINGERPRINT, 4)
            data += struct.pack("!I", zlib.crc32(data[:-4]) ^ _FINGERPRINT_XOR)
        return bytes(data)


def _check_fingerprint(data: bytes, offset: int, end: int) -> None:
    """§15.5: FINGERPRINT is last, 4 bytes, and the CRC-32 of the message up
    to it (the header's length already counting it) XOR 0x5354554e."""
    if end != len(data) or end - offset != 8:
        raise StunError("FINGERPRINT must be the last attribute, of 4 bytes (RFC 5389 §15.5)")
    expected = zlib.crc32(data[:offset]) ^ _FINGERPRINT_XOR
    if int.from_bytes(data[offset + 4:end], "big") != expected:
        raise StunError("FINGERPRINT does not match (RFC 5389 §15.5)")


def xor_address(host: str, port: int, transaction_id: bytes) -> bytes:
    """The value of XOR-MAPPED-ADDRESS for ``host``:``port`` (§15.2).

    The port is XOR-ed with the cookie's top 16 bits, an IPv4 address with
    the cookie, an IPv6 address with the cookie and the transaction id.
    """
    ip = ipaddress.ip_address(host.strip("[]"))
    x_port = port ^ (MAGIC_COOKIE >> 16)
    if ip.version == 4:
        return struct.pack("!BBH", 0, _IPV4, x_port) + _xor(ip.packed, _COOKIE)
    return struct.pack("!BBH", 0, _IPV6, x_port) + _xor(ip.packed, _COOKIE + transaction_id)


def read_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """(host, port) of an XOR-MAPPED-ADDRESS value (§15.2); ``StunError`` if malformed."""
    if len(value) < 4:
        raise StunError("XOR-MAPPED-ADDRESS is too short (RFC 5389 §15.2)")
    family = value[1]
    port = int.from_bytes(value[2:4], "big") ^ (MAGIC_COOKIE >> 16)
    if family == _IPV4 and len(value) == 8:
        return str(ipaddress.IPv4Address(_xor(value[4:], _COOKIE))), port
    if family == _IPV6 and len(value) == 20:
        return str(ipaddress.IPv6Address(_xor(value[4:], _COOKIE + transaction_id))), port
    raise StunError(f"bad XOR-MAPPED-ADDRESS family {family} or length {len(value)} "
                    "(RFC 5389 §15.2)")


def _xor(data: bytes, mask: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask[:len(data)], "big")).to_bytes(
        len(data), "big")


def error_code(code: int, reason: str) -> bytes:
    """The value of ERROR-CODE (§15.6): the hundreds digit as the class, the
    rest as the number, then the reason phrase in UTF-8."""
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


#: the largest Binding request answered: 548 bytes, RFC 5389 §7.1's bound for
#: a STUN message whose path MTU is unknown; a keep-alive is 20 to 28 bytes
MAX_REQUEST_SIZE = 548


def answer_binding(data: bytes, host: str, port: int) -> bytes | None:
    """What a SIP UDP port sends back to ``data`` received from ``host``:``port``
    (RFC 5626 §8), or None.

    A Binding request gets a success response with the source as its
    XOR-MAPPED-ADDRESS and the request's transaction id (RFC 5389 §7.3.1.1),
    or, when it carries a comprehension-required attribute unknown here, a
    420 error response listing them (§7.3.1).  The answer carries a
    FINGERPRINT when the request did.  Anything else is not answered:
    indications refresh the NAT by arriving (§7.3.2), responses answer
    requests this port never sends, other methods are not part of the usage,
    and bytes that are not STUN are discarded (§7.3).
    """
    if len(data) > MAX_REQUEST_SIZE:
        return None  # no keep-alive is that large: not worth decoding
    try:
        request = StunMessage.decode(data)
    except StunError:
        return None
    if request.method != BINDING or request.message_class is not StunClass.REQUEST:
        return None
    fingerprint = False
    unknown: dict[int, None] = {}  # in order, each once, found in constant time
    for attribute, _ in request.attributes:
        if attribute == FINGERPRINT:
            fingerprint = True
        elif attribute < 0x8000 and attribute not in _KNOWN_REQUIRED:
            unknown[attribute] = None
    tid = request.transaction_id
    if unknown:
        listed = b"".join(a.to_bytes(2, "big") for a in unknown)
        response = StunMessage(BINDING, StunClass.ERROR, tid, (
            (ERROR_CODE, error_code(420, "Unknown Attribute")), (UNKNOWN_ATTRIBUTES, listed)))
    else:
        response = StunMessage(BINDING, StunClass.SUCCESS, tid,
                               ((XOR_MAPPED_ADDRESS, xor_address(host, port, tid)),))
    return response.encode(fingerprint=fingerprint)
