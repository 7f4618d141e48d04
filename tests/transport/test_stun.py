"""The STUN codec and the Binding answers of a SIP UDP port (RFC 5389, RFC 5626 §8).

The sample messages are the test vectors of RFC 5769 §2.1-§2.3 (a request
with ICE attributes, and IPv4 and IPv6 success responses), whose
FINGERPRINT and MESSAGE-INTEGRITY (key "VOkJxbRl1RmTxUk/WvJxBt") check out.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.transport.stun import (
    BINDING,
    ERROR_CODE,
    FINGERPRINT,
    MAGIC_COOKIE,
    SOFTWARE,
    UNKNOWN_ATTRIBUTES,
    XOR_MAPPED_ADDRESS,
    StunClass,
    StunError,
    StunMessage,
    answer_binding,
    message_type,
    read_xor_address,
    split_type,
    xor_address,
)

#: RFC 5769 §2.1: a Binding request with SOFTWARE, PRIORITY, ICE-CONTROLLED,
#: USERNAME (padded with spaces), MESSAGE-INTEGRITY and FINGERPRINT
RFC5769_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf")
#: RFC 5769 §2.2: the success response mapping 192.0.2.1 port 32853
RFC5769_RESPONSE_V4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96")
#: RFC 5769 §2.3: the success response mapping 2001:db8:1234:5678:11:2233:4455:6677 port 32853
RFC5769_RESPONSE_V6 = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c")
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
RFC5769_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


def binding_request(tid: bytes = TID, *attributes: tuple[int, bytes],
                    fingerprint: bool = False) -> bytes:
    return StunMessage(BINDING, StunClass.REQUEST, tid, attributes).encode(
        fingerprint=fingerprint)


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


# -- the vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [RFC5769_REQUEST, RFC5769_RESPONSE_V4, RFC5769_RESPONSE_V6])
def test_rfc5769_vectors_are_what_they_claim(vector: bytes) -> None:
    """The vectors copied here are intact: their integrity attributes verify."""
    assert zlib.crc32(vector[:-8]) ^ 0x5354554E == int.from_bytes(vector[-4:], "big")
    mi = vector.find(bytes.fromhex("00080014"), 20)
    signed = bytearray(vector[:mi])
    signed[2:4] = (mi - 20 + 24).to_bytes(2, "big")  # §15.4: length up to MESSAGE-INTEGRITY
    digest = hmac.new(RFC5769_PASSWORD, bytes(signed), hashlib.sha1).digest()
    assert vector[mi + 4:mi + 24] == digest


def test_decode_rfc5769_request() -> None:
    message = StunMessage.decode(RFC5769_REQUEST)
    assert (message.method, message.message_class) == (BINDING, StunClass.REQUEST)
    assert message.transaction_id == TID
    assert [a for a, _ in message.attributes] == [0x8022, 0x0024, 0x8029, 0x0006, 0x0008,
                                                  FINGERPRINT]
    assert message.get(SOFTWARE) == b"STUN test client"
    assert message.get(0x0006) == b"evtj:h6vY"  # USERNAME without its padding (§15)


@pytest.mark.parametrize(("vector", "address"), [
    (RFC5769_RESPONSE_V4, ("192.0.2.1", 32853)),
    (RFC5769_RESPONSE_V6, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
])
def test_decode_rfc5769_responses(vector: bytes, address: tuple[str, int]) -> None:
    message = StunMessage.decode(vector)
    assert (message.method, message.message_class) == (BINDING, StunClass.SUCCESS)
    assert message.get(SOFTWARE) == b"test vector"
    value = message.get(XOR_MAPPED_ADDRESS)
    assert value is not None
    assert read_xor_address(value, message.transaction_id) == address
    # and encoding the address gives the vector's bytes (§15.2)
    assert xor_address(*address, TID) == value


def test_rfc5769_request_gets_420_for_priority() -> None:
    """§7.3.1: PRIORITY (0x0024, an ICE attribute) is comprehension-required
    and unknown to a plain STUN server; ICE-CONTROLLED (0x8029) is optional and
    ignored, USERNAME and MESSAGE-INTEGRITY known-but-unexpected."""
    answer = answer_binding(RFC5769_REQUEST, "192.0.2.1", 32853)
    assert answer is not None
    message = StunMessage.decode(answer)  # also checks the FINGERPRINT it carries
    assert (message.method, message.message_class) == (BINDING, StunClass.ERROR)
    assert message.transaction_id == TID
    assert message.get(ERROR_CODE) == b"\x00\x00\x04\x14Unknown Attribute"  # 4 * 100 + 20
    assert message.get(UNKNOWN_ATTRIBUTES) == b"\x00\x24"
    assert message.attributes[-1][0] == FINGERPRINT  # the request had one


def test_unknown_attributes_are_listed_once_and_large_requests_not_answered() -> None:
    # a Binding request full of unknown comprehension-required attributes,
    # repeated: each is listed once, in order (§7.3.1)
    repeated = tuple((0x0030 + i % 3, b"") for i in range(120))
    request = StunMessage(BINDING, StunClass.REQUEST, TID, repeated).encode()
    assert len(request) <= 548
    answer = answer_binding(request, "192.0.2.1", 5060)
    assert answer is not None
    assert StunMessage.decode(answer).get(UNKNOWN_ATTRIBUTES) == b"\x00\x30\x00\x31\x00\x32"
    # one over RFC 5389 §7.1's 548 bytes is no keep-alive: not even decoded
    many = tuple((0x0100 + i, b"") for i in range(200))
    big = StunMessage(BINDING, StunClass.REQUEST, TID, many).encode()
    assert len(big) > 548 and answer_binding(big, "192.0.2.1", 5060) is None


# -- the header ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "method", "message_class"), [
    (0x0001, BINDING, StunClass.REQUEST), (0x0011, BINDING, StunClass.INDICATION),
    (0x0101, BINDING, StunClass.SUCCESS), (0x0111, BINDING, StunClass.ERROR),
    (0x3EEF, 0xFFF, StunClass.REQUEST), (0x3FFF, 0xFFF, StunClass.ERROR),
    (0x0003, 0x003, StunClass.REQUEST),  # TURN Allocate request (RFC 5766 §13)
])
def test_message_type_bits(kind: int, method: int, message_class: StunClass) -> None:
    """§6 Figure 3: the class bits C0 and C1 sit between the method bits."""
    assert message_type(method, message_class) == kind
    assert split_type(kind) == (method, message_class)


@given(st.integers(0, 0xFFF), st.sampled_from(StunClass))
def test_message_type_round_trip(method: int, message_class: StunClass) -> None:
    kind = message_type(method, message_class)
    assert kind < 0x4000  # the first two bits stay zero
    assert split_type(kind) == (method, message_class)


def test_encode_pads_attributes_with_zeros() -> None:
    data = StunMessage(BINDING, StunClass.REQUEST, TID, ((SOFTWARE, b"abcde"),)).encode()
    assert data[:4] == b"\x00\x01\x00\x0c" and data[4:8] == struct.pack("!I", MAGIC_COOKIE)
    assert data[20:] == b"\x80\x22\x00\x05abcde\x00\x00\x00"
    assert StunMessage.decode(data).get(SOFTWARE) == b"abcde"


def test_encode_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="96 bits"):
        StunMessage(BINDING, StunClass.REQUEST, b"short").encode()
    with pytest.raises(ValueError, match="65535"):
        StunMessage(BINDING, StunClass.REQUEST, TID, ((SOFTWARE, bytes(70000)),)).encode()


# -- answering -------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "port"), [
    ("203.0.113.7", 5060), ("127.0.0.1", 1), ("::1", 65535),
    ("2001:db8::5", 40000), ("fe80::1", 5062),
])
def test_binding_request_gets_the_source_as_xor_mapped_address(host: str, port: int) -> None:
    """RFC 5389 §7.3.1.1, RFC 5626 §8: the success response carries the
    request's transaction id and its source transport address."""
    tid = bytes(range(1, 13))
    answer = answer_binding(binding_request(tid), host, port)
    assert answer is not None
    assert answer[:2] == b"\x01\x01"  # Binding success response (§6)
    message = StunMessage.decode(answer)
    assert message.transaction_id == tid
    assert [a for a, _ in message.attributes] == [XOR_MAPPED_ADDRESS]  # no FINGERPRINT asked
    value = message.get(XOR_MAPPED_ADDRESS)
    assert value is not None and read_xor_address(value, tid) == (host, port)
    assert len(answer) == 20 + 4 + (8 if ":" not in host else 20)


def test_xor_mapped_address_is_not_the_plain_address() -> None:
    """§15.2: the point of the XOR is that a NAT rewriting addresses it finds
    in packets does not find this one."""
    value = xor_address("192.0.2.1", 32853, TID)
    assert bytes([192, 0, 2, 1]) not in value and (32853).to_bytes(2, "big") not in value


def test_answer_carries_a_fingerprint_when_the_request_did() -> None:
    answer = answer_binding(binding_request(fingerprint=True), "192.0.2.1", 5060)
    assert answer is not None
    assert StunMessage.decode(answer).attributes[-1][0] == FINGERPRINT
    assert zlib.crc32(answer[:-8]) ^ 0x5354554E == int.from_bytes(answer[-4:], "big")


def test_optional_and_known_attributes_are_ignored() -> None:
    request = binding_request(TID, (SOFTWARE, b"a phone"), (0x8029, bytes(8)),
                              (0x0006, b"user:name"))
    answer = answer_binding(request, "192.0.2.1", 5060)
    assert answer is not None and answer[:2] == b"\x01\x01"


def test_each_unknown_required_attribute_is_listed_once() -> None:
    request = binding_request(TID, (0x0024, bytes(4)), (0x7001, b""), (0x0024, bytes(4)))
    answer = answer_binding(request, "192.0.2.1", 5060)
    assert answer is not None
    message = StunMessage.decode(answer)
    assert message.message_class is StunClass.ERROR
    assert message.get(UNKNOWN_ATTRIBUTES) == b"\x00\x24\x70\x01"


@pytest.mark.parametrize("data", [
    b"",
    b"\x00\x01",
    binding_request()[:19],  # shorter than the header
    StunMessage(BINDING, StunClass.INDICATION, TID).encode(),  # §7.3.2: never answered
    StunMessage(BINDING, StunClass.SUCCESS, TID).encode(),  # we sent no request
    StunMessage(BINDING, StunClass.ERROR, TID).encode(),
    StunMessage(0x003, StunClass.REQUEST, TID).encode(),  # Allocate: not this usage
    binding_request().replace(b"\x21\x12\xa4\x42", b"\x21\x12\xa4\x43"),  # no cookie
    b"\x00\x01\x00\x00" + bytes(16),  # an RFC 3489 request: no cookie (RFC 5626 §8)
    binding_request() + b"\x00",  # length short of the datagram
    binding_request() + bytes(4),  # length short of the datagram
    b"\x00\x01\x00\x04" + binding_request()[4:],  # length past the datagram
    b"\x00\x01\x00\x02" + binding_request()[4:] + b"\x80\x22",  # length not a multiple of 4
    b"\x00\x01\x00\x08" + binding_request()[4:] + b"\x80\x22\x00\x08abcd",  # attribute overrun
    b"\x00\x01\x00\x04" + binding_request()[4:] + b"\x80\x22\x00\x01",  # padding missing
    flip_last(binding_request(fingerprint=True)),  # a FINGERPRINT that does not match
    b"\x00\x01\x00\x10" + binding_request(fingerprint=True)[4:]
    + b"\x80\x22\x00\x04abcd",  # FINGERPRINT not last
    b"\x40\x01\x00\x00\x21\x12\xa4\x42" + TID,  # first bits not zero
    b"\x00\x01\x00\x00\x21\x12\xa4\x42" + TID[:11],  # transaction id cut short
])
def test_what_is_not_a_binding_request_is_not_answered(data: bytes) -> None:
    assert answer_binding(data, "192.0.2.1", 5060) is None


def test_decode_errors_say_what_is_wrong() -> None:
    with pytest.raises(StunError, match="magic cookie"):
        StunMessage.decode(b"\x00\x01\x00\x00" + bytes(16))
    with pytest.raises(StunError, match="FINGERPRINT"):
        StunMessage.decode(flip_last(binding_request(fingerprint=True)))
    with pytest.raises(StunError, match="family"):
        read_xor_address(b"\x00\x03\x00\x00" + bytes(4), TID)
    with pytest.raises(StunError, match="too short"):
        read_xor_address(b"\x00\x01", TID)


# -- never anything but StunError, and never an answer to junk -----------------------------

#: bytes that pass the first checks of §6 (cookie, often the right length):
#: the attribute walk and the answer get exercised, not only the header checks
NEAR_STUN = st.builds(
    lambda kind, length, tid, body: struct.pack(
        "!HHI", kind, len(body) if length is None else length, MAGIC_COOKIE) + tid + body,
    st.sampled_from([0x0001, 0x0011, 0x0101]) | st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 0xFFFF),
    st.binary(min_size=12, max_size=12),
    st.binary(max_size=80))
JUNK = st.binary(max_size=200) | NEAR_STUN


@given(JUNK)
def test_decode_of_junk_raises_only_stun_error(data: bytes) -> None:
    try:
        message = StunMessage.decode(data)
    except StunError:
        return
    assert len(message.encode()) == len(data)  # the same attributes, padded alike


@given(JUNK, st.sampled_from(["192.0.2.1", "2001:db8::1"]), st.integers(0, 65535))
def test_answer_to_junk_is_none_or_a_stun_response(data: bytes, host: str, port: int) -> None:
    answer = answer_binding(data, host, port)
    if answer is not None:
        assert data[:2] == b"\x00\x01"  # only a Binding request is answered
        message = StunMessage.decode(answer)
        assert message.message_class in (StunClass.SUCCESS, StunClass.ERROR)
        assert message.transaction_id == data[8:20]


@given(st.binary(min_size=12, max_size=12),
       st.lists(st.tuples(st.integers(0, 0xFFFF).filter(lambda t: t != FINGERPRINT),
                          st.binary(max_size=40)), max_size=6),
       st.booleans())
def test_encode_then_decode_round_trips(tid: bytes, attributes: list[tuple[int, bytes]],
                                        fingerprint: bool) -> None:
    message = StunMessage(BINDING, StunClass.REQUEST, tid, tuple(attributes))
    data = message.encode(fingerprint=fingerprint)
    decoded = StunMessage.decode(data)
    expected = tuple(attributes)
    if fingerprint:
        expected += ((FINGERPRINT, data[-4:]),)
    assert decoded == StunMessage(BINDING, StunClass.REQUEST, tid, expected)


@given(st.data())
def test_a_changed_byte_is_caught_by_the_checks(data: st.DataObject) -> None:
    tid = data.draw(st.binary(min_size=12, max_size=12))
    request = bytearray(binding_request(tid, (SOFTWARE, b"phone"), fingerprint=True))
    index = data.draw(st.integers(0, len(request) - 1))
    request[index] ^= data.draw(st.integers(1, 255))
    try:
        message = StunMessage.decode(bytes(request))
    except StunError:
        assert answer_binding(bytes(request), "192.0.2.1", 5060) is None
        return
    # Only a change to FINGERPRINT's own type goes unnoticed: that makes it
    # some other attribute, and the message one without a FINGERPRINT.
    assert index in (32, 33) and message.get(FINGERPRINT) is None
