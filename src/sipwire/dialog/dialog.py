"""RFC 3261 §12 dialogs: their state, creation from both sides, and the
requests and responses within them.

A dialog is its id (Call-ID, local tag, remote tag), local and remote CSeq
numbers, local and remote URIs, the remote target, the route set and the
secure flag (§12).  ``Dialog.uac(request, response)`` makes the one a
response creates at the UAC (§12.1.2), ``Dialog.uas(request, response)`` the
one a response we send creates at the UAS (§12.1.1).  ``create_request``
builds a request within it (§12.2.1.1), ``ack`` the ACK for a 2xx
(§13.2.2.4); ``receive_request`` checks a request received within it
(§12.2.2), ``receive_response`` and ``send_response`` move it along.

The state table, ``DIALOG_TABLE``, one row an arrow (§12, §12.2.1.2, §13.2.2.4,
§13.3.1.4, §15)::

    (created) --1xx with To tag---------------------------> early
    (created) --2xx---------------------------------------> confirmed
    early     --2xx to the INVITE-------------------------> confirmed
    early     --300-699 to the INVITE---------------------> terminated
    early     --481 or 408 to a request within it---------> terminated
    confirmed --481 or 408 to a request within it---------> terminated
    early     --terminate() (BYE, CANCEL, no ACK ...)-----> terminated
    confirmed --terminate()-------------------------------> terminated

A dialog never reads a clock and sends nothing: it builds messages and
answers questions; the INVITE session (``invite``) and the caller do the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..message.fields.base import Field
from ..message.fields.cseq import CSeq
from ..message.fields.nameaddr import NameAddr
from ..message.fields.via import Via
from ..message.message import Request, Response, new_branch
from ..message.uri import URI

__all__ = [
    "DIALOG_TABLE",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogEdge",
    "DialogError",
    "DialogId",
    "DialogState",
    "build_2xx_ack",
    "build_in_dialog_request",
]

#: requests that can change the remote target: INVITE (§12.2), UPDATE (RFC 3311
#: §5.1), SUBSCRIBE and NOTIFY (RFC 6665 Appendix B.12)
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})

_CREDENTIALS = ("Authorization", "Proxy-Authorization")
#: §19.1.1 Table 1: not allowed in a Request-URI
_NOT_IN_REQUEST_URI = frozenset({"method", "maddr", "ttl", "lr"})
_SECURE_TRANSPORTS = frozenset({"TLS", "WSS", "TLS-SCTP"})


class DialogState(Enum):
    """§12: "early" after a provisional response, "confirmed" after a 2xx."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogError(ValueError):
    """A message that cannot create, or be built in, a dialog; the text cites the RFC."""


@dataclass(frozen=True, slots=True)
class DialogId:
    """The dialog ID (§12): Call-ID, local tag, remote tag, as seen from this UA."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_request(cls, request: Request) -> DialogId | None:
        """The id of the dialog a received request belongs to: the To tag is
        ours (the local tag), the From tag the peer's (§12.2.2).  None when
        either tag is missing."""
        local, remote = request.to.tag, request.from_.tag
        if local is None or remote is None:
            return None
        return cls(request.call_id, local, remote)

    @classmethod
    def of_response(cls, response: Response) -> DialogId | None:
        """The id of the dialog a response to a request we sent belongs to: the
        From tag is ours, the To tag the peer's (§12.1.2)."""
        local, remote = response.from_.tag, response.to.tag
        if local is None or remote is None:
            return None
        return cls(response.call_id, local, remote)


@dataclass(frozen=True, slots=True)
class DialogEdge:
    """One arrow of the dialog's state diagram; ``None`` is "not yet created"."""

    state: DialogState | None
    event: str
    next_state: DialogState


_S = DialogState
#: the dialog's state diagram (see the module docstring)
DIALOG_TABLE: tuple[DialogEdge, ...] = (
    DialogEdge(None, "1xx with To tag", _S.EARLY),
    DialogEdge(None, "2xx", _S.CONFIRMED),
    DialogEdge(_S.EARLY, "2xx to the INVITE", _S.CONFIRMED),
    DialogEdge(_S.EARLY, "300-699 to the INVITE", _S.TERMINATED),
    DialogEdge(_S.EARLY, "481 or 408", _S.TERMINATED),
    DialogEdge(_S.CONFIRMED, "481 or 408", _S.TERMINATED),
    DialogEdge(_S.EARLY, "terminate", _S.TERMINATED),
    DialogEdge(_S.CONFIRMED, "terminate", _S.TERMINATED),
)


class Dialog:
    """One dialog (§12) as seen by this UA.

    Attributes: ``id`` (``DialogId``), ``state``, ``local_seq`` and
    ``remote_seq`` (None while empty), ``local`` and ``remote`` (the From and
    To of our requests: ``NameAddr`` with their tags; ``local_uri`` and
    ``remote_uri`` are their URIs), ``remote_target`` (a ``URI``),
    ``route_set`` (a tuple of ``NameAddr``), ``secure``, ``is_uac`` (we sent
    the request that created it), ``local_target`` (our Contact, put in the
    target refresh requests we build, §12.2.1.1), ``reason`` (why it ended).
    """

    __slots__ = ("id", "is_uac", "local", "local_seq", "local_target", "reason", "remote",
                 "remote_seq", "remote_target", "route_set", "secure", "state")

    def __init__(self, id: DialogId, *, state: DialogState, local: NameAddr,
                 remote: NameAddr, remote_target: URI, route_set: Iterable[NameAddr] = (),
                 local_seq: int | None = None, remote_seq: int | None = None,
                 secure: bool = False, is_uac: bool = True,
                 local_target: URI | None = None) -> None:
        self.id = id
        self.state = state
        self.local = local
        self.remote = remote
        self.remote_target = remote_target
        self.route_set: tuple[NameAddr, ...] = tuple(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.is_uac = is_uac
        self.local_target = local_target
        self.reason: str | None = None

    def __repr__(self) -> str:
        role = "UAC" if self.is_uac else "UAS"
        return (f"<Dialog {role} {self.state.value} call_id={self.id.call_id!r} "
                f"local={self.id.local_tag!r} remote={self.id.remote_tag!r}>")

    # -- creation ----------------------------------------------------------------------------

    @classmethod
    def uac(cls, request: Request, response: Response, *,
            secure: bool | None = None) -> Dialog:
        """The dialog ``response`` (a 2xx, or a 101-199 with a To tag) to our
        ``request`` creates (§12.1.2).

        Route set: the response's Record-Route in reverse order; remote
        target: its Contact; local CSeq: the request's; remote CSeq empty;
        local and remote URIs: From and To.  ``secure`` defaults to "the
        Request-URI is a SIPS URI and the request was sent over TLS" (its top
        Via names the transport that sent it, §18.1.1).
        """
        if not 101 <= response.status < 300:
            raise DialogError(f"a {response.status} creates no dialog (RFC 3261 §12.1)")
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if remote_tag is None or local_tag is None:
            raise DialogError("a response without a To tag, or to a request without a From "
                              "tag, creates no dialog (RFC 3261 §12.1, §12.1.2)")
        contacts = response.contact
        if not contacts:
            raise DialogError(f"the {response.status} has no Contact: the dialog would have "
                              "no remote target (RFC 3261 §12.1.2)")
        if secure is None:
            secure = request.uri.scheme == "sips" and _secure_via(request)
        request_contact = request.contact
        return cls(
            DialogId(request.call_id, local_tag, remote_tag),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            local=_copy(request.from_), remote=_copy(response.to),
            remote_target=contacts[0].uri.copy(),
            route_set=[_copy(r) for r in reversed(response.record_route)],
            local_seq=request.cseq.seq, remote_seq=None, secure=secure, is_uac=True,
            local_target=request_contact[0].uri.copy() if request_contact else None)

    @classmethod
    def uas(cls, request: Request, response: Response, *,
            secure: bool | None = None) -> Dialog:
        """The dialog our ``response`` (a 2xx, or a 101-199, with our To tag) to
        ``request`` creates (§12.1.1).

        Route set: the request's Record-Route in order; remote target: its
        Contact; remote CSeq: its CSeq; local CSeq empty; remote URI the From,
        local URI the To (with our tag).  ``secure`` defaults to "the
        Request-URI is a SIPS URI and the request came over TLS" (its top Via).
        """
        if not 101 <= response.status < 300:
            raise DialogError(f"a {response.status} creates no dialog (RFC 3261 §12.1)")
        local_tag = response.to.tag
        remote_tag = request.from_.tag
        if local_tag is None:
            raise DialogError("the response has no To tag: it creates no dialog "
                              "(RFC 3261 §12.1.1)")
        if remote_tag is None:
            # §12.1.1: "the remote tag ... set to null" for an RFC 2543 peer; the id
            # still needs a value, and the empty string matches a tagless From
            remote_tag = ""
        contacts = request.contact
        if not contacts:
            raise DialogError(f"the {request.method} has no Contact: the dialog would have "
                              "no remote target (RFC 3261 §12.1.1)")
        if secure is None:
            secure = request.uri.scheme == "sips" and _secure_via(request)
        response_contact = response.contact
        return cls(
            DialogId(request.call_id, local_tag, remote_tag),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            local=_copy(response.to), remote=_copy(request.from_),
            remote_target=contacts[0].uri.copy(),
            route_set=[_copy(r) for r in request.record_route],
            local_seq=None, remote_seq=request.cseq.seq, secure=secure, is_uac=False,
            local_target=response_contact[0].uri.copy() if response_contact else None)

    # -- reading --------------------------------------------------------------------------------

    @property
    def local_uri(self) -> URI:
        return self.local.uri

    @property
    def remote_uri(self) -> URI:
        return self.remote.uri

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    # -- requests we send (§12.2.1) ---------------------------------------------------------

    def create_request(self, method: str, *, body: bytes = b"",
                       content_type: str | None = None,
                       headers: Iterable[tuple[str, str | Field]] = (),
                       contact: URI | NameAddr | None = None) -> Request:
        """A ``method`` request within the dialog (§12.2.1.1).

        To is the remote URI and tag, From the local URI and tag, Call-ID the
        dialog's; CSeq is the local sequence number plus one (the local
        number was empty: 1), which becomes the local sequence number.  With
        an empty route set, or a loose router first (``lr``), the
        Request-URI is the remote target and Route the route set; with a
        strict router first, the Request-URI is that router's URI (without
        the parameters Table 1 of §19.1.1 forbids there) and Route the rest
        of the route set followed by the remote target.  A target refresh
        request gets Contact: ``contact`` or ``local_target``.  The Via
        carries a new branch; its sent-by is the transport's to write.

        ACK and CANCEL are not built here: ``ack()`` builds the ACK for a
        2xx, and a CANCEL copies its INVITE (``transaction.build_cancel``).
        """
        if method in ("ACK", "CANCEL"):
            raise DialogError(f"a {method} takes the CSeq number of the request it "
                              "acknowledges or cancels: use ack() or build_cancel() "
                              "(RFC 3261 §12.2.1.1)")
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"the dialog is terminated ({self.reason}): no {method} "
                              "within it (RFC 3261 §12.3)")
        seq = (self.local_seq if self.local_seq is not None else 0) + 1
        if seq >= 2 ** 31:
            raise DialogError("the local CSeq number would reach 2**31 (RFC 3261 §8.1.1.5)")
        self.local_seq = seq
        extra = list(headers)
        if method in TARGET_REFRESH_METHODS:
            target: URI | NameAddr | None = contact if contact is not None else \
                self.local_target
            if target is not None and not any(n.lower() in ("contact", "m") for n, _ in extra):
                extra.insert(0, ("Contact", str(target) if isinstance(target, NameAddr)
                                 else f"<{target}>"))
        return self._build(method, seq, extra, body, content_type)

    def ack(self, invite: Request, response: Response, *, body: bytes = b"",
            content_type: str | None = None) -> Request:
        """The ACK for ``response``, a 2xx to ``invite`` (§13.2.2.4).

        Built as a request within the dialog (§12.2.1.1), but with the CSeq
        number of the INVITE (method ACK), and with the INVITE's credentials
        ("the ACK MUST contain the same credentials as the INVITE").  It has
        a new branch: it belongs to no transaction.  The local sequence
        number does not move.
        """
        if not 200 <= response.status < 300:
            raise DialogError(f"the ACK for a {response.status} belongs to the transaction "
                              "(RFC 3261 §17.1.1.3)")
        credentials: list[tuple[str, str | Field]] = [(name, value) for name in _CREDENTIALS
                       for value in invite.headers.getall(name)]
        return self._build("ACK", invite.cseq.seq, credentials, body, content_type)

    def _build(self, method: str, seq: int, extra: list[tuple[str, str | Field]],
               body: bytes, content_type: str | None) -> Request:
        route_set = self.route_set
        if not route_set or route_set[0].uri.lr:
            request_uri = self.remote_target.copy()
            routes: list[str] = [str(r) for r in route_set]
        else:
            first = route_set[0].uri
            params = {k: v for k, v in first.params.items() if k not in _NOT_IN_REQUEST_URI}
            request_uri = first.copy(params=params, headers={})
            routes = [str(r) for r in route_set[1:]] + [f"<{self.remote_target}>"]
        lines: list[tuple[str, str | Field]] = [
            ("Via", Via(self._via_transport(), "127.0.0.1", None, branch=new_branch())),
            ("Max-Forwards", "70"),
            ("From", str(self.local)),
            ("To", str(self.remote)),
            ("Call-ID", self.id.call_id),
            ("CSeq", CSeq(seq, method)),
        ]
        lines += [("Route", route) for route in routes]
        lines += extra
        if content_type is not None:
            lines.append(("Content-Type", content_type))
        lines.append(("Content-Length", str(len(body))))
        return Request(method, request_uri, lines, body)

    def _via_transport(self) -> str:
        # the transport stamps the Via with the one it uses (§18.1.1); this is a guess
        hop = self.route_set[0].uri if self.route_set else self.remote_target
        transport = hop.transport
        if hop.scheme == "sips":
            return "WSS" if transport in ("ws", "wss") else "TLS"
        return transport.upper() if transport else "UDP"

    # -- requests we receive (§12.2.2) -----------------------------------------------------

    def receive_request(self, request: Request) -> Response | None:
        """Check ``request``, received within this dialog (§12.2.2).

        Returns the response to send instead of processing it: 481 when the
        dialog is terminated, 500 when its CSeq number is lower than the
        remote sequence number (out of order).  Otherwise records its CSeq
        number and, for a target refresh request with a Contact, the new
        remote target, and returns None.  ACK and CANCEL carry the number of
        the request they belong to and are not checked.
        """
        method = request.method
        if method == "ACK" or method == "CANCEL":
            return None
        if self.state is DialogState.TERMINATED:
            return request.reply(481)
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return request.reply(500, "Out Of Order")
        self.remote_seq = seq
        if method in TARGET_REFRESH_METHODS:
            contacts = request.contact
            if contacts:
                self.remote_target = contacts[0].uri.copy()
        return None

    # -- responses (§12.2.1.2, §13.2.2.4, §13.3.1.4) ----------------------------------------

    def receive_response(self, request: Request, response: Response) -> None:
        """Update the dialog for ``response`` to ``request``, a request we sent
        within it (or the INVITE that created it).

        A 2xx to the INVITE confirms an early dialog, and recomputes its route
        set and remote target from the 2xx (§13.2.2.4); a 2xx to a target
        refresh request takes its Contact as remote target (§12.2.1.2); a
        300-699 to the INVITE ends an early dialog (§12.3); a 481 or 408 (a
        timeout's too) ends the dialog (§12.2.1.2).
        """
        if self.state is DialogState.TERMINATED or response.status < 200:
            return
        status = response.status
        method = request.method
        if status < 300:
            contacts = response.contact
            if method == "INVITE" and self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
                if self.is_uac:
                    self.route_set = tuple(_copy(r) for r in reversed(response.record_route))
            if method in TARGET_REFRESH_METHODS and contacts:
                self.remote_target = contacts[0].uri.copy()
        elif status in (481, 408) or (method == "INVITE" and self.state is DialogState.EARLY):
            # §12.2.1.2, and §12.3 for the INVITE that created an early dialog
            self.terminate(str(status))

    def send_response(self, request: Request, response: Response) -> None:
        """Update the dialog for ``response``, which we send to ``request``.

        A 2xx to the INVITE confirms an early dialog (§12.1.1 for the one it
        created); a 300-699 to the INVITE ends an early dialog (§12.3); a 2xx
        to a target refresh request with a Contact becomes our local target.
        """
        if self.state is DialogState.TERMINATED or response.status < 200:
            return
        if response.status < 300:
            if request.method == "INVITE" and self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
            contacts = response.contact
            if request.method in TARGET_REFRESH_METHODS and contacts:
                self.local_target = contacts[0].uri.copy()
        elif request.method == "INVITE" and self.state is DialogState.EARLY:
            self.terminate(str(response.status))

    def terminate(self, reason: str) -> None:
        """End the dialog (a BYE sent or received, §15; a 481 or 408, §12.2.1.2 ...)."""
        if self.state is not DialogState.TERMINATED:
            self.state = DialogState.TERMINATED
            self.reason = reason


def build_2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK for a 2xx ``response`` to ``invite``, from a dialog built for it
    (§12.1.2, §13.2.2.4): ``Dialog.uac(invite, response).ack(invite, response)``."""
    return Dialog.uac(invite, response).ack(invite, response)


def build_in_dialog_request(method: str, invite: Request, response: Response,
                            cseq: int) -> Request:
    """A ``method`` request with CSeq number ``cseq`` in the dialog ``response``
    (1xx with a To tag, or 2xx) to ``invite`` created, as its UAC (§12.1.2,
    §12.2.1.1), for a caller that keeps no ``Dialog``."""
    dialog = Dialog.uac(invite, response)
    dialog.local_seq = cseq - 1
    return dialog.create_request(method)


def _copy(value: NameAddr) -> NameAddr:
    """A NameAddr of our own: parsed values are shared with their message."""
    return NameAddr.parse(str(value))


def _secure_via(request: Request) -> bool:
    return bool(request.via) and request.top_via.transport.upper() in _SECURE_TRANSPORTS
