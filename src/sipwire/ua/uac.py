"""Requests a UAC core sends within the dialog a 2xx created (RFC 3261 §12, §13.2.2.4).

Just enough dialog state to acknowledge a 2xx and end the call: the route set
is the response's Record-Route reversed, the remote target its Contact
(§12.1.2), and the request is built per §12.2.1.1.  A full dialog layer
(``sipwire.dialog``) keeps this state across requests; these functions
rebuild it from the INVITE and its 2xx each time.
"""

from __future__ import annotations

from ..message.fields.base import Field
from ..message.fields.cseq import CSeq
from ..message.fields.nameaddr import NameAddr
from ..message.fields.via import Via
from ..message.message import Request, Response, new_branch
from ..message.uri import URI

__all__ = ["build_2xx_ack", "build_in_dialog_request"]

_CREDENTIALS = ("Authorization", "Proxy-Authorization")


def build_2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK for a 2xx ``response`` to ``invite`` (§13.2.2.4).

    Built as any request within the dialog (§12.2.1.1), except that the CSeq
    number is the INVITE's (method ACK) and the INVITE's credentials are
    copied ("The ACK MUST contain the same credentials as the INVITE").  It
    has a single Via with a new branch: it is not part of the INVITE
    transaction, and goes to the transport directly.
    """
    if not 200 <= response.status < 300:
        raise ValueError(f"the ACK for a {response.status} belongs to the transaction "
                         "(RFC 3261 §17.1.1.3)")
    ack = build_in_dialog_request("ACK", invite, response, response.cseq.seq)
    for name in _CREDENTIALS:
        for value in invite.headers.getall(name):
            ack.headers.add(name, value, before="Content-Length")
    return ack


def build_in_dialog_request(method: str, invite: Request, response: Response,
                            cseq: int) -> Request:
    """A ``method`` request in the dialog ``response`` (1xx with a To tag, or 2xx)
    to ``invite`` created, as its UAC (§12.1.2, §12.2.1.1).

    Request-URI and Route from the remote target (the response's Contact)
    and the route set (its Record-Route reversed): with no route set, or a
    loose router first (``lr``), the Request-URI is the remote target and the
    Route header fields the route set; with a strict router first, the
    Request-URI is that router's URI (§12.2.1.1: parameters not allowed in a
    Request-URI stripped) and the remote target goes last in Route.
    From is the INVITE's, To the response's (with the remote tag); Call-ID is
    kept; CSeq is ``cseq method``; a new branch (§8.1.1.7); Max-Forwards 70.
    """
    if response.to.tag is None:
        raise ValueError("the response has no To tag: it creates no dialog (RFC 3261 §12.1)")
    contacts = response.contact
    if not contacts:
        raise ValueError(f"the {response.status} has no Contact: no remote target "
                         "(RFC 3261 §12.1.2)")
    remote_target = contacts[0].uri
    route_set = [NameAddr.parse(str(r)) for r in reversed(response.record_route)]
    if not route_set or route_set[0].uri.lr:
        request_uri = remote_target.copy()
        routes: list[NameAddr] = route_set
    else:
        request_uri = _strip_for_request_uri(route_set[0].uri)
        routes = [*route_set[1:], NameAddr(remote_target.copy())]
    transport = invite.top_via.transport if invite.via else "UDP"
    headers: list[tuple[str, str | Field]] = [
        ("Via", Via(transport, "127.0.0.1", None, branch=new_branch())),
        ("Max-Forwards", "70"),
        ("From", _required(invite, "From")),
        ("To", _required(response, "To")),
        ("Call-ID", invite.call_id),
        ("CSeq", CSeq(cseq, method)),
    ]
    headers += [("Route", route) for route in routes]
    headers.append(("Content-Length", "0"))
    return Request(method, request_uri, headers)


def _strip_for_request_uri(uri: URI) -> URI:
    # §19.1.1 Table 1: method, maddr, ttl, header and lr are not allowed in a Request-URI
    params = {k: v for k, v in uri.params.items()
              if k not in ("method", "maddr", "ttl", "lr")}
    return uri.copy(params=params, headers={})


def _required(message: Request | Response, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise ValueError(f"{message!r} has no {name} header field")
    return value
