"""Errors of the SDP layer.

Like ``sipwire.ParseError``, every error says what is wrong, where (the line
number in the description, when there is one), which RFC rule it breaks, and
``status_code``: the response a UAS sends for the request that carried it.

- ``SdpError``: the body is not a usable session description (400).
- ``NotAcceptableHere``: a well-formed offer with nothing we can accept
  (RFC 3264 §6; answered 488, RFC 3261 §21.4.26).
- ``OfferAnswerError``: an offer or answer at a moment the offer/answer state
  does not allow it: an offer while our own offer is pending is answered 491
  (RFC 3261 §14.2, RFC 3311 §5.2), an offer while the peer's previous offer
  is still unanswered 500 with Retry-After.
"""

from __future__ import annotations

__all__ = ["NotAcceptableHere", "OfferAnswerError", "SdpError"]


class SdpError(ValueError):
    """A session description, or its use, breaks an RFC rule.

    ``reason`` is the human explanation, ``line`` the 1-based line number in
    the description (``None`` when the problem is not one line), ``rfc`` the
    rule broken and ``status_code`` the response a server should answer with.
    """

    reason: str
    line: int | None
    rfc: str | None
    status_code: int

    def __init__(self, reason: str, *, line: int | None = None, rfc: str | None = None,
                 status_code: int = 400) -> None:
        self.reason = reason
        self.line = line
        self.rfc = rfc
        self.status_code = status_code
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"SDP line {self.line}: {self.reason}" if self.line is not None else self.reason
        if self.rfc:
            text += f" ({self.rfc})"
        return text

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.reason, self.line, self.rfc, self.status_code))


def _rebuild(cls: type[SdpError], reason: str, line: int | None, rfc: str | None,
             status_code: int) -> SdpError:
    error = SdpError.__new__(cls)
    SdpError.__init__(error, reason, line=line, rfc=rfc, status_code=status_code)
    return error


class NotAcceptableHere(SdpError):
    """No offered stream can be accepted (RFC 3264 §6): answer 488."""

    def __init__(self, reason: str, *, line: int | None = None,
                 rfc: str | None = "RFC 3264 §6", status_code: int = 488) -> None:
        super().__init__(reason, line=line, rfc=rfc, status_code=status_code)


class OfferAnswerError(SdpError):
    """An offer or answer the offer/answer state does not allow now.

    ``status_code`` is 491 for an offer received while our own offer is
    pending (glare), 500 for one received while the peer's previous offer is
    still unanswered, and 400 for an answer nobody asked for.
    """

    def __init__(self, reason: str, *, line: int | None = None,
                 rfc: str | None = "RFC 3264 §4", status_code: int = 500) -> None:
        super().__init__(reason, line=line, rfc=rfc, status_code=status_code)
