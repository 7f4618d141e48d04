"""Request validation (RFC 3261 §16.3): the checks before a request is proxied.

Steps 1 to 5 are here; step 6, Proxy-Authorization, is ``DigestServer``'s
(``sipwire.auth``, with ``proxy=True``) and is the caller's to run after these.
A failed check is answered as a UAS would (§8.2): ``validate_request``
returns that response, ready for the server transaction.  An ACK is never
answered (§17.2.3): for an ACK a returned response only means "drop it".
"""

from __future__ import annotations

from collections.abc import Iterable

from ..message.errors import ParseError
from ..message.fields.base import Field
from ..message.fields.text import WarningValue
from ..message.message import Request, Response
from .branch import is_looped
from .config import ProxyConfig

__all__ = ["proxy_require_unsupported", "reject", "validate_request"]


def validate_request(request: Request, config: ProxyConfig) -> Response | None:
    """The response §16.3 asks for, or None when ``request`` may be proxied.

    1. Reasonable syntax: the parts the proxy reads (Request-URI, Via, From
       and To tags, Call-ID, CSeq, Max-Forwards, Route, Proxy-Require) must
       parse; 400 otherwise.  Other headers are not read and stay as they are.
    2. URI scheme: 416 for a Request-URI scheme not in ``config.schemes``.
    3. Max-Forwards 0: 483, except OPTIONS, which the proxy answers itself
       (200, §11) when ``config.answer_options``.
    4. Loop detection (``config.loop_detection``): 482 when a Via of ours
       carries the loop hash this request has now (``branch.is_looped``).
    5. Proxy-Require: 420 with Unsupported listing the option tags not in
       ``config.supported``.
    """
    try:
        uri = request.uri
        vias = request.via
        _ = request.from_.tag, request.to.tag, request.call_id
        cseq = request.cseq
        max_forwards = request.max_forwards
        _ = request.route
        required = proxy_require_unsupported(request, config.supported)
    except ParseError as exc:
        return reject(request, config, exc.status_code, exc.reason, header=exc.header)
    if cseq.method != request.method:
        return reject(request, config, 400, "CSeq method differs from the request method")
    if uri.scheme not in config.schemes:
        return reject(request, config, 416, f"the {uri.scheme}: scheme is not served here")
    if max_forwards == 0:
        if request.method == "OPTIONS" and config.answer_options:
            return answer_options(request, config)
        return reject(request, config, 483)
    if config.loop_detection and is_looped(request, config, vias):
        return reject(request, config, 482)
    if required:
        return request.reply(420, headers=[("Unsupported", ", ".join(required))])
    return None


def proxy_require_unsupported(request: Request, supported: Iterable[str]) -> list[str]:
    """The option tags of Proxy-Require not in ``supported`` (compared
    case-insensitively, §19.2), in order, each once."""
    out: list[str] = []
    values = request.headers.typed("Proxy-Require")
    if not values:  # most requests have none
        return out
    known = {tag.lower() for tag in supported}
    for value in values:
        tag: str = value.value  # type: ignore[attr-defined]
        if tag.lower() not in known and tag not in out:
            out.append(tag)
    return out


def answer_options(request: Request, config: ProxyConfig) -> Response:
    """The proxy as the final recipient of an OPTIONS (§16.3 step 3, §11.2)."""
    headers: list[tuple[str, str]] = [("Allow", ", ".join(config.allow))]
    if config.supported:
        headers.append(("Supported", ", ".join(sorted(config.supported))))
    return request.reply(200, headers=headers)


def reject(request: Request, config: ProxyConfig, status: int, text: str | None = None, *,
           header: str | None = None) -> Response:
    """A response of the proxy acting as UAS (§16.3, §16.5), with a Warning
    (399) saying why when ``text`` is given."""
    extra: list[tuple[str, str | Field]] = []
    if text:
        clean = " ".join(f"{header}: {text}".split() if header else text.split())
        extra.append(("Warning", WarningValue(399, config.agent, clean)))
    return request.reply(status, headers=extra)
