"""Property-based tests: round trips over generated messages, and a fuzz test
showing that no input makes parse() or StreamParser raise anything but
ParseError (or take more than linear time)."""

from __future__ import annotations

import contextlib
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import ParseError, StreamParser
from sipwire.message.fields.base import HEADER_TYPES

from .conftest import CORPUS

SEEDS = [p.read_bytes() for p in sorted((CORPUS / "valid").rglob("*.sip"))]

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
token = st.text(alphabet=ALNUM + "-.!%*_+`'~", min_size=1, max_size=12)
user_part = st.text(alphabet=ALNUM + "-_.!~*'()", min_size=1, max_size=12)
host = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,3}", fullmatch=True)
display = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)
port = st.one_of(st.none(), st.integers(1, 65535))
method = st.sampled_from(["INVITE", "ACK", "OPTIONS", "BYE", "CANCEL", "REGISTER", "PRACK",
                          "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE",
                          "UPDATE", "FOO-BAR"])
spaces = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    m = draw(method)
    user = draw(user_part)
    h = draw(host)
    p = draw(port)
    hostport = h + (f":{p}" if p is not None else "")
    name = draw(display)
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    sp = draw(spaces)
    body = draw(st.binary(max_size=64))
    extra = draw(st.lists(st.tuples(token, st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30)), max_size=4))
    lines = [
        f"{m} sip:{user}@{hostport} SIP/2.0",
        f"Via:{sp}SIP/2.0/UDP {hostport};branch=z9hG4bK{draw(token)}",
        f"Max-Forwards:{sp}{draw(st.integers(0, 255))}",
        f'From: "{quoted}" <sip:{user}@{h}>;tag={draw(token)}',
        f"To:{sp}<sip:{draw(user_part)}@{h}>",
        f"Call-ID: {draw(token)}@{h}",
        f"CSeq: {draw(st.integers(0, 2**31 - 1))} {m}",
    ]
    lines += [f"X-{k}: {v.strip()}" for k, v in extra]
    if body:
        lines.append("Content-Type: application/octet-stream")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@given(requests())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_generated_requests_round_trip(data: bytes) -> None:
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()


@given(requests())
@settings(max_examples=200)
def test_canonical_rewrite_parses_to_the_same_values(data: bytes) -> None:
    msg = sipwire.parse(data)
    for key in ("via", "from", "to", "cseq", "call-id", "max-forwards"):
        msg.headers.set(key, msg.headers.typed(key))
    again = sipwire.parse(bytes(msg))
    assert again.via == msg.via and again.from_ == msg.from_ and again.to == msg.to
    assert again.cseq == msg.cseq and again.call_id == msg.call_id
    assert again.from_.display_name == msg.from_.display_name
    assert again.body == msg.body


@st.composite
def three_colon_ipv6(draw: st.DrawFn) -> str:
    """``[hexseq:::IPv4address]`` or ``[:::IPv4address]``: RFC 3261's grammar
    bug (RFC 5954 §3.1); at most five groups, so that "::" still stands for
    one."""
    groups = draw(st.lists(st.from_regex(r"[0-9a-fA-F]{1,4}", fullmatch=True), max_size=5))
    octets = draw(st.lists(st.integers(0, 255), min_size=4, max_size=4))
    return "[" + ":".join(groups) + ":::" + ".".join(map(str, octets)) + "]"


#: what a deviant request leaves out or writes oddly, and the RFC rule lint cites
DEVIATIONS = {
    "from-tag": "RFC 3261 §8.1.1.3",
    "max-forwards": "RFC 3261 §8.1.1.6",
    "branch": "RFC 3261 §8.1.1.7",
    "content-type": "RFC 3261 §20.15",
    "ipv6-request-uri": "RFC 5954 §4.1",
    "ipv6-via": "RFC 5954 §4.1",
}


@st.composite
def deviant_requests(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A request with some of the deviations real peers send, and the RFC
    rule of each, in the order lint reports them."""
    chosen = draw(st.sets(st.sampled_from(sorted(DEVIATIONS)), min_size=1))
    m = draw(method)
    h = draw(host)
    uri_host = draw(three_colon_ipv6()) if "ipv6-request-uri" in chosen else h
    via_host = draw(three_colon_ipv6()) if "ipv6-via" in chosen else h
    p = draw(port)
    via_port = f":{p}" if p is not None else ""
    branch = "" if "branch" in chosen else f";branch=z9hG4bK{draw(token)}"
    body = draw(st.binary(min_size=1, max_size=64)) if "content-type" in chosen else b""
    sp = draw(spaces)
    lines = [
        f"{m} sip:{draw(user_part)}@{uri_host} SIP/2.0",
        f"Via:{sp}SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} "
        f"{via_host}{via_port}{branch}",
        *([] if "max-forwards" in chosen else [f"Max-Forwards: {draw(st.integers(0, 255))}"]),
        f"From: <sip:{draw(user_part)}@{h}>" + ("" if "from-tag" in chosen else ";tag=1a"),
        f"To:{sp}<sip:{draw(user_part)}@{h}>",
        f"Contact: <sip:{draw(user_part)}@{h}>",
        f"Call-ID: {draw(token)}",
        f"CSeq: {draw(st.integers(0, 2**31 - 1))} {m}",
        f"Content-Length: {len(body)}",
    ]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    order = ["content-type", "from-tag", "max-forwards", "branch", "ipv6-request-uri",
             "ipv6-via"]
    if "branch" in chosen:  # an RFC 2543 request: no From tag is part of that one finding
        chosen.discard("from-tag")
    return data, [DEVIATIONS[name] for name in order if name in chosen]


@given(deviant_requests())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_deviant_requests_are_accepted_round_trip_and_linted(
        case: tuple[bytes, list[str]]) -> None:
    """Liberal in what we accept: parse() and validate() let every mix of
    these deviations through, unchanged, and lint() lists each, tolerated."""
    data, rules = case
    msg = sipwire.parse(data)
    assert bytes(msg) == data
    msg.validate()
    findings = sipwire.lint(data)
    assert [f.rfc for f in findings] == rules
    assert all(f.tolerated for f in findings)


@given(deviant_requests())
@settings(max_examples=200)
def test_deviant_requests_rewritten_canonically_parse_to_the_same_values(
        case: tuple[bytes, list[str]]) -> None:
    msg = sipwire.parse(case[0])
    assert isinstance(msg, sipwire.Request)
    for key in ("via", "from", "to", "cseq", "call-id"):
        msg.headers.set(key, msg.headers.typed(key))
    msg.uri = msg.uri.copy()
    again = sipwire.parse(bytes(msg))
    assert isinstance(again, sipwire.Request)
    assert again.uri == msg.uri and again.uri.host == msg.uri.host
    assert again.via == msg.via and again.from_ == msg.from_ and again.to == msg.to
    assert again.max_forwards == msg.max_forwards and again.body == msg.body
    assert sipwire.lint(again) == sipwire.lint(msg)


def _mutations() -> st.SearchStrategy[bytes]:
    seed = st.sampled_from(SEEDS)

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(seed))
        for _ in range(draw(st.integers(1, 8))):
            kind = draw(st.integers(0, 3))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if kind == 0 and data:
                data[pos] = draw(st.integers(0, 255))
            elif kind == 1:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif kind == 2:
                del data[pos:pos + draw(st.integers(1, 16))]
            else:
                data[pos:pos] = draw(st.sampled_from(
                    [b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b" ", b"\r\n ", b"%"]))
        return bytes(data)

    return mutate()


@given(st.one_of(_mutations(), st.binary(max_size=512)))
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_parse_raises_only_parse_error(data: bytes) -> None:
    try:
        msg = sipwire.parse(data)
    except ParseError as exc:
        assert 400 <= exc.status_code <= 599
        return
    bytes(msg)
    findings = msg.lint()
    for finding in findings:
        assert finding.status_code >= 400


@given(st.one_of(_mutations(), st.binary(max_size=512)), st.integers(1, 64))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_stream_parser_raises_only_parse_error(data: bytes, chunk: int) -> None:
    parser = StreamParser()
    with contextlib.suppress(ParseError):
        for i in range(0, len(data), chunk):
            parser.feed(data[i:i + chunk])


def test_parse_time_grows_linearly() -> None:
    """Pathological inputs (long runs of separators, deep quoting) take time
    proportional to their size: 8x the input may not take 30x the time."""
    def cost(n: int) -> float:
        payloads = [
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK" + b";" * n + b"\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nFrom: \"" + b"\\\"" * n + b"\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nContact: " + b"<" * n + b"\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nX: " + b"," * n + b"\r\n" + b" a\r\n" * (n // 20)
            + b"\r\n",
            b"INVITE sip:" + b"a" * n + b"@" + b"b." * (n // 2) + b" SIP/2.0\r\n\r\n",
            # "y" is both token and host: a non-atomic parameter list backtracks
            # exponentially on this (it used to take hours at 30 parameters)
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h ;branch=z9hG4bK1"
            + b";x=y" * (n // 8) + b";\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP / 2.0/UDP " + b"a" * n + b"-!\r\n\r\n",
        ]
        start = time.perf_counter()
        for _ in range(3):
            for payload in payloads:
                sipwire.lint(payload)
        return time.perf_counter() - start

    small, large = cost(2000), cost(16000)
    assert large < max(small, 0.002) * 30


#: what a sender might slip into a header section: NULs bare and escaped, the
#: quoting around them, and bytes that are or are not UTF-8
_SLIPPED = st.one_of(
    st.sampled_from([b"\x00", b"\\\x00", b"\\\\\x00", b'"\\\x00"', b"(\\\x00)", b"\xff",
                     b"\xc3", b"\xc3\xa9", b"\xe9", b"\xc0\xaf", b"\xed\xa0\x80", b'"', b"\\",
                     b"\r\n X-Z: \x00", b"\r\nX-N: \x00", b"\r\nSubject: \\\x00"]),
    st.binary(min_size=1, max_size=4),
)
_BARE_NUL = re.compile(r"(?<!\\)(?:\\\\)*\x00")


@given(requests(), st.lists(st.tuples(st.integers(0, 4096), _SLIPPED), min_size=1, max_size=4))
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
def test_no_accepted_message_has_a_bare_nul_or_bytes_that_are_not_utf8(
        data: bytes, slips: list[tuple[int, bytes]]) -> None:
    """§25.1: whatever parse() accepts has a header section in UTF-8, and a NUL
    in it only as a quoted-pair's character in a known header whose typed
    value (the §25 grammar of its quoted-strings and comments) parses."""
    end = data.index(b"\r\n\r\n")
    for position, slipped in slips:
        at = position % (end + 1)
        data = data[:at] + slipped + data[at:]
        end += len(slipped)
    try:
        msg = sipwire.parse(data)
    except ParseError as exc:
        assert exc.status_code == 400 or exc.status_code == 505
        return
    head = bytes(msg).split(b"\r\n\r\n", 1)[0]
    text = head.decode("utf-8")  # strict: raises for bytes that are not UTF-8
    assert "\x00" not in text.split("\r\n", 1)[0]
    for name, value in msg.headers:
        if "\x00" in value:
            assert name.lower() in HEADER_TYPES or name in HEADER_TYPES
            assert _BARE_NUL.search(value) is None
            msg.headers.typed(name)  # the grammar accepts it
