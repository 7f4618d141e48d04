"""Properties: generated descriptions survive writing and reading; received text is kept byte
for byte; and whatever was read can be written canonically and read back the same."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from sipwire.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    OtherLine,
    RepeatTime,
    SdpError,
    SessionDescription,
    Timing,
    ZoneAdjustment,
)

# printable text without CR, LF or NUL (RFC 4566 byte-string), some non-ASCII
_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n\x00")
TEXT = st.text(_CHARS, max_size=20)
# a value the parser keeps as is: no trailing white space (it is trimmed on reading)
VALUE = TEXT.map(lambda t: t.rstrip(" \t"))
WORD = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                             blacklist_characters=":/"), min_size=1, max_size=10)
NUMBER = st.integers(min_value=0, max_value=2**63 - 1)
TYPED_TIME = st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**6),
                       st.sampled_from(["", "d", "h", "m", "s"]))

origins = st.builds(Origin, WORD, NUMBER, NUMBER, WORD, WORD, WORD)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    addrtype = draw(st.sampled_from(["IP4", "IP6", "X25"]))
    ttl = count = None
    if addrtype == "IP4" and draw(st.booleans()):
        ttl = draw(st.integers(0, 255))
        count = draw(st.none() | st.integers(1, 9))
    elif addrtype == "IP6":
        count = draw(st.none() | st.integers(1, 9))
    return Connection(draw(WORD), addrtype, draw(WORD), ttl, count)


bandwidths = st.builds(Bandwidth, WORD, st.integers(0, 10**9))
attributes = st.builds(Attribute, WORD, st.none() | VALUE)
repeats = st.builds(RepeatTime, TYPED_TIME, TYPED_TIME, st.lists(TYPED_TIME, min_size=1,
                                                                  max_size=3).map(tuple))
timings = st.builds(Timing, NUMBER, NUMBER, st.lists(repeats, max_size=2).map(tuple))
zones = st.builds(ZoneAdjustment, NUMBER,
                  st.builds(lambda sign, t: sign + t, st.sampled_from(["", "-"]), TYPED_TIME))


def _others(letters: str) -> st.SearchStrategy[tuple[OtherLine, ...]]:
    return st.lists(st.builds(OtherLine, st.sampled_from(letters), VALUE), max_size=2).map(tuple)


def _tuple(strategy: st.SearchStrategy[object], size: int = 3) -> st.SearchStrategy[tuple]:  # type: ignore[type-arg]
    return st.lists(strategy, max_size=size).map(tuple)


media_descriptions = st.builds(
    MediaDescription,
    media=WORD, port=st.integers(0, 65535), proto=WORD,
    formats=_tuple(WORD, 5), port_count=st.none() | st.integers(0, 10),
    info=st.none() | VALUE, connections=_tuple(connections(), 2),
    bandwidths=_tuple(bandwidths, 2), key=st.none() | VALUE,
    attributes=_tuple(attributes, 6), other=_others("xyqwgh"))

descriptions = st.builds(
    SessionDescription,
    origin=origins, version=st.integers(0, 9), session_name=TEXT,
    info=st.none() | VALUE, uri=st.none() | VALUE, emails=_tuple(VALUE, 2),
    phones=_tuple(VALUE, 2), connection=st.none() | connections(),
    bandwidths=_tuple(bandwidths, 2), timings=_tuple(timings, 2),
    zone_adjustments=_tuple(zones, 2), key=st.none() | VALUE,
    attributes=_tuple(attributes, 5), media=_tuple(media_descriptions, 3),
    other=_others("xyqwgh"))


@settings(max_examples=300)
@given(descriptions)
def test_a_generated_description_reads_back_equal(sdp: SessionDescription) -> None:
    data = bytes(sdp)
    again = SessionDescription.parse(data)
    assert again == sdp
    assert bytes(again) == data
    assert SessionDescription.parse(str(sdp)) == sdp


# ---- raw text -----------------------------------------------------------------------
# lines a tolerant reader keeps whatever their value: known types with odd values, unknown
# types, blank lines, upper-case type letters, trailing spaces


def _line(kind: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return value.map(lambda v: f"{kind}={v}")


SPACE = st.sampled_from(["", " ", "  ", "\t"])
session_lines = st.one_of(
    _line("a", TEXT), _line("A", TEXT), _line("b", TEXT), _line("i", TEXT), _line("e", TEXT),
    _line("p", TEXT), _line("u", TEXT), _line("k", TEXT), _line("z", TEXT), _line("r", TEXT),
    _line("x", TEXT), _line("y", TEXT), st.just(""), st.just("   "),
    st.builds(lambda a, b, s: f"t={a} {b}{s}", NUMBER, NUMBER, SPACE),
    st.builds(lambda c, s: f"c={c}{s}", connections(), SPACE),
    st.just("r=7d 1h 0 25h"), st.just("z=2882844526 -1h 2898848070 0"))
media_lines = st.one_of(
    _line("a", TEXT), _line("b", TEXT), _line("i", TEXT), _line("k", TEXT), _line("t", TEXT),
    _line("x", TEXT), _line("o", TEXT), _line("s", TEXT), st.just(""),
    st.builds(lambda c, s: f"c={c}{s}", connections(), SPACE))
m_lines = st.builds(lambda port, fmts, s: f"m=audio {port} RTP/AVP {' '.join(fmts)}{s}",
                    st.integers(0, 65535), st.lists(WORD, max_size=4), SPACE)


@st.composite
def raw_descriptions(draw: st.DrawFn) -> str:
    lines = [draw(st.sampled_from(["v=0", "v=0 ", "V=0"])),
             f"o=- {draw(NUMBER)} {draw(NUMBER)} IN IP4 192.0.2.1{draw(SPACE)}",
             draw(_line("s", TEXT)),
             f"t={draw(NUMBER)} {draw(NUMBER)}{draw(SPACE)}"]
    lines += draw(st.lists(session_lines, max_size=8))
    for _ in range(draw(st.integers(0, 3))):
        lines.append(draw(m_lines))
        lines += draw(st.lists(media_lines, max_size=6))
    endings = draw(st.sampled_from([["\r\n"], ["\n"], ["\r\n", "\n"]]))
    text = "".join(line + draw(st.sampled_from(endings)) for line in lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text


@settings(max_examples=300)
@given(raw_descriptions())
def test_received_text_is_written_back_byte_for_byte(text: str) -> None:
    sdp = SessionDescription.parse(text.encode())
    assert bytes(sdp) == text.encode()
    assert str(SessionDescription.parse(text)) == text


@settings(max_examples=300)
@given(raw_descriptions())
def test_received_text_written_canonically_reads_back_equal(text: str) -> None:
    sdp = SessionDescription.parse(text)
    canonical = sdp.canonical()
    assert SessionDescription.parse(bytes(canonical)) == sdp
    assert "\r\n" in str(canonical) and "\n" not in str(canonical).replace("\r\n", "")


@settings(max_examples=200)
@given(raw_descriptions(), st.integers(0, 65535))
def test_a_changed_section_keeps_the_others_text(text: str, port: int) -> None:
    sdp = SessionDescription.parse(text)
    if not sdp.media:
        return
    changed = sdp.replace_media(0, dataclasses.replace(sdp.media[0], port=port))
    again = SessionDescription.parse(bytes(changed))
    assert again.media[0].port == port
    assert again == changed
    for m in sdp.media[1:]:
        assert str(m) in str(changed)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_sdp_error(data: bytes) -> None:
    try:
        sdp = SessionDescription.parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n" + data)
    except SdpError as error:
        assert error.status_code == 400
    else:
        assert bytes(sdp) == b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n" + data
