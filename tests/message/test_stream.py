"""StreamParser: framing SIP over TCP/TLS/WebSocket byte streams (§18.3, RFC 5626 §3.5.1)."""

from __future__ import annotations

import re

import pytest

import sipwire
from sipwire import BadMessage, KeepAlive, Limits, ParseError, Request, StreamParser

from .conftest import CORPUS

MESSAGES = [p.read_bytes() for p in sorted((CORPUS / "valid" / "rfc3665").glob("3.1-*.sip"))]


def test_messages_split_over_arbitrary_chunks() -> None:
    stream = b"".join(MESSAGES)
    for size in (1, 7, 100, 1000, len(stream)):
        parser = StreamParser()
        out: list[object] = []
        for i in range(0, len(stream), size):
            out.extend(parser.feed(stream[i:i + size]))
        assert [bytes(m) for m in out] == MESSAGES  # type: ignore[call-overload]
        assert parser.buffered == 0


def test_crlf_keepalives_are_reported() -> None:
    parser = StreamParser()
    events = parser.feed(b"\r\n\r\n" + MESSAGES[0] + b"\r\n" + MESSAGES[1])
    assert events[0] == KeepAlive(ping=True)
    assert isinstance(events[1], sipwire.Message)
    assert events[2] == KeepAlive(ping=False)
    assert isinstance(events[3], sipwire.Message)


def events_of(*chunks: bytes) -> list[object]:
    parser = StreamParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


PING, PONG = KeepAlive(ping=True), KeepAlive(ping=False)


@pytest.mark.parametrize("chunks", [
    (b"\r\n", b"\r\n"),
    (b"\r\n", b"\r", b"\n"),
    (b"\r", b"\n", b"\r", b"\n"),
    (b"\r\n\r", b"\n"),
])
def test_a_ping_split_between_chunks_is_still_a_ping(chunks: tuple[bytes, ...]) -> None:
    """RFC 5626 §5.4: a double CRLF between messages must be answered, however
    the stream cut it; a lone CRLF at the end of a chunk is reported at once
    (it may be the pong a client waits for, §4.4.1)."""
    events = events_of(*chunks)
    assert events[-1] == PING and events.count(PING) == 1
    assert set(events[:-1]) <= {PONG}


def test_a_ping_after_a_message_split_between_chunks() -> None:
    events = events_of(MESSAGES[0] + b"\r\n", b"\r\n" + MESSAGES[1])
    assert len(events) == 4 and events[1:3] == [PONG, PING]
    assert [bytes(events[0]), bytes(events[3])] == MESSAGES[:2]  # type: ignore[call-overload]


@pytest.mark.parametrize("chunks", [
    (b"\r\n", MESSAGES[0], b"\r\n"),  # bare CRLFs (§7.5) with a message between
    (b"\r\n" + MESSAGES[0], b"\r\n"),
    (b"\r\n", b"\r", MESSAGES[0][1:]),  # not a CRLF after all
    (MESSAGES[0][:-1], MESSAGES[0][-1:] + b"\r\n"),
])
def test_crlfs_apart_are_not_a_ping(chunks: tuple[bytes, ...]) -> None:
    events = events_of(*chunks)
    assert PING not in events


def test_missing_content_length_breaks_the_stream() -> None:
    parser = StreamParser()
    data = re.sub(rb"Content-Length: [0-9]+\r\n", b"", MESSAGES[0])
    assert b"Content-Length" not in data.split(b"\r\n\r\n")[0]
    with pytest.raises(ParseError) as info:
        parser.feed(data)
    assert info.value.header == "Content-Length"
    with pytest.raises(ParseError):
        parser.feed(MESSAGES[1])  # the stream stays broken


def test_the_unframed_message_is_kept_to_answer_it() -> None:
    """§18.3: what could not be framed is still there to answer 400 from."""
    parser = StreamParser()
    assert parser.unframed == b""
    bad = MESSAGES[1].replace(b"Content-Length: ", b"Content-Length: x", 1)
    assert bad != MESSAGES[1]
    [first] = parser.feed(MESSAGES[0] + bad)  # what came before is still delivered
    assert bytes(first) == MESSAGES[0]  # type: ignore[arg-type]
    assert parser.error is not None and parser.error.header == "Content-Length"
    assert parser.unframed == bad and parser.buffered == 0
    with pytest.raises(ParseError) as info:
        parser.feed(b"")
    assert info.value.header == "Content-Length"
    fresh = StreamParser()
    with pytest.raises(ParseError):  # nothing framed before it: raised at once
        fresh.feed(bad)
    assert fresh.unframed == bad


def test_well_framed_bad_message_is_reported_and_stream_goes_on() -> None:
    bad = MESSAGES[0].replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: many\r\n")
    assert bad != MESSAGES[0]
    parser = StreamParser()
    events = parser.feed(bad + MESSAGES[1])
    assert isinstance(events[0], BadMessage)
    assert events[0].error.status_code == 400 and events[0].data == bad
    assert bytes(events[1]) == MESSAGES[1]  # type: ignore[arg-type]


def test_waits_for_the_whole_body() -> None:
    invite = next(m for m in MESSAGES if m.startswith(b"INVITE") and b"v=0" in m)
    parser = StreamParser()
    assert parser.feed(invite[:-10]) == []
    assert bytes(parser.feed(invite[-10:])[0]) == invite  # type: ignore[arg-type]


def test_oversized_header_section_is_a_framing_error() -> None:
    parser = StreamParser(Limits(max_message_size=1000))
    with pytest.raises(ParseError) as info:
        parser.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: " + b"a" * 2000)
    assert info.value.status_code == 513


def test_oversized_content_length_is_a_framing_error() -> None:
    parser = StreamParser(Limits(max_message_size=1000))
    data = re.sub(rb"Content-Length: [0-9]+", b"Content-Length: 999999", MESSAGES[0])
    with pytest.raises(ParseError) as info:
        parser.feed(data)
    assert info.value.status_code == 513


def test_messages_before_an_unframeable_one_are_returned_then_the_error() -> None:
    good = (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\n"
            b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    bad = good.replace(b"Content-Length: 0", b"Content-Length: abc")
    parser = StreamParser()
    [message] = parser.feed(good + bad)
    assert isinstance(message, Request) and message.call_id == "x"
    assert parser.error is not None and parser.error.status_code == 400
    assert parser.unframed == bad
    with pytest.raises(ParseError):
        parser.feed(b"")
