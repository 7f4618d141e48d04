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

from .._frozen import quick_init
from ..location.binding import Binding
from ..message.message import Request, Response
from ..routing.token import Verified
from .config import ProxyAddress, ProxyConfig
from .context import ResponseContext
from .routing import is_for_me, is_strict, leading_own, preprocess, route_tokens
from .targets import FlowCheck, Target, TargetSet, determine_targets, lookup_aor
from .validate import validate_request

__all__ = ["Decision", "Drop", "ForwardTo", "HandleLocally", "LookUp", "ProxyCore", "Respond"]


@quick_init
@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the request with ``response``, as a UAS (§16.3, §16.5)."""

    response: Response


@quick_init
@dataclass(frozen=True, slots=True)
class Drop:
    """Discard the request: an ACK that cannot be proxied (it gets no response)."""

    reason: str


@quick_init
@dataclass(frozen=True, slots=True)
class HandleLocally:
    """The request is addressed to this element itself (``is_for_me``): the
    registrar takes a REGISTER, a UAS answers the rest."""

    request: Request


@quick_init
@dataclass(frozen=True, slots=True)
class LookUp:
    """Look ``aor`` up in the location service, then call ``ProxyCore.resolve``.

    ``request`` is the preprocessed request; ``routed`` whether it came by a
    Route value of ours (relaying is then allowed).
    """

    request: Request
    aor: str
    routed: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class ForwardTo:
    """Forward ``request`` (preprocessed) to ``targets`` (§16.6).

    ``routed``: it came by a Route value of ours with a valid token (a
    dialog this proxy record-routed), so it is relayed whatever the policy
    and never challenged.  ``relay``: it goes to no user of ours and the
    configuration does not relay, so only an authenticated user of ours may
    send it (the driver asks its auth policy; with no policy, 403).
    """

    request: Request
    targets: TargetSet
    routed: bool = False
    relay: bool = False


Decision = Respond | Drop | HandleLocally | LookUp | ForwardTo


class ProxyCore:
    """§16.3 to §16.5 for one configuration."""

    __slots__ = ("config",)

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config

    def receive(self, request: Request, *, received: ProxyAddress | None = None,
                owned: bool = False) -> Decision:
        """What to do with a new request: the one place that decides which way
        a request goes.

        ``request`` is the request as received: it is not changed, and it is
        what ``branch_for`` and ``ResponseContext`` take.  ``received`` is the
        address it came in on (for the maddr rule of §16.4).  ``owned=True``
        lets §16.4 change ``request`` itself instead of a copy: for a caller
        that keeps nothing of it as received (a stateless ACK whose branch it
        took first).

        1. §16.3 validation; a CANCEL reaching here matched no transaction:
           481 (the driver answers the ones that match, §16.10).
        2. §16.4 preprocessing removes our Route values.  The token in them
           (``RouteToken``) says whether this is a dialog we record-routed
           ("routed"), from which side, and over which flow the other side
           is reached (RFC 5626 §5.3).
        3. Routed (in a dialog, or an ACK, with a valid token): §16.12, with
           its Request-URI and Route left as they are, to the hop of the other
           side that the token pins; never retargeted, never challenged.
        4. Anything else is treated as out of a dialog (a To tag without a
           valid token proves nothing): a Request-URI naming the proxy is
           handled locally; one of a user of a served domain (no port or
           ours) is looked up; anything else is relayed, which only a
           relaying configuration or an authenticated user may.  An ACK that
           is not routed is looked up like other requests for a user of
           ours, and goes nowhere else unless relaying is on.
        """
        config = self.config
        response = validate_request(request, config)
        if response is not None:
            if request.method == "ACK":
                return Drop(f"{response.status} {response.reason}")
            return Respond(response)
        if request.method == "CANCEL":
            return Respond(request.reply(481))
        ack = request.method == "ACK"
        # what §16.4 and the token check both need, found once
        routes = request.route
        strict = is_strict(request, config, routes) if routes else False
        own = leading_own(config, routes) if routes else 0
        # only a request within a dialog (a To tag), or an ACK, can be routed
        verified = self._verified(request, route_tokens(request, strict, routes, own)) \
            if ack or request.to.tag is not None else None
        preprocessed = preprocess(request, config, received, strict, routes, own,
                                  copy=not owned)
        if verified is not None and verified.next_flow is not None:
            # to the other side's hop, the only place it may go (the URI is
            # not copied: forward() copies a target's URI into the request)
            target = Target(preprocessed.uri, flow=verified.next_flow)
            return ForwardTo(preprocessed, TargetSet.single(target), routed=True)
        if "Route" in preprocessed.headers:  # any Route value, without reading it
            return self._relay(preprocessed)
        if is_for_me(preprocessed, config):
            if ack:
                return Drop("an ACK for this proxy itself")
            return HandleLocally(preprocessed)
        aor = lookup_aor(preprocessed, config)
        if aor is not None:
            # an ACK for a 2xx sent to an AOR of ours (SIPp's built-in uac
            # ignores Record-Route) is looked up like any request for it
            # (§16.5), and goes to one target: it is never forked
            return LookUp(preprocessed, aor)
        return self._relay(preprocessed)

    def _verified(self, request: Request, tokens: list[str]) -> Verified | None:
        """The first valid token among our Route values (§16.4), if any."""
        if not tokens:
            return None
        from_ = request.from_
        to = request.to
        check = self.config.token.verify
        for token in tokens:
            verified = check(token, request.call_id, from_.tag, to.tag)
            if verified is not None:
                return verified
        return None

    def _relay(self, request: Request) -> Decision:
        """To the top Route or the Request-URI, for no user of ours (§16.6)."""
        relay = not self.config.relay
        if request.method == "ACK" and relay:
            return Drop("an ACK that is not routed here is not relayed")
        return ForwardTo(request, TargetSet.single(Target(request.uri)), relay=relay)

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
                                   known=known, flow_alive=flow_alive, aor=lookup.aor)
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
