"""Messages and configuration for the proxy tests, from literal bytes.

The proxy is ``proxy.example.com`` at 192.0.2.1 (UDP and TCP 5060, TLS 5061),
responsible for ``example.com``; alice calls from 192.0.2.20.
"""

from __future__ import annotations

from collections.abc import Iterable

import sipwire
from sipwire import Request, Response
from sipwire.location import Binding, Source
from sipwire.proxy import ProxyAddress, ProxyConfig

T0 = 1289690940.0

PROXY = "192.0.2.1"


def config(**changes: object) -> ProxyConfig:
    options: dict[str, object] = {
        "addresses": (ProxyAddress.parse(f"udp:{PROXY}:5060"),
                      ProxyAddress.parse(f"tcp:{PROXY}:5060"),
                      ProxyAddress.parse(f"tls:{PROXY}:5061")),
        "hostnames": ("proxy.example.com",),
        "domains": frozenset({"example.com"}),
    }
    options.update(changes)
    return ProxyConfig(**options)  # type: ignore[arg-type]


def request(
    method: str = "INVITE",
    uri: str = "sip:bob@example.com",
    *,
    vias: Iterable[str] = ("SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds",),
    max_forwards: int = 70,
    to: str = "<sip:bob@example.com>",
    from_: str = "Alice <sip:alice@example.com>;tag=1928301774",
    call_id: str = "a84b4c76e66710@pc33.example.com",
    cseq: int = 314159,
    cseq_method: str | None = None,
    headers: Iterable[str] = (),
    body: bytes = b"",
    content_length: bool = True,
) -> Request:
    """A request as a UA (or the previous hop) sends it, parsed from bytes."""
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"Via: {via}" for via in vias]
    lines.append(f"Max-Forwards: {max_forwards}")
    lines += [f"To: {to}", f"From: {from_}", f"Call-ID: {call_id}",
              f"CSeq: {cseq} {cseq_method or method}"]
    lines += list(headers)
    if body:
        lines.append("Content-Type: application/sdp")
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    message = sipwire.parse(data)
    assert isinstance(message, Request)
    return message


def answer(forwarded: Request, status: int, *, to_tag: str | None = "b0b",
           headers: Iterable[tuple[str, str]] = ()) -> Response:
    """The response a UAS downstream sends to ``forwarded``, through bytes."""
    response = forwarded.reply(status, to_tag=to_tag, headers=list(headers))
    message = sipwire.parse(bytes(response))
    assert isinstance(message, Response)
    return message


def binding(contact: str, *, q: float = 1.0, path: tuple[str, ...] = (),
            instance_id: str | None = None, reg_id: int | None = None,
            source: Source | None = None, updated_at: float = T0,
            aor: str = "sip:bob@example.com") -> Binding:
    return Binding(aor=aor, contact=contact, contact_value=f"<{contact}>",
                   expires_at=T0 + 3600, q=q, path=path, instance_id=instance_id,
                   reg_id=reg_id, source=source, updated_at=updated_at)
