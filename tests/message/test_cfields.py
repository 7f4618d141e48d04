"""The C twins of the fast paths of ``Via.parse``, ``NameAddr.parse``,
``split_params``, ``CallID.parse``, ``CSeq.parse``, the numbers and the start
line (``fields/_cfields.pyx``, compiled build only) agree with the patterns they
stand for: a value the C scanner accepts is one the pattern matches, with the
same parts, and the objects parsed with and without the C scanner hold the
same state, or raise the same error.  The C scanner may refuse (None) a value
the pattern matches: the pattern then decides."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import ParseError
from sipwire.message import parser
from sipwire.message import uri as uri_module
from sipwire.message.abnf import STATUS_LINE_RE
from sipwire.message.fields import auth, cseq, nameaddr, params, simple, via
from sipwire.message.fields.cseq import CSeq
from sipwire.message.fields.nameaddr import Contact, NameAddr, RouteAddr
from sipwire.message.fields.simple import CallID, ContentLength, Expires, MaxForwards, MinExpires
from sipwire.message.fields.via import Via

cfields = pytest.importorskip("sipwire.message.fields._cfields")

# -- Via --------------------------------------------------------------------------------

VIA_ACCEPTED = [
    "SIP/2.0/UDP proxy1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1"
    ";received=192.0.2.10;rport=5060",
    "SIP/2.0/UDP 10.0.0.12:5060;branch=z9hG4bK776asdhds;received=198.51.100.7;rport=49152",
    "SIP/2.0/TCP host",
    "SIP/2.0/tls host.example.com;branch=z9hG4bKx",
    "SIP/2.0/Udp host:0",
    "SIP/2.0/UDP host:65535;rport",
    "SIP/2.0/UDP host:05060",
    "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa",
    "SIP/2.0/UDP [::1];rport;branch=z9hG4bKb",
    "SIP/2.0/UDP [2001:db8:::192.0.2.1];branch=z9hG4bKc",
    "SIP/2.0/UDP a-b.example.com;maddr=224.2.0.1;ttl=16",
    "SIP/2.0/UDP host;received=[2001:db8::9]",
    "SIP/2.0/UDP host;BRANCH=z9hG4bKUPPER;RPort",
    "SIP/2.0/UDP host;x=a:b[c]",
    "  \tSIP/2.0/UDP host;branch=z9hG4bKd \t ",
    "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK0.~!%*_+`'-",
    "SIP/2.0/Wa host",
]
VIA_TRICKY = [
    *VIA_ACCEPTED,
    "SIP/2.0/UDP host:65536",
    "SIP/2.0/UDP host:00005060",
    "SIP/2.0/UDP host:123456",
    "SIP/2.0/UDP host:",
    "SIP/2.0/UDP host;branch=",
    'SIP/2.0/UDP host;branch=""',
    'SIP/2.0/UDP host;x="quoted value"',
    "SIP/2.0/UDP host ;branch=z9hG4bKe",
    "SIP/2.0/UDP host; branch=z9hG4bKe",
    "SIP/2.0/UDP host;branch = z9hG4bKe",
    "SIP/2.0/UDP  host",
    "SIP/2.0/UDP\thost",
    "SIP / 2.0 / UDP host",
    "sip/2.0/udp host",
    "SIP/3.0/UDP host",
    "SIP/2.0/UDP 999.1.1.1",
    "SIP/2.0/UDP 1.2.3",
    "SIP/2.0/UDP a..b",
    "SIP/2.0/UDP -a.b",
    "SIP/2.0/UDP a-.b",
    "SIP/2.0/UDP [::1",
    "SIP/2.0/UDP [zz::1]",
    "SIP/2.0/UDP [fg::1]",
    "SIP/2.0/UDP [1:2:3:4:5:6:7:8:9]",
    "SIP/2.0/UDP []",
    "SIP/2.0/UDP host.é",
    "SIP/2.0/UDP host;;branch=z9hG4bKf",
    "SIP/2.0/UDP host;branch=z9hG4bKg;",
    "SIP/2.0/UDP host;rport=99999",
    "SIP/2.0/UDP host.",
    "SIP/2.0/UDP 1.2.3.4.",
    "SIP/2.0/",
    "",
    " ",
]

_VIA_SLOTS = ("_raw", "_orig", "_params", "_params0", "_params_text", "host", "port",
              "protocol", "transport", "version")


def _via_regex(text: str) -> tuple[Any, ...] | None:
    m = via._VIA_FAST_RE.fullmatch(text)
    return m.groups() if m is not None else None


def _unusual(host: str) -> bool:
    return not host[-1].isalpha() or "-" in host or ".." in host


def _check_scan_via(text: str) -> bool:
    """Compare the C scanner with ``_VIA_FAST_RE`` and the checks after it;
    True if the C scanner accepted ``text``."""
    scanned = cfields.scan_via(text)
    if scanned is None:
        return False
    groups = _via_regex(text)
    assert groups is not None, text
    transport, host, port, tail = groups
    assert scanned[0] == transport.upper()
    assert scanned[1] == host
    if port is None:
        assert scanned[2] is None
    else:
        assert len(port) <= 5 and int(port) <= 65535, text  # Via.parse would refuse it
        assert scanned[2] == int(port) and type(scanned[2]) is int
    assert scanned[3] == tail
    assert scanned[4] is _unusual(host)
    return True


def _outcome(parse: Any, text: str, slots: tuple[str, ...]) -> object:
    try:
        value = parse(text)
    except ParseError as exc:
        return ("error", type(exc), str(exc), exc.reason, exc.rfc)
    state = {name: getattr(value, name) for name in slots}
    return (type(value), state, value._state(), str(value), value.modified)


def _both_ways(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, parse: Any,
               text: str, slots: tuple[str, ...]) -> None:
    with_c = _outcome(parse, text, slots)
    with monkeypatch.context() as patched:
        patched.setattr(module, name, None)
        patched.setattr(params, "_csplit_params", None)
        without_c = _outcome(parse, text, slots)
    assert with_c == without_c, text


@pytest.mark.parametrize("text", VIA_ACCEPTED)
def test_the_c_scanner_takes_the_usual_via_values(text: str) -> None:
    assert _check_scan_via(text)


@pytest.mark.parametrize("text", VIA_TRICKY)
def test_via_values_parse_the_same_with_and_without_the_c_scanner(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_via(text)
    _both_ways(monkeypatch, via, "_scan_via", Via.parse, text, _VIA_SLOTS)


def test_via_parse_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(text: str) -> Any:
        calls.append(text)
        return cfields.scan_via(text)

    monkeypatch.setattr(via, "_scan_via", spy)
    assert Via.parse(VIA_ACCEPTED[0]).branch == "z9hG4bK2d4790.1"
    assert calls == [VIA_ACCEPTED[0]]


def test_the_c_scanner_refuses_ports_that_via_parse_refuses() -> None:
    for text in ("SIP/2.0/UDP h:65536", "SIP/2.0/UDP h:00005060", "SIP/2.0/UDP h:999999"):
        assert _via_regex(text) is not None
        assert cfields.scan_via(text) is None
        with pytest.raises(ParseError, match="bad port"):
            Via.parse(text)


_VIA_FRAGMENTS = ["SIP/2.0/", "SIP", "/", "2.0", "UDP", "udp", "Tls", " ", "\t", "host", "a",
                  "-", ".", "..", "1", "192.0.2.1", "999", "[", "]", "::1", ":", "5060",
                  "65535", "65536", "0000", ";", "branch", "=", "z9hG4bK", "rport", "received",
                  "maddr", '"', "x", "\u00e9", "@", "%", "~", "`", ",", "<"]


@st.composite
def _via_texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(_VIA_FRAGMENTS), max_size=14)))
    text = draw(st.sampled_from(VIA_ACCEPTED))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            text = text[:pos] + draw(st.sampled_from(_VIA_FRAGMENTS)) + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + draw(st.integers(1, 4)):]
        else:
            text = text[:pos] + draw(st.characters(max_codepoint=0x7F)) + text[pos + 1:]
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_via_texts())
@example("SIP/2.0/UDP host:5060;branch=z9hG4bK1")
def test_via_c_scanner_against_the_pattern(text: str) -> None:
    _check_scan_via(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(monkeypatch, via, "_scan_via", Via.parse, text, _VIA_SLOTS)


# -- NameAddr ---------------------------------------------------------------------------

NAME_ADDR_ACCEPTED = [
    '"Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
    "<sip:bob@biloxi.example.com>",
    "<sip:proxy2.biloxi.example.com;lr>",
    "<sip:10.0.0.1:5060;lr;transport=udp>",
    "Bob <sips:bob@biloxi.example.com>;tag=a6c85cf",
    "Bob  Smith   <sip:bob@b.example.com>",
    '"" <sip:anon@anonymous.invalid>;tag=1',
    '"Quoted <with> ; odd, chars\t" <sip:q@q.example.com>',
    '  "Spaced"  \t<sip:s@s.example.com> \t',
    "<sip:alice:secret@atlanta.example.com>",
    "<sip:alice:@atlanta.example.com>",
    "<sip:%61lice@atlanta.example.com>",
    "<sip:alice;x=y?z@atlanta.example.com>",
    "<SIP:alice@ATLANTA.example.com>",
    "<SiPs:alice@atlanta.example.com>",
    "<sip:[2001:db8::1]:5061;transport=tls>",
    "<sip:alice@[::1]>",
    "<sip:alice@a-b.example.com:65535>",
    "<sip:alice@1.2.3.4:0>",
    "<sip:alice@host.com?Subject=hi&Priority=urgent>",
    "<sip:alice@host.com?h=>",
    "<sip:alice@host.com;maddr=239.255.255.1;method=INVITE>",
    "<sip:+1-212-555-1212:1234@gateway.com;user=phone>",
    "<sip:alice@host.com>;expires=3600;q=0.7;+sip.instance=x",
    "<sip:alice@host.com>;received=[2001:db8::2]",
    "<sip:alice@host.com>;TAG=Upper",
    "<sip:alice@host.com>   ",
]
NAME_ADDR_TRICKY = [
    *NAME_ADDR_ACCEPTED,
    "sip:alice@atlanta.example.com;tag=1",
    "sip:alice@atlanta.example.com",
    "<tel:+1-201-555-0123>",
    "<tel:5550123;phone-context=example.com>",
    "<mailto:alice@example.com>",
    '"Esc\\"aped" <sip:a@b.com>',
    '"a\x7fb" <sip:a@b.com>',
    '"a\x01b" <sip:a@b.com>',
    "<sip:a:b:c@host.com>",
    "<sip:a:b@c@host.com>",
    "<sip:a;b:c@host.com>",
    "<sip:host.com:5060:5060>",
    "<sip:a@b.com;x=a=b>",
    "<sip:a@b.com?x=y=z>",
    "<sip:a@b.com?x=y?z>",
    '"Unterminated <sip:a@b.com>',
    "\"\u00e9t\u00e9\" <sip:a@b.com>",
    "\u00e9 <sip:a@b.com>",
    "Bob\t<sip:a@b.com>",
    "<sip:a@b.com:65536>",
    "<sip:a@b.com:123456>",
    "<sip:a@b.com:>",
    "<sip:a@b.com:05060>",
    "<sip:%6@b.com>",
    "<sip:%zz@b.com>",
    "<sip:a@b.com;x=%4>",
    "<sip:a@b..com>",
    "<sip:a@-b.com>",
    "<sip:a@1.2.3.999>",
    "<sip:a@1.2.3>",
    "<sip:a@[zz::1]>",
    "<sip:a@[fg::1]>",
    "<sip:a@[::1>",
    "<sip:a@>",
    "<sip:@b.com>",
    "<sip:a@b@c.com>",
    "<sip:a@b.com;lr=>",
    "<sip:a@b.com;>",
    "<sip:a@b.com?>",
    "<sip:a@b.com?x>",
    "<sip:a@b.com?x=y&>",
    "<sip:a@b.com>;tag=",
    "<sip:a@b.com>;tag",
    "<sip:a@b.com>;;tag=1",
    "<sip:a@b.com> ;tag=1",
    '<sip:a@b.com>;x="q v"',
    "<sip:a@b.com>>",
    "<<sip:a@b.com>",
    "<sip:a b@b.com>",
    "<sip:a@b.com",
    "<>",
    "",
    "  ",
    "*",
]

_NAME_ADDR_SLOTS = ("_raw", "_display0", "_params", "_params0", "_params_text", "_uri",
                    "_uri_parts", "_uri_text", "display_name")


def _name_addr_regex(text: str) -> tuple[Any, ...] | None:
    m = nameaddr._FAST_RE.fullmatch(text)
    return m.groups() if m is not None else None


def _check_scan_name_addr(text: str) -> bool:
    """Compare the C scanner with ``_FAST_RE`` and ``check_fast``; True if the
    C scanner accepted ``text``."""
    scanned = cfields.scan_name_addr(text)
    if scanned is None:
        return False
    groups = _name_addr_regex(text)
    assert groups is not None, text
    quoted, display, uri_text = groups[:3]
    parts = groups[3:9]
    name = quoted if quoted is not None else (display.rstrip(" ") or None)
    assert scanned[0] == name
    assert scanned[1] == uri_text
    assert type(scanned[2]) is tuple and scanned[2] == parts
    assert scanned[3] == groups[9]
    host, port = parts[2], parts[3]
    assert scanned[4] is _unusual(host)
    # what check_fast checks besides the host passes
    assert port is None or int(port) <= 65535
    assert uri_module._BAD_ESCAPE_RE.search(uri_text) is None, text
    return True


def _parse_uri_state(cls: Any) -> Any:
    def parse(text: str) -> Any:
        value = cls.parse(text)
        if not getattr(value, "star", False):
            value.uri  # noqa: B018 - the URI built from the parts
        return value
    return parse


@pytest.mark.parametrize("text", NAME_ADDR_ACCEPTED)
def test_the_c_scanner_takes_the_usual_name_addr_values(text: str) -> None:
    assert _check_scan_name_addr(text)


@pytest.mark.parametrize("cls", [NameAddr, Contact, RouteAddr])
@pytest.mark.parametrize("text", NAME_ADDR_TRICKY)
def test_name_addr_values_parse_the_same_with_and_without_the_c_scanner(
        text: str, cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_name_addr(text)
    slots = _NAME_ADDR_SLOTS + (("star",) if cls is Contact else ())
    # before the URI is built, then with it
    _both_ways(monkeypatch, nameaddr, "_scan_name_addr", cls.parse, text, slots)
    _both_ways(monkeypatch, nameaddr, "_scan_name_addr", _parse_uri_state(cls), text, slots)


def test_name_addr_parse_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(text: str) -> Any:
        calls.append(text)
        return cfields.scan_name_addr(text)

    monkeypatch.setattr(nameaddr, "_scan_name_addr", spy)
    value = NameAddr.parse(NAME_ADDR_ACCEPTED[0])
    assert (value.display_name, value.tag, value.uri.user) == (
        "Alice Liddell", "1928301774", "alice")
    assert calls == [NAME_ADDR_ACCEPTED[0]]


def test_the_c_scanner_refuses_what_check_fast_refuses() -> None:
    for text, error in (("<sip:a@b.com:65536>", "bad port"),
                        ("<sip:%6g@b.com>", "bad escape"),
                        ("<sip:a@b.com;x=%4>", "bad escape")):
        assert _name_addr_regex(text) is not None
        assert cfields.scan_name_addr(text) is None
        with pytest.raises(ParseError, match=error):
            NameAddr.parse(text)
    # a host check_fast must see is flagged; its error is the same
    assert cfields.scan_name_addr("<sip:a@1.2.3.999>")[4] is True
    with pytest.raises(ParseError, match="bad IPv4 address"):
        NameAddr.parse("<sip:a@1.2.3.999>")


_NAME_ADDR_FRAGMENTS = ['"', "Alice", " ", "\t", "<", ">", "sip:", "sips:", "SIP:", "tel:",
                        "alice", "@", ":", "pw", "host", "example.com", "10.0.0.1", "[::1]",
                        "[", "]", "5060", "99999", ";", "lr", "=", "transport", "tcp", "?",
                        "&", "h", "%41", "%4", "%", "\\", "-", ".", "..", "tag", "1928", ",",
                        "\u00e9", "\x00", "\x7f", "$", "+", "/", "*", "(", ")", "~"]


@st.composite
def _name_addr_texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(_NAME_ADDR_FRAGMENTS), max_size=16)))
    text = draw(st.sampled_from(NAME_ADDR_ACCEPTED))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            text = text[:pos] + draw(st.sampled_from(_NAME_ADDR_FRAGMENTS)) + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + draw(st.integers(1, 4)):]
        else:
            text = text[:pos] + draw(st.characters(max_codepoint=0x7F)) + text[pos + 1:]
    return text


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_name_addr_texts(), st.sampled_from([NameAddr, Contact, RouteAddr]))
def test_name_addr_c_scanner_against_the_pattern(text: str, cls: Any) -> None:
    _check_scan_name_addr(text)
    slots = _NAME_ADDR_SLOTS + (("star",) if cls is Contact else ())
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(monkeypatch, nameaddr, "_scan_name_addr", _parse_uri_state(cls), text,
                   slots)


# -- split_params -----------------------------------------------------------------------

PARAMS_TEXTS = [
    "", ";", ";;", "no-semicolon", ";branch=z9hG4bK1;received=192.0.2.1;rport",
    ";Branch=Z9hG4bKMixed;RPORT=5060", " ; name = value ; flag ;", "\t;a\t=\tb\t",
    ";a=1;a=2;b", ";a==b", ";=x", ";a=b=c", 'x;q="quoted;value"', ";\u00e9=1",
    "lead;tag=abc", ";x=[2001:db8::1]", ";LR",
]


def _split_python(text: str) -> object:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(params, "_csplit_params", None)
        try:
            found = params.split_params(text)
        except ParseError as exc:
            return ("error", str(exc))
        return list(found.items())


def _check_split(text: str) -> None:
    found = cfields.split_params(text)
    if found is None:
        assert not text.isascii() or '"' in text
        return
    assert type(found) is dict
    assert list(found.items()) == _split_python(text), text
    try:
        split = params.split_params(text)
    except ParseError as exc:
        assert _split_python(text) == ("error", str(exc))
    else:
        assert list(split.items()) == _split_python(text)


@pytest.mark.parametrize("text", PARAMS_TEXTS)
def test_split_params_in_c_gives_what_python_gives(text: str) -> None:
    _check_split(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=";= \tabcABC01-.~%\"\u00e9[]:", max_size=30))
def test_split_params_in_c_against_python(text: str) -> None:
    _check_split(text)


# -- Request-Line -----------------------------------------------------------------------

REQUEST_LINE_ACCEPTED = [
    "INVITE sip:bob@biloxi.example.com SIP/2.0",
    "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
    "ACK sip:bob@192.0.2.4:5060;transport=udp SIP/2.0",
    "OPTIONS sips:[2001:db8::1]:5061 SIP/2.0",
    "BYE SIP:alice:pw@ATLANTA.example.com SIP/2.0",
    "NEWMETHOD sip:a@b.com SIP/2.0",
    "invite sip:a@b.com SIP/2.0",
    "X.y-z!%*_+`'~ sip:a@b.com SIP/2.0",
    "INVITE sip:%61lice@b.com;x=%41 SIP/2.0",
    "INVITE sip:+1-212-555-1212:1234@gateway.com;user=phone SIP/2.0",
    "INVITE sip:alice;x=y?z@b.com SIP/2.0",
    "INVITE sip:a@1.2.3.4:0;lr;maddr=239.255.255.1 SIP/2.0",
    "INVITE sip:a@a-b.example.com:65535 SIP/2.0",
    "INVITE sip:a@b.com?Subject=hi SIP/2.0",
    "INVITE sip:a@b.com?h= SIP/2.0",
    "PRACK sip:a@[::1] SIP/2.0",
]
REQUEST_LINE_TRICKY = [
    *REQUEST_LINE_ACCEPTED,
    "INVITE sip:a@b.com SIP/2.1",
    "INVITE sip:a@b.com sip/2.0",
    "INVITE sip:a@b.com SIP/2.0 ",
    "INVITE  sip:a@b.com SIP/2.0",
    "INVITE sip:a@b.com  SIP/2.0",
    " INVITE sip:a@b.com SIP/2.0",
    "INVITE\tsip:a@b.com SIP/2.0",
    "INVITE sip:a@b.com",
    "INVITE SIP/2.0",
    "INVITE  SIP/2.0",
    "INV(ITE sip:a@b.com SIP/2.0",
    "INVITE tel:+1-201-555-0123 SIP/2.0",
    "INVITE mailto:a@b.com SIP/2.0",
    "INVITE sip:a@b.com:65536 SIP/2.0",
    "INVITE sip:a@b.com:123456 SIP/2.0",
    "INVITE sip:a@b.com: SIP/2.0",
    "INVITE sip:%6@b.com SIP/2.0",
    "INVITE sip:a@b.com;x=%4 SIP/2.0",
    "INVITE sip:a@b.com;x=%zz SIP/2.0",
    "INVITE sip:a@b..com SIP/2.0",
    "INVITE sip:a@-b.com SIP/2.0",
    "INVITE sip:a@1.2.3.999 SIP/2.0",
    "INVITE sip:a@1.2.3 SIP/2.0",
    "INVITE sip:a@[zz::1] SIP/2.0",
    "INVITE sip:a@[::1 SIP/2.0",
    "INVITE sip:a@[2001:db8:::192.0.2.1] SIP/2.0",
    "INVITE sip:a@ SIP/2.0",
    "INVITE sip:@b.com SIP/2.0",
    "INVITE sip:a@b@c.com SIP/2.0",
    "INVITE sip:a@b.com;lr= SIP/2.0",
    "INVITE sip:a@b.com; SIP/2.0",
    "INVITE sip:a@b.com? SIP/2.0",
    "INVITE sip:a@b.com?x SIP/2.0",
    "INVITE sip:a@b.com?x=y& SIP/2.0",
    "INVITE sip:a@b.com> SIP/2.0",
    "INVITE sip:a@b.com.\u00e9 SIP/2.0",
    "INVIT\u00c9 sip:a@b.com SIP/2.0",
    "INVITE sip:a@b.com SIP/2.0\x00",
    "SIP/2.0 200 OK",
    "SIP/2.0 sip:a@b.com SIP/2.0",
    "sip/2.0 180 Ringing",
    "",
    " ",
    "INVITE",
]

_REQUEST_SLOTS = ("method", "version", "_start", "_start_uri", "_uri_parts")


def _request_line_regex(text: str) -> tuple[Any, ...] | None:
    m = parser._REQUEST_LINE_FAST_RE.fullmatch(text)
    return m.groups() if m is not None else None


def _check_scan_request_line(text: str) -> bool:
    """Compare the C scanner with ``_REQUEST_LINE_FAST_RE`` and ``check_fast``;
    True if the C scanner accepted ``text``."""
    scanned = cfields.scan_request_line(text)
    if scanned is None:
        return False
    groups = _request_line_regex(text)
    assert groups is not None, text
    method, uri_text = groups[:2]
    parts = groups[2:]
    assert scanned[0] == method
    assert scanned[1] == uri_text
    assert type(scanned[2]) is tuple and scanned[2] == parts
    host, port = parts[2], parts[3]
    assert scanned[3] is _unusual(host)
    assert port is None or int(port) <= 65535
    assert uri_module._BAD_ESCAPE_RE.search(uri_text) is None, text
    return True


def _start_line_outcome(text: str) -> object:
    try:
        msg = parser._start_line(text, parser.DEFAULT_LIMITS)
    except ParseError as exc:
        return ("error", type(exc), str(exc), exc.reason, exc.rfc)
    if not msg.is_request:
        return (type(msg), msg.status, msg.reason, msg.version)  # type: ignore[attr-defined]
    state = {name: getattr(msg, name) for name in _REQUEST_SLOTS}
    uri = msg.uri  # type: ignore[attr-defined]
    return (type(msg), state, str(uri), uri._state(), uri.params, uri.headers)


def _start_line_both_ways(monkeypatch: pytest.MonkeyPatch, text: str,
                          twin: str = "_scan_request_line") -> None:
    """``text`` as a start line with the C twin ``twin`` of parser.py and
    without it: the same message or the same error."""
    with_c = _start_line_outcome(text)
    with monkeypatch.context() as patched:
        patched.setattr(parser, twin, None)
        without_c = _start_line_outcome(text)
    assert with_c == without_c, text


@pytest.mark.parametrize("text", REQUEST_LINE_ACCEPTED)
def test_the_c_scanner_takes_the_usual_request_lines(text: str) -> None:
    assert _check_scan_request_line(text)


@pytest.mark.parametrize("text", REQUEST_LINE_TRICKY)
def test_request_lines_parse_the_same_with_and_without_the_c_scanner(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_request_line(text)
    _start_line_both_ways(monkeypatch, text)


def test_the_request_line_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(text: str) -> Any:
        calls.append(text)
        return cfields.scan_request_line(text)

    monkeypatch.setattr(parser, "_scan_request_line", spy)
    data = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1"
            b"\r\nFrom: <sip:a@b.com>;tag=1\r\nTo: <sip:bob@biloxi.example.com>\r\n"
            b"Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
    msg = sipwire.parse(data)
    assert (msg.method, msg.uri.user, msg.uri.host) == ("INVITE", "bob", "biloxi.example.com")
    assert calls == ["INVITE sip:bob@biloxi.example.com SIP/2.0"]
    # the usual methods are the same str each time
    assert cfields.scan_request_line("INVITE sip:a@b.com SIP/2.0")[0] is \
        cfields.scan_request_line("INVITE sip:c@d.com SIP/2.0")[0]


def test_the_c_scanner_refuses_request_lines_that_check_fast_refuses() -> None:
    for text, error in (("INVITE sip:a@b.com:65536 SIP/2.0", "bad port"),
                        ("INVITE sip:%6g@b.com SIP/2.0", "bad escape"),
                        ("INVITE sip:a@b.com;x=%4 SIP/2.0", "bad escape")):
        assert _request_line_regex(text) is not None
        assert cfields.scan_request_line(text) is None
        with pytest.raises(ParseError, match=error):
            parser._start_line(text, parser.DEFAULT_LIMITS)
    assert cfields.scan_request_line("INVITE sip:a@1.2.3.999 SIP/2.0")[3] is True
    with pytest.raises(ParseError, match="bad IPv4 address"):
        parser._start_line("INVITE sip:a@1.2.3.999 SIP/2.0", parser.DEFAULT_LIMITS)


_REQUEST_LINE_FRAGMENTS = ["INVITE", "ACK", "X", " ", "\t", "sip:", "sips:", "SIP:", "tel:",
                           "SIP/2.0", "sip/2.0", "SIP/", "2.0", "alice", "@", ":", "pw",
                           "host", "example.com", "10.0.0.1", "[::1]", "[", "]", "5060",
                           "99999", ";", "lr", "=", "transport", "?", "&", "h", "%41", "%4",
                           "%", "-", ".", "..", "\u00e9", "\x00", "<", ">", "/", "(", "~"]


@st.composite
def _request_line_texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(_REQUEST_LINE_FRAGMENTS), max_size=14)))
    text = draw(st.sampled_from(REQUEST_LINE_ACCEPTED))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            text = text[:pos] + draw(st.sampled_from(_REQUEST_LINE_FRAGMENTS)) + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + draw(st.integers(1, 4)):]
        else:
            text = text[:pos] + draw(st.characters(max_codepoint=0x7F)) + text[pos + 1:]
    return text


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_request_line_texts())
@example("INVITE sip:a@b.com SIP/2.0")
def test_request_line_c_scanner_against_the_pattern(text: str) -> None:
    _check_scan_request_line(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _start_line_both_ways(monkeypatch, text)


# -- Call-ID and CSeq -------------------------------------------------------------------

CALL_ID_ACCEPTED = [
    "a84b4c76e66710@pc33.atlanta.example.com",
    " a84b4c76e66710 ",
    "\t1j9FpLxk3uxtm8tn@192.0.2.4\t ",
    "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@[2001:db8::1]",
    "word()<>:\\\"/[]?{}-.!%*_+`'~@other",
    "x",
]
CALL_ID_TRICKY = [
    *CALL_ID_ACCEPTED,
    "", " ", "@", "a@", "@b", "a@b@c", "a b", "a\x00b", "caf\u00e9@host", "a;b", "a,b",
    "a=b", "a@b c", "\ta\t@b", "a\r\nb", "a\x7f",
]
CSEQ_ACCEPTED = [
    "314159 INVITE", "1 ACK", " 2 REGISTER ", "\t3\tBYE\t", "0 OPTIONS", "4711 NEWMETHOD",
    "2147483647 INVITE", "0214748364 X", "7  invite", "5 X.y-z!%*_+`'~",
]
CSEQ_TRICKY = [
    *CSEQ_ACCEPTED,
    "2147483648 INVITE", "0002147483647 X", "9999999999 INVITE", "00000000001 INVITE",
    "99999999999 INVITE",
    "INVITE", "1", "1 ", " 1", "1INVITE", "1 INVITE X", "1 INV(ITE", "-1 INVITE",
    "\u0661 INVITE", "1 INVIT\u00c9", "1 INVITE\x00", "", " ", "1\r\nINVITE",
]


def _check_scan_call_id(text: str) -> bool:
    scanned = cfields.scan_call_id(text)
    if scanned is None:
        return False
    value = text.strip(" \t")
    assert simple._CALLID_RE.fullmatch(value) is not None, text
    assert scanned == value
    return True


def _check_scan_cseq(text: str) -> bool:
    scanned = cfields.scan_cseq(text)
    if scanned is None:
        return False
    m = cseq._CSEQ_RE.fullmatch(text)
    assert m is not None, text
    assert len(m.group(1)) <= 10 and int(m.group(1)) < 2**31
    assert type(scanned[0]) is int and scanned == (int(m.group(1)), m.group(2))
    return True


@pytest.mark.parametrize("text", CALL_ID_ACCEPTED)
def test_the_c_scanner_takes_the_usual_call_ids(text: str) -> None:
    assert _check_scan_call_id(text)


@pytest.mark.parametrize("text", CSEQ_ACCEPTED)
def test_the_c_scanner_takes_the_usual_cseqs(text: str) -> None:
    assert _check_scan_cseq(text)


@pytest.mark.parametrize("text", CALL_ID_TRICKY)
def test_call_ids_parse_the_same_with_and_without_the_c_scanner(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_call_id(text)
    _both_ways(monkeypatch, simple, "_scan_call_id", CallID.parse, text, ("_raw", "value"))


@pytest.mark.parametrize("text", CSEQ_TRICKY)
def test_cseqs_parse_the_same_with_and_without_the_c_scanner(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_cseq(text)
    _both_ways(monkeypatch, cseq, "_scan_cseq", CSeq.parse, text, ("_raw", "seq", "method"))


def test_call_id_and_cseq_parse_use_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(scan: Any) -> Any:
        def spied(text: str) -> Any:
            calls.append(text)
            return scan(text)
        return spied

    monkeypatch.setattr(simple, "_scan_call_id", spy(cfields.scan_call_id))
    monkeypatch.setattr(cseq, "_scan_cseq", spy(cfields.scan_cseq))
    assert CallID.parse(" a@b ").value == "a@b"
    value = CSeq.parse(" 314159 INVITE")
    assert (value.seq, value.method) == (314159, "INVITE")
    assert calls == [" a@b ", " 314159 INVITE"]
    # the usual methods are the same str each time
    assert CSeq.parse("1 INVITE").method is CSeq.parse("2 INVITE").method
    with pytest.raises(ParseError, match="not below 2\\*\\*31"):
        CSeq.parse("2147483648 INVITE")


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=" \t@ab09-.()<>:\\\"/[]?{}`'~,;=\x00\x7f\u00e9", max_size=20))
def test_call_id_c_scanner_against_the_pattern(text: str) -> None:
    _check_scan_call_id(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(monkeypatch, simple, "_scan_call_id", CallID.parse, text, ("_raw", "value"))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(
    st.text(alphabet=" \t0129ABIx.-(\x00\u00e9", max_size=20),
    st.builds(lambda ws, n, ws2, m: f"{ws}{n}{ws2}{m}", st.sampled_from(["", " ", "\t "]),
              st.integers(0, 2**34), st.sampled_from([" ", "\t", "  ", ""]),
              st.sampled_from(["INVITE", "ACK", "x", "", "INVITE ", "A B"]))))
def test_cseq_c_scanner_against_the_pattern(text: str) -> None:
    _check_scan_cseq(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(monkeypatch, cseq, "_scan_cseq", CSeq.parse, text, ("_raw", "seq", "method"))


# -- numbers ----------------------------------------------------------------------------

NUMBER_ACCEPTED = ["0", "70", " 69 ", "\t236\t", "000000001", "999999999", "255"]
NUMBER_TRICKY = [
    *NUMBER_ACCEPTED,
    "256", "1000000000", "0000000001", "4294967295", "4294967296", "99999999999999999999",
    "", " ", "-1", "+1", "1 2", "1a", "\u0661", "1\u0661", "1.0", "0x10", "1\x00", "\r1",
]
_NUMBER_CLASSES = [ContentLength, MaxForwards, Expires, MinExpires]


def _check_scan_number(text: str) -> bool:
    scanned = cfields.scan_number(text)
    if scanned is None:
        return False
    digits = text.strip(" \t")
    assert digits.isdigit() and digits.isascii() and len(digits) <= 9, text
    assert type(scanned) is int and scanned == int(digits)
    return True


@pytest.mark.parametrize("text", NUMBER_ACCEPTED)
def test_the_c_scanner_takes_the_usual_numbers(text: str) -> None:
    assert _check_scan_number(text)


@pytest.mark.parametrize("cls", _NUMBER_CLASSES)
@pytest.mark.parametrize("text", NUMBER_TRICKY)
def test_numbers_parse_the_same_with_and_without_the_c_scanner(
        text: str, cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_number(text)
    _both_ways(monkeypatch, simple, "_scan_number", cls.parse, text, ("_raw", "value"))


def test_number_parse_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(text: str) -> Any:
        calls.append(text)
        return cfields.scan_number(text)

    monkeypatch.setattr(simple, "_scan_number", spy)
    assert MaxForwards.parse(" 70").value == 70
    with pytest.raises(ParseError, match="out of range"):
        MaxForwards.parse("256")
    assert calls == [" 70", "256"]


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(alphabet=" \t0123456789a-\u0661\x00", max_size=14),
                 st.integers(0, 2**40).map(str)),
       st.sampled_from(_NUMBER_CLASSES))
def test_number_c_scanner_against_parse_int(text: str, cls: Any) -> None:
    _check_scan_number(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(monkeypatch, simple, "_scan_number", cls.parse, text, ("_raw", "value"))


# -- Status-Line ------------------------------------------------------------------------

STATUS_LINE_ACCEPTED = [
    "SIP/2.0 200 OK", "SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 699 x",
    "SIP/2.0 486  Busy Here", "SIP/2.0  486 Busy Here", "SIP/2.0 200 ", "SIP/2.0 200 \t",
    "SIP/2.0 401 Unauthorized;/?:@&=+$,-_.!~*'()%", "SIP/2.0 302 Moved Temporarily",
]
STATUS_LINE_TRICKY = [
    *STATUS_LINE_ACCEPTED,
    "SIP/2.0 200", "SIP/2.0 099 x", "SIP/2.0 700 x", "SIP/2.0 20 OK", "SIP/2.0 2000 OK",
    "SIP/2.0 2a0 OK", "SIP/2.0\t200 OK", "sip/2.0 200 OK", "SIP/2.1 200 OK", "SIP/3.0 200 OK",
    "SIP/2.0 200\tOK", "SIP/2.0 200 O\"K", "SIP/2.0 200 O<K>", "SIP/2.0 200 \u00e9t\u00e9",
    "SIP/2.0 200 OK\x00", "SIP/2.0 200 OK\r", "SIP/2.0 \u0662\u0660\u0660 OK", "SIP/2.0 ",
    "SIP/2.0", "SIP/ 200 OK", "SIP/2.0 200 OK ", "SIP/2.0 200 [OK]", "SIP/2.0 200 {OK}",
]


def _check_scan_status_line(text: str) -> bool:
    scanned = cfields.scan_status_line(text)
    if scanned is None:
        return False
    version, _, rest = text.partition(" ")
    m = STATUS_LINE_RE.fullmatch(f"{version} {rest.lstrip(' ')}")  # extra spaces as one
    assert m is not None, text
    assert m.group(1) == "SIP/2.0"
    assert type(scanned[0]) is int and scanned == (int(m.group(2)), m.group(3))
    return True


@pytest.mark.parametrize("text", STATUS_LINE_ACCEPTED)
def test_the_c_scanner_takes_the_usual_status_lines(text: str) -> None:
    assert _check_scan_status_line(text)


@pytest.mark.parametrize("text", STATUS_LINE_TRICKY)
def test_status_lines_parse_the_same_with_and_without_the_c_scanner(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_scan_status_line(text)
    _start_line_both_ways(monkeypatch, text, "_scan_status_line")


def test_the_status_line_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(text: str) -> Any:
        calls.append(text)
        return cfields.scan_status_line(text)

    monkeypatch.setattr(parser, "_scan_status_line", spy)
    data = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@b.com>;tag=1\r\nTo: <sip:c@d.com>;tag=2\r\n"
            b"Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
    msg = sipwire.parse(data)
    assert (msg.status, msg.reason, msg.version) == (180, "Ringing", "SIP/2.0")
    assert calls == ["SIP/2.0 180 Ringing"]


@st.composite
def _status_line_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(STATUS_LINE_ACCEPTED))
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            text = text[:pos] + draw(st.sampled_from(
                [" ", "\t", "0", "9", "7", "SIP/", "%", '"', "\u00e9", "\x00", "<"])) + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + draw(st.integers(1, 3)):]
        else:
            text = text[:pos] + draw(st.characters(max_codepoint=0x7F)) + text[pos + 1:]
    return text


@settings(max_examples=1500, deadline=None)
@given(_status_line_texts())
def test_status_line_c_scanner_against_the_checks(text: str) -> None:
    _check_scan_status_line(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _start_line_both_ways(monkeypatch, text, "_scan_status_line")


# -- auth-params ------------------------------------------------------------------------

AUTH_ACCEPTED = [
    'Digest username="bob", realm="biloxi.example.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="sip:registrar.biloxi.example.com", response="6629fae49393a05397450978507c4ef1", '
    'algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
    'Digest realm="atlanta.example.com", domain="sip:ss1.example.com", qop="auth,auth-int", '
    'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5',
    "Digest a=b",
    "Digest A = b ,c=\"d\"\t,\tE=F",
    'Digest x="a b\t!#[]~"',
]
AUTH_TRICKY = [
    *AUTH_ACCEPTED,
    "Digest a=b, a=c",
    "Digest a=b, A=c",
    "Digest a=b,",
    "Digest a=b c=d",
    'Digest a="b',
    'Digest a="b\\"c"',
    'Digest a="b"c',
    "Digest a=b\"c\"",
    "Digest =b",
    "Digest a=",
    "Digest a",
    'Digest a="\u00e9"',
    'Digest a="\x00"',
    "Digest a=b,,c=d",
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
]


def _auth_outcome(text: str) -> object:
    try:
        value = auth.Credentials.parse(text)
    except ParseError as exc:
        return ("error", str(exc), exc.rfc)
    return (value.scheme, value.token68, list(value.params.items()), str(value))


def _check_auth(text: str) -> None:
    with_c = _auth_outcome(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(auth, "_scan_auth_params", None)
        without_c = _auth_outcome(text)
    assert with_c == without_c, text
    found = cfields.scan_auth_params(text, text.index(" ") + 1)
    if found is not None:
        assert type(found) is dict
        assert without_c[2] == list(found.items()), text  # type: ignore[index]


@pytest.mark.parametrize("text", AUTH_TRICKY)
def test_auth_params_parse_the_same_with_and_without_the_c_scanner(text: str) -> None:
    _check_auth(text)


@pytest.mark.parametrize("text", AUTH_ACCEPTED)
def test_the_c_scanner_takes_the_usual_auth_params(text: str) -> None:
    assert cfields.scan_auth_params(text, text.index(" ") + 1) is not None


def test_credentials_parse_uses_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def spied(text: str, pos: int) -> Any:
        calls.append((text, pos))
        return cfields.scan_auth_params(text, pos)

    monkeypatch.setattr(auth, "_scan_auth_params", spied)
    value = auth.Credentials.parse(' Digest username="bob", nc=00000001 ')
    assert value.params == {"username": '"bob"', "nc": "00000001"}
    assert calls == [('Digest username="bob", nc=00000001', 7)]
    with pytest.raises(ParseError, match="appears twice"):
        auth.Credentials.parse("Digest a=b, A=c")


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=' \t=,"\\aAbZ09-.~\x00\u00e9', max_size=30))
def test_auth_params_c_scanner_against_the_patterns(tail: str) -> None:
    _check_auth("Digest " + tail)
