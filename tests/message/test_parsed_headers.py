"""A parsed message's headers, read before and after a change: the compact
form the parser makes (each line's text and key) and the per-line lists a
change turns it into must give the same answers through the public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import ParseError, Via

from .conftest import sip

INVITE = sip("""INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8
v: SIP/2.0/UDP big.atlanta.com;branch=z9hG4bK7.1, SIP/2.0/TCP p.example.com;branch=z9hG4bK3
Max-Forwards: 70
Route: <sip:a.example.com;lr>,
  <sip:b.example.com;lr>
To: Bob <sip:bob@biloxi.com>
f:   Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
X-Custom :  one
Supported: timer, 100rel
x-custom: two
Contact: <sip:alice@pc33.atlanta.com>
Content-Type: application/sdp
Content-Length: 5

v=0
""")

#: every read of the public API, applied to a message's headers
READS: list[tuple[str, Callable[[Any], Any]]] = [
    ("get via", lambda m: m.headers.get("Via")),
    ("get route", lambda m: m.headers.get("route")),
    ("get absent", lambda m: m.headers.get("Subject", "none")),
    ("getall via", lambda m: m.headers.getall("v")),
    ("getall route", lambda m: m.headers.getall("Route")),
    ("getall custom", lambda m: m.headers.getall("X-CUSTOM")),
    ("texts supported", lambda m: m.headers.texts("supported")),
    ("texts custom", lambda m: m.headers.texts("x-custom")),
    ("contains", lambda m: ("From" in m.headers, "Subject" in m.headers, 3 in m.headers)),
    ("len", lambda m: len(m.headers)),
    ("keys", lambda m: m.headers.keys()),
    ("items", lambda m: m.headers.items()),
    ("typed via", lambda m: [str(v) for v in m.headers.typed("Via")]),
    ("typed route", lambda m: [str(v) for v in m.headers.typed("Route")]),
    ("typed absent", lambda m: m.headers.typed("Record-Route")),
    ("first from", lambda m: str(m.headers.first("From"))),
    ("first absent", lambda m: m.headers.first("Record-Route")),
    ("accessors", lambda m: (m.top_via.branch, [v.host for v in m.via], m.from_.tag,
                             m.to.tag, m.call_id, m.cseq.seq, m.max_forwards,
                             [str(r.uri) for r in m.route], m.content_length, m.expires)),
    ("serialize", lambda m: m.headers.serialize()),
    ("bytes", bytes),
]


@pytest.mark.parametrize(("what", "read"), READS, ids=[what for what, _ in READS])
def test_reads_agree_before_and_after_the_lines_are_made(
        what: str, read: Callable[[Any], Any]) -> None:
    compact = sipwire.parse(INVITE)
    lines = sipwire.parse(INVITE)
    list(lines.headers)  # iterating makes the per-line lists
    assert read(compact) == read(lines)


def test_untouched_parsed_message_is_its_bytes_after_every_read() -> None:
    msg = sipwire.parse(INVITE)
    for _, read in READS:
        read(msg)
    msg.parse_headers()
    assert bytes(msg) == INVITE
    assert bytes(msg.copy()) == INVITE


def test_folded_header_reads_unfolded_and_writes_as_received() -> None:
    msg = sipwire.parse(INVITE)
    assert msg.headers.getall("Route") == ["<sip:a.example.com;lr>", "<sip:b.example.com;lr>"]
    assert b"Route: <sip:a.example.com;lr>,\r\n  <sip:b.example.com;lr>\r\n" in bytes(msg)


def test_iteration_keeps_the_order_and_the_names_as_written() -> None:
    msg = sipwire.parse(INVITE)
    names = [name for name, _ in msg.headers]
    assert names == ["Via", "v", "Max-Forwards", "Route", "To", "f", "Call-ID", "CSeq",
                     "X-Custom ", "Supported", "x-custom", "Contact", "Content-Type",
                     "Content-Length"]
    assert dict(msg.headers.items())["X-Custom "] == "one"


def test_a_typed_value_read_before_a_change_is_the_one_changed_after() -> None:
    msg = sipwire.parse(INVITE)
    top = msg.top_via
    sender = msg.from_
    msg.headers.add("Via", Via("UDP", "proxy.example.com", 5060, branch="z9hG4bKp1"), top=True)
    assert msg.via[0].host == "proxy.example.com"
    assert msg.via[1] is top
    assert msg.from_ is sender
    sender.tag = "changed"
    out = bytes(msg)
    assert out.startswith(b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
                          b"Via: SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKp1\r\n"
                          b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\n")
    assert b'f: "Alice" <sip:alice@atlanta.com>;tag=changed\r\n' in out
    again = sipwire.parse(out)
    assert again.from_.tag == "changed" and len(again.via) == 4


def test_a_changed_typed_value_is_written_without_any_other_change() -> None:
    msg = sipwire.parse(INVITE)
    msg.to.tag = "t1"  # a typed value changed in place: no line was added or removed
    out = bytes(msg)
    assert out == INVITE.replace(b"To: Bob <sip:bob@biloxi.com>\r\n",
                                 b'To: "Bob" <sip:bob@biloxi.com>;tag=t1\r\n')
    copy = msg.copy()
    assert copy.to.tag == "t1" and copy.to is not msg.to
    assert bytes(copy) == out


def test_a_copy_is_independent_of_the_original() -> None:
    msg = sipwire.parse(INVITE)
    copy = msg.copy()
    copy.headers.remove("Route")
    copy.from_.tag = "other"
    assert msg.route and msg.from_.tag == "1928301774"
    assert bytes(msg) == INVITE
    assert "Route" not in copy.headers and copy.from_.tag == "other"


@pytest.mark.parametrize("change", [
    lambda m: m.headers.set("Max-Forwards", "69"),
    lambda m: m.headers.append("X-Trace", "1"),
    lambda m: m.headers.add("Record-Route", "<sip:rr.example.com;lr>", before="To"),
    lambda m: m.headers.pop("Route"),
    lambda m: m.headers.pop("Via"),
    lambda m: (m.headers.pop("Via"), m.headers.pop("Via")),
    lambda m: m.headers.pop("Contact"),
    lambda m: m.headers.remove("x-custom"),
])
def test_reads_after_a_change_see_the_change(change: Callable[[Any], Any]) -> None:
    msg = sipwire.parse(INVITE)
    msg.top_via  # noqa: B018 - a read first, from the compact form
    change(msg)
    again = sipwire.parse(bytes(msg))
    for _, read in READS[:-2]:
        assert read(msg) == read(again)


def test_popping_a_one_value_line_drops_exactly_that_line() -> None:
    """How a proxy takes its Via off a response (§16.7 step 3): the line goes,
    every other stays byte for byte, and a copy made before keeps it."""
    msg = sipwire.parse(INVITE)
    before = msg.copy()
    assert msg.headers.pop("Via") == "SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8"
    assert bytes(msg) == INVITE.replace(
        b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\n", b"")
    assert msg.top_via.host == "big.atlanta.com" and len(msg.headers) == len(before.headers) - 1
    assert msg.headers.pop("Contact") == "<sip:alice@pc33.atlanta.com>"
    assert "Contact" not in msg.headers and msg.headers.getall("x-custom") == ["one", "two"]
    assert bytes(before) == INVITE and before.top_via.host == "pc33.atlanta.com"
    assert before.headers.pop("Subject") is None


def test_reply_copies_the_lines_of_a_parsed_request_exactly() -> None:
    msg = sipwire.parse(INVITE)
    assert isinstance(msg, sipwire.Request)
    reply = msg.reply(180, to_tag="x")
    out = bytes(reply)
    assert b"Via: SIP/2.0/UDP  pc33.atlanta.com ;branch=z9hG4bKnashds8\r\n" in out
    assert b"f:   Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" in out
    assert b"To: Bob <sip:bob@biloxi.com>;tag=x\r\n" in out
    assert msg.to.tag is None and bytes(msg) == INVITE


def test_a_malformed_header_is_reported_when_read_and_then_again() -> None:
    msg = sipwire.parse(INVITE.replace(b"Supported: timer, 100rel", b"Supported: timer, , x"))
    for _ in range(2):
        with pytest.raises(ParseError) as info:
            msg.headers.typed("Supported")
        assert info.value.header == "Supported"
    assert msg.headers.texts("Supported") == ["timer, , x"]


def test_errors_from_the_scanner() -> None:
    with pytest.raises(ParseError, match="header line without a colon"):
        sipwire.parse(INVITE.replace(b"X-Custom :  one", b"X-Custom one"))
    with pytest.raises(ParseError, match="bad header name"):
        sipwire.parse(INVITE.replace(b"X-Custom :", b"X Custom:"))
    with pytest.raises(ParseError, match="bare CR or LF"):
        sipwire.parse(INVITE.replace(b"X-Custom :  one", b"X-Custom :  o\rne"))
    with pytest.raises(ParseError, match="continuation line before any header"):
        sipwire.parse(INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/2.0\r\n x\r\nVia"))
    with pytest.raises(ParseError) as info:
        sipwire.parse(INVITE.replace(b"X-Custom :  one", b"X-Custom :  \xffne"))
    assert info.value.header == "X-Custom"
    assert info.value.offset == INVITE.index(b"X-Custom :") + len(b"X-Custom :  ")


_NAMES = st.sampled_from(["Subject", "X-A", "x-a", "s", "Organization", "X-Long-Name"])
_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters=","),
                  min_size=1, max_size=12)


@given(st.lists(st.tuples(_NAMES, _VALUES, st.booleans()), max_size=8),
       st.sampled_from(["Subject", "X-A", "Organization", "X-Long-Name", "Via"]))
def test_generated_headers_read_the_same_compact_and_as_lines(
        extra: list[tuple[str, str, bool]], asked: str) -> None:
    head = INVITE.split(b"\r\n\r\n")[0]
    lines = [f"{name}:{' ' if spaced else ''}{value}" for name, value, spaced in extra]
    data = head + b"".join(b"\r\n" + line.encode() for line in lines) + b"\r\n\r\nv=0\r\n"
    compact = sipwire.parse(data)
    expanded = sipwire.parse(data)
    list(expanded.headers)
    assert compact.headers.getall(asked) == expanded.headers.getall(asked)
    assert compact.headers.get(asked) == expanded.headers.get(asked)
    assert (asked in compact.headers) == (asked in expanded.headers)
    assert compact.headers.items() == expanded.headers.items()
    assert bytes(compact) == data == bytes(expanded)


# -- edits of the compact form (lumps) -----------------------------------------

_EDIT_NAMES = st.sampled_from(["Via", "v", "Route", "Record-Route", "Max-Forwards", "X-Custom",
                               "x-custom", "Supported", "Subject", "Contact", "Content-Length",
                               "WWW-Authenticate"])
_EDIT_VALUES = st.sampled_from([
    "SIP/2.0/UDP p1.example.com;branch=z9hG4bK1", "<sip:r.example.com;lr>",
    "<sip:a.example.com;lr>, <sip:b.example.com;lr>", "69", "three", "timer, 100rel",
    "", "Digest realm=\"x\", nonce=\"y\""])
_EDITS = st.one_of(
    st.tuples(st.just("add"), _EDIT_NAMES, _EDIT_VALUES, st.booleans(),
              st.sampled_from([None, "Content-Length", "To", "Subject"])),
    st.tuples(st.just("append"), _EDIT_NAMES, _EDIT_VALUES),
    st.tuples(st.just("set"), _EDIT_NAMES, _EDIT_VALUES),
    st.tuples(st.just("remove"), _EDIT_NAMES),
    st.tuples(st.just("pop"), _EDIT_NAMES),
    st.tuples(st.just("via"), st.booleans()),
    st.tuples(st.just("tag"), st.sampled_from(["t1", "t2"])),
    st.tuples(st.just("read"), _EDIT_NAMES),
    st.tuples(st.just("copy")),
)


def _outcome(read: Callable[[Any], Any], msg: Any) -> Any:
    try:
        return read(msg)
    except (ParseError, KeyError, IndexError, ValueError) as exc:
        return ("raised", type(exc).__name__, str(exc))


def _edit(msg: Any, edit: tuple[Any, ...]) -> Any:
    """One change to ``msg`` through the public API; returns the message to
    go on with (a copy, for "copy") and what the change returned."""
    kind = edit[0]
    headers = msg.headers
    if kind == "add":
        return msg, _outcome(lambda m: m.headers.add(edit[1], edit[2], top=edit[3],
                                                     before=edit[4]), msg)
    if kind == "append":
        return msg, _outcome(lambda m: m.headers.append(edit[1], edit[2]), msg)
    if kind == "set":
        return msg, _outcome(lambda m: m.headers.set(edit[1], edit[2]), msg)
    if kind == "remove":
        return msg, headers.remove(edit[1])
    if kind == "pop":
        return msg, _outcome(lambda m: m.headers.pop(edit[1]), msg)
    if kind == "via":  # a proxy's Via, then the transport's sent-by (§18.1.1)
        via = Via("UDP", "proxy.example.com", 5060, branch="z9hG4bKp")
        headers.add("Via", via, top=True)
        if edit[1]:
            via.host, via.port = "192.0.2.9", 5070
        return msg, None
    if kind == "tag":
        return msg, _outcome(lambda m: setattr(m.to, "tag", edit[1]), msg)
    if kind == "read":
        return msg, (_outcome(lambda m: m.headers.getall(edit[1]), msg),
                     _outcome(lambda m: [str(v) for v in m.headers.typed(edit[1])], msg))
    return msg.copy(), None


@given(st.lists(_EDITS, max_size=8))
@example([("tag", "t1"), ("copy",), ("pop", "Via")])
@example([("via", True), ("copy",), ("set", "Max-Forwards", "69"), ("copy",)])
@example([("pop", "v"), ("pop", "Route"), ("read", "Route"), ("copy",), ("pop", "Route")])
@example([("set", "x-custom", "three"), ("remove", "Via"), ("append", "WWW-Authenticate", "")])
@settings(max_examples=300)
def test_edits_of_the_compact_form_agree_with_the_lines(edits: list[tuple[Any, ...]]) -> None:
    """Every change a proxy makes (and the others) applied to the compact form
    and to the per-line lists gives the same reads, bytes and copies."""
    compact = sipwire.parse(INVITE)
    lines = sipwire.parse(INVITE)
    list(lines.headers)
    original = sipwire.parse(INVITE)
    for edit in edits:
        compact, done_compact = _edit(compact, edit)
        lines, done_lines = _edit(lines, edit)
        assert done_compact == done_lines, edit
        for what, read in READS:
            if what != "items":  # iterating makes the lists: done last
                assert _outcome(read, compact) == _outcome(read, lines), (edit, what)
        assert compact.headers._lines is None  # every edit keeps the compact form
    assert compact.headers.items() == lines.headers.items()
    assert bytes(original) == INVITE  # copies never reach the message they came from


def test_a_forwarded_request_is_its_received_bytes_with_the_proxy_lines() -> None:
    """What §16.6 does to a request (Max-Forwards replaced, a Route used, a
    Record-Route and a Via put on top) leaves every other line as received,
    folding and spelling included, without turning the lines into lists."""
    msg = sipwire.parse(INVITE)
    out = msg.copy()
    out.headers.set("Max-Forwards", "69")
    assert out.headers.pop("Route") == "<sip:a.example.com;lr>"
    out.headers.add("Record-Route", "<sip:p.example.com;lr>", top=True, before="Content-Length")
    out.headers.add("Via", Via("UDP", "p.example.com", 5060, branch="z9hG4bKp"), top=True)
    assert out.headers._lines is None  # still the compact form
    assert bytes(out) == INVITE.replace(
        b"SIP/2.0\r\nVia:", b"SIP/2.0\r\nVia: SIP/2.0/UDP p.example.com:5060;branch=z9hG4bKp"
                            b"\r\nVia:").replace(
        b"Max-Forwards: 70", b"Max-Forwards: 69").replace(
        b"Route: <sip:a.example.com;lr>,\r\n  <sip:b.example.com;lr>",
        b"Route: <sip:b.example.com;lr>").replace(
        b"Content-Length: 5", b"Record-Route: <sip:p.example.com;lr>\r\nContent-Length: 5")
    assert bytes(msg) == INVITE
    assert sipwire.parse(bytes(out)).headers.items() == out.headers.items()


_EXTRAS = st.lists(st.tuples(
    st.sampled_from(["Contact", "Expires", "Via", "Supported", "Date", "WWW-Authenticate",
                     "Record-Route", "Content-Type"]),
    st.sampled_from(["<sip:c@192.0.2.1>;expires=60", "3600", "timer",
                     "SIP/2.0/UDP x.example.com;branch=z9hG4bKx", "Digest realm=\"r\""])),
    max_size=4)


@given(st.sampled_from([100, 180, 200, 401, 486]), _EXTRAS,
       st.sampled_from([None, "<sip:me@192.0.2.2>"]), st.sampled_from([None, "text/plain"]),
       st.lists(_EDITS, max_size=3), st.booleans())
@example(200, [("Contact", "<sip:c@192.0.2.1>;expires=60"), ("Expires", "3600")], None, None,
         [], False)
@example(180, [("Via", "SIP/2.0/UDP x.example.com;branch=z9hG4bKx"), ("Date", "3600")],
         "<sip:me@192.0.2.2>", "text/plain", [("via", True)], True)
@settings(max_examples=200)
def test_a_reply_to_the_compact_form_is_the_reply_to_the_lines(
        status: int, extras: list[tuple[str, str]], contact: str | None,
        content_type: str | None, edits: list[tuple[Any, ...]], tagged: bool) -> None:
    """``reply()`` of a parsed request (built over the request's bytes) and of
    the same request made into lines give the same response, after the same
    changes to the request."""
    data = INVITE if not tagged else INVITE.replace(b"To: Bob <sip:bob@biloxi.com>",
                                                    b"To: Bob <sip:bob@biloxi.com>;tag=b1")
    compact = sipwire.parse(data)
    lines = sipwire.parse(data)
    list(lines.headers)
    for edit in edits:
        compact, _ = _edit(compact, edit)
        lines, _ = _edit(lines, edit)
    assert isinstance(compact, sipwire.Request) and isinstance(lines, sipwire.Request)
    replies = []
    for request in (compact, lines):
        try:
            replies.append(request.reply(status, to_tag="t9", headers=extras, contact=contact,
                                         content_type=content_type, body=b"hi"))
        except (ParseError, ValueError) as exc:
            replies.append(("raised", type(exc).__name__, str(exc)))
    if isinstance(replies[0], tuple):
        assert replies[0] == replies[1]
        return
    from_compact, from_lines = replies
    assert from_compact.headers._lines is None  # built over the request's bytes
    for what, read in READS:
        if what != "items":
            assert _outcome(read, from_compact) == _outcome(read, from_lines), what
    assert from_compact.headers.items() == from_lines.headers.items()
    from_compact.to.tag = "changed"
    assert compact.to.tag == lines.to.tag  # the request's To is not the response's
