"""parse(): framing, header lines, the hot headers, limits (RFC 3261 §7, §18.3)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire import Limits, ParseError

from .conftest import sip

OPTIONS = sip("""OPTIONS sip:carol@chicago.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877
Max-Forwards: 70
To: <sip:carol@chicago.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 63104 OPTIONS
Contact: <sip:alice@pc33.atlanta.com>
Accept: application/sdp
Content-Length: 0

""")


def test_request_line_and_hot_headers() -> None:
    msg = sipwire.parse(OPTIONS)
    assert isinstance(msg, sipwire.Request)
    assert msg.method == "OPTIONS"
    assert str(msg.uri) == "sip:carol@chicago.com"
    assert msg.uri.user == "carol" and msg.uri.host == "chicago.com"
    via = msg.via[0]
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP", "pc33.atlanta.com", None, "z9hG4bKhjhs8ass877")
    assert msg.from_.tag == "1928301774" and msg.from_.display_name == "Alice"
    assert msg.to.tag is None
    assert msg.call_id == "a84b4c76e66710"
    assert (msg.cseq.seq, msg.cseq.method) == (63104, "OPTIONS")
    assert msg.max_forwards == 70
    assert msg.content_length == 0 and msg.body == b""
    assert msg.contact[0].uri.host == "pc33.atlanta.com" and not msg.contact_star
    assert msg.route == [] and msg.record_route == []
    assert msg.expires is None


def test_response_status_line() -> None:
    msg = sipwire.parse(sip("""SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Content-Length: 0

"""))
    assert isinstance(msg, sipwire.Response)
    assert (msg.status, msg.reason) == (486, "Busy Here")
    assert msg.to.tag == "a6c85cf"


@pytest.mark.parametrize("reason", ["", "Très Occupé", "Busy; call later?"])
def test_reason_phrase_utf8_empty_and_reserved(reason: str) -> None:
    data = OPTIONS.replace(b"OPTIONS sip:carol@chicago.com SIP/2.0",
                           f"SIP/2.0 499 {reason}".encode())
    msg = sipwire.parse(data)
    assert isinstance(msg, sipwire.Response)
    assert msg.status == 499 and msg.reason == reason
    assert bytes(msg) == data


def test_extension_method_and_compact_forms() -> None:
    data = sip("""PUBLISH sip:presentity@example.com SIP/2.0
v: SIP/2.0/TCP pua.example.com;branch=z9hG4bKcdad2
Max-Forwards: 70
t: <sip:presentity@example.com>
f: <sip:presentity@example.com>;tag=54321mm
i: 5566778@pua.example.com
CSeq: 1 PUBLISH
o: presence
c: application/pidf+xml
l: 5

hello""")
    msg = sipwire.parse(data)
    assert msg.method == "PUBLISH"  # type: ignore[union-attr]
    assert msg.via[0].transport == "TCP"
    assert msg.headers.get("Call-ID") == msg.headers.get("i") == "5566778@pua.example.com"
    assert msg.headers.get("Event") == "presence"
    assert msg.content_type.mime == "application/pidf+xml"
    assert msg.body == b"hello"
    assert bytes(msg) == data


def test_folding_whitespace_and_case_insensitive_names() -> None:
    data = sip("""INVITE sip:bob@biloxi.com SIP/2.0
VIA  :  SIP/2.0/UDP pc33.atlanta.com
 ;branch=z9hG4bK776asdhds
max-forwards:70
TO:Bob
\t<sip:bob@biloxi.com>
from: "Alice, A." <sip:alice@atlanta.com>;tag=1
call-id: x@y
cseq:1   INVITE
Subject: I know you're there,
   pick up the phone
Content-Length: 0

""")
    msg = sipwire.parse(data)
    assert msg.via[0].branch == "z9hG4bK776asdhds"
    assert msg.to.display_name == "Bob" and msg.to.uri.user == "bob"
    assert msg.from_.display_name == "Alice, A."
    assert msg.headers.get("subject") == "I know you're there, pick up the phone"
    assert bytes(msg) == data


def test_comma_lists_split_outside_quotes_and_brackets() -> None:
    data = OPTIONS.replace(b"Accept: application/sdp", (
        b'Contact: "Lee, M." <sip:lee,m@a.com;x=1>;q=0.5, <sip:b@b.com>\r\n'
        b"Via: SIP/2.0/UDP p1.com;branch=z9hG4bK1, SIP/2.0/TCP p2.com:5070;branch=z9hG4bK2"))
    data = data.replace(b"Contact: <sip:alice@pc33.atlanta.com>\r\n", b"")
    msg = sipwire.parse(data)
    assert [c.uri.host for c in msg.contact] == ["a.com", "b.com"]
    assert msg.contact[0].q == 0.5 and msg.contact[0].display_name == "Lee, M."
    assert [v.host for v in msg.via] == ["pc33.atlanta.com", "p1.com", "p2.com"]
    assert msg.headers.getall("Via")[2] == "SIP/2.0/TCP p2.com:5070;branch=z9hG4bK2"
    assert bytes(msg) == data


@pytest.mark.parametrize("contacts", [b"<sip:a@a.com>, , <sip:b@b.com>", b"<sip:a@a.com>,",
                                      b", <sip:b@b.com>"])
def test_an_empty_element_of_a_comma_list_is_refused(contacts: bytes) -> None:
    msg = sipwire.parse(OPTIONS.replace(b"<sip:alice@pc33.atlanta.com>", contacts))
    with pytest.raises(ParseError, match=r"Contact: empty element .*RFC 3261 §7\.3\.1"):
        msg.contact  # noqa: B018 - reading it parses it


def test_ipv6_references_in_uri_and_via() -> None:
    data = OPTIONS.replace(b"sip:carol@chicago.com SIP", b"sip:carol@[2001:db8::10]:5070 SIP")
    data = data.replace(b"SIP/2.0/UDP pc33.atlanta.com;", b"SIP/2.0/UDP [2001:db8::9]:5060;")
    msg = sipwire.parse(data)
    assert msg.uri.host == "[2001:db8::10]" and msg.uri.port == 5070  # type: ignore[union-attr]
    assert msg.uri.host_address == "2001:db8::10"  # type: ignore[union-attr]
    assert msg.via[0].host == "[2001:db8::9]" and msg.via[0].port == 5060


def test_datagram_without_content_length_takes_the_rest() -> None:
    data = OPTIONS.replace(b"Content-Length: 0\r\n", b"") + b"body"
    assert sipwire.parse(data).body == b"body"


def test_bytes_beyond_content_length_are_discarded() -> None:
    """§18.3: octets past Content-Length in a datagram are ignored."""
    msg = sipwire.parse(OPTIONS + b"extra")
    assert msg.body == b""
    assert bytes(msg) == OPTIONS


@pytest.mark.parametrize(
    ("change", "status", "header"),
    [
        ((b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), 505, None),
        ((b"Content-Length: 0", b"Content-Length: 9"), 400, "Content-Length"),
        ((b"Content-Length: 0", b"Content-Length: x"), 400, "Content-Length"),
        ((b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"), 400, "CSeq"),
        ((b"CSeq: 63104 OPTIONS", b"CSeq: 2147483648 OPTIONS"), 400, "CSeq"),
        ((b"Call-ID: a84b4c76e66710\r\n", b""), 400, "Call-ID"),
        ((b"From: Alice <sip", b"From: Alice sip"), 400, "From"),
        ((b"To: <sip:carol@chicago.com>", b"To: <sip:carol@chicago.com"), 400, "To"),
        ((b"Accept: application/sdp", b"Accept application/sdp"), 400, None),
        ((b"Accept: application/sdp", b"Acc ept: application/sdp"), 400, None),
        ((b"OPTIONS sip:carol@chicago.com", b"OPTIONS carol@chicago.com"), 400, None),
        ((b"Max-Forwards: 70", b"Max-Forwards: 256"), 400, "Max-Forwards"),
    ],
)
def test_parse_refuses_with_status(change: tuple[bytes, bytes], status: int,
                                   header: str | None) -> None:
    with pytest.raises(ParseError) as info:
        sipwire.parse(OPTIONS.replace(*change))
    assert info.value.status_code == status
    assert info.value.header == header
    assert "RFC" in str(info.value)


def test_parse_error_is_a_value_error_with_rfc_reason() -> None:
    with pytest.raises(ValueError, match=r"CSeq: CSeq method 'INVITE' differs from the "
                                         r"request method 'OPTIONS' \(RFC 3261 §8.1.1.5\)"):
        sipwire.parse(OPTIONS.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"))


@pytest.mark.parametrize("data", [
    OPTIONS.replace(b";branch=z9hG4bKhjhs8ass877", b""),  # an RFC 2543 Via
    OPTIONS.replace(b"From: Alice <sip:alice@atlanta.com>;tag=1928301774",  # and From
                    b"From: Alice <sip:alice@atlanta.com>").replace(b";branch=z9hG4bKhjhs8ass877",
                                                                     b""),
])
def test_request_without_branch_is_accepted_unless_required(data: bytes) -> None:
    """§17.2.3 matches requests without a branch ("not present"); an element
    that talks to no RFC 2543 peer may refuse them (§8.1.1.7)."""
    msg = sipwire.parse(data)
    assert msg.via[0].branch is None and bytes(msg) == data
    assert sipwire.parse(data, Limits(require_branch=False)).via[0].branch is None
    with pytest.raises(ValueError, match=r"Via: missing branch parameter \(RFC 3261 §8.1.1.7\)"):
        sipwire.parse(data, Limits(require_branch=True))


def test_branch_is_never_required_of_a_response() -> None:
    """A response carries its request's Via as it was (§8.2.6.2)."""
    request = sipwire.parse(OPTIONS.replace(b";branch=z9hG4bKhjhs8ass877", b""))
    assert isinstance(request, sipwire.Request)
    data = bytes(request.reply(200, to_tag="t"))
    assert sipwire.parse(data, Limits(require_branch=True)).via[0].branch is None


def test_request_without_max_forwards_is_accepted() -> None:
    """§16.3 step 3: "If the request does not contain a Max-Forwards header
    field, this check is passed"."""
    data = OPTIONS.replace(b"Max-Forwards: 70\r\n", b"")
    msg = sipwire.parse(data)
    assert msg.max_forwards is None and bytes(msg) == data


@pytest.mark.parametrize("host", ["[2001:db8:::192.0.2.1]", "[:::192.0.2.1]",
                                  "[1:2:3:4:5:::192.0.2.1]"])
def test_three_colon_ipv6_reference_is_accepted_in_uri_and_via(host: str) -> None:
    """RFC 3261's IPv6address allows a third colon before the IPv4 part
    (RFC 5954 §3.1); RFC 5118 §4.10 shows it sent."""
    data = OPTIONS.replace(b"sip:carol@chicago.com SIP", f"sip:carol@{host} SIP".encode())
    data = data.replace(b"UDP pc33.atlanta.com;", f"UDP {host}:5060;".encode())
    data = data.replace(b"<sip:alice@pc33.atlanta.com>", f"<sip:alice@{host}>".encode())
    msg = sipwire.parse(data)
    assert isinstance(msg, sipwire.Request)
    assert msg.uri.host == host and msg.via[0].host == host and msg.via[0].port == 5060
    assert msg.contact[0].uri.host == host
    assert bytes(msg) == data
    msg.validate()


@pytest.mark.parametrize("host", [
    "[2001:db8::::192.0.2.1]",  # four colons
    "[2001:db8:::192.0.2]",  # three octets
    "[2001:db8:::192.0.2.256]",  # an octet over 255
    "[2001:db8::1:::192.0.2.1]",  # two "::"
    "[1:2:3:4:5:6:::192.0.2.1]",  # nine groups with the "::"
    "[2001:db8:::1]",  # no IPv4 part
    "[2001:db8:::192.0.2.1",  # unterminated
])
def test_other_bad_ipv6_references_are_still_refused(host: str) -> None:
    data = OPTIONS.replace(b"sip:carol@chicago.com SIP", f"sip:carol@{host} SIP".encode())
    with pytest.raises(ParseError, match="Request-URI"):
        sipwire.parse(data)
    via = OPTIONS.replace(b"UDP pc33.atlanta.com;", f"UDP {host};".encode())
    with pytest.raises(ParseError) as info:
        sipwire.parse(via)
    assert info.value.header == "Via"


def test_limits_message_size_header_count_line_length() -> None:
    with pytest.raises(ParseError) as info:
        sipwire.parse(OPTIONS, Limits(max_message_size=100))
    assert info.value.status_code == 513
    many = OPTIONS.replace(b"Accept:", b"X-A: 1\r\n" * 300 + b"Accept:")
    with pytest.raises(ParseError) as info:
        sipwire.parse(many)
    assert info.value.status_code == 513
    long_line = OPTIONS.replace(b"Accept: application/sdp", b"X-Long: " + b"a" * 20000)
    with pytest.raises(ParseError) as info:
        sipwire.parse(long_line)
    assert info.value.status_code == 513


@pytest.mark.parametrize("data", [
    b"", b"\r\n", b"INVITE\r\n\r\n", b"SIP/2.0 200\r\n\r\n", b"\x00\xff\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\nVia: x\n\n",
])
def test_garbage_raises_parse_error_only(data: bytes) -> None:
    with pytest.raises(ParseError):
        sipwire.parse(data)


def test_duplicate_single_header_refused() -> None:
    data = OPTIONS.replace(b"Call-ID: a84b4c76e66710\r\n",
                           b"Call-ID: a84b4c76e66710\r\nCall-ID: other\r\n")
    with pytest.raises(ParseError, match="more than once"):
        sipwire.parse(data)


def test_extension_headers_kept_raw_and_in_order() -> None:
    data = OPTIONS.replace(b"Accept: application/sdp",
                           b"X-Foo: a, \"b,c\"\r\nP-Asserted-Identity: <sip:a@b>\r\nX-Foo: 2")
    msg = sipwire.parse(data)
    assert msg.headers.getall("x-foo") == ['a, "b,c"', "2"]
    names = [name for name, _ in msg.headers]
    assert names.index("X-Foo") < names.index("P-Asserted-Identity")
    assert bytes(msg) == data


def test_leading_crlf_before_start_line_ignored() -> None:
    """§7.5: CRLFs before the start line are ignored."""
    assert sipwire.parse(b"\r\n\r\n" + OPTIONS).method == "OPTIONS"  # type: ignore[union-attr]


@pytest.mark.parametrize("header", [b"CSeq: %s OPTIONS", b"Max-Forwards: %s",
                                    b"Content-Length: %s",
                                    b"Via: SIP/2.0/UDP h:%s;branch=z9hG4bK1"])
def test_huge_numbers_are_parse_errors_not_value_errors(header: bytes) -> None:
    """int() refuses over 4300 digits; that must surface as a ParseError."""
    name = header.split(b":")[0]
    lines = [line for line in OPTIONS.split(b"\r\n") if not line.startswith(name + b":")]
    lines.insert(2, header % (b"9" * 5000))
    with pytest.raises(ParseError):
        sipwire.parse(b"\r\n".join(lines)).validate()


def test_huge_expires_is_the_largest_delta_seconds() -> None:
    data = OPTIONS.replace(b"Accept: application/sdp", b"Expires: " + b"9" * 5000)
    assert sipwire.parse(data).expires == 2**32 - 1


def test_typed_values_cannot_inject_header_lines() -> None:
    from sipwire.message.fields.text import Subject

    msg = sipwire.parse(OPTIONS)
    with pytest.raises(ValueError):
        msg.headers.add("Subject", Subject("hi\r\nVia: evil"))
    with pytest.raises(ValueError):
        msg.headers.add("To", sipwire.NameAddr("sip:a@b.com", "x\r\nVia: evil"))
    with pytest.raises(ValueError):
        msg.headers.set("X-Foo", "a\r\nVia: evil")


# -- NUL and UTF-8 in the header section (RFC 3261 §25.1) -----------------------------------


@pytest.mark.parametrize(("change", "header", "rule"), [
    # header-value of an extension header has no quoted-pair: no NUL at all
    ((b"Accept: application/sdp", b"X-Foo: a\x00b"), "X-Foo", "quoted-pair"),
    ((b"Accept: application/sdp", b"X-Foo: a\\\x00b"), "X-Foo", "quoted-pair"),
    ((b"Accept: application/sdp", b"Subject: a\x00b"), "Subject", "quoted-pair"),
    # a NUL after an even run of backslashes is not the escaped character
    ((b"From: Alice", b'From: "Al\\\\\x00ice"'), "From", "quoted-pair"),
    # a quoted-pair outside a quoted-string: the typed grammar refuses it
    ((b"Contact: <sip:alice", b"Contact: a\\\x00 <sip:alice"), "Contact", "§20.10"),
    ((b"Accept: application/sdp", b"X-Foo: ok\r\n \x00folded"), "X-Foo", "quoted-pair"),
    # bytes that are not UTF-8: Latin-1, a lone lead byte, overlong, a surrogate
    ((b"From: Alice", b'From: "M\xfcller"'), "From", "UTF8-NONASCII"),
    ((b"Accept: application/sdp", b"Subject: caf\xe9"), "Subject", "UTF8-NONASCII"),
    ((b"Accept: application/sdp", b"X-Foo: \xc0\xaf"), "X-Foo", "UTF8-NONASCII"),
    ((b"Accept: application/sdp", b"X-Foo: \xed\xa0\x80"), "X-Foo", "UTF8-NONASCII"),
    ((b"Accept: application/sdp", b"X-Foo: \xff"), "X-Foo", "UTF8-NONASCII"),
    ((b"Accept: application/sdp", b"X-Foo: ok\r\n \xfffolded"), "X-Foo", "UTF8-NONASCII"),
])
def test_nul_and_bytes_that_are_not_utf8_in_a_header_are_refused(
        change: tuple[bytes, bytes], header: str, rule: str) -> None:
    data = OPTIONS.replace(*change)
    assert data != OPTIONS
    with pytest.raises(ParseError) as info:
        sipwire.parse(data)
    assert info.value.status_code == 400
    assert info.value.header == header
    assert info.value.rfc is not None and rule in info.value.rfc


def test_the_offset_of_a_byte_that_is_not_utf8_is_given() -> None:
    data = OPTIONS.replace(b"Accept: application/sdp", b"Subject: caf\xe9")
    with pytest.raises(ParseError) as info:
        sipwire.parse(data)
    offset = data.index(b"\xe9")
    assert info.value.offset == offset and f"at byte {offset}" in str(info.value)


@pytest.mark.parametrize(("data", "reason"), [
    (b"OPTIONS sip:a\x00b@c SIP/2.0\r\n\r\n", "NUL byte in the start line"),
    (b"SIP/2.0 200 O\x00K\r\n\r\n", "NUL byte in the start line"),
    (b"SIP/2.0 200 O\xffK\r\n\r\n", "not UTF-8 in the start line"),
    (OPTIONS.replace(b"Accept:", b"Acc\xe9pt:"), "not UTF-8 in a header name"),
])
def test_nul_and_bytes_that_are_not_utf8_in_the_start_line_or_a_name(
        data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        sipwire.parse(data)
    assert info.value.status_code == 400


@pytest.mark.parametrize("change", [
    # RFC 4475 §3.1.1.3: an escaped NUL in a quoted-string is valid
    (b"From: Alice", b'From: "Al\\\x00ice"'),
    (b"From: Alice", b'From: "Al\\\\\\\x00ice"'),
    # ... and in a comment (§25.1 comment = LPAREN *(ctext / quoted-pair / comment) RPAREN)
    (b"Accept: application/sdp", b"User-Agent: phone/1 (\\\x00)"),
    # UTF-8 of 2, 3 and 4 bytes
    (b"From: Alice", "From: \"Zoë 会 🙂\"".encode()),
    (b"Accept: application/sdp", "Subject: café 🙂".encode()),
    (b"Accept: application/sdp", "X-Foo: ça".encode()),
])
def test_an_escaped_nul_and_utf8_are_accepted(change: tuple[bytes, bytes]) -> None:
    data = OPTIONS.replace(*change)
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()


def test_nul_and_any_bytes_in_the_body_are_left_alone() -> None:
    body = b"\x00\xff\xfe\x00"
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Type: application/octet-stream\r\n"
                           b"Content-Length: 4") + body
    msg = sipwire.parse(data)
    assert msg.body == body and bytes(msg) == data


def test_a_stream_answers_a_nul_and_goes_on() -> None:
    """A framed message with a NUL is a BadMessage (answered 400), not the end
    of the stream (§18.3)."""
    bad = OPTIONS.replace(b"Accept: application/sdp", b"X-Foo: a\x00b")
    events = sipwire.StreamParser().feed(bad + OPTIONS)
    assert len(events) == 2
    assert isinstance(events[0], sipwire.BadMessage)
    assert events[0].error.status_code == 400 and events[0].error.header == "X-Foo"
    assert isinstance(events[1], sipwire.Request)
