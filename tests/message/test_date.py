"""Date (RFC 3261 §20.17): rfc1123-date in GMT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwire.message.errors import ParseError
from sipwire.message.fields.base import HEADER_TYPES, LIST_HEADERS
from sipwire.message.fields.date import SIPDate


def test_registered() -> None:
    assert HEADER_TYPES["date"] is SIPDate
    assert "date" not in LIST_HEADERS  # its value has a comma of its own


@pytest.mark.parametrize("text", [
    "Sat, 13 Nov 2010 23:29:00 GMT",  # RFC 3261 §20.17
    "Thu, 21 Feb 2002 13:02:03 GMT",  # RFC 3261 §24.1
    "Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 29 Feb 2024 12:00:00 GMT", "  Sat, 13 Nov 2010 23:29:00 GMT ",
    "SAT, 13 NOV 2010 23:29:00 gmt",  # ABNF literals are case-insensitive
])
def test_round_trip(text: str) -> None:
    value = SIPDate.parse(text)
    assert str(value) == text.strip(" \t")
    assert not value.modified


def test_datetime() -> None:
    value = SIPDate.parse("Sat, 13 Nov 2010 23:29:00 GMT")
    assert value.datetime == datetime(2010, 11, 13, 23, 29, 0, tzinfo=UTC)
    assert value.datetime.tzinfo is UTC
    assert value.timestamp() == 1289690940.0
    assert SIPDate.parse("sat, 13 nov 2010 23:29:00 GMT") == value
    assert SIPDate.parse("sat, 13 nov 2010 23:29:00 GMT").render() == (
        "Sat, 13 Nov 2010 23:29:00 GMT")


@pytest.mark.parametrize("text", [
    "", "Sat, 13 Nov 2010 23:29:00", "Sat, 13 Nov 2010 23:29:00 UTC",
    "Sat, 13 Nov 2010 23:29:00 +0000", "Sat, 13 Nov 2010 23:29:00 EST",
    "Saturday, 13-Nov-10 23:29:00 GMT",  # RFC 850 form: not a SIP-date
    "Sat Nov 13 23:29:00 2010",  # asctime form
    "Sat, 13 Nov 10 23:29:00 GMT", "Sat, 3 Nov 2010 23:29:00 GMT",
    "Sat,13 Nov 2010 23:29:00 GMT", "Sat,  13 Nov 2010 23:29:00 GMT",
    "Sat, 13  Nov 2010 23:29:00 GMT", "Sat, 13 Nov 2010 23:29 GMT",
    "Sat, 13 Nov 2010 24:00:00 GMT", "Sat, 13 Nov 2010 23:60:00 GMT",
    "Sat, 13 Nov 2010 23:59:60 GMT", "Sat, 31 Nov 2010 23:29:00 GMT",
    "Sat, 00 Nov 2010 23:29:00 GMT", "Sun, 29 Feb 2010 23:29:00 GMT",
    "Sat, 13 Foo 2010 23:29:00 GMT", "Sag, 13 Nov 2010 23:29:00 GMT",
    "Sun, 13 Nov 2010 23:29:00 GMT",  # 13 Nov 2010 was a Saturday
    "Mon, 01 Jan 0000 00:00:00 GMT", "Sat, 13 Nov 2010 23:29:00 GMT x",
    "Sat, １３ Nov 2010 23:29:00 GMT",
])
def test_invalid(text: str) -> None:
    with pytest.raises(ParseError):
        SIPDate.parse(text)


def test_build_and_modify() -> None:
    value = SIPDate(datetime(2010, 11, 13, 18, 29, 0, 123456, tzinfo=timezone(timedelta(hours=-5))))
    assert str(value) == "Sat, 13 Nov 2010 23:29:00 GMT"
    assert value == SIPDate.parse("Sat, 13 Nov 2010 23:29:00 GMT")
    assert str(SIPDate(datetime(2002, 2, 21, 13, 2, 3))) == "Thu, 21 Feb 2002 13:02:03 GMT"
    parsed = SIPDate.parse("sat, 13 nov 2010 23:29:00 GMT")
    parsed.datetime += timedelta(days=1)
    assert str(parsed) == "Sun, 14 Nov 2010 23:29:00 GMT"
    now = SIPDate.now()
    assert abs((datetime.now(UTC) - now.datetime).total_seconds()) < 5
    assert SIPDate.parse(str(now)) == now


@given(st.datetimes(timezones=st.just(UTC)))
def test_render_parses_back(dt: datetime) -> None:
    value = SIPDate(dt)
    assert SIPDate.parse(value.render()) == value


@given(text=st.text() | st.text(alphabet="SatNovGMT, 0123456789:"))
def test_parse_raises_only_parse_error(text: str) -> None:
    try:
        value = SIPDate.parse(text)
    except ParseError:
        return
    assert str(value) == text.strip(" \t")
