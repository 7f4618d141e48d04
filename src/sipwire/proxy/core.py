"""The proxy core's decision for a new request (RFC 3261 §16.2 steps 1 to 3).

``ProxyCore.receive`` runs validation (§16.3), route preprocessing (§16.4)
and, when no location lookup is needed, target determination (§16.5), and
says what to do next as one of five small values.  The location lookup is a
coroutine of the store, so it is the driver's: ``LookUp`` names the AOR and
``ProxyCore.resolve`` takes the bindings found.

A driver, in outline::

    match core.receive(request, received=where):
        case Respond(response):          server_tx.send(response, now)
        case Drop():                     pass                       # an ACK
        case HandleLocally(req):         registrar / OPTIONS / 404 ...
        case LookUp() as lookup:
            bindings = await store.lookup(lookup.aor, now)
            decision = core.resolve(lookup, bindings, now)    # Respond | ForwardTo
        case ForwardTo(req, targets):
            if req.method == "ACK":       # no transaction, no context (§16.12)
                fwd = forward(req, targets.first, config, branch_for(request))
                send fwd.request to fwd.next_hop
            else:
                ctx = core.context(server_tx.request, targets); perform(ctx.start(now))

Proxy-Authorization (§16.3 step 6) comes between ``receive`` and forwarding:
``DigestServer(realm, proxy=True).verify(...)``, then ``guard.consume(req)``
on the preprocessed request so our credentials do not travel on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..location.binding import Binding
from ..message.message import Request, Response
from .config import ProxyAddress, ProxyConfig
from .context import ResponseContext
from .routing import is_for_me, preprocess_route, routed_to_me
from .targets import FlowCheck, TargetSet, determine_targets, lookup_aor
from .validate import validate_request

__all__ = ["Decision", "Drop", "ForwardTo", "HandleLocally", "LookUp", "ProxyCore", "Respond"]


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the request with ``response``, as a UAS (§16.3, §16.5)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Drop:
    """Discard the request: an ACK that cannot be proxied (it gets no response)."""

    reason: str


@dataclass(frozen=True, slots=True)
class HandleLocally:
    """The request is addressed to this element itself (``is_for_me``): the
    registrar takes a REGISTER, a UAS answers the rest."""

    request: Request


@dataclass(frozen=True, slots=True)
class LookUp:
    """Look ``aor`` up in the location service, then call ``ProxyCore.resolve``.

    ``request`` is the preprocessed request; ``routed`` whether it came by a
    Route value of ours (relaying is then allowed).
    """

    request: Request
    aor: str
    routed: bool = False


@dataclass(frozen=True, slots=True)
class ForwardTo:
    """Forward ``request`` (preprocessed) to ``targets`` (§16.6)."""

    request: Request
    targets: TargetSet


Decision = Respond | Drop | HandleLocally | LookUp | ForwardTo


class ProxyCore:
    """§16.3 to §16.5 for one configuration."""

    __slots__ = ("config",)

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config

    def receive(self, request: Request, *, received: ProxyAddress | None = None) -> Decision:
        """What to do with a new request.

        ``request`` is the request as received: it is not changed, and it is
        what ``branch_for`` and ``ResponseContext`` take.  ``received`` is the
        address it came in on (for the maddr rule of §16.4).

        A CANCEL matching a response context is the driver's: it answers 200
        and calls ``ResponseContext.cancel`` (§16.10).  One that reaches
        ``receive`` matched none; §16.10 would forward it statelessly, for a
        request forwarded statelessly before, but this proxy forwards nothing
        statelessly, so nothing downstream is left to cancel: 481.
        """
        config = self.config
        response = validate_request(request, config)
        if response is not None:
            if request.method == "ACK":
                return Drop(f"{response.status} {response.reason}")
            return Respond(response)
        if request.method == "CANCEL":
            return Respond(request.reply(481))
        routed = routed_to_me(request, config)
        preprocessed = preprocess_route(request, config, received=received)
        if is_for_me(preprocessed, config):
            return HandleLocally(preprocessed)
        aor = lookup_aor(preprocessed, config)
        if aor is not None:
            return LookUp(preprocessed, aor, routed)
        return self._decide(preprocessed, determine_targets(
            preprocessed, config, relay=config.relay or routed))

    def resolve(
        self,
        lookup: LookUp,
        bindings: Sequence[Binding],
        now: float,
        *,
        known: bool = False,
        flow_alive: FlowCheck | None = None,
    ) -> Decision:
        """The decision once the location service answered ``lookup`` (§16.5)."""
        result = determine_targets(lookup.request, self.config, bindings, now=now,
                                   known=known, flow_alive=flow_alive)
        return self._decide(lookup.request, result)

    def context(self, request: Request, targets: TargetSet | None) -> ResponseContext:
        """A response context for ``request`` (as its server transaction
        received it) with this configuration's timers."""
        config = self.config
        return ResponseContext(request, targets, timer_c=config.timer_c,
                               cancel_grace=config.cancel_grace,
                               group_timeout=config.group_timeout)

    @staticmethod
    def _decide(request: Request, result: TargetSet | Response) -> Decision:
        if isinstance(result, Response):
            if request.method == "ACK":
                return Drop(f"{result.status} {result.reason}")
            return Respond(result)
        if request.method == "ACK":
            # an ACK is never forked: it goes where its INVITE's 2xx came from
            return ForwardTo(request, TargetSet.single(result.first))
        return ForwardTo(request, result)
