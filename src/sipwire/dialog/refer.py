"""Call transfer: REFER (RFC 3515) and Replaces (RFC 3891), sans-I/O.

Referrer (the side sending REFER):

- ``build_refer(dialog, target, replaces=..., referred_by=...)`` builds the
  REFER; for an attended transfer ``replaces_for(dialog)`` names the dialog
  with the transfer target, embedded in the Refer-To URI as an escaped
  ``?Replaces=`` header (RFC 3891 §6.1);
- ``Subscriber(refer, dialog=dialog)`` (``sipwire.dialog.subscription``)
  then follows the implicit ``refer`` subscription; ``progress_status``
  reads the status line out of each NOTIFY's ``message/sipfrag`` body.

Referee (the side receiving REFER):

- ``ReferNotifier.receive_refer(refer, now, ...)`` checks the REFER (exactly
  one Refer-To, §2.4.1), answers 202, and makes the implicit subscription
  (``Event: refer;id=<CSeq>``, §2.4.6) with its first NOTIFY ``SIP/2.0 100
  Trying``;
- ``target`` (a ``ReferTarget``) is the request to send: its URI, method
  (the ``method`` URI parameter, INVITE by default) and embedded headers, and
  ``target.build(from_=...)`` builds it;
- ``progress(status, now)`` sends a NOTIFY per new status; a final one ends
  the subscription with ``terminated;reason=noresource`` (§2.4.7).

Transfer target (the side receiving the INVITE with Replaces):
``match_replaces(invite, dialogs)`` applies RFC 3891 §3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..message.errors import ParseError
from ..message.fields.base import Field
from ..message.fields.events import Event
from ..message.fields.nameaddr import NameAddr
from ..message.fields.refer import ReferredBy, ReferTo, Replaces
from ..message.message import Request, Response
from ..message.uri import URI, escape, unescape
from ..sipfrag import SipFrag
from .actions import SendResponse
from .dialog import Dialog, DialogState
from .events import REFER, EventPackage
from .subscription import Notified, Notifier, SubscriptionAction

__all__ = [
    "ReferNotifier",
    "ReferTarget",
    "ReplacesMatch",
    "build_refer",
    "match_replaces",
    "progress_status",
    "refer_to",
    "replaces_for",
]

#: RFC 3261 §19.1.5: headers of a URI an implementation "SHOULD NOT honor"
#: (and those the request builds itself)
_UNSAFE_URI_HEADERS = frozenset({
    "from", "f", "to", "t", "call-id", "i", "cseq", "via", "v", "record-route", "route",
    "contact", "m", "max-forwards", "content-length", "l",
})


# -- the referrer ---------------------------------------------------------------------


def replaces_for(dialog: Dialog, *, early_only: bool = False) -> Replaces:
    """The Replaces naming ``dialog`` for the party at its other end: its
    to-tag is that party's tag (our remote tag), its from-tag ours (RFC 3891 §3:
    the recipient compares to-tag with its local tag)."""
    return Replaces(dialog.id.call_id, dialog.id.remote_tag, dialog.id.local_tag,
                    early_only=early_only)


def refer_to(target: URI | str, *, replaces: Replaces | None = None,
             method: str | None = None, display_name: str | None = None) -> ReferTo:
    """A Refer-To value for ``target``: ``replaces`` goes in as the escaped URI
    header ``?Replaces=...`` (RFC 3891 §6.1), ``method`` as the URI's
    ``method`` parameter (RFC 3515 §2.1)."""
    uri = URI.parse(target) if isinstance(target, str) else target.copy()
    if method is not None:
        uri.params["method"] = method
    if replaces is not None:
        headers = dict(uri.headers)
        headers["Replaces"] = escape(str(replaces))
        uri = uri.copy(headers=headers)
    return ReferTo(uri, display_name)


def build_refer(dialog: Dialog, target: URI | str | ReferTo, *,
                replaces: Replaces | None = None, referred_by: NameAddr | str | None = None,
                headers: Iterable[tuple[str, str | Field]] = ()) -> Request:
    """A REFER within ``dialog`` (RFC 3515 §2.4.1): Refer-To ``target`` (with
    ``replaces`` embedded for an attended transfer) and, if given, Referred-By
    (RFC 3892)."""
    value = target if isinstance(target, ReferTo) else refer_to(target, replaces=replaces)
    extra: list[tuple[str, str | Field]] = [("Refer-To", value)]
    if referred_by is not None:
        extra.append(("Referred-By", ReferredBy.parse(str(referred_by))))
    extra.extend(headers)
    return dialog.create_request("REFER", headers=extra)


def progress_status(notify: Request | Notified) -> int | None:
    """The status code in a refer NOTIFY's sipfrag body (RFC 3515 §2.4.5), or
    None when the body is not one."""
    request = notify.notify if isinstance(notify, Notified) else notify
    try:
        return SipFrag.parse(request.body).status
    except ParseError:
        return None


# -- the referee ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """What a Refer-To asks for (RFC 3515 §2.4.2): send ``method`` to ``uri``
    with ``headers`` (the URI's embedded headers, unescaped, the unsafe ones of
    RFC 3261 §19.1.5 left out) and ``body`` (the ``body`` URI header)."""

    uri: URI
    method: str = "INVITE"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"")

    @classmethod
    def from_refer_to(cls, value: ReferTo) -> ReferTarget:
        uri = value.uri
        method = (uri.param("method") or "INVITE").upper()
        params = {k: v for k, v in uri.params.items() if k != "method"}
        headers: list[tuple[str, str]] = []
        body = b""
        for name, raw in uri.headers.items():
            text = unescape(raw)
            if name.lower() == "body":
                body = text.encode("utf-8", "surrogateescape")
            elif name.lower() not in _UNSAFE_URI_HEADERS:
                headers.append((name, text))
        return cls(uri.copy(params=params, headers={}), method, tuple(headers), body)

    @property
    def replaces(self) -> Replaces | None:
        """The embedded Replaces (RFC 3891 §6.1), None without one or when malformed."""
        for name, text in self.headers:
            if name.lower() == "replaces":
                try:
                    return Replaces.parse(text)
                except ParseError:
                    return None
        return None

    def build(self, *, from_: NameAddr | URI | str, contact: NameAddr | URI | str | None = None,
              referred_by: NameAddr | str | None = None, call_id: str | None = None,
              headers: Iterable[tuple[str, str | Field]] = ()) -> Request:
        """The request the REFER asks for, out of any dialog (§8.1.1), with
        Referred-By when given (RFC 3892 §3)."""
        extra: list[tuple[str, str | Field]] = list(self.headers)
        if referred_by is not None:
            extra.append(("Referred-By", ReferredBy.parse(str(referred_by))))
        extra.extend(headers)
        content_type = None
        if self.body and not any(n.lower() in ("content-type", "c") for n, _ in extra):
            content_type = "application/sdp" if self.body.startswith(b"v=0") else "text/plain"
        return Request.build(self.method, self.uri.copy(), from_=from_, contact=contact,
                             call_id=call_id, headers=extra, body=self.body,
                             content_type=content_type)


class ReferNotifier:
    """The referee's side of one REFER: the implicit subscription (RFC 3515
    §2.4.4) and what to send (``target``)."""

    __slots__ = ("_last", "notifier", "refer", "target")

    def __init__(self, refer: Request, notifier: Notifier, target: ReferTarget) -> None:
        self.refer = refer
        self.notifier = notifier
        self.target = target
        self._last: int | None = None

    @classmethod
    def receive_refer(
        cls, refer: Request, now: float, *, dialog: Dialog | None = None,
        contact: URI | str | None = None, expires: int | None = None,
        package: EventPackage = REFER,
    ) -> tuple[ReferNotifier | None, list[SubscriptionAction]]:
        """Answer a REFER: 400 without exactly one valid Refer-To (§2.4.1), else
        202 Accepted (§2.4.2) and the first NOTIFY, ``SIP/2.0 100 Trying``.
        Pass ``dialog`` for a REFER within a dialog; one outside any dialog
        makes one (its 202 carries ``contact``)."""
        try:
            values = refer.headers.typed("Refer-To")
        except ParseError:
            return None, [SendResponse(refer.reply(400, "Bad Refer-To"))]
        if len(values) != 1 or not isinstance(values[0], ReferTo):
            return None, [SendResponse(refer.reply(
                400, "Missing Refer-To" if not values else "More Than One Refer-To"))]
        target = ReferTarget.from_refer_to(values[0])
        if dialog is None:
            if contact is None:
                raise ValueError("a REFER outside a dialog needs our Contact for the 202")
            if not refer.contact:
                # the dialog would have no remote target (RFC 3261 §12.1.1)
                return None, [SendResponse(refer.reply(400, "Missing Contact"))]
            accepted = refer.reply(202, contact=contact)
            dialog = Dialog.uas(refer, accepted)
        else:
            refused = dialog.receive_request(refer)
            if refused is not None:
                return None, [SendResponse(refused)]
            accepted = refer.reply(202)
        event = Event(package.name, id=str(refer.cseq.seq))
        notifier = Notifier.implicit(dialog, package, event, now, expires=expires)
        self = cls(refer, notifier, target)
        return self, [SendResponse(accepted), *self.progress(100, now)]

    @property
    def terminated(self) -> bool:
        return self._last is not None and self._last >= 200

    def progress(self, status: int | Response, now: float) -> list[SubscriptionAction]:
        """A NOTIFY for the referenced request's new status (RFC 3515 §2.4.5):
        ``active`` for a provisional one (once per distinct code), and for the
        final one ``terminated;reason=noresource`` (§2.4.7)."""
        code = status if isinstance(status, int) else status.status
        if self.terminated or code == self._last:
            return []
        self._last = code
        if code >= 200:
            return self.notifier.terminate(now, "noresource", resource_state=status)
        return self.notifier.notify(now, status)


# -- the transfer target: Replaces (RFC 3891 §3) ------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplacesMatch:
    """The outcome of ``match_replaces``.  ``reject``: the response to the
    INVITE instead of accepting it, else None.  ``dialog``: the dialog to
    replace.  ``end_with``: how to end it once the new INVITE is accepted,
    "BYE" (confirmed) or "CANCEL" (early, ours)."""

    reject: Response | None
    dialog: Dialog | None = None
    end_with: str | None = None


def _same_party(invite: Request, dialog: Dialog) -> bool:
    """RFC 3891 §3's default authorization: the new INVITE comes from, or was
    referred by (Referred-By, RFC 3892), the party at the other end of the
    dialog it replaces."""
    party = dialog.remote_uri.aor
    if invite.from_.uri.aor == party:
        return True
    try:
        referred = invite.headers.first("Referred-By")
    except ParseError:
        return False
    return isinstance(referred, ReferredBy) and referred.uri.aor == party


def match_replaces(invite: Request, dialogs: Iterable[Dialog], *,
                   authorize: Callable[[Request, Dialog], bool] | None = None) -> ReplacesMatch:
    """RFC 3891 §3 for a request carrying Replaces.

    ``dialogs`` are this UA's INVITE dialogs (a dialog made by another method
    matches nothing: 481).  400 for Replaces on a non-INVITE, more than one,
    or a malformed one; 481 when no dialog (or more than one) matches, or for
    an early dialog this UA did not initiate; 603 for a terminated dialog, or
    when ``authorize`` (default: the INVITE is from, or referred by, the
    replaced party) refuses; 486 for a confirmed dialog and ``early-only``.
    """
    try:
        values = invite.headers.typed("Replaces")
    except ParseError:
        return ReplacesMatch(invite.reply(400, "Bad Replaces"))
    if invite.method != "INVITE":
        return ReplacesMatch(invite.reply(400, "Replaces Only In INVITE"))
    if len(values) != 1 or not isinstance(values[0], Replaces):
        return ReplacesMatch(invite.reply(400, "Exactly One Replaces"))
    replaces = values[0]
    found = [d for d in dialogs if d.id.call_id == replaces.call_id
             and d.id.local_tag == replaces.to_tag and d.id.remote_tag == replaces.from_tag]
    if len(found) != 1:
        return ReplacesMatch(invite.reply(481))
    dialog = found[0]
    if dialog.state is DialogState.TERMINATED:
        return ReplacesMatch(invite.reply(603), dialog)
    if dialog.state is DialogState.EARLY and not dialog.is_uac:
        return ReplacesMatch(invite.reply(481), dialog)
    if not (authorize or _same_party)(invite, dialog):
        return ReplacesMatch(invite.reply(603), dialog)
    if dialog.state is DialogState.CONFIRMED:
        if replaces.early_only:
            return ReplacesMatch(invite.reply(486), dialog)
        return ReplacesMatch(None, dialog, "BYE")
    return ReplacesMatch(None, dialog, "CANCEL")
