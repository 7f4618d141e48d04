"""Building requests (§8.1.1), answering them (§8.2.6), and changing parsed
messages without disturbing the bytes of what was not changed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sipwire
from sipwire import NameAddr, Request, Response, Via

from .conftest import sip

INVITE = sip("""INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2
Max-Forwards: 70
Record-Route: <sip:ss1.atlanta.com;lr>
To: Bob <sip:bob@biloxi.com>
From:   Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Timestamp: 54.1
Contact: <sip:alice@pc33.atlanta.com>
Content-Type: application/sdp
Content-Length: 5

v=0
""")


def test_build_follows_8_1_1() -> None:
    req = Request.build("INVITE", "sip:bob@biloxi.com", from_="Alice <sip:alice@atlanta.com>",
                        contact="<sip:alice@pc33.atlanta.com>", body=b"v=0\r\n",
                        content_type="application/sdp")
    again = sipwire.parse(bytes(req))
    assert isinstance(again, Request)
    assert again.method == "INVITE" and str(again.uri) == "sip:bob@biloxi.com"
    assert str(again.to.uri) == "sip:bob@biloxi.com" and again.to.tag is None
    assert again.from_.tag and len(again.from_.tag) >= 8
    assert again.via[0].branch.startswith("z9hG4bK")  # type: ignore[union-attr]
    assert again.max_forwards == 70
    assert (again.cseq.seq, again.cseq.method) == (1, "INVITE")
    assert again.call_id and again.content_length == 5 and again.body == b"v=0\r\n"
    again.validate()
    other = Request.build("INVITE", "sip:bob@biloxi.com", from_="sip:alice@atlanta.com")
    assert other.call_id != again.call_id
    assert other.via[0].branch != again.via[0].branch


def test_reply_copies_per_8_2_6_2() -> None:
    req = sipwire.parse(INVITE)
    assert isinstance(req, Request)
    ringing = req.reply(180, to_tag="a6c85cf")
    data = bytes(ringing)
    resp = sipwire.parse(data)
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (180, "Ringing")
    assert data.count(b"Via:") == 2
    # copied headers keep their exact bytes
    assert b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\n" in data
    assert b"From:   Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" in data
    assert resp.to.tag == "a6c85cf"
    assert resp.headers.get("Timestamp") == "54.1"
    assert resp.record_route[0].uri.host == "ss1.atlanta.com"  # dialog-creating, §12.1.1
    assert resp.content_length == 0
    resp.validate()


def test_reply_100_has_no_to_tag_and_non_dialog_has_no_record_route() -> None:
    req = sipwire.parse(INVITE)
    assert isinstance(req, Request)
    trying = sipwire.parse(bytes(req.reply(100)))
    assert trying.to.tag is None
    assert sipwire.parse(bytes(req.reply(486))).record_route == []
    tagged = req.reply(200)
    assert tagged.to.tag


def test_untouched_message_is_byte_identical() -> None:
    assert bytes(sipwire.parse(INVITE)) == INVITE


def test_changing_via_received_rewrites_only_that_line() -> None:
    msg = sipwire.parse(INVITE)
    msg.via[0].received = "192.0.2.101"
    msg.via[0].rport = 5060
    out = bytes(msg)
    assert b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.101;" \
           b"rport=5060\r\n" in out
    assert out.replace(out.split(b"\r\n")[1] + b"\r\n", b"") == \
        INVITE.replace(INVITE.split(b"\r\n")[1] + b"\r\n", b"")
    assert sipwire.parse(out).via[0].received == "192.0.2.101"


def test_adding_a_via_at_the_top_and_removing_it() -> None:
    msg = sipwire.parse(INVITE)
    msg.headers.add("Via", Via("UDP", "proxy.biloxi.com", 5060, branch="z9hG4bKproxy1"),
                    top=True)
    out = sipwire.parse(bytes(msg))
    assert [v.host for v in out.via] == ["proxy.biloxi.com", "pc33.atlanta.com",
                                         "bigbox3.site3.atlanta.com"]
    assert out.headers.pop("Via") == "SIP/2.0/UDP proxy.biloxi.com:5060;branch=z9hG4bKproxy1"
    assert bytes(out) == INVITE


def test_pop_one_value_of_a_combined_line() -> None:
    msg = sipwire.parse(INVITE.replace(b"Record-Route: <sip:ss1.atlanta.com;lr>",
                                       b"Route: <sip:a.com;lr>, <sip:b.com;lr>"))
    assert msg.headers.pop("Route") == "<sip:a.com;lr>"
    assert [str(r.uri) for r in msg.route] == ["sip:b.com;lr"]
    assert b"Route: <sip:b.com;lr>\r\n" in bytes(msg)


def test_set_remove_and_max_forwards_decrement() -> None:
    msg = sipwire.parse(INVITE)
    msg.headers.set("Max-Forwards", str(msg.max_forwards - 1))  # type: ignore[operator]
    del msg.headers["Timestamp"]
    msg.headers.append("X-Trace", "1")
    out = bytes(msg)
    again = sipwire.parse(out)
    assert again.max_forwards == 69 and "Timestamp" not in again.headers
    assert again.headers.get("x-trace") == "1"
    with pytest.raises(KeyError):
        del msg.headers["Timestamp"]


def test_tag_change_and_uri_change_rewrite_canonically() -> None:
    msg = sipwire.parse(INVITE)
    msg.to.tag = "xyz"
    assert b'To: "Bob" <sip:bob@biloxi.com>;tag=xyz\r\n' in bytes(msg)
    msg = sipwire.parse(INVITE)
    msg.contact[0].uri.port = 5070
    assert b"Contact: <sip:alice@pc33.atlanta.com:5070>\r\n" in bytes(msg)


def test_body_keeps_content_length_consistent() -> None:
    msg = sipwire.parse(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    again = sipwire.parse(bytes(msg))
    assert again.content_length == len(msg.body) and again.body == msg.body


def test_request_uri_and_method_change() -> None:
    msg = sipwire.parse(INVITE)
    assert isinstance(msg, Request)
    msg.uri = sipwire.URI.parse("sip:bob@192.0.2.4")
    assert bytes(msg).startswith(b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n")


def test_response_status_change() -> None:
    resp = sipwire.parse(bytes(sipwire.parse(INVITE).reply(180)))  # type: ignore[union-attr]
    assert isinstance(resp, Response)
    resp.status, resp.reason = 183, "Session Progress"
    assert bytes(resp).startswith(b"SIP/2.0 183 Session Progress\r\n")


def test_name_addr_values_build() -> None:
    value = NameAddr("sip:alice@atlanta.com", "Alice Liddell", tag="88sja8x")
    assert str(value) == '"Alice Liddell" <sip:alice@atlanta.com>;tag=88sja8x'
    assert NameAddr.parse(str(value)) == value


def test_copy_is_independent() -> None:
    msg = sipwire.parse(INVITE)
    dup = msg.copy()
    dup.headers.set("Max-Forwards", "1")
    assert msg.max_forwards == 70 and dup.max_forwards == 1
    assert bytes(msg) == INVITE


def test_copy_does_not_share_typed_values() -> None:
    msg = sipwire.parse(INVITE)
    dup = msg.copy()
    dup.via[0].branch = "z9hG4bKother"
    assert msg.via[0].branch == "z9hG4bKnashds8"
    assert sipwire.parse(bytes(dup)).via[0].branch == "z9hG4bKother"
    assert bytes(msg) == INVITE


def test_add_before_content_length() -> None:
    msg = sipwire.parse(INVITE)
    msg.headers.add("Authorization", 'Digest username="a"', before="Content-Length")
    names = [name for name, _ in msg.headers]
    assert names[-2:] == ["Authorization", "Content-Length"]


def test_changing_the_reply_leaves_the_request_alone() -> None:
    req = sipwire.parse(INVITE)
    assert isinstance(req, Request)
    resp = req.reply(200, to_tag="t1")
    resp.to.tag = "t2"
    resp.from_.display_name = "Mallory"
    assert req.to.tag is None and req.from_.display_name == "Alice"
    assert bytes(req) == INVITE
    assert sipwire.parse(bytes(resp)).to.tag == "t2"


def test_in_place_changes_of_simple_values_are_written() -> None:
    # CSeq, Call-ID and the number headers tell a change by comparing with their
    # kept text: each change must reach the wire, and only that header change
    msg = sipwire.parse(INVITE)
    assert not msg.cseq.modified and not msg.headers.first("Call-ID").modified  # type: ignore[union-attr]
    msg.cseq.seq = 314160
    msg.headers.first("Call-ID").value = "other-call"  # type: ignore[union-attr]
    msg.headers.first("Max-Forwards").value = 69  # type: ignore[union-attr]
    out = bytes(msg)
    assert b"CSeq: 314160 INVITE\r\n" in out and b"Call-ID: other-call\r\n" in out
    assert b"Max-Forwards: 69\r\n" in out
    assert b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\n" in out
    msg = sipwire.parse(INVITE)
    msg.cseq.method = "ACK"
    assert b"CSeq: 314159 ACK\r\n" in bytes(msg)


@pytest.mark.parametrize("text", ["CSeq: 0314159  INVITE", "Expires: 0600",
                                  "Expires: 99999999999"])
def test_unchanged_values_keep_their_spelling(text: str) -> None:
    name, _, value = text.partition(": ")
    if name == "CSeq":
        data = INVITE.replace(b"CSeq: 314159 INVITE", text.encode())
    else:
        data = INVITE.replace(b"Contact:", text.encode() + b"\r\nContact:")
    msg = sipwire.parse(data)
    typed = msg.headers.first(name)
    assert typed is not None and not typed.modified
    assert bytes(msg.copy()) == data
    if name == "Expires":
        typed.value = 600 if value == "99999999999" else 601  # type: ignore[attr-defined]
        assert typed.modified and f"Expires: {typed.value}\r\n".encode() in bytes(msg)  # type: ignore[attr-defined]


@given(st.lists(st.sampled_from(["Contact", "Date", "Via", "Supported", "Record-Route",
                                 "Warning"]), max_size=6),
       st.booleans())
def test_reply_places_extra_headers_as_add_does(names: list[str], contact: bool) -> None:
    # reply() appends extra headers without scanning when it can; the order
    # must stay exactly what Headers.add gives (after the last of the name)
    msg = sipwire.parse(INVITE)
    extra = [(name, f"x{i}") if name != "Contact" else (name, f"<sip:c{i}@h>")
             for i, name in enumerate(names)]
    got = msg.reply(200, to_tag="t", headers=extra,
                    contact="<sip:me@h>" if contact else None)
    want = msg.reply(200, to_tag="t")
    want.headers.remove("Content-Length")
    if contact:
        want.headers.add("Contact", "<sip:me@h>")
    for name, value in extra:
        want.headers.add(name, value)
    want.headers.append("Content-Length", "0")
    assert [(n, v) for n, v in got.headers] == [(n, v) for n, v in want.headers]


def test_parameter_changes_are_seen_after_the_parameters_were_read() -> None:
    # Via, From/To and URIs compare their parameters with a snapshot taken
    # when first read: a change made in place after a read must still show
    msg = sipwire.parse(INVITE)
    via, from_, uri = msg.via[0], msg.from_, msg.from_.uri
    assert via.branch and from_.tag and uri.params == {}
    assert not via.modified and not from_.modified and not uri.modified
    assert bytes(msg) == INVITE
    via.params["received"] = "192.0.2.9"
    from_.params["tag"] = "other"
    uri.params["transport"] = "tcp"
    assert via.modified and from_.modified and uri.modified
    out = bytes(msg)
    assert b"branch=z9hG4bKnashds8;received=192.0.2.9\r\n" in out
    assert b"<sip:alice@atlanta.com;transport=tcp>;tag=other\r\n" in out


def test_top_via_is_the_first_value_and_required() -> None:
    first = b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\nVia:"
    msg = sipwire.parse(INVITE.replace(first, b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,"))
    assert msg.top_via.host == "a.example.com" and msg.top_via == msg.via[0]
    assert [v.host for v in msg.via] == ["a.example.com", "bigbox3.site3.atlanta.com"]
    bare = Request("OPTIONS", "sip:bob@biloxi.com")
    with pytest.raises(sipwire.ParseError, match="Via"):
        assert bare.top_via is None


@pytest.mark.parametrize(("to", "tagged"), [
    ("<sip:bob@biloxi.com>", False),
    ("<sip:tagger@biloxi.com>;x=tag", False),  # "tag" in the value, no tag parameter
    ("Bob <sip:bob@biloxi.com>;TAG=a6c85cf", True),  # parameter names ignore case
    ("<sip:bob@biloxi.com> ; tag = a6c85cf", True),
])
def test_reply_tags_the_to_of_a_request_without_one(to: str, tagged: bool) -> None:
    req = sipwire.parse(INVITE.replace(b"To: Bob <sip:bob@biloxi.com>", b"To: " + to.encode()))
    assert isinstance(req, Request)
    reply = sipwire.parse(bytes(req.reply(200, to_tag="new1")))
    assert reply.to.tag == (req.to.tag if tagged else "new1")


def test_reply_refuses_an_extra_header_value_with_a_line_break() -> None:
    req = sipwire.parse(INVITE)
    assert isinstance(req, Request)
    with pytest.raises(ValueError, match="CR or LF"):
        req.reply(200, headers=[("Subject", "a\r\nVia: injected")])


# an RFC 2543 phone: no Max-Forwards, no Via branch, no From tag, a three-colon
# IPv6 reference; every part is tolerated (sipwire.lint names each)
RFC2543_INVITE = sip("""INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP [2001:db8:::192.0.2.7]:5060
Via: SIP/2.0/UDP pc33.atlanta.com ;received=192.0.2.1
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:alice@[2001:db8:::192.0.2.7]>
Content-Length: 0

""")


@pytest.mark.parametrize("status", [100, 180, 200, 486])
def test_reply_to_an_rfc2543_request_copies_its_vias_as_they_are(status: int) -> None:
    """§8.2.6.2: the Vias are copied, branch or none, spelling and all; a
    response has no Max-Forwards to copy."""
    req = sipwire.parse(RFC2543_INVITE)
    assert isinstance(req, Request) and req.max_forwards is None
    resp = req.reply(status, to_tag="uas1")
    data = bytes(resp)
    assert b"Via: SIP/2.0/UDP [2001:db8:::192.0.2.7]:5060\r\n" \
           b"Via: SIP/2.0/UDP pc33.atlanta.com ;received=192.0.2.1\r\n" in data
    assert b"Max-Forwards" not in data
    again = sipwire.parse(data)
    assert isinstance(again, Response) and bytes(again) == data
    assert [via.branch for via in again.via] == [None, None]
    assert again.via[0].host == "[2001:db8:::192.0.2.7]" and again.via[0].port == 5060
    assert again.to.tag == (None if status == 100 else "uas1")
    again.validate()


def test_rfc2543_request_reads_copies_and_rewrites_without_errors() -> None:
    req = sipwire.parse(RFC2543_INVITE)
    assert isinstance(req, Request)
    req.validate()
    assert req.top_via.branch is None and not req.top_via.has_magic_cookie
    assert req.from_.tag is None and req.contact[0].uri.host == "[2001:db8:::192.0.2.7]"
    dup = req.copy()
    dup.headers.set("Max-Forwards", "69")
    dup.top_via.received = "2001:db8::192.0.2.7"
    again = sipwire.parse(bytes(dup))
    assert again.max_forwards == 69 and again.via[0].branch is None
    assert again.via[0].host == "[2001:db8:::192.0.2.7]"
    assert bytes(req) == RFC2543_INVITE  # the original is untouched
