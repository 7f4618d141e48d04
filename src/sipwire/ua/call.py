"""A call: one INVITE dialog of a ``UserAgent`` and the session it carries.

RFC 3261 §13-15 (the INVITE, re-INVITE and BYE), RFC 3264 (offer/answer, and
hold as a direction attribute, §8.4), RFC 3515 (REFER, its implicit
subscription and the ``message/sipfrag`` NOTIFYs) and RFC 3891 (Replaces).
The dialog itself (§12: its id, CSeq numbers, route set and remote target) is
a ``sipwire.dialog.Dialog``; a ``Call`` drives it over the agent's
``Endpoint`` and keeps what the application sees: a state, typed events, the
negotiated media, and the ``ended`` future.

There is no media engine.  Offers and answers are made by ``sipwire.sdp``
(an ``OfferAnswer`` per call, from the ``MediaCapabilities`` given: address,
port, codecs) and name an address and a port that nothing listens on unless
the application makes it; ``media`` is the ``sipwire.sdp.Negotiated`` result
(per stream: addresses, ports, codecs, direction), what an RTP stack needs.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..dialog.dialog import Dialog, DialogError
from ..message.fields.base import Field
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response
from ..message.status import Status
from ..message.uri import URI, escape, unescape
from ..sdp import MediaCapabilities, Negotiated, OfferAnswer, OfferAnswerState, SdpError
from ..transport.base import TransportError
from .server import ServerTransactionHandle

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = [
    "Answered",
    "Call",
    "CallError",
    "CallEvent",
    "CallFailed",
    "CallState",
    "Ended",
    "Held",
    "MessageReceived",
    "ReferNotified",
    "ReferResult",
    "Resumed",
    "Ringing",
    "Transferred",
]

logger = logging.getLogger("sipwire.ua.call")

Side = Literal["local", "remote"]
SDP = "application/sdp"
SIPFRAG = "message/sipfrag;version=2.0"


class CallState(enum.Enum):
    """Where a call is: the INVITE is out or in (``CALLING``/``INCOMING``), a
    provisional response made an early dialog (``EARLY``, §12.1), the 2xx
    confirmed it (``CONFIRMED``), and then it ended (``TERMINATED``)."""

    CALLING = "calling"
    INCOMING = "incoming"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class CallError(RuntimeError):
    """An operation the call's state does not allow (hold before the answer ...)."""


class CallFailed(Exception):
    """A request of the call got a final response other than 2xx: ``status``,
    ``reason`` and the ``response`` (None when it was made here: 408 or 503
    of §8.1.3.1, or an ACK that never came)."""

    def __init__(self, status: int, reason: str, response: Response | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.response = response

    @classmethod
    def of(cls, response: Response) -> CallFailed:
        return cls(response.status, response.reason, response)


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ringing:
    """A provisional response to our INVITE (180 Ringing, 183 Session Progress ...)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Answered:
    """The INVITE got its 2xx and the ACK went (UAC), or came (UAS): the call is up."""

    media: Negotiated | None


@dataclass(frozen=True, slots=True)
class Held:
    """The media went on hold (RFC 3264 §8.4); ``by`` says which side asked."""

    by: Side
    media: Negotiated | None


@dataclass(frozen=True, slots=True)
class Resumed:
    """The media came off hold (``sendrecv`` again)."""

    by: Side
    media: Negotiated | None


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A MESSAGE (RFC 3428) or INFO within the call; it was answered 200."""

    request: Request

    @property
    def text(self) -> str:
        return self.request.body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ReferNotified:
    """A NOTIFY of the REFER we sent (RFC 3515 §2.4.5): the progress of the
    transferee's call, as the status line of its ``message/sipfrag`` body."""

    status: int
    reason: str
    final: bool


@dataclass(frozen=True, slots=True)
class Transferred:
    """A REFER we received was carried out: ``call`` is the new call (to the
    Refer-To target), or ``failed`` holds why it could not be made."""

    target: str
    call: Call | None
    failed: CallFailed | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over: ``reason`` (``bye``, ``cancelled``, ``rejected``,
    ``replaced``, ``failed``, ``no ACK``, ``closed``), ``by`` which side ended
    it, and the final ``status`` when a response ended it."""

    reason: str
    by: Side
    status: int | None = None


@dataclass(frozen=True, slots=True)
class ReferResult:
    """How a transfer ended: the REFER's own final response when it was not
    accepted, else the status line of the final NOTIFY (RFC 3515 §2.4.5)."""

    status: int
    reason: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


CallEvent = Ringing | Answered | Held | Resumed | MessageReceived | ReferNotified | \
    Transferred | Ended


# -- the call -------------------------------------------------------------------------------

#: which requests within the call are answered how (§12.2.2 and the RFCs of each method)
_IN_DIALOG = frozenset({"INVITE", "BYE", "UPDATE", "REFER", "NOTIFY", "MESSAGE", "INFO",
                        "OPTIONS"})


class Call:
    """One call of a ``UserAgent``, outgoing (``ua.call(...)``) or incoming
    (``async for call in ua.incoming()``).

    ``state`` (``CallState``), ``dialog`` (the ``sipwire.dialog.Dialog`` once
    there is one), ``offer_answer`` (its ``sipwire.sdp.OfferAnswer``), ``media``
    (the ``sipwire.sdp.Negotiated`` of the last offer and answer, or None),
    ``ended`` (a future of ``Ended``: ``await call.ended``) and ``events()``
    (every ``CallEvent`` in order, ending with ``Ended``).  ``on_event`` adds
    a callback called with each event as it happens.
    """

    def __init__(self, agent: UserAgent, *, direction: Literal["outgoing", "incoming"],
                 invite: Request, capabilities: MediaCapabilities,
                 proxy: URI | None = None) -> None:
        self.agent = agent
        self.direction = direction
        #: the INVITE that made the call (the last one sent, after a challenge or a redirect)
        self.invite = invite
        self.proxy = proxy
        self.state = CallState.CALLING if direction == "outgoing" else CallState.INCOMING
        self.dialog: Dialog | None = None
        self.offer_answer = OfferAnswer(capabilities)
        #: the call this one replaces (an INVITE with Replaces, RFC 3891)
        self.replaces: Call | None = None
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[Ended] = loop.create_future()
        self._events: list[CallEvent] = []
        self._waiter: asyncio.Future[None] | None = None
        self._callbacks: list[Callable[[CallEvent], None]] = []
        self._reinviting = False      # our re-INVITE is out: theirs is glare (§14.2)
        self._reinvite_lock = asyncio.Lock()
        self._tx: ServerTransactionHandle | None = None   # the INVITE we answer
        self._decided: asyncio.Future[None] = loop.create_future()  # its final response went
        self._refers: list[asyncio.Future[ReferResult]] = []

    def __repr__(self) -> str:
        return f"<Call {self.direction} {self.remote_uri} {self.state.value}>"

    # -- what the application reads --------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def local_uri(self) -> URI:
        if self.dialog is not None:
            return self.dialog.local_uri
        return self.invite.from_.uri if self.direction == "outgoing" else self.invite.to.uri

    @property
    def remote_uri(self) -> URI:
        if self.dialog is not None:
            return self.dialog.remote_uri
        return self.invite.to.uri if self.direction == "outgoing" else self.invite.from_.uri

    @property
    def media(self) -> Negotiated | None:
        """What the last completed offer/answer exchange agreed on (RFC 3264)."""
        return self.offer_answer.negotiated

    @property
    def on_hold(self) -> bool:
        """True while we hold the call (``hold()``), whatever the other side does."""
        return self.offer_answer.hold

    @property
    def held(self) -> bool:
        """True while the other side holds us: its SDP does not receive, or names
        no address (RFC 3264 §8.4; the RFC 2543 way, ``c=0.0.0.0``)."""
        media = self.media
        if media is None or not media.remote.media:
            return False
        remote = media.remote
        connection = remote.connection_of(0)
        return not remote.direction_of(0).receives or (
            connection is not None and connection.is_null)

    async def events(self) -> AsyncIterator[CallEvent]:
        """Every event of the call from its start, in order; ends after ``Ended``."""
        seen = 0
        while True:
            while seen < len(self._events):
                event = self._events[seen]
                seen += 1
                yield event
                if isinstance(event, Ended):
                    return
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._waiter)

    def on_event(self, callback: Callable[[CallEvent], None]) -> None:
        """Call ``callback(event)`` for each event from now on."""
        self._callbacks.append(callback)

    # -- the UAS side --------------------------------------------------------------------

    async def ringing(self, status: int = 180) -> None:
        """Send a provisional response (180 Ringing; 183 ...) to the INVITE."""
        tx = self._incoming_tx()
        await tx.respond(tx.reply(status, contact=self._contact()))
        if self.state is CallState.INCOMING:
            self.state = CallState.EARLY

    async def answer(self, sdp: MediaCapabilities | None = None) -> None:
        """Answer 200 and wait for the ACK (§13.3.1.4).

        The body is the SDP answer to the INVITE's offer (RFC 3264 §6), made
        from ``sdp`` (else the agent's capabilities); when the INVITE had no
        offer, the 200 carries ours and the ACK the answer (§13.2.1).  Raises
        ``CallFailed`` (408) when no ACK came within 64*T1: the call was then
        ended with a BYE, as §13.3.1.4 says it SHOULD be.
        """
        tx = self._incoming_tx()
        oa = self.offer_answer
        if sdp is not None:
            oa.capabilities = sdp
            if oa.state is OfferAnswerState.REMOTE_OFFER:
                offer = oa.remote_offer
                assert offer is not None
                oa.rollback()
                oa.receive_offer(offer)
        answering = oa.state is OfferAnswerState.REMOTE_OFFER
        local = oa.pending_answer if answering else oa.make_offer()
        assert local is not None
        body = bytes(local)
        response = tx.reply(200, contact=self._contact(), body=body,
                            content_type=SDP if body else None,
                            headers=self.agent._answer_headers())
        self.dialog = Dialog.uas(self.invite, response)
        self.agent._adopt(self)
        await tx.respond(response)
        if answering:
            oa.answer_sent()
        self.state = CallState.CONFIRMED
        self._tx = None
        _resolve(self._decided)
        if self.replaces is not None:
            self.agent._spawn(self.replaces._end("replaced"))
        ack = await tx.wait_ack()
        if ack is None:
            await self._end("no ACK")
            raise CallFailed(408, "No ACK (RFC 3261 §13.3.1.4)")
        if not answering:
            self._take_answer(ack.body)
        self._emit(Answered(self.media))

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        """Answer the INVITE with a final non-2xx response (486 Busy Here ...)."""
        if not 300 <= status <= 699:
            raise ValueError(f"a rejection is a 3xx-6xx, not {status}")
        tx = self._incoming_tx()
        await tx.respond(tx.reply(status, reason))
        self._tx = None
        _resolve(self._decided)
        self._finish(Ended("rejected", "local", status))

    def _incoming_tx(self) -> ServerTransactionHandle:
        tx = self._tx
        if tx is None or tx.final_response is not None:
            raise CallError(f"{self!r}: no INVITE waiting for an answer")
        return tx

    # -- the UAC side --------------------------------------------------------------------

    async def _place(self, target: URI, headers: list[tuple[str, str | Field]]) -> None:
        """Send the INVITE and follow it to its final response (§13.2)."""
        body = bytes(self.offer_answer.make_offer())
        redirects = 0
        cseq = 1
        tried: set[str] = set()
        while True:
            invite = self.agent._build_invite(target, self, body, headers, cseq)
            self.invite = invite
            final = await self._invite(invite)
            if 300 <= final.status < 400 and redirects < self.agent.config.max_redirects:
                nxt = self._redirect_target(final, tried)
                if nxt is not None:
                    redirects += 1
                    tried.add(str(target))
                    target = nxt
                    # §8.1.3.4: the same Call-ID, From tag and a higher CSeq
                    cseq = self.invite.cseq.seq + 1
                    continue
            if final.status >= 300:
                self._finish(Ended("failed", "remote", final.status))
                raise CallFailed.of(final)
            return

    @staticmethod
    def _redirect_target(response: Response, tried: set[str]) -> URI | None:
        """The first Contact of a 3xx, highest q first, not tried yet (§8.1.3.4)."""
        def q(contact: NameAddr) -> float:
            try:
                return float(contact.params.get("q") or 1.0)
            except ValueError:
                return 0.0
        for contact in sorted(response.contact, key=q, reverse=True):
            if contact.uri.is_sip and str(contact.uri) not in tried:
                return contact.uri.copy()
        return None

    async def _invite(self, invite: Request) -> Response:
        agent = self.agent
        handle = agent.endpoint.send(invite)
        try:
            async for response in handle:
                if response.status >= 200:
                    break
                if response.status > 100:
                    if response.body:  # early media: the answer (RFC 3261 §13.2.1)
                        self._take_answer(response.body)
                    self.state = CallState.EARLY
                    self._emit(Ringing(response.status, response.reason))
        except asyncio.CancelledError:
            # the application gave up: CANCEL (§9.1); a 2xx that crosses it is
            # acknowledged and ended by the endpoint
            await asyncio.shield(self._cancel(handle))
            raise
        final = await handle.final()
        self.invite = handle.request
        if final.status >= 300 or final.status < 200:
            return final
        dialog = Dialog.uac(handle.request, final)
        self.dialog = dialog
        agent._adopt(self)
        await agent.endpoint.ack(handle.request, final,
                                 request=dialog.ack(handle.request, final))
        self._take_answer(final.body)
        self.state = CallState.CONFIRMED
        self._emit(Answered(self.media))
        return final

    async def _cancel(self, handle: object) -> None:
        from .client import ClientTransactionHandle

        assert isinstance(handle, ClientTransactionHandle)
        try:
            await asyncio.wait_for(handle.cancel(), self.agent.config.cancel_timeout)
        except (TimeoutError, TransportError) as exc:
            logger.info("CANCEL of %r: %s", handle.request, exc)
        self._finish(Ended("cancelled", "local", 487))

    # -- what both sides do --------------------------------------------------------------

    async def hangup(self) -> Response | None:
        """End the call: BYE when it is up (§15.1.1), returning the BYE's final
        response; an unanswered incoming call is declined (603); a call
        already over is left alone (None)."""
        if self.state is CallState.TERMINATED:
            return None
        if self._tx is not None and self._tx.final_response is None:
            await self.reject(603)
            return None
        if self.dialog is None or self.state is not CallState.CONFIRMED:
            raise CallError(f"{self!r}: an outgoing call is ended before its answer by "
                            "cancelling the task that awaits ua.call()")
        return await self._end("bye")

    async def _end(self, reason: str) -> Response | None:
        """Send BYE and end the call with ``reason``, as the local side."""
        dialog = self.dialog
        if self.state is CallState.TERMINATED or dialog is None:
            return None
        try:
            bye = dialog.create_request("BYE")
        except DialogError:
            bye = None
        self._finish(Ended(reason, "local"))
        if bye is None:
            return None
        try:
            return await self.agent.endpoint.request(bye)
        except TransportError as exc:
            logger.info("BYE of %r: %s", self, exc)
            return None

    async def hold(self) -> None:
        """Put the call on hold: a re-INVITE whose offer is ``sendonly`` (RFC 3264 §8.4)."""
        await self.reinvite(hold=True)

    async def unhold(self) -> None:
        """Take the call off hold: a re-INVITE offering ``sendrecv`` again."""
        await self.reinvite(hold=False)

    async def reinvite(self, *, hold: bool | None = None,
                       sdp: MediaCapabilities | None = None) -> None:
        """Send a re-INVITE with a new offer (§14.1, RFC 3264 §8): from ``sdp``
        when given (a new port, other codecs), holding when ``hold`` is True,
        resuming when False, as before when None.

        A 491 (glare, §14.2) is retried after the random wait of §14.1; any
        other failure raises ``CallFailed`` and leaves the session as it was
        (a 481 or 408 ends the call with a BYE, as §14.1 says).
        """
        dialog = self._confirmed()
        oa = self.offer_answer
        async with self._reinvite_lock:
            previous = oa.hold
            before = oa.capabilities
            if sdp is not None:
                oa.capabilities = sdp
            while True:
                try:
                    offer = oa.make_offer(hold=hold)
                except SdpError as exc:  # the peer's offer is not answered yet
                    oa.capabilities = before
                    raise CallFailed(exc.status_code, str(exc)) from None
                invite = dialog.create_request("INVITE", body=bytes(offer), content_type=SDP,
                                               headers=self.agent._answer_headers())
                self._reinviting = True
                try:
                    handle = self.agent.endpoint.send(invite)
                    final = await handle.final()
                finally:
                    self._reinviting = False
                sent = handle.request
                dialog.local_seq = max(dialog.local_seq or 0, sent.cseq.seq)
                if 200 <= final.status < 300:
                    break
                oa.rollback()
                if final.status != Status.REQUEST_PENDING:
                    break
                await asyncio.sleep(self._glare_wait())
            dialog.receive_response(sent, final)
            if 200 <= final.status < 300:
                await self.agent.endpoint.ack(sent, final, request=dialog.ack(sent, final))
                self._take_answer(final.body)
                if oa.hold != previous:
                    self._emit(Held("local", self.media) if oa.hold else
                               Resumed("local", self.media))
                return
            oa.capabilities = before
            if final.status in (Status.CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                                Status.REQUEST_TIMEOUT):
                await self._end("failed")
            raise CallFailed.of(final)

    def _glare_wait(self) -> float:
        """§14.1: 2.1-4 s for the owner of the Call-ID (the UAC of the call),
        0-2 s for the other side, in units of 10 ms."""
        low, high = self.agent.config.glare_owner if self.direction == "outgoing" else \
            self.agent.config.glare_other
        return random.uniform(low, high)

    async def message(self, text: str | bytes, content_type: str = "text/plain") -> Response:
        """Send a MESSAGE within the call (RFC 3428 §4); its final response."""
        dialog = self._confirmed()
        body = text.encode() if isinstance(text, str) else text
        request = dialog.create_request("MESSAGE", body=body, content_type=content_type)
        return await self._request(request)

    async def refer(self, target: str | URI | Call, *, timeout: float | None = None,
                    ) -> ReferResult:
        """Transfer the other side to ``target`` (RFC 3515) and wait for the
        outcome: the final NOTIFY's status, or the REFER's own rejection.

        A ``Call`` as ``target`` makes an attended transfer (RFC 5589 §7): the
        Refer-To is that call's remote URI with a Replaces header naming its
        dialog (RFC 3891 §3), so that the transferee's INVITE replaces it.
        The call is not hung up here: the transferor usually does so once the
        result is a 2xx.
        """
        dialog = self._confirmed()
        refer_to = self._refer_to(target)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[ReferResult] = loop.create_future()
        self._refers.append(outcome)
        request = dialog.create_request("REFER", headers=[
            ("Refer-To", f"<{refer_to}>"),
            ("Referred-By", f"<{self.agent.aor or dialog.local_uri}>"),
            ("Contact", self._contact_text()),
        ])
        try:
            response = await self._request(request)
            if response.status >= 300:
                return ReferResult(response.status, response.reason)
            wait = timeout if timeout is not None else self.agent.config.refer_timeout
            return await asyncio.wait_for(asyncio.shield(outcome), wait)
        finally:
            if outcome in self._refers:
                self._refers.remove(outcome)

    def _refer_to(self, target: str | URI | Call) -> URI:
        if not isinstance(target, Call):
            return URI.parse(target) if isinstance(target, str) else target
        other = target.dialog
        if other is None:
            raise CallError(f"{target!r} has no dialog to replace")
        # §3 of RFC 3891: the recipient compares to-tag with its local tag,
        # that is our remote tag, and from-tag with ours
        replaces = (f"{other.id.call_id};to-tag={other.id.remote_tag};"
                    f"from-tag={other.id.local_tag}")
        return other.remote_uri.copy(params={}, headers={"Replaces": escape(replaces)})

    async def _request(self, request: Request) -> Response:
        dialog = self.dialog
        assert dialog is not None
        handle = self.agent.endpoint.send(request)
        final = await handle.final()
        dialog.local_seq = max(dialog.local_seq or 0, handle.request.cseq.seq)
        dialog.receive_response(handle.request, final)
        if dialog.terminated and self.state is not CallState.TERMINATED:
            self._finish(Ended("failed", "remote", final.status))
        return final

    def _confirmed(self) -> Dialog:
        dialog = self.dialog
        if dialog is None or self.state is not CallState.CONFIRMED:
            raise CallError(f"{self!r} is not up")
        return dialog

    # -- requests received within the call ------------------------------------------------

    async def _on_request(self, request: Request, tx: ServerTransactionHandle,
                          ) -> Response | None:
        """A request within the call's dialog (§12.2.2)."""
        dialog = self.dialog
        assert dialog is not None
        method = request.method
        if method == "INVITE" and self._reinviting:
            return tx.reply(491)  # glare: our own re-INVITE is out (§14.2)
        refused = dialog.receive_request(request)
        if refused is not None:
            return tx.reply(refused.status, refused.reason)
        if method == "BYE":
            dialog.terminate("bye")
            self._finish(Ended("bye", "remote"))
            return tx.reply(200)
        if method == "INVITE" or method == "UPDATE":
            return await self._on_offer(request, tx)
        if method == "REFER":
            return self._on_refer(request, tx)
        if method == "NOTIFY":
            return self._on_notify(request, tx)
        if method == "MESSAGE" or method == "INFO":
            self._emit(MessageReceived(request))
            return tx.reply(200)
        if method == "OPTIONS":
            return self.agent.endpoint.options_response(tx)
        return tx.reply(405, headers=[("Allow", ", ".join(self.agent.allowed_methods))])

    async def _on_offer(self, request: Request, tx: ServerTransactionHandle) -> Response:
        """A re-INVITE or UPDATE (RFC 3311): answer its offer; a re-INVITE
        without one gets our offer in the 2xx, answered in the ACK (§14.2)."""
        oa = self.offer_answer
        was_held = self.held
        body = b""
        answering = bool(request.body)
        try:
            if answering:
                body = bytes(oa.receive_offer(request.body))
            elif request.method == "INVITE":
                body = bytes(oa.make_offer())
        except SdpError as exc:
            # 491 for an offer crossing ours, 500 while one is unanswered (with
            # Retry-After, §14.2), 488 for nothing acceptable, 400 for bad SDP
            headers = [("Retry-After", str(random.randint(0, 10)))] \
                if exc.status_code == 500 else []
            return tx.reply(exc.status_code, headers=headers)
        response = tx.reply(200, contact=self._contact(), body=body,
                            content_type=SDP if body else None,
                            headers=self.agent._answer_headers())
        if self.dialog is not None:
            self.dialog.send_response(request, response)
        if answering:
            oa.answer_sent()
        await tx.respond(response)
        if request.method == "INVITE":
            self.agent._spawn(self._await_ack(tx, answering))
        if answering and self.held != was_held:
            self._emit(Held("remote", self.media) if self.held else
                       Resumed("remote", self.media))
        return response

    async def _await_ack(self, tx: ServerTransactionHandle, answered: bool) -> None:
        # the endpoint passes the 2xx on until the ACK (§13.3.1.4)
        ack = await tx.wait_ack()
        if ack is None:
            if self.offer_answer.state is OfferAnswerState.LOCAL_OFFER:
                self.offer_answer.rollback()
            if self.state is CallState.CONFIRMED:
                await self._end("no ACK")
            return
        if not answered:
            self._take_answer(ack.body)

    def _on_refer(self, request: Request, tx: ServerTransactionHandle) -> Response:
        """RFC 3515 §2.4.2: 202, then the call to Refer-To and its NOTIFYs."""
        values = request.headers.getall("Refer-To")
        if len(values) != 1:
            return tx.reply(400, "Exactly One Refer-To (RFC 3515 §2.4.1)")
        try:
            target = NameAddr.parse(values[0]).uri
        except ValueError:
            return tx.reply(400, "Bad Refer-To")
        if not self.agent.config.accept_transfers or not target.is_sip:
            return tx.reply(603)
        referred_by = request.headers.get("Referred-By")
        if referred_by is None and self.dialog is not None:
            referred_by = f"<{self.dialog.remote_uri}>"
        self.agent._spawn(self._transfer(target, referred_by))
        return tx.reply(202)

    async def _transfer(self, target: URI, referred_by: str | None) -> None:
        """Make the call Refer-To asks for, with its Replaces, and NOTIFY each
        step (RFC 3515 §2.4.4-§2.4.5): 100 Trying at once, the final status last."""
        await self._notify(100, "Trying", final=False)
        headers: list[tuple[str, str | Field]] = []
        replaces = target.headers.get("Replaces")
        if replaces is not None:
            headers.append(("Replaces", unescape(replaces)))
        if referred_by is not None:  # RFC 3892 §3: copied from the REFER
            headers.append(("Referred-By", referred_by))
        plain = target.copy(headers={})
        try:
            call = await self.agent.call(plain, proxy=self.proxy, headers=headers)
        except CallFailed as exc:
            self._emit(Transferred(str(plain), None, exc))
            await self._notify(exc.status, exc.reason, final=True)
            return
        self._emit(Transferred(str(plain), call))
        await self._notify(200, "OK", final=True)

    async def _notify(self, status: int, reason: str, *, final: bool) -> None:
        dialog = self.dialog
        if dialog is None or dialog.terminated:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        notify = dialog.create_request(
            "NOTIFY", body=f"SIP/2.0 {status} {reason}\r\n".encode(), content_type=SIPFRAG,
            headers=[("Event", "refer"), ("Subscription-State", state)])
        try:
            await self._request(notify)
        except TransportError as exc:
            logger.info("NOTIFY of %r: %s", self, exc)

    def _on_notify(self, request: Request, tx: ServerTransactionHandle) -> Response:
        """A NOTIFY of the REFER we sent (RFC 3515 §2.4.5)."""
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return tx.reply(489)
        first = request.body.decode("utf-8", "replace").split("\r\n")[0].split("\n")[0]
        parts = first.split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return tx.reply(400, "Bad sipfrag (RFC 3515 §2.4.5)")
        reason = parts[2] if len(parts) > 2 else ""
        state = (request.headers.get("Subscription-State") or "").lower()
        final = state.startswith("terminated") or status >= 200
        self._emit(ReferNotified(status, reason, final))
        if final:
            for outcome in self._refers:
                if not outcome.done():
                    outcome.set_result(ReferResult(status, reason))
        return tx.reply(200)

    def _remote_cancelled(self) -> None:
        self._tx = None
        _resolve(self._decided)
        self._finish(Ended("cancelled", "remote", 487))

    # -- offer and answer (RFC 3264) -------------------------------------------------------

    def _take_answer(self, body: bytes) -> None:
        """The peer's answer to our pending offer (RFC 3264 §7), if it is one."""
        oa = self.offer_answer
        if oa.state is not OfferAnswerState.LOCAL_OFFER:
            return
        if not body:
            oa.rollback()  # a 2xx or ACK without the answer: the offer is void
            return
        try:
            oa.receive_answer(body)
        except SdpError as exc:
            logger.info("%r: the answer is unusable: %s", self, exc)
            oa.rollback()

    # -- bookkeeping -------------------------------------------------------------------------

    def _contact(self) -> URI:
        return self.agent.contact_uri

    def _contact_text(self) -> str:
        return f"<{self.agent.contact_uri}>"

    def _emit(self, event: CallEvent) -> None:
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                logger.exception("a callback of %r failed on %r", self, event)

    def _finish(self, ended: Ended) -> None:
        if self.state is CallState.TERMINATED:
            return
        self.state = CallState.TERMINATED
        if self.dialog is not None:
            self.dialog.terminate(ended.reason)
        for outcome in self._refers:
            if not outcome.done():
                outcome.set_result(ReferResult(ended.status or 487, "Call Ended"))
        self.agent._forget(self)
        if not self.ended.done():
            self.ended.set_result(ended)
        self._emit(ended)



def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
