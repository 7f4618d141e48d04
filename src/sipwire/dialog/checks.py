"""The UAS's checks of a new request before it acts on it (RFC 3261 §8.2.2-8.2.3),
and the 488 of §13.3.1.1 / §14.2, as functions returning the ready response.

Each returns None when the request passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..message.message import Request, Response

__all__ = ["check_content", "check_require", "not_acceptable_here"]


def check_content(request: Request, accept: Iterable[str] = ("application/sdp",)) -> \
        Response | None:
    """§8.2.3: a body of a type we do not understand gets 415 (Unsupported
    Media Type) with an Accept header field listing the types we do.  A body
    without Content-Type is read as ``application/sdp`` (§20.15 requires the
    header, but liberal acceptance reads the usual type)."""
    if not request.body:
        return None
    allowed = [a.strip() for a in accept]
    media = request.content_type
    kind = f"{media.type}/{media.subtype}".lower() if media is not None else "application/sdp"
    if kind in (a.lower() for a in allowed):
        return None
    return request.reply(415, headers=[("Accept", ", ".join(allowed))])


def check_require(request: Request, supported: Iterable[str] = ()) -> Response | None:
    """§8.2.2.3: option tags in Require that we do not support get 420 (Bad
    Extension) with an Unsupported header field listing them.  Not applied to
    ACK and CANCEL, which carry the Require of their INVITE."""
    if request.method in ("ACK", "CANCEL"):
        return None
    known = {tag.lower() for tag in supported}
    missing = [tag for tag in request.headers.getall("Require") if tag.lower() not in known]
    if not missing:
        return None
    return request.reply(420, headers=[("Unsupported", ", ".join(missing))])


def not_acceptable_here(request: Request, reason: str, *, agent: str = "sipwire",
                        to_tag: str | None = None) -> Response:
    """488 (Not Acceptable Here) for an offer we cannot meet, with the Warning
    header field §14.2 asks for (warn-code 399: miscellaneous, §20.43)."""
    text = reason.replace("\\", "\\\\").replace('"', '\\"')
    return request.reply(488, to_tag=to_tag, headers=[("Warning", f'399 {agent} "{text}"')])
