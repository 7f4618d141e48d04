"""Two INVITE sessions back to back, wired by plain message passing, and a fake
``OfferAnswer``.  No transaction layer: each message is delivered once (or
dropped), serialized and parsed on the way, in the order sent."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sipwire import Request, Response
from sipwire.dialog import (
    DialogAction,
    InviteSession,
    OfferAnswer,
    Rel100,
    SendAck,
    SendRequest,
    SendResponse,
)
from sipwire.dialog.session_timer import SessionTimerConfig
from sipwire.transaction import TimerConfig

from .builders import BOB_CONTACT, invite, wire

TIMERS = TimerConfig(t1=0.5, t2=4.0)


class FakeMedia:
    """An ``OfferAnswer`` with text bodies: ``offer <name> v<n> <direction>``."""

    def __init__(self, name: str, *, refuse: bool = False) -> None:
        self.name = name
        self.refuse = refuse
        self.version = 0
        self.hold = False
        self.log: list[tuple[str, bytes]] = []

    def make_offer(self, *, hold: bool | None = None) -> bytes:
        self.version += 1
        if hold is not None:
            self.hold = hold
        direction = "sendonly" if self.hold else "sendrecv"
        offer = f"offer {self.name} v{self.version} {direction}".encode()
        self.log.append(("make_offer", offer))
        return offer

    def receive_offer(self, offer: bytes) -> bytes:
        if self.refuse:
            raise ValueError("no common media format")
        self.log.append(("receive_offer", offer))
        direction = "recvonly" if b"sendonly" in offer else "sendrecv"
        return f"answer {self.name} {direction}".encode()

    def answer_sent(self) -> None:
        self.log.append(("answer_sent", b""))

    def receive_answer(self, answer: bytes) -> None:
        self.log.append(("receive_answer", answer))

    def rollback(self) -> None:
        self.log.append(("rollback", b""))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.log]


Drop = Callable[[str, Request | Response], bool]


@dataclass
class Net:
    """Alice (caller) and Bob (callee); ``now`` is the driven clock."""

    alice: InviteSession
    bob: InviteSession | None = None
    now: float = 0.0
    bob_media: OfferAnswer | None = None
    events: dict[str, list[DialogAction]] = field(
        default_factory=lambda: {"alice": [], "bob": []})
    wire_log: list[tuple[str, Request | Response]] = field(default_factory=list)
    drop: Drop | None = None
    queue: list[tuple[str, DialogAction]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    bob_rel100: Rel100 = Rel100.SUPPORTED
    bob_timer: SessionTimerConfig | None = None

    @classmethod
    def call(cls, *, alice_media: OfferAnswer | None = None,
             bob_media: OfferAnswer | None = None,
             seed: int = 7, offer: bool = True, alice_rel100: Rel100 = Rel100.SUPPORTED,
             bob_rel100: Rel100 = Rel100.SUPPORTED,
             alice_timer: SessionTimerConfig | None = None,
             bob_timer: SessionTimerConfig | None = None, drop: Drop | None = None) -> Net:
        media_a = alice_media if alice_media is not None else FakeMedia("alice")
        request = invite(contact="<sip:alice@192.0.2.1:5060>")
        alice = InviteSession.uac(request, media=media_a, timers=TIMERS,
                                  rng=random.Random(seed), offer=offer, rel100=alice_rel100,
                                  session_timer=alice_timer)
        net = cls(alice, bob_media=bob_media if bob_media is not None else FakeMedia("bob"),
                  rng=random.Random(seed + 1), bob_rel100=bob_rel100, bob_timer=bob_timer,
                  drop=drop)
        net.perform("alice", alice.start(0.0))
        return net

    def session(self, side: str) -> InviteSession:
        session = self.alice if side == "alice" else self.bob
        assert session is not None
        return session

    def perform(self, side: str, actions: list[DialogAction]) -> None:
        """Queue what ``side`` sends; keep its events; deliver everything."""
        for action in actions:
            if isinstance(action, SendRequest | SendAck | SendResponse):
                self.queue.append((side, action))
            else:
                self.events[side].append(action)
        self.flush()

    def flush(self) -> None:
        while self.queue:
            side, action = self.queue.pop(0)
            self.deliver(side, action)

    def deliver(self, side: str, action: DialogAction) -> None:
        peer = "bob" if side == "alice" else "alice"
        message: Request | Response
        if isinstance(action, SendResponse):
            message = wire(action.response)
        else:
            assert isinstance(action, SendRequest | SendAck)
            message = wire(action.request)
        self.wire_log.append((side, message))
        if self.drop is not None and self.drop(side, message):
            return
        if isinstance(message, Response):
            self.perform(peer, self.session(peer).receive_response(message, self.now))
            return
        if peer == "bob" and message.method == "INVITE" and message.to.tag is None:
            # a new INVITE (the first, or one sent again after a 422): a new session
            self.bob = InviteSession.uas(message, contact=BOB_CONTACT, media=self.bob_media,
                                         timers=TIMERS, rng=self.rng, rel100=self.bob_rel100,
                                         session_timer=self.bob_timer)
            self.perform("bob", self.bob.start(self.now))
            return
        self.perform(peer, self.session(peer).receive_request(message, self.now))

    def advance(self, to: float) -> None:
        """Move the clock to ``to``, firing every timer due on the way."""
        while True:
            due = [d for d in (self.alice.next_deadline(),
                               self.bob.next_deadline() if self.bob else None)
                   if d is not None and d <= to]
            if not due:
                break
            self.now = max(self.now, min(due))
            for side in ("alice", "bob"):
                session = self.session(side) if side == "alice" or self.bob else None
                if session is not None:
                    self.perform(side, session.handle_timer(self.now))
        self.now = to

    def sent(self, side: str, kind: str) -> list[Request | Response]:
        """What ``side`` put on the wire: a method, or a status as text."""
        out: list[Request | Response] = []
        for who, message in self.wire_log:
            if who != side:
                continue
            name = message.method if isinstance(message, Request) else \
                f"{message.status} {message.cseq.method}"
            if name == kind:
                out.append(message)
        return out

    def kinds(self, side: str) -> list[str]:
        return [type(e).__name__ for e in self.events[side]]
