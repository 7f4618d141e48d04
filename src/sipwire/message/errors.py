"""Errors of the message layer.

Every error says what is wrong, where, which RFC rule it breaks, and which
response a server should send for it (h11's ``RemoteProtocolError`` carries
the HTTP status the same way).
"""

from __future__ import annotations

__all__ = ["MessageTooLarge", "ParseError", "UnsupportedVersion"]


class ParseError(ValueError):
    """A SIP message, or a part of one, does not follow the grammar.

    ``status_code`` is the response a server should answer a request with
    (400 for bad syntax or a missing mandatory header, 505 for an unsupported
    SIP version, 513 for a message over the size limit).  ``reason`` is the
    human explanation, ``header`` the header concerned (``None`` for the start
    line or the framing), ``rfc`` the rule broken, ``offset`` the byte offset
    in the message when known.
    """

    status_code: int
    reason: str
    header: str | None
    rfc: str | None
    offset: int | None

    def __init__(
        self,
        reason: str,
        *,
        header: str | None = None,
        rfc: str | None = None,
        status_code: int = 400,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.header = header
        self.rfc = rfc
        self.status_code = status_code
        self.offset = offset
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.header}: {self.reason}" if self.header else self.reason
        if self.rfc:
            text += f" ({self.rfc})"
        if self.offset is not None:
            text += f" at byte {self.offset}"
        return text

    def with_header(self, header: str) -> ParseError:
        """Return this error attributed to ``header`` if it has no header yet."""
        if self.header is None:
            self.header = header
            self.args = (self._text(),)
        return self

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.reason, self.header, self.rfc,
                           self.status_code, self.offset))


def _rebuild(
    cls: type[ParseError], reason: str, header: str | None, rfc: str | None,
    status_code: int, offset: int | None,
) -> ParseError:
    return cls(reason, header=header, rfc=rfc, status_code=status_code, offset=offset)


class MessageTooLarge(ParseError):
    """The message is over a configured size limit (answered 513, RFC 3261 §21.5.11)."""

    def __init__(self, reason: str, *, header: str | None = None, rfc: str | None = None,
                 status_code: int = 513, offset: int | None = None) -> None:
        super().__init__(reason, header=header, rfc=rfc, status_code=status_code, offset=offset)


class UnsupportedVersion(ParseError):
    """The SIP-Version is not SIP/2.0 (answered 505, RFC 3261 §8.2.2 / §21.5.6)."""

    def __init__(self, reason: str, *, header: str | None = None, rfc: str | None = None,
                 status_code: int = 505, offset: int | None = None) -> None:
        super().__init__(reason, header=header, rfc=rfc, status_code=status_code, offset=offset)
