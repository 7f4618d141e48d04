"""One session under test, fed by hand, and the peer's dialog to build its requests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sipwire import Request, Response
from sipwire.dialog import (
    Dialog,
    DialogAction,
    InviteSession,
    Rel100,
    SendAck,
    SendRequest,
    SendResponse,
    SessionTimerConfig,
)

from .builders import BOB_CONTACT, invite, reply, wire
from .net import TIMERS, FakeMedia

ALICE_CONTACT = "<sip:alice@192.0.2.1:5060>"


@dataclass
class Probe:
    """``session``: ours; ``peer``: the other side's dialog once there is one."""

    session: InviteSession
    invite: Request
    media: FakeMedia
    peer: Dialog | None = None
    now: float = 0.0
    #: the peer's re-INVITE we answered, and our 2xx, while it waits for the ACK
    reinvite: tuple[Request, Response] | None = None
    actions: list[DialogAction] = field(default_factory=list)

    @classmethod
    def uac(cls, *, offer: bool = True, rel100: Rel100 = Rel100.SUPPORTED,
            session_timer: SessionTimerConfig | None = None) -> Probe:
        media = FakeMedia("alice")
        inv = invite(contact=ALICE_CONTACT)
        session = InviteSession.uac(inv, media=media, timers=TIMERS, rng=random.Random(1),
                                    offer=offer, rel100=rel100, session_timer=session_timer)
        return cls(session, inv, media)

    @classmethod
    def uas(cls, *, body: bytes = b"offer alice v1 sendrecv", refuse: bool = False,
            contact: str | None = ALICE_CONTACT, headers: tuple[tuple[str, str], ...] = (),
            rel100: Rel100 = Rel100.SUPPORTED,
            session_timer: SessionTimerConfig | None = None) -> Probe:
        media = FakeMedia("bob", refuse=refuse)
        inv = invite(contact=contact, body=body, headers=headers)
        session = InviteSession.uas(inv, contact=BOB_CONTACT, media=media, timers=TIMERS,
                                    rng=random.Random(2), to_tag="bobtag", rel100=rel100,
                                    session_timer=session_timer)
        return cls(session, inv, media)

    def do(self, actions: list[DialogAction]) -> list[DialogAction]:
        self.actions += actions
        return actions

    # -- what the session sent -----------------------------------------------------------

    def sent(self, actions: list[DialogAction] | None = None) -> list[Request | Response]:
        out: list[Request | Response] = []
        for action in self.actions if actions is None else actions:
            if isinstance(action, SendResponse):
                out.append(wire(action.response))
            elif isinstance(action, SendRequest | SendAck):
                out.append(wire(action.request))
        return out

    def events(self, actions: list[DialogAction]) -> list[str]:
        return [type(a).__name__ for a in actions
                if not isinstance(a, SendRequest | SendAck | SendResponse)]

    # -- the peer's messages ---------------------------------------------------------------

    def response(self, status: int, *, to_tag: str | None = "bobtag",
                 body: bytes = b"") -> Response:
        """A response of the callee to our INVITE (UAC probes)."""
        response = reply(self.invite, status, to_tag=to_tag, body=body)
        if 101 <= status < 300 and to_tag is not None and self.peer is None:
            self.peer = Dialog.uas(self.invite, response)
        return response

    def last_response(self) -> Response:
        """The last response the session (UAS) sent, as the caller gets it; the
        caller's dialog is made from it."""
        response = [m for m in self.sent() if isinstance(m, Response)][-1]
        if self.peer is None and 101 <= response.status < 300:
            self.peer = Dialog.uac(self.invite, response)
        return response

    def peer_request(self, method: str, *, body: bytes = b"") -> Request:
        assert self.peer is not None
        request = self.peer.create_request(method, body=body,
                                           content_type="application/sdp" if body else None)
        return wire(request)

    def peer_ack(self, request: Request, response: Response) -> Request:
        assert self.peer is not None
        return wire(self.peer.ack(request, response))
