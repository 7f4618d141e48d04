"""Date (RFC 3261 §20.17): ``SIP-date = rfc1123-date``, always in GMT.

``rfc1123-date = wkday "," SP date1 SP time SP "GMT"``, e.g.
``Sat, 13 Nov 2010 23:29:00 GMT``.  RFC 3261 §20.17 restricts the HTTP date
forms to this one and to the GMT zone.  Literal strings of the ABNF (day and
month names, ``GMT``) are case-insensitive (RFC 2234 §2.3).
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime as DateTime
from typing import ClassVar, Self

from ..errors import ParseError
from .base import Field, register

__all__ = ["SIPDate"]

_WKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WKDAY_INDEX = {name.lower(): i for i, name in enumerate(_WKDAYS)}
_MONTH_INDEX = {name.lower(): i + 1 for i, name in enumerate(_MONTHS)}

# wkday "," SP date1 SP time SP "GMT"; date1 = 2DIGIT SP month SP 4DIGIT;
# time = 2DIGIT ":" 2DIGIT ":" 2DIGIT
_RFC1123_RE = re.compile(
    r"([A-Za-z]{3}), ([0-9]{2}) ([A-Za-z]{3}) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) [Gg][Mm][Tt]",
    re.ASCII,
)


@register("Date")
class SIPDate(Field):
    """A ``SIP-date`` (RFC 3261 §20.17); ``datetime`` is an aware UTC datetime.

    Build one with ``SIPDate(datetime)`` (a naive datetime is taken as UTC;
    microseconds are dropped, the grammar has whole seconds) or ``SIPDate.now()``.
    """

    __slots__ = ("datetime",)

    datetime: DateTime
    RULE: ClassVar[str] = "RFC 3261 §20.17 SIP-date"

    def __init__(self, dt: DateTime) -> None:
        self._raw = None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        self.datetime = dt.astimezone(UTC).replace(microsecond=0)

    @classmethod
    def now(cls) -> Self:
        """The current time: what a UA puts in the Date of a REGISTER (§10.2.1)."""
        return cls(DateTime.now(UTC))

    @classmethod
    def parse(cls, text: str) -> Self:
        value = text.strip(" \t")
        m = _RFC1123_RE.fullmatch(value)
        if m is None:
            raise ParseError(f"{value!r} is not an rfc1123-date in GMT", rfc=cls.RULE)
        wkday, day, month_name, year, hour, minute, second = m.groups()
        weekday = _WKDAY_INDEX.get(wkday.lower())
        month = _MONTH_INDEX.get(month_name.lower())
        if weekday is None:
            raise ParseError(f"bad day name {wkday!r}", rfc="RFC 3261 §25.1 wkday")
        if month is None:
            raise ParseError(f"bad month {month_name!r}", rfc="RFC 3261 §25.1 month")
        try:
            # hour 24 and second 60 fall out here too: time is 00:00:00 - 23:59:59.
            dt = DateTime(int(year), month, int(day), int(hour), int(minute), int(second),
                          tzinfo=UTC)
        except ValueError as exc:
            raise ParseError(f"{value!r}: {exc}", rfc=cls.RULE) from None
        if dt.weekday() != weekday:
            # A date that contradicts itself cannot be trusted either way.
            raise ParseError(f"{value!r}: {day} {month_name} {year} is not a {wkday}",
                             rfc=cls.RULE)
        self = cls.__new__(cls)
        self._raw = text
        self.datetime = dt
        return self

    def render(self) -> str:
        dt = self.datetime.astimezone(UTC) if self.datetime.tzinfo else self.datetime
        return (f"{_WKDAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} "
                f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} GMT")

    def _state(self) -> tuple[object, ...]:
        return (self.datetime,)

    def timestamp(self) -> float:
        """Seconds since the epoch (POSIX time)."""
        return self.datetime.timestamp()
