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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..dialog.actions import (
    AckReceived,
    DialogAction,
    EarlyMedia,
    Modified,
    ModifyFailed,
    Progress,
    RequestReceived,
    SendAck,
    SendRequest,
    SendResponse,
)
from ..dialog.actions import Answered as SessionAnswered
from ..dialog.actions import Ended as SessionEnded
from ..dialog.actions import Ringing as SessionRinging
from ..dialog.dialog import Dialog
from ..dialog.invite import InviteSession, SessionError
from ..dialog.redirect import TargetSet, redirected_request
from ..message.fields.base import Field
from ..message.fields.nameaddr import NameAddr
from ..message.message import Request, Response
from ..message.uri import URI, escape, unescape
from ..sdp import MediaCapabilities, Negotiated, OfferAnswer
from ..transaction.client import build_cancel
from ..transport.base import TransportError
from .client import ClientTransactionHandle
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

#: why ``InviteSession`` ended a session -> (our reason, which side), for the
#: reasons that are not a status code
_ENDINGS: dict[str, tuple[str, Side]] = {
    "BYE received": ("bye", "remote"),
    "no ACK": ("no ACK", "local"),
    "no PRACK": ("no PRACK", "local"),
    "session expired": ("session expired", "local"),
}


class Call:
    """One call of a ``UserAgent``, outgoing (``ua.call(...)``) or incoming
    (``async for call in ua.incoming()``).

    The call drives a ``sipwire.dialog.InviteSession`` (``session``): every
    message of the INVITE session goes in, every action it returns is done
    here (requests through the agent's ``Endpoint``, responses through the
    server transaction of their request, its timers with ``loop.call_at``).

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
        self.proxy = proxy
        self.state = CallState.CALLING if direction == "outgoing" else CallState.INCOMING
        self._offer_answer = OfferAnswer(capabilities)
        #: the call this one replaces (an INVITE with Replaces, RFC 3891)
        self.replaces: Call | None = None
        self._modification_hook: Callable[[Request], int | None] | None = None
        self.session = self._new_session(invite, self._offer_answer)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.ended: asyncio.Future[Ended] = loop.create_future()
        self._events: list[CallEvent] = []
        self._waiter: asyncio.Future[None] | None = None
        self._callbacks: list[Callable[[CallEvent], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._tx: ServerTransactionHandle | None = None        # the INVITE we answer
        self._servers: dict[tuple[int, str], ServerTransactionHandle] = {}
        self._invite_handle: ClientTransactionHandle | None = None
        self._sent: list[ClientTransactionHandle] = []         # of the last _perform
        self._decided: asyncio.Future[None] = loop.create_future()  # INVITE's final sent
        self._acked: asyncio.Future[None] = loop.create_future()    # its 2xx's ACK came
        self._modified: asyncio.Future[Response] | None = None      # our re-INVITE's outcome
        self._ending = "bye"
        self._reported_hold = False   # the hold states the events last told
        self._reported_held = False
        self._refers: list[asyncio.Future[ReferResult]] = []

    def _new_session(self, invite: Request, media: OfferAnswer) -> InviteSession:
        config = self.agent.config
        timers = self.agent.endpoint.config.timers
        if self.direction == "outgoing":
            session = InviteSession.uac(invite, media=media, timers=timers,
                                        rel100=config.rel100,
                                        session_timer=config.session_timer)
        else:
            session = InviteSession.uas(invite, contact=self.agent.contact_uri,
                                        media=media, timers=timers,
                                        rel100=config.rel100,
                                        session_timer=config.session_timer)
        session.modification_hook = self._modification
        return session

    def __repr__(self) -> str:
        return f"<Call {self.direction} {self.remote_uri} {self.state.value}>"

    # -- what the application reads --------------------------------------------------------

    @property
    def invite(self) -> Request:
        """The INVITE that made the call (the last one sent, after a challenge,
        a redirect or a 422)."""
        return self.session.invite

    @property
    def dialog(self) -> Dialog | None:
        return self.session.dialog

    @property
    def offer_answer(self) -> OfferAnswer:
        """The ``sipwire.sdp.OfferAnswer`` of the call's dialog (for a forked
        INVITE, that of the early dialog heard last, then of the one answered:
        each fork answers the offer its own way, §13.2.2.4)."""
        media = self.session.media
        return media if isinstance(media, OfferAnswer) else self._offer_answer

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def local_tag(self) -> str:
        """Our tag in the call's dialogs: the From tag of our INVITE, or the To
        tag of our responses to theirs."""
        if self.direction == "outgoing":
            tag = self.invite.from_.tag
            assert tag is not None
            return tag
        return self.session.to_tag

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
        return self.session.on_hold

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

    def _start_incoming(self, tx: ServerTransactionHandle) -> bool:
        """Take the INVITE (its offer, 100rel, Session-Expires); False when the
        session refused it (420, 421, 422, 488 ... sent)."""
        self._tx = tx
        self._perform(self.session.start(self._loop.time()))
        return self.state is not CallState.TERMINATED

    async def ringing(self, status: int = 180, *, early_media: bool = False) -> None:
        """Send a provisional response (180 Ringing; 183 ...) to the INVITE;
        reliably (RFC 3262) when the caller supports 100rel and our policy
        wants it.  A reliable one carries the answer to the INVITE's offer
        (RFC 3261 §13.2.1: the first reliable non-failure response has it);
        ``early_media`` puts the answer in an unreliable one too (RFC 3261
        §13.2.1 allows it as a preview, the 2xx repeats it), and in a reliable
        one to an INVITE without offer, our offer (RFC 3262 §5)."""
        self._incoming_tx()
        self._perform(self._call(lambda now: self.session.provisional(
            now, status, early_media=early_media)))
        if self.state is CallState.INCOMING:
            self.state = CallState.EARLY

    async def answer(self, sdp: MediaCapabilities | None = None) -> None:
        """Answer 200 and wait for the ACK (§13.3.1.4).

        The body is the SDP answer to the INVITE's offer (RFC 3264 §6), made
        from ``sdp`` (else the agent's capabilities); when the INVITE had no
        offer, the 200 carries ours and the ACK the answer (§13.2.1).  Once a
        reliable provisional response carried the answer, the 200 has none,
        and ``sdp`` is for the offers that follow (a new answer would need an
        UPDATE or re-INVITE, RFC 3264 §8).  Raises
        ``CallFailed`` (408) when no ACK came within 64*T1 (the call was then
        ended with a BYE, as §13.3.1.4 says it SHOULD be), or with the status
        that ended the call meanwhile.
        """
        self._incoming_tx()
        oa = self.offer_answer
        if sdp is not None:
            before, oa.capabilities = oa.capabilities, sdp
            if self.session.answer_pending:
                # the answer the session will send, made again from ``sdp``
                try:
                    self.session.remake_answer()
                except SessionError as exc:
                    oa.capabilities = before
                    self.session.remake_answer()
                    raise CallError(str(exc)) from None
        self._perform(self._call(lambda now: self.session.answer(
            now, headers=self.agent._answer_headers())))
        waits: set[asyncio.Future[Any]] = {self._acked, self.ended}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if self._acked.done():
            if self.replaces is not None:  # RFC 3891 §3: the replaced dialog ends
                self.agent._spawn(self.replaces._end("replaced"))
            return
        if not self._acked.done():
            ended = self.ended.result()
            if ended.reason == "no ACK":
                raise CallFailed(408, "No ACK (RFC 3261 §13.3.1.4)")
            raise CallFailed(ended.status or 487, ended.reason)

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        """Answer the INVITE with a final non-2xx response (486 Busy Here ...)."""
        if not 300 <= status <= 699:
            raise ValueError(f"a rejection is a 3xx-6xx, not {status}")
        self._incoming_tx()
        self._perform(self._call(lambda now: self.session.reject(now, status)))

    def _incoming_tx(self) -> ServerTransactionHandle:
        tx = self._tx
        if tx is None or tx.final_response is not None or self.state is CallState.TERMINATED:
            raise CallError(f"{self!r}: no INVITE waiting for an answer")
        return tx

    def _remote_cancelled(self) -> None:
        """The endpoint answered a CANCEL of our INVITE (§9.2): the session hears of it."""
        self._perform(self.session.receive_request(build_cancel(self.invite),
                                                   self._loop.time()))
        self._finish(Ended("cancelled", "remote", 487))

    # -- the UAC side --------------------------------------------------------------------

    async def _place(self, target: URI) -> None:
        """Send the INVITE and follow it to its final response (§13.2), and
        its redirections (§8.1.3.4)."""
        targets = TargetSet(target)
        redirects = 0
        while True:
            final = await self._invite()
            if 300 <= final.status < 400 and redirects < self.agent.config.max_redirects:
                targets.add(final)
                nxt = targets.next()
                if nxt is not None:
                    redirects += 1
                    again = redirected_request(self.invite, nxt)
                    again.body = b""  # the new session makes its offer again
                    again.headers.remove("Content-Type")
                    self.session = self._new_session(again, self.offer_answer)
                    self.state = CallState.CALLING
                    continue
            if final.status >= 300:
                self._finish(Ended("failed", "remote", final.status))
                raise CallFailed.of(final)
            return

    async def _invite(self) -> Response:
        """Start the session and feed it the INVITE's responses until the final one."""
        self._perform(self.session.start(self._loop.time()))
        while True:
            handle = self._invite_handle
            assert handle is not None
            try:
                async for response in handle:
                    self._invite_response(handle, response)
                    if handle is not self._invite_handle:
                        break  # a 422: the INVITE went again (RFC 4028 §7.3)
            except asyncio.CancelledError:
                # the application gave up: CANCEL (§9.1); a 2xx that crosses it
                # is acknowledged and ended by the endpoint
                await asyncio.shield(self._cancel(handle))
                raise
            if handle is self._invite_handle:
                final = handle.final_response
                assert final is not None
                return final

    def _invite_response(self, handle: ClientTransactionHandle, response: Response) -> None:
        session = self.session
        if handle.request is not session.invite and \
                response.cseq.seq == handle.request.cseq.seq > session.invite.cseq.seq:
            # the endpoint answered a 401/407 with a new INVITE (§22.2): the
            # session's dialogs are those of that one (an RFC 3263 §4.3 failover
            # sends the same INVITE, CSeq kept, with a new branch only)
            session.request_retried(session.invite, handle.request)
        self._perform(self._call(lambda now: session.receive_response(response, now)),
                      answering=(handle, response))

    async def _cancel(self, handle: ClientTransactionHandle) -> None:
        """CANCEL the INVITE and wait for its final response (§9.1: the 487,
        or a 2xx that crossed the CANCEL), not only the CANCEL's own: the
        call is over when its INVITE is, at most ``cancel_timeout`` later."""
        try:
            async with asyncio.timeout(self.agent.config.cancel_timeout):
                if await handle.cancel() is not None:
                    await handle.final()
        except (TimeoutError, TransportError) as exc:
            logger.info("CANCEL of %r: %s", handle.request, exc)
        self._finish(Ended(self._cancel_reason(), "local", 487))

    def _cancel_reason(self) -> str:
        """Why we cancelled: the caller gave up, or the call was replaced."""
        return "cancelled" if self._ending == "bye" else self._ending

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
        if self.direction == "outgoing" and self.state is not CallState.CONFIRMED:
            raise CallError(f"{self!r}: an outgoing call is ended before its answer by "
                            "cancelling the task that awaits ua.call()")
        return await self._end("bye")

    async def _end(self, reason: str) -> Response | None:
        """Send BYE (at once, or when the ACK of our 2xx comes, §15) and end the
        call with ``reason`` as the local side; the BYE's final response.  An
        outgoing call not answered yet is CANCELled instead (§9.1; RFC 3891 §3
        for an early dialog replaced); whoever awaits ``ua.call()`` gets the 487."""
        if self.state is CallState.TERMINATED:
            return None
        self._ending = reason
        handle = self._invite_handle
        if self.direction == "outgoing" and self.state is not CallState.CONFIRMED and \
                handle is not None and not handle.done:
            self._perform(self._call(self.session.cancel))  # its CANCEL goes by the handle
            await self._cancel(handle)
            return None
        self._perform(self._call(self.session.bye))
        byes = [h for h in self._sent if h.request.method == "BYE"]
        if not byes:
            return None
        try:
            return await byes[0].final()
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

        A 491 (glare, §14.2) is retried by the session after the random wait
        of §14.1; any other failure raises ``CallFailed`` and leaves the
        session as it was (a 481 or 408 ends the call).
        """
        self._confirmed()
        await self._modify(lambda now: self.session.reinvite(now, hold=hold), sdp)

    async def _modify(self, step: Callable[[float], list[DialogAction]],
                      sdp: MediaCapabilities | None) -> None:
        """Send a re-INVITE or UPDATE (``step``) with an offer from ``sdp`` and
        wait for its outcome (after any 491 retries)."""
        oa = self.offer_answer
        before = oa.capabilities
        if sdp is not None:
            oa.capabilities = sdp
        self._modified = self._loop.create_future()
        try:
            self._perform(self._call(step))
        except CallError:
            oa.capabilities = before
            self._modified = None
            raise
        response = await asyncio.shield(self._modified)
        if response.status >= 300:
            oa.capabilities = before
            raise CallFailed.of(response)

    async def update(self, *, hold: bool | None = None,
                     sdp: MediaCapabilities | None = None) -> None:
        """Send an UPDATE with a new offer (RFC 3311 §5.1), as ``reinvite``
        does with a re-INVITE: in the call once it is up, or in the early
        dialog before the answer, once the INVITE's offer/answer exchange is
        complete in a reliable provisional response (and, as the callee, once
        its PRACK came).  A 491 is retried after the §14.1 wait; another
        failure raises ``CallFailed`` and leaves the session as it was."""
        if self.state not in (CallState.EARLY, CallState.CONFIRMED) or self.dialog is None:
            raise CallError(f"{self!r} has no dialog to send UPDATE in (RFC 3311 §5.1)")
        await self._modify(lambda now: self.session.update(now, hold=hold), sdp)

    def on_modification(self, hook: Callable[[Request], int | None] | None) -> None:
        """Decide on each re-INVITE or UPDATE the peer sends (§14.2, RFC 3311
        §5.2): ``hook(request)`` returns None (or a 2xx) to accept it, the
        session answering its offer, or a 300-699 status (488 Not Acceptable
        Here, 403 ...) to refuse it, leaving the session as it was.  None as
        ``hook`` accepts every modification, as calls do by default."""
        self._modification_hook = hook

    def _modification(self, request: Request) -> int | None:
        hook = self._modification_hook
        return hook(request) if hook is not None else None

    async def message(self, text: str | bytes, content_type: str = "text/plain") -> Response:
        """Send a MESSAGE within the call (RFC 3428 §4); its final response."""
        body = text.encode() if isinstance(text, str) else text
        return await self._request("MESSAGE", body=body, content_type=content_type)

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
        outcome: asyncio.Future[ReferResult] = self._loop.create_future()
        self._refers.append(outcome)
        try:
            response = await self._request("REFER", headers=[
                ("Refer-To", f"<{refer_to}>"),
                ("Referred-By", f"<{self.agent.aor or dialog.local_uri}>"),
                ("Contact", f"<{self.agent.contact_uri}>"),
            ])
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

    async def _request(self, method: str, *, body: bytes = b"",
                       content_type: str | None = None,
                       headers: list[tuple[str, str | Field]] | None = None) -> Response:
        """Send ``method`` within the dialog; its final response."""
        self._confirmed()
        self._perform(self._call(lambda now: self.session.send_request(
            method, now, body=body, content_type=content_type, headers=headers or ())))
        [handle] = self._sent
        return await handle.final()

    def _confirmed(self) -> Dialog:
        dialog = self.dialog
        if dialog is None or self.state is not CallState.CONFIRMED:
            raise CallError(f"{self!r} is not up")
        return dialog

    # -- requests received within the call ------------------------------------------------

    async def _on_request(self, request: Request, tx: ServerTransactionHandle,
                          ) -> Response | None:
        """A request within the call's dialog (§12.2.2): to the session; what it
        leaves to the application (REFER, NOTIFY, MESSAGE, INFO, OPTIONS) here."""
        self._servers[(request.cseq.seq, request.method)] = tx
        try:
            self._perform(self._call(lambda now: self.session.receive_request(request, now)))
        finally:
            self._servers.pop((request.cseq.seq, request.method), None)
        return None

    def _application_request(self, request: Request) -> Response:
        """An in-dialog request the session leaves to us."""
        method = request.method
        if method == "REFER":
            return self._on_refer(request)
        if method == "NOTIFY":
            return self._on_notify(request)
        if method == "MESSAGE" or method == "INFO":
            self._emit(MessageReceived(request))
            return request.reply(200)
        if method == "OPTIONS":
            return request.reply(200, headers=[("Allow", ", ".join(self.agent.allowed_methods))])
        return request.reply(405, headers=[("Allow", ", ".join(self.agent.allowed_methods))])

    def _on_refer(self, request: Request) -> Response:
        """RFC 3515 §2.4.2: 202, then the call to Refer-To and its NOTIFYs."""
        values = request.headers.getall("Refer-To")
        if len(values) != 1:
            return request.reply(400, "Exactly One Refer-To (RFC 3515 §2.4.1)")
        try:
            target = NameAddr.parse(values[0]).uri
        except ValueError:
            return request.reply(400, "Bad Refer-To")
        if not self.agent.config.accept_transfers or not target.is_sip:
            return request.reply(603)
        referred_by = request.headers.get("Referred-By")
        if referred_by is None and self.dialog is not None:
            referred_by = f"<{self.dialog.remote_uri}>"
        self.agent._spawn(self._transfer(target, referred_by))
        return request.reply(202)

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
        if self.state is not CallState.CONFIRMED:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        try:
            await self._request(
                "NOTIFY", body=f"SIP/2.0 {status} {reason}\r\n".encode(),
                content_type=SIPFRAG,
                headers=[("Event", "refer"), ("Subscription-State", state),
                         ("Contact", f"<{self.agent.contact_uri}>")])
        except (TransportError, CallError) as exc:
            logger.info("NOTIFY of %r: %s", self, exc)

    def _on_notify(self, request: Request) -> Response:
        """A NOTIFY of the REFER we sent (RFC 3515 §2.4.5)."""
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return request.reply(489)
        first = request.body.decode("utf-8", "replace").split("\r\n")[0].split("\n")[0]
        parts = first.split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return request.reply(400, "Bad sipfrag (RFC 3515 §2.4.5)")
        reason = parts[2] if len(parts) > 2 else ""
        state = (request.headers.get("Subscription-State") or "").lower()
        final = state.startswith("terminated") or status >= 200
        self._emit(ReferNotified(status, reason, final))
        if final:
            for outcome in self._refers:
                if not outcome.done():
                    outcome.set_result(ReferResult(status, reason))
        return request.reply(200)

    # -- driving the session -----------------------------------------------------------------

    def _call(self, step: Callable[[float], list[DialogAction]]) -> list[DialogAction]:
        """Run one input of the session at the loop's time (SessionError -> CallError)."""
        try:
            return step(self._loop.time())
        except SessionError as exc:
            raise CallError(str(exc)) from None

    def _perform(self, actions: list[DialogAction], *,
                 answering: tuple[ClientTransactionHandle, Response] | None = None) -> None:
        """Do what the session asks, in order; then re-arm its timer.

        ``answering`` is the INVITE transaction and the response the actions
        answer (its 2xx is acknowledged through the endpoint, which sends the
        same ACK again to each retransmission of that 2xx, §13.2.2.4).
        """
        self._sent = []
        for action in actions:
            if isinstance(action, SendRequest):
                self._send_request(action.request)
            elif isinstance(action, SendAck):
                self._send_ack(action.request, answering)
            elif isinstance(action, SendResponse):
                self._send_response(action.response)
            elif isinstance(action, SessionRinging | Progress | EarlyMedia):
                if self.state is CallState.CALLING:
                    self.state = CallState.EARLY
                self._emit(Ringing(action.response.status, action.response.reason))
            elif isinstance(action, SessionAnswered):
                self.state = CallState.CONFIRMED
                self._emit(Answered(self.media))
            elif isinstance(action, AckReceived):
                if self.direction == "incoming" and not self._acked.done() and \
                        action.request.cseq.seq == self.invite.cseq.seq:
                    self._acked.set_result(None)
                    self._emit(Answered(self.media))
            elif isinstance(action, Modified):
                self._modified_done(action.response)
            elif isinstance(action, ModifyFailed):
                if action.retry_at is None:
                    self._modify_outcome(action.response)
            elif isinstance(action, RequestReceived):
                self._send_response(self._application_request(action.request))
            elif isinstance(action, SessionEnded):
                self._session_ended(action.reason, action.message)
        self._rearm()

    def _send_request(self, request: Request) -> None:
        endpoint = self.agent.endpoint
        if request.method == "CANCEL":
            return  # the INVITE's handle sends it (``_cancel``), where the INVITE went
        if request.method == "INVITE" and request is self.session.invite:
            self._invite_handle = endpoint.send(request)
            return
        handle = endpoint.send(request)
        self._sent.append(handle)
        self.agent._spawn(self._responses(handle))

    async def _responses(self, handle: ClientTransactionHandle) -> None:
        """Every response of a request the session sent, back to it; when the
        endpoint answered a challenge with the request again (§22.2, CSeq one
        up), the session follows that retry first."""
        sent = handle.request
        async for response in handle:
            if handle.request is not sent and \
                    response.cseq.seq == handle.request.cseq.seq > sent.cseq.seq:
                self.session.request_retried(sent, handle.request)
                sent = handle.request
            if self.session.terminated and response.cseq.method != "INVITE":
                continue
            self._perform(self._response(response))

    def _response(self, response: Response) -> list[DialogAction]:
        return self._call(lambda now: self.session.receive_response(response, now))

    def _send_ack(self, ack: Request,
                  answering: tuple[ClientTransactionHandle, Response] | None) -> None:
        endpoint = self.agent.endpoint
        if answering is not None:
            handle, response = answering
            self.agent._spawn(endpoint.ack(handle.request, response, request=ack))
        else:
            self.agent._spawn(endpoint.send_direct(ack))

    def _send_response(self, response: Response) -> None:
        """To the server transaction of the request it answers; a 2xx to an
        INVITE is passed on by the endpoint until its ACK (§13.3.1.4), so the
        session's own retransmissions of it are dropped here."""
        key = (response.cseq.seq, response.cseq.method)
        tx = self._servers.get(key)
        if tx is None and self._tx is not None and key == (self.invite.cseq.seq, "INVITE"):
            tx = self._tx
        if tx is None or tx.final_response is not None:
            return
        tx.respond_nowait(response)
        if response.cseq.method != "INVITE" or response.status < 200:
            return
        if tx is self._tx:
            _resolve(self._decided)
            if response.status < 300:
                self.state = CallState.CONFIRMED
        if response.status < 300:
            self.agent._spawn(self._ack_of(tx))

    async def _ack_of(self, tx: ServerTransactionHandle) -> None:
        """The ACK of our 2xx, which the endpoint keeps, to the session."""
        ack = await tx.wait_ack()
        if ack is not None and not self.session.terminated:
            self._perform(self._call(lambda now: self.session.receive_request(ack, now)))

    def _modified_done(self, response: Response) -> None:
        holding, held = self.offer_answer.hold, self.held
        if holding != self._reported_hold:
            self._reported_hold = holding
            self._emit(Held("local", self.media) if holding else Resumed("local", self.media))
        if held != self._reported_held:
            self._reported_held = held
            self._emit(Held("remote", self.media) if held else Resumed("remote", self.media))
        if response.cseq.method in ("INVITE", "UPDATE") and response.status < 300 and \
                response.to.tag == (self.dialog.id.remote_tag if self.dialog else None):
            self._modify_outcome(response)  # a response to our own re-INVITE or UPDATE

    def _modify_outcome(self, response: Response) -> None:
        future = self._modified
        if future is not None and not future.done():
            future.set_result(response)
        self._modified = None

    def _session_ended(self, reason: str, message: Request | Response | None) -> None:
        if reason == "BYE sent":
            self._finish(Ended(self._ending, "local"))
            return
        known = _ENDINGS.get(reason)
        if known is not None:
            self._finish(Ended(known[0], known[1]))
            return
        if reason == "CANCEL":
            if self.direction == "incoming":
                self._finish(Ended("cancelled", "remote", 487))
            else:
                self._finish(Ended(self._cancel_reason(), "local", 487))
            return
        status = int(reason) if reason.isdigit() else None
        if self.direction == "incoming" and self.state is not CallState.CONFIRMED and \
                isinstance(message, Response):
            _resolve(self._decided)
            self._finish(Ended("rejected", "local", status))
        elif self.direction == "outgoing" and self.state is not CallState.CONFIRMED:
            return  # the INVITE failed: ``_place`` follows or raises
        else:
            self._finish(Ended("failed", "remote", status))

    # -- timers ----------------------------------------------------------------------------

    def _rearm(self) -> None:
        deadline = self.session.next_deadline()
        timer = self._timer
        if deadline is None:
            if timer is not None:
                timer.cancel()
                self._timer = None
            return
        if timer is not None:
            if deadline >= self._timer_when:
                return
            timer.cancel()
        self._timer_when = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = max(self._loop.time(), self._timer_when)
        self._perform(self.session.handle_timer(now))

    # -- bookkeeping -------------------------------------------------------------------------

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.dialog is not None:
            self.dialog.terminate(ended.reason)
        for outcome in self._refers:
            if not outcome.done():
                outcome.set_result(ReferResult(ended.status or 487, "Call Ended"))
        modified = self._modified
        if modified is not None and not modified.done():
            modified.set_exception(CallFailed(ended.status or 481, f"call ended: {ended.reason}"))
            modified.exception()  # retrieved: reinvite() may not be waiting
        self._modified = None
        _resolve(self._decided)
        self.agent._forget(self)
        if not self.ended.done():
            self.ended.set_result(ended)
        self._emit(ended)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
