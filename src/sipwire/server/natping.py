"""OPTIONS keep-alives to phones behind NAT (``serve --nat``), the pings
Kamailio's nathelper sends with ``natping_interval`` and ``sipping_method``.

Every ``interval`` seconds, each binding behind a NAT (``behind_nat``) that
registered over UDP through one of our sockets gets an OPTIONS (RFC 3261
§11) sent to the source of its REGISTER.  The datagram refreshes the NAT's
mapping, so requests for the phone still get through between its
registrations; an answer, whatever its status, shows the phone is still
there.  A binding whose phone leaves ``max_missed`` pings in a row
unanswered is removed: it went away without unregistering, or its NAT
mapping changed (RFC 5626 §4.4.2), and a call for it would only time out.
A new REGISTER starts the count again.  RFC 5626 flows (``reg-id``) are the
phone's to keep alive (STUN, RFC 5626 §8) and are not pinged.

The pings are stateless: no client transaction, no retransmission (the next
round is one).  Their answers are recognised by the Via branch and taken
before the engine sees them (``intercept``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..location.binding import Binding
from ..location.store import LocationStore, StoreError
from ..message.errors import ParseError
from ..message.message import Request, Response
from ..message.uri import URI
from ..proxy.targets import behind_nat
from ..transport.base import Flow, Target, Transport, TransportError
from ..transport.layer import MessageHandler, TransportLayer
from .logs import log

__all__ = ["NatPinger"]

#: the binding and the REGISTER that wrote it: a new REGISTER is a new count
_Key = tuple[str, str, float]


def _key(binding: Binding) -> _Key:
    return binding.aor, binding.key, binding.updated_at


class NatPinger:
    """Sends the pings of one round at a time and keeps the count of misses.

    ``ping_round()`` does one round; ``run()`` does one every ``interval``
    seconds until cancelled.  ``intercept(handler)`` wraps the transport's
    message handler so that answers to pings stop here.
    """

    def __init__(self, store: LocationStore, transport: TransportLayer, *, interval: float,
                 max_missed: int = 3, sender: str = "sip:nat-ping@localhost",
                 clock: Callable[[], float]) -> None:
        if interval <= 0 or max_missed < 1:
            raise ValueError("a NAT ping interval over 0 and at least one miss are needed")
        self.store = store
        self.transport = transport
        self.interval = interval
        self.max_missed = max_missed
        self.sender = sender
        self.clock = clock
        #: pings of the last round not answered yet: Via branch -> binding
        self._pending: dict[str, _Key] = {}
        #: rounds in a row a binding left unanswered
        self._missed: dict[_Key, int] = {}

    # -- the rounds ---------------------------------------------------------------------

    async def run(self) -> None:
        """A round every ``interval`` seconds until cancelled; a failed round is
        logged (in one line when the location store is unavailable) and the
        next one tried."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.ping_round()
            except StoreError as exc:
                log.warning("NAT keep-alive round failed: %s", exc)
            except Exception:
                log.exception("NAT keep-alive round failed")

    async def ping_round(self) -> None:
        """Count the last round's unanswered pings, remove the bindings that
        missed too many, and ping the others."""
        for key in self._pending.values():
            self._missed[key] = self._missed.get(key, 0) + 1
        self._pending.clear()
        now = self.clock()
        ours = {str(p.address) for p in self.transport.listening_points
                if p.transport is Transport.UDP}
        missed: dict[_Key, int] = {}
        for aor in await self.store.aors(now):
            for binding in await self.store.lookup(aor, now):
                if not self._pinged(binding, ours):
                    continue
                key = _key(binding)
                count = self._missed.get(key, 0)
                if count >= self.max_missed:
                    await self._drop(binding, count, now)
                    continue
                missed[key] = count
                self._ping(binding)
        self._missed = missed  # forgets the bindings gone meanwhile

    @staticmethod
    def _pinged(binding: Binding, ours: set[str]) -> bool:
        """A UDP binding behind a NAT that registered through one of our sockets
        (another node of a shared store pings its own) and not as an RFC 5626 flow."""
        source = binding.source
        return (source is not None and source.transport.upper() == "UDP"
                and binding.reg_id is None and not binding.path
                and source.local in ours and behind_nat(binding, source))

    def _ping(self, binding: Binding) -> None:
        source = binding.source
        assert source is not None
        try:
            uri = binding.uri
        except ParseError:  # a store written by something other than the registrar
            return
        request = Request.build("OPTIONS", uri, from_=f"<{self.sender}>",
                                to=URI.parse(binding.aor))
        branch = request.top_via.branch
        assert branch is not None
        target = Target(Transport.UDP, source.host, source.port)
        try:
            sent = self.transport.send_request_nowait(request, target)
        except TransportError as exc:
            log.debug("NAT keep-alive to %s: %s", target, exc)
            sent = None
        if sent is not None:
            self._pending[branch] = _key(binding)

    async def _drop(self, binding: Binding, count: int, now: float) -> None:
        def without(current: list[Binding]) -> list[Binding]:
            # not if a REGISTER wrote the binding again meanwhile
            return [b for b in current if _key(b) != _key(binding)]

        await self.store.update(binding.aor, without, now)
        log.info("removed the binding %s of %s: %d NAT keep-alive OPTIONS unanswered",
                 binding.contact, binding.aor, count)

    # -- the answers --------------------------------------------------------------------

    def answered(self, response: Response) -> bool:
        """True for the answer to a ping of the last round (taken here)."""
        key = self._pending.pop(response.top_via.branch or "", None)
        if key is None:
            return False
        self._missed.pop(key, None)
        return True

    def intercept(self, handler: MessageHandler) -> MessageHandler:
        """``handler`` with the answers to pings taken out."""
        pending = self._pending

        def on_message(message: Request | Response, flow: Flow) -> None:
            if pending and type(message) is Response and self.answered(message):
                return
            handler(message, flow)

        return on_message
