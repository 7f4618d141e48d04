"""The event-driven core of ``sipwire serve``: transactions, registrar and proxy
driven by what the transport receives and by one timer.

Every message the ``TransportLayer`` receives goes to
``TransactionLayer.receive(message, now)`` (RFC 3261 §17); the actions that
come back are performed here: ``Send`` over the flow of the transaction
(§18.2.2 for responses; for a client transaction, where its request went),
``Deliver`` to the registrar (§10.3) or the proxy core (§16), the 408 and 503
of ``Timeout`` and ``TransportFailure`` to the response context of the branch
(§16.7, §16.9).  One ``loop.call_at`` is kept at the earliest deadline of the
transaction layer and of the response contexts (Timer C, §16.8).

A new request is handled in this order:

- a request from a banned address: dropped, unanswered (``AuthPolicy.banned``);
- ``ACK`` without a transaction (for a 2xx, §13.2.2.4): forwarded statelessly
  as ``ProxyCore`` decides (§16.12.1.1); anything else gets a server
  transaction;
- ``REGISTER`` for this registrar (no Route, and a served domain, one of our
  addresses, or relaying off): the ``Registrar`` answers (§10.3), with digest
  authentication (401, §22.2) when it is on;
- ``CANCEL``: 200 and the pending branches cancelled (§16.10), or 481;
- a new request outside a dialog while the server is overloaded: 503 with
  Retry-After at once (``server.overload``, §21.5.4);
- anything else: ``ProxyCore`` validates and preprocesses (§16.3, §16.4) and
  says what to do; requests to the server itself (``OPTIONS sip:host``) are
  answered here (§11); requests to be forwarded are authenticated (407,
  §22.3), an INVITE is answered 100 Trying at once (§16.2 "MUST ... 100"), the
  Request-URI is looked up in the location store (§16.5: 404 when nobody is
  registered), and a ``ResponseContext`` forwards to every target (§16.6),
  in parallel or by q, and chooses the response to send back (§16.7).
  Requests within a dialog this proxy record-routed (a valid token in its
  Route value, ``routing.token``) go to the hop the token pins, with no
  lookup and no challenge (§16.12); anything else that is not for a user of
  ours is relaying, for an authenticated user or a relaying configuration.

Work that may wait (the store, a TCP connection) runs in a task.  With the
memory store, whose coroutines never wait, registrations and lookups are
stepped at once instead (``eager``), sparing a task per request; other
stores' clients need a current task (``asyncio.timeout``), so they get one.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..dns.failover import TargetList, is_failure, retry_after
from ..dns.procedure import address_families
from ..location.binding import Source
from ..location.memory_store import MemoryStore
from ..location.store import LocationStore, StoreError
from ..message.errors import ParseError
from ..message.fields.via import Via
from ..message.message import Request, Response, kept_bytes, new_branch
from ..message.uri import URI
from ..proxy.branch import branch_for, loop_part
from ..proxy.config import ProxyAddress
from ..proxy.context import (
    CancelBranch,
    ContextAction,
    ForwardResponse,
    ResponseContext,
    TryTarget,
)
from ..proxy.core import Decision, ForwardTo, HandleLocally, LookUp, ProxyCore, Respond
from ..proxy.forward import Forwarded, forward
from ..proxy.routing import NextHop
from ..proxy.targets import Target, TargetSet
from ..proxy.validate import answer_options, reject
from ..registrar.registrar import Registrar
from ..transaction.actions import (
    Action,
    Deliver,
    Retransmit,
    Send,
    Terminated,
    Timeout,
    TransportFailure,
)
from ..transaction.base import Transaction
from ..transaction.client import ClientTransaction
from ..transaction.layer import TransactionLayer
from ..transaction.server import InviteServerTransaction, ServerTransaction
from ..transaction.table import State
from ..transport.base import Flow, Transport, TransportError, is_ip, normalize_ip
from ..transport.base import Target as Destination
from ..transport.layer import TransportLayer
from . import eager
from .logs import Tracer, log, log_transaction, message_fields
from .overload import LagProbe, OverloadControl
from .policy import AuthPolicy

if TYPE_CHECKING:
    from ..dns.procedure import DnsTarget
    from ..dns.resolver import DnsResolver

__all__ = ["Engine", "Incoming", "Proxied"]

# enum members read per message, as module constants: in Python 3.11 the enum
# metaclass's __getattr__ makes every ``State.X`` lookup cost a call
_UDP = Transport.UDP
_ACCEPTED = State.ACCEPTED
_COMPLETED = State.COMPLETED
_PROCEEDING = State.PROCEEDING


class Incoming:
    """A request a server transaction holds: where it came from, when, and what
    became of it."""

    __slots__ = ("final", "flow", "proxied", "started")

    def __init__(self, flow: Flow, started: float) -> None:
        self.flow = flow
        self.started = started
        self.proxied: Proxied | None = None
        #: a final response was sent (so a CANCEL or a late lookup does nothing)
        self.final = False


class Proxied:
    """One proxied request (§16.6): its server transaction, its response
    context, the preprocessed request each branch copies (None once the
    context is finished: no branch is added then; the forwarded request
    itself when its one branch took it, ``_forwarded_once``), and how many
    client transactions of its branches live."""

    __slots__ = ("clients", "context", "deadline", "done", "inbound", "owned", "request",
                 "server", "server_gone")

    def __init__(self, server: ServerTransaction, context: ResponseContext,
                 request: Request, inbound: Source | None = None) -> None:
        self.server = server
        self.context = context
        self.request: Request | None = request
        #: ``request`` is a copy of the received one (§16.4 changed it)
        self.owned = request is not server.request and request is not context.request
        #: the flow the request came on (its interface and, where needed, the
        #: flow token of Record-Route, RFC 5658, RFC 5626 §5.3)
        self.inbound = inbound
        self.clients = 0
        self.deadline: float | None = None
        self.server_gone = False
        self.done = False


class _DnsBranch:
    """A branch whose next hop is a name: its RFC 3263 targets, the target
    of the context it stands for, and its first forwarding (§16.6)."""

    __slots__ = ("attempts", "fwd", "target")

    def __init__(self, attempts: TargetList, target: Target, fwd: Forwarded) -> None:
        self.attempts = attempts
        self.target = target
        self.fwd = fwd


T = TypeVar("T")


class _PerFlow(Generic[T]):
    """A value made once per Flow object and kept for the next requests on it
    (a UDP listener hands over one Flow per peer; a connection has its own).
    Keyed by identity, which is cheaper than a Flow's hash; bounded."""

    __slots__ = ("_make", "_values")

    def __init__(self, make: Callable[[Flow], T]) -> None:
        self._make = make
        self._values: dict[int, tuple[Flow, T]] = {}

    def __call__(self, flow: Flow) -> T:
        cached = self._values.get(id(flow))
        if cached is not None and cached[0] is flow:
            return cached[1]
        value = self._make(flow)
        if len(self._values) >= 4096:  # peers come and go: start again
            self._values.clear()
        self._values[id(flow)] = (flow, value)  # holding the flow keeps its id unique
        return value


def _source_of(flow: Flow) -> Source:
    return Source(flow.transport.value, flow.remote.host, flow.remote.port, str(flow.local))


def _answered_on(flow: Flow) -> Incoming:
    incoming = Incoming(flow, 0.0)
    incoming.final = True
    return incoming


class Engine:
    """Drives one transaction layer, registrar and proxy core from one transport.

    ``clock`` is the POSIX clock of the location store and of nonces
    (``time.time``; tests drive their own); transactions and Timer C run on
    the event loop's clock.  ``resolver`` sends a branch whose next hop is a
    name where RFC 3263 says, failing over to the next target on a 503, a
    transport failure or Timer B/F with nothing heard (§4.3); a registered
    flow or an IP address never asks it.
    """

    def __init__(
        self,
        *,
        transport: TransportLayer,
        transactions: TransactionLayer,
        core: ProxyCore,
        registrar: Registrar,
        store: LocationStore,
        policy: AuthPolicy,
        clock: Callable[[], float],
        tracer: Tracer | None = None,
        resolver: DnsResolver | None = None,
        overload: OverloadControl | None = None,
    ) -> None:
        self.transport = transport
        #: refuses new out-of-dialog requests with 503 while overloaded
        #: (``server.overload``); None: every request is handled
        self.overload = overload
        self.resolver = resolver
        #: the RFC 3263 targets of each branch sent to a name (§4.3 failover)
        self._dns_branches: dict[ClientTransaction, _DnsBranch] = {}
        self.transactions = transactions
        self.core = core
        self.proxy_config = core.config
        self.registrar = registrar
        self.store = store
        #: the store never waits: its requests need no task
        self.eager = isinstance(store, MemoryStore)
        self.policy = policy
        self.clock = clock
        self.tracer = tracer
        #: new requests outside a dialog are refused (503) while stopping
        self.draining = False
        #: messages resent by a transaction's timer (A, E, G; ``/metrics``)
        self.retransmissions = 0
        self._loop = asyncio.get_running_loop()
        self._incoming: dict[ServerTransaction, Incoming] = {}
        self._client_flows: dict[ClientTransaction, Flow] = {}
        self._owner: dict[ClientTransaction, Proxied] = {}
        self._contexts: set[Proxied] = set()
        self._deadlines: list[tuple[float, int, Proxied]] = []
        self._counter = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._closed = False
        #: on_message is performing actions (it re-arms the timer when done)
        self._handling = False
        #: where a REGISTER came from, as the registrar stores it
        self._source = _PerFlow(_source_of)
        #: the Incoming that every answered request from a flow shares while it
        #: only waits for retransmissions (final, not proxied)
        self._answered = _PerFlow(_answered_on)
        #: the listening address a flow arrived on, as the proxy names it
        self._interface = _PerFlow(_interface)
        #: measures the loop's lag for ``overload`` when it watches lag
        self._lag_probe: LagProbe | None = None
        if overload is not None and (overload.limits.max_lag or overload.limits.max_queue):
            self._lag_probe = LagProbe(overload, loop=self._loop,
                                       queue=transport.receive_queue_fill)
            self._lag_probe.start()

    # -- what is under way ----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Proxied requests without a final response, or work in progress."""
        return bool(self._tasks) or any(not p.context.final_sent for p in self._contexts)

    # -- the transport's entry point --------------------------------------------------------

    def on_message(self, message: Request | Response, flow: Flow) -> None:
        """Every message the transport layer received (§18.1.2, §18.2.1)."""
        if self._closed:
            return
        if self.tracer is not None:
            self.tracer.received(message, flow)
        if type(message) is Request and self.policy.banned(flow.remote.host):
            return  # a banned address: no work, no answer (server/policy.py)
        now = self._loop.time()
        if type(message) is Request:
            # Flow.reliable, without its two properties
            actions = self.transactions.receive(message, now,
                                                reliable=flow.transport is not _UDP)
        else:
            actions = self.transactions.receive(message, now)
        self._handling = True  # respond() leaves the timer to us
        try:
            self._perform(actions, flow)
        finally:
            self._handling = False
        self._rearm()

    def _perform(self, actions: list[Action], flow: Flow | None = None) -> None:
        for action in actions:
            kind = type(action)
            if kind is Send:
                assert isinstance(action, Send)
                self._send(action.message, action.transaction)
            elif kind is Deliver:
                assert isinstance(action, Deliver)
                message = action.message
                if type(message) is Request:
                    self._new_request(message, action.transaction, flow)
                else:
                    assert isinstance(message, Response)
                    self._branch_response(action.transaction, message)
            elif kind is Retransmit:
                assert isinstance(action, Retransmit)
                self._retransmit(action.data, action.destination or flow)
            elif kind is Terminated:
                self._forget(action.transaction)
            elif kind is Timeout or kind is TransportFailure:
                assert isinstance(action, Timeout | TransportFailure)
                if action.response is not None:  # 408 / 503 of a branch (§16.7 step 1)
                    self._branch_response(action.transaction, action.response, synthetic=True)
                else:
                    log.debug("%s in %r", type(action).__name__, action.transaction)

    # -- new requests ---------------------------------------------------------------------

    def _new_request(self, request: Request, tx: Transaction | None, flow: Flow | None) -> None:
        if request.method == "ACK":
            self._forward_ack(request, flow)
            return
        assert isinstance(tx, ServerTransaction) and flow is not None
        incoming = Incoming(flow, self._loop.time())
        self._incoming[tx] = incoming
        try:
            self._dispatch(request, tx, flow, incoming)
        except ParseError as exc:
            # a header the parser let through (only the hot ones are checked
            # strictly) is broken: answer as §8.2 / §16.3 step 1 would
            if not incoming.final:
                self.respond(tx, request.reply(exc.status_code))

    def _dispatch(self, request: Request, tx: ServerTransaction, flow: Flow,
                  incoming: Incoming) -> None:
        method = request.method
        if method == "CANCEL":
            self._cancel(request, tx)
        elif self.draining and request.to.tag is None:
            # stopping: no new dialogs or registrations; ask to come back (§21.5.4)
            self.respond(tx, request.reply(503, headers=[("Retry-After", "5")]))
        elif self.overload is not None and request.to.tag is None \
                and not self.overload.admit(len(self._tasks)):
            # overloaded: new work is refused before any of it is done
            # (§21.5.4); retransmissions, ACK, CANCEL and in-dialog requests
            # never get here or pass (server/overload.py)
            self.respond(tx, request.reply(503, headers=[self.overload.retry_after_header]))
        elif method == "REGISTER" and self._for_registrar(request):
            self._run_store(self._register(request, tx, flow))
        else:
            self._proxy(request, tx, incoming)

    def _for_registrar(self, request: Request) -> bool:
        """A REGISTER the registrar answers rather than a proxy forwards: no
        Route, and the Request-URI names this server or a served domain (no
        port, or ours), or relaying is off (§10.3 step 1: the registrar then
        answers 404 for a domain it does not serve)."""
        if "Route" in request.headers:  # any Route value, without reading it
            return False
        config = self.proxy_config
        if not config.relay:
            return True
        uri = request.uri
        return config.is_own_uri(uri) or config.is_local_uri(uri)

    async def _register(self, request: Request, tx: ServerTransaction, flow: Flow) -> None:
        source = self._source(flow)
        try:
            response = await self.registrar.handle(request, self.clock(), source)
        except Exception:
            log.exception("the registrar failed on %r", request,
                          extra={"sip": message_fields(request, flow)})
            response = request.reply(500)
        self.respond(tx, response)

    def _cancel(self, cancel: Request, tx: ServerTransaction) -> None:
        """§16.10: 200 to a CANCEL that matches a transaction, then CANCEL every
        pending branch (or 487 to an INVITE not yet forwarded); else 481."""
        invite = self.transactions.find_cancelled(cancel)
        if invite is None:
            self.respond(tx, cancel.reply(481))
            return
        self.respond(tx, cancel.reply(200))
        incoming = self._incoming.get(invite)
        if incoming is None or invite.method != "INVITE":
            return  # §9.2: a CANCEL has no effect on a non-INVITE request
        proxied = incoming.proxied
        if proxied is not None:
            self._context_actions(proxied, proxied.context.cancel(), self._loop.time())
            self._settle(proxied)
        elif not incoming.final:
            self.respond(invite, invite.request.reply(487))

    def _proxy(self, request: Request, tx: ServerTransaction, incoming: Incoming) -> None:
        flow = incoming.flow
        decision = self.core.receive(request, received=self._interface(flow))
        kind = type(decision)
        if kind is Respond:
            assert isinstance(decision, Respond)
            self.respond(tx, decision.response)
            return
        if kind is HandleLocally:
            assert isinstance(decision, HandleLocally)
            self._local(decision.request, tx)
            return
        if not isinstance(decision, LookUp | ForwardTo):
            return  # Drop: only for ACK
        preprocessed = decision.request
        if preprocessed is request and self.policy.users is not None:
            # the policy removes our credentials from it (§22.3): not from the
            # request the server transaction holds
            preprocessed = request.copy()
        lookup = isinstance(decision, LookUp)
        if isinstance(decision, ForwardTo) and decision.relay and self.policy.users is None:
            # no user can prove who it is: nobody relays (§16.5 local policy)
            self.respond(tx, self.policy.refuse(request, "relaying is not allowed here"))
            return
        refusal = self.policy.check_proxied(request, preprocessed, local_target=lookup,
                                            routed=decision.routed)
        if refusal is not None:
            self.respond(tx, refusal)
            return
        if request.method == "INVITE":
            self.respond(tx, request.reply(100))  # §16.2: Trying, at once
        if isinstance(decision, ForwardTo):
            self._start_context(tx, incoming, preprocessed, decision.targets)
        else:
            if preprocessed is not decision.request:
                decision = LookUp(preprocessed, decision.aor, decision.routed)
            # the policy let it through: a sender it challenged is a user of ours
            user = self.policy.authenticates(request, routed=decision.routed)
            self._run_store(self._lookup(decision, tx, incoming, user))

    async def _lookup(self, lookup: LookUp, tx: ServerTransaction, incoming: Incoming,
                      user: bool = False) -> None:
        """§16.5: the targets of an AOR of ours, from the location service.

        Only a ``user`` of ours (authenticated) learns that the AOR is a user
        without a binding (480): to anyone else it is 404 like an AOR nobody
        has, or a stranger could tell our users from other names (svwar).  A
        location service that is down is 503 with Retry-After (§21.5.4),
        logged once per outage."""
        now = self.clock()
        outage = self.registrar.outage
        decision: Decision
        try:
            bindings = await self.store.lookup(lookup.aor, now)
            if outage.since is not None:
                outage.succeeded()
            known = user and not bindings and self.policy.knows(lookup.aor)
            decision = self.core.resolve(lookup, bindings, now, known=known)
        except StoreError as exc:
            outage.failed(exc)
            response = reject(lookup.request, self.proxy_config, 503,
                              "the location service is unavailable")
            response.headers.add(*outage.retry_after_header, before="Content-Length")
            decision = Respond(response)
        except Exception:
            log.exception("location lookup of %s failed", lookup.aor)
            decision = Respond(lookup.request.reply(500))
        if incoming.final:
            return  # cancelled meanwhile: answered 487
        if isinstance(decision, ForwardTo):
            self._start_context(tx, incoming, decision.request, decision.targets)
        elif isinstance(decision, Respond):
            self.respond(tx, decision.response)

    def _local(self, request: Request, tx: ServerTransaction) -> None:
        """A request addressed to the server itself (no user part)."""
        method = request.method
        if method == "OPTIONS":
            self.respond(tx, answer_options(tx.request, self.proxy_config))  # §11.2
        elif method == "REGISTER":
            self._run_store(self._register(tx.request, tx, self._incoming[tx].flow))
        else:
            self.respond(tx, reject(tx.request, self.proxy_config, 404,
                                    "no user at this address"))

    # -- ACK for a 2xx: no transaction (§16.12.1.1) -------------------------------------------

    def _forward_ack(self, ack: Request, flow: Flow | None) -> None:
        """§16.12: an ACK routed here by a dialog we record-routed goes on to
        the hop its token pins; one sent to a user of ours is looked up and
        goes to one binding (§16.5); any other is dropped (it gets no answer)."""
        # the branch is of the ACK as received (its Route is in the loop
        # hash, §16.6 step 8): taken first, so that §16.4 and forward() then
        # change the ACK itself, which nothing else keeps (no transaction)
        branch = branch_for(ack)
        decision = self.core.receive(ack, received=self._interface(flow) if flow else None,
                                     owned=True)
        if isinstance(decision, LookUp):
            self._run_store(self._lookup_ack(decision, branch))
            return
        self._ack_decided(ack, decision, branch)

    async def _lookup_ack(self, lookup: LookUp, branch: str) -> None:
        """An ACK sent to an AOR of ours: to its one target (§16.5, §16.12)."""
        now = self.clock()
        try:
            bindings = await self.store.lookup(lookup.aor, now)
        except StoreError as exc:
            self.registrar.outage.failed(exc)  # an ACK gets no answer
            return
        except Exception:
            log.exception("location lookup of %s failed", lookup.aor)
            return
        self._ack_decided(lookup.request, self.core.resolve(lookup, bindings, now), branch)

    def _ack_decided(self, ack: Request, decision: Decision, branch: str) -> None:
        if not isinstance(decision, ForwardTo):
            log.debug("dropping %r (%s)", ack, getattr(decision, "reason", type(decision).__name__))
            return
        request = decision.request
        target = self._live(decision.targets.first, request)
        try:
            # forwarded once, in place: the ACK is this server's alone
            fwd = forward(request, target, self.proxy_config, branch, copy=False)
        except ValueError as exc:
            log.debug("dropping %r: %s", ack, exc)
            return
        self._send_stateless(fwd.request, fwd.next_hop,
                             _dns_uri(fwd) if self.resolver is not None else None)

    def _live(self, target: Target, request: Request) -> Target:
        """``target`` without its flow when that flow is a connection that has
        closed and the request's next Route or Request-URI names the same
        host (a phone that listens at its Contact, RFC 5626 §5.3 lets a proxy
        fall back): anywhere else, the flow stays and the send fails, so that
        a pinned hop (``routing.token``) never turns into another address."""
        flow = target.flow
        if flow is None or flow.transport.upper() == "UDP" or self.transport.has_connection(
                flow.transport, flow.host, flow.port):
            return target
        routes = request.route
        uri = routes[0].uri if routes else request.uri
        if uri.is_sip and normalize_ip(uri.maddr or uri.host) == normalize_ip(flow.host):
            return Target(request.uri.copy(), target.q, target.path)
        return target

    # -- response contexts (§16.6 - §16.10) ----------------------------------------------------

    def _start_context(self, tx: ServerTransaction, incoming: Incoming, request: Request,
                       targets: TargetSet) -> None:
        proxied = Proxied(tx, self.core.context(tx.request, targets), request,
                          self._source(incoming.flow))
        incoming.proxied = proxied
        self._contexts.add(proxied)
        now = self._loop.time()
        self._context_actions(proxied, proxied.context.start(now), now)
        self._settle(proxied)

    def _context_actions(self, proxied: Proxied, actions: list[ContextAction],
                         now: float) -> None:
        for action in actions:
            kind = type(action)
            if kind is TryTarget:
                assert isinstance(action, TryTarget)
                self._branch(proxied, action.target, action.branch, now)
            elif kind is ForwardResponse:
                assert isinstance(action, ForwardResponse)
                self._upstream(proxied, action.response)
            elif kind is CancelBranch:
                assert isinstance(action, CancelBranch)
                self._cancel_branch(action.key, action.request, now)
            # AbandonBranch: its client transaction ends by its own timers

    def _branch(self, proxied: Proxied, target: Target, branch: str, now: float) -> None:
        """§16.6: forward a copy to ``target`` in a new client transaction."""
        preprocessed = proxied.request
        assert preprocessed is not None  # a finished context adds no branch
        target = self._live(target, preprocessed)
        fwd = forward(preprocessed, target, self.proxy_config, branch, inbound=proxied.inbound,
                      copy=not _forwarded_once(proxied, preprocessed, target))
        request = fwd.request
        if self.resolver is not None:
            uri = _dns_uri(fwd)
            if uri is not None:
                self._run(self._branch_resolved(proxied, target, fwd, uri))
                return
        tx: ClientTransaction | None = None

        def failed(exc: TransportError) -> None:
            # the held datagram could not go (udp_coalesce_sends): as if the
            # send had raised, once the transaction exists (§16.9: a 503)
            if tx is not None:
                self._send_failed(tx, exc)

        # a hop that is not a flow the peer opened (RFC 5626 §5.3) answers to
        # the Via: from this worker's own port when it has one (server.workers)
        private = fwd.next_hop.flow is None
        try:
            destination = _destination(fwd.next_hop)
            flow = self.transport.send_request_nowait(request, destination, failed,
                                                      private=private)
        except TransportError as exc:
            self._branch_failed(proxied, request, target, exc, now)
            return
        if flow is None:
            self._run(self._branch_later(proxied, request, target, destination, private))
            return
        tx = self._client(proxied, request, target, reliable=False, now=now)
        self._client_flows[tx] = flow
        if self.tracer is not None:
            self.tracer.sent(request, flow)

    async def _branch_later(self, proxied: Proxied, request: Request, target: Target,
                            destination: Destination, private: bool) -> None:
        """A branch over a connection, or to a name: the transport waits."""
        now = self._loop.time()
        try:
            transport = await self.transport.choose_transport(request, destination,
                                                              private=private)
        except TransportError as exc:
            self._branch_failed(proxied, request, target, exc, now)
            return
        tx = self._client(proxied, request, target, reliable=transport.reliable, now=now)
        try:
            flow = await self.transport.send_request(request, destination, private=private)
        except TransportError as exc:
            now = self._loop.time()
            actions = tx.transport_error(now)  # 503, §16.9
            failure = next((a for a in actions if type(a) is TransportFailure), None)
            if exc.nothing_sent and failure is not None and self._owner.get(tx) is proxied:
                # it never left (no connection, a failed TLS handshake): the 503
                # says why, as for a branch that fails before its transaction
                actions.remove(failure)
                self._branch_failed(proxied, request, target, exc, now, key=tx)
            else:
                log.info("cannot forward %r to %s: %s", request, destination, exc,
                         extra={"sip": message_fields(request)})
            self._perform(actions)
            self._rearm()
            return
        if tx in self._owner:
            self._client_flows[tx] = flow
        if self.tracer is not None:
            self.tracer.sent(request, flow)

    def _client(self, proxied: Proxied, request: Request, target: Target, *,
                reliable: bool, now: float) -> ClientTransaction:
        tx = self.transactions.create_client(request, reliable=reliable)
        self._owner[tx] = proxied
        proxied.clients += 1
        proxied.context.add_branch(tx, request, now, target)
        tx.start(now)  # its first Send is the one we made
        return tx

    def _branch_failed(self, proxied: Proxied, request: Request, target: Target,
                       error: Exception, now: float, key: object | None = None) -> None:
        """A branch that could not even be sent counts as a 503 (§16.7 step 1,
        §16.9) with a 399 Warning saying why (§20.43); ``key`` is its client
        transaction if it has one."""
        log.info("cannot forward %r: %s", request, error,
                 extra={"sip": message_fields(request)})
        context = proxied.context
        if key is None:
            key = object()
            context.add_branch(key, request, now, target)
        reason = error.reason if isinstance(error, TransportError) else str(error)
        response = reject(request, self.proxy_config, 503, reason)
        self._context_actions(proxied, context.on_response(key, response, now), now)
        self._settle(proxied)

    def _branch_response(self, tx: Transaction | None, response: Response, *,
                         synthetic: bool = False) -> None:
        """A response (or 408 / 503) of a branch's client transaction (§16.7)."""
        proxied = self._owner.get(tx) if isinstance(tx, ClientTransaction) else None
        if proxied is None:
            return  # the response to a CANCEL of ours
        now = self._loop.time()
        assert isinstance(tx, ClientTransaction)
        if self._dns_branches and self._fail_over(proxied, tx, response, synthetic):
            return
        # a response from the wire is this call's own: our Via comes off it in
        # place (§16.7 step 3) and it goes upstream as it is, without a copy
        self._context_actions(
            proxied, proxied.context.on_response(tx, response, now, owned=not synthetic), now)
        state = tx.state
        if state is _ACCEPTED or state is _COMPLETED:
            # a final response: the transaction only absorbs retransmissions of
            # it (Timers D and K, §17.1.1.2, §17.1.2.2) or passes on those of a
            # 2xx (Timer M, RFC 6026 §8.4); its request is kept as bytes
            tx.compact()
        elif state is _PROCEEDING and proxied.context.invite:
            # ringing: no Timer A in Proceeding (§17.1.1.2); only a final
            # response, a CANCEL or Timer C reads the forwarded INVITE again
            tx.compact()
            proxied.context.compact_branch(tx)
        self._settle(proxied)

    # -- RFC 3263: branches to a name ---------------------------------------------------------

    async def _branch_resolved(self, proxied: Proxied, target: Target, fwd: Forwarded,
                               uri: URI) -> None:
        """The RFC 3263 targets of the branch's next hop, then the first."""
        assert self.resolver is not None
        try:
            targets = await self.resolver.resolve(
                uri, families=address_families(self.transport.listening_points))
        except ValueError as exc:
            self._branch_failed(proxied, fwd.request, target, exc, self._loop.time())
            return
        if not targets:
            error = TransportError(f"no server for {uri.host} in the DNS (RFC 3263)",
                                   target=uri, nothing_sent=True)
            self._branch_failed(proxied, fwd.request, target, error, self._loop.time())
            return
        await self._dns_attempt(proxied, _DnsBranch(TargetList(targets), target, fwd),
                                fwd.request.top_via.branch or new_branch())

    def _attempt_request(self, proxied: Proxied, dns: _DnsBranch, destination: DnsTarget,
                         branch: str) -> Request:
        """The branch's request for ``destination``, forwarded again with that
        address as the target's flow: Via and Record-Route then name the
        interface it leaves on, and the Record-Route token pins the server
        found, so that the dialog's requests go there and not to a new lookup.
        Under strict routing (the next hop is the Request-URI), or once the
        context let its request go, the first forwarding with ``branch``."""
        fwd = dns.fwd
        request = proxied.request
        if request is not None and not fwd.strict_routed:
            flow = Source(destination.transport.value, destination.host,
                          destination.effective_port)
            return forward(request, replace(dns.target, flow=flow), self.proxy_config,
                           branch, inbound=proxied.inbound).request
        out: Request = fwd.request.copy()
        via = out.top_via
        out.headers.pop("Via")
        out.headers.add("Via", Via(via.transport, via.host, via.port, branch=branch), top=True)
        return out

    async def _dns_attempt(self, proxied: Proxied, dns: _DnsBranch, branch: str,
                           failed: ClientTransaction | None = None,
                           failure: Response | None = None) -> None:
        """Send the branch to the current target in a client transaction of its
        own; the context hears of the ``failure`` of the ``failed`` attempt only
        once this one is a branch (so it does not finish in between)."""
        attempts = dns.attempts
        while True:
            destination = attempts.current
            now = self._loop.time()
            request = self._attempt_request(proxied, dns, destination, branch)
            try:
                transport = await self.transport.choose_transport(request, destination,
                                                                  private=True)
                break
            except TransportError as exc:
                log.info("cannot forward %r to %s: %s", request, destination, exc)
                if attempts.advance() is None:
                    if failed is not None and failure is not None:
                        self._branch_response(failed, failure)
                    else:
                        self._branch_failed(proxied, request, dns.target, exc, now)
                    return
        tx = self._client(proxied, request, dns.target, reliable=transport.reliable, now=now)
        self._dns_branches[tx] = dns
        if failed is not None and failure is not None:
            self._context_actions(proxied, proxied.context.on_response(failed, failure, now),
                                  now)
            self._settle(proxied)
        try:
            flow = await self.transport.send_request(request, destination, private=True)
        except TransportError as exc:
            log.info("cannot forward %r to %s: %s", request, destination, exc)
            self._attempt_failed(proxied, tx, request, exc)
            return
        if tx in self._owner:
            self._client_flows[tx] = flow
        if self.tracer is not None:
            self.tracer.sent(request, flow)

    def _attempt_failed(self, proxied: Proxied, tx: ClientTransaction, request: Request,
                        error: TransportError) -> None:
        """The attempt's request could not be sent: its 503 (§16.9; with a
        Warning saying why when nothing left, as ``_branch_failed`` writes)
        goes through failover before the transaction ends."""
        actions = tx.transport_error(self._loop.time())
        failure = next((a for a in actions if type(a) is TransportFailure), None)
        if failure is not None and self._owner.get(tx) is proxied:
            actions.remove(failure)
            response = reject(request, self.proxy_config, 503, error.reason) \
                if error.nothing_sent or failure.response is None else failure.response
            self._branch_response(tx, response, synthetic=True)
        self._perform(actions)
        self._rearm()

    def _fail_over(self, proxied: Proxied, tx: ClientTransaction, response: Response,
                   synthetic: bool) -> bool:
        """RFC 3263 §4.3: a failed attempt of a branch goes to the next target,
        with a new branch; True when it went (the context hears of the failure
        when the next attempt is a branch)."""
        dns = self._dns_branches.get(tx)
        if dns is None:
            return False
        attempts = dns.attempts
        if response.status < 200:
            attempts.heard = True
            return False
        del self._dns_branches[tx]
        context = proxied.context
        if not is_failure(response, synthetic=synthetic, heard=attempts.heard) or \
                context.finished or proxied.request is None or tx not in context:
            return False
        assert self.resolver is not None
        failed = attempts.current
        self.resolver.failed(failed, retry_after=None if synthetic else retry_after(response))
        following = attempts.advance()
        if following is None:
            return False
        log.info("%s %s from %s: forwarding to %s (RFC 3263 §4.3)", response.status,
                 response.reason, failed, following)
        # a new transaction, so a new branch; the loop-detection hash stays (§16.6 step 8)
        loop = loop_part(tx.branch)
        branch = f"{new_branch()}.{loop}" if loop is not None else new_branch()
        self._run(self._dns_attempt(proxied, dns, branch, tx, response))
        return True

    def _upstream(self, proxied: Proxied, response: Response) -> None:
        if not proxied.server_gone:
            self.respond(proxied.server, response)
            return
        # a late 2xx after the server transaction ended: statelessly, by its Via (§16.7 step 9)
        self._run(self._respond_stateless(response))

    def _cancel_branch(self, key: object, cancel: Request, now: float) -> None:
        """§16.10 / §9.1: a CANCEL in a client transaction of its own, where the
        branch's INVITE went."""
        if not isinstance(key, ClientTransaction):
            return  # a branch that never left
        flow = self._client_flows.get(key)
        if flow is None:
            return
        tx = self.transactions.create_client(cancel, reliable=key.reliable)
        self._client_flows[tx] = flow
        self._perform(tx.start(now))

    def _settle(self, proxied: Proxied) -> None:
        """Forget a finished context; keep its Timer C in the timer heap."""
        if proxied.done:
            return
        context = proxied.context
        if context.finished:
            if proxied.clients == 0:
                proxied.done = True
                proxied.deadline = None
                self._contexts.discard(proxied)
                return
            if proxied.request is not None:
                # up to 64*T1 of waiting for the client transactions to end:
                # keep bytes, not parsed requests
                proxied.request = None
                context.compact()
        if context.invite:
            deadline = context.next_deadline()
            if deadline != proxied.deadline:
                proxied.deadline = deadline
                if deadline is not None:
                    heapq.heappush(self._deadlines, (deadline, next(self._counter), proxied))

    # -- answering -----------------------------------------------------------------------

    def respond(self, tx: ServerTransaction, response: Response) -> None:
        """Send ``response`` in ``tx``; a final one is logged (one line per transaction)."""
        now = self._loop.time()
        if response.status >= 200:
            incoming = self._incoming.get(tx)
            if incoming is not None and not incoming.final:
                incoming.final = True
                if log.isEnabledFor(logging.INFO):
                    log_transaction(tx.request, response, now - incoming.started,
                                    incoming.flow)
        self._perform(tx.send(response, now))
        if not self._handling:
            self._rearm()

    # -- sending -------------------------------------------------------------------------

    def _send(self, message: Request | Response, tx: Transaction | None) -> None:
        if isinstance(tx, ServerTransaction):
            assert isinstance(message, Response)
            incoming = self._incoming.get(tx)
            flow = incoming.flow if incoming is not None else None
            try:
                # the error callback only serves a datagram held for later
                # (``udp_coalesce_sends``); sent at once, a failure raises
                sent = self.transport.send_response_nowait(
                    message, flow, functools.partial(self._send_failed, tx)
                    if self.transport.config.udp_coalesce_sends else None)
            except TransportError as exc:
                self._send_failed(tx, exc)
                return
            if sent is None:
                self._run(self._send_response(tx, message, flow))
                return
            if self.tracer is not None:
                self.tracer.sent(message, sent)
            if tx.settled and (not tx.reliable or isinstance(tx, InviteServerTransaction)):
                # 64*T1 of answering retransmissions ahead (Timer J over UDP,
                # §17.2.2; Timer L over any transport, RFC 6026 §8.7): keep
                # bytes, not objects; a non-INVITE one becomes a table entry of
                # the layer, its bytes and flow
                if self.transactions.retire(tx, kept_bytes(message),
                                            None if sent is flow else sent):
                    self._incoming.pop(tx, None)
                    proxied = incoming.proxied if incoming is not None else None
                    if proxied is not None:
                        # its final response is sent, and a non-INVITE request has
                        # no other (§16.7 step 9): the context waits only for its
                        # client transactions (Timer K), as if the server
                        # transaction had ended
                        proxied.server_gone = True
                        tx.compact()  # the context still names it
                        self._settle(proxied)
                    return
                tx.compact()
                if incoming is not None and flow is not None and incoming.proxied is None:
                    # all it still needs is the flow: share one record per flow
                    self._incoming[tx] = self._answered(flow)
            elif message.status < 200:
                # a 1xx (of a ringing call: minutes) kept only for retransmissions
                # of the request (§17.2.1): its bytes, not the object
                tx.compact_response()
            return
        if not isinstance(tx, ClientTransaction):
            return
        flow = self._client_flows.get(tx)
        if flow is None:
            return  # its first copy is still on the way
        try:
            sent_now = self.transport.send_on_nowait(
                flow, message, functools.partial(self._send_failed, tx))
        except TransportError as exc:
            self._send_failed(tx, exc)
            return
        if not sent_now:
            self._run(self._send_on(tx, flow, message))
        elif self.tracer is not None:
            self.tracer.sent(message, flow)

    def _retransmit(self, data: bytes, flow: object) -> None:
        """§17.2.2: a retransmitted request, answered from a retired transaction
        (over the flow its response went, or the one the request came on)."""
        assert isinstance(flow, Flow)
        try:
            self.transport.send_on_nowait(flow, data, self._retransmit_failed)
        except TransportError as exc:
            self._retransmit_failed(exc)
            return
        if self.tracer is not None:
            self.tracer.sent(data, flow)

    def _retransmit_failed(self, error: TransportError) -> None:
        # §17.2.4 (RFC 6026 §8.8): the TU is told; of a retired transaction
        # there is nothing left to tell but the log
        log.info("cannot resend a final response: %s", error)

    async def _send_response(self, tx: ServerTransaction, response: Response,
                             flow: Flow | None) -> None:
        try:
            sent = await self.transport.send_response(response, flow)
        except TransportError as exc:
            self._send_failed(tx, exc)
            return
        if self.tracer is not None:
            self.tracer.sent(response, sent)

    async def _send_on(self, tx: Transaction, flow: Flow, message: Request | Response) -> None:
        try:
            sent = await self.transport.send_on(flow, message)
        except TransportError as exc:
            self._send_failed(tx, exc)
            return
        if self.tracer is not None:
            self.tracer.sent(message, sent)

    async def _respond_stateless(self, response: Response) -> None:
        try:
            sent = await self.transport.send_response(response)
        except TransportError as exc:
            log.info("cannot send %r: %s", response, exc,
                     extra={"sip": message_fields(response)})
            return
        if self.tracer is not None:
            self.tracer.sent(response, sent)

    def _send_stateless(self, request: Request, hop: NextHop, uri: URI | None = None) -> None:
        if uri is not None:
            self._run(self._send_resolved(request, uri))
            return
        try:
            destination = _destination(hop)
            flow = self.transport.send_request_nowait(request, destination)
        except TransportError as exc:
            log.info("cannot forward %r: %s", request, exc,
                     extra={"sip": message_fields(request)})
            return
        if flow is None:
            self._run(self._send_request_later(request, destination))
        elif self.tracer is not None:
            self.tracer.sent(request, flow)

    async def _send_resolved(self, request: Request, uri: URI) -> None:
        """An ACK for a 2xx to a name: its first RFC 3263 target (no response
        could tell of a failure)."""
        assert self.resolver is not None
        try:
            targets = await self.resolver.resolve(
                uri, families=address_families(self.transport.listening_points))
        except ValueError as exc:
            log.info("cannot forward %r: %s", request, exc)
            return
        if not targets:
            log.info("cannot forward %r: no server for %s in the DNS (RFC 3263)", request, uri)
            return
        await self._send_request_later(request, targets[0])

    async def _send_request_later(self, request: Request, destination: Destination) -> None:
        try:
            flow = await self.transport.send_request(request, destination)
        except TransportError as exc:
            log.info("cannot forward %r: %s", request, exc,
                     extra={"sip": message_fields(request)})
            return
        if self.tracer is not None:
            self.tracer.sent(request, flow)

    def _send_failed(self, tx: Transaction, error: TransportError) -> None:
        """§17.1.4, §17.2.4: the transaction hears of it (a branch then counts as 503)."""
        log.info("%r: %s", tx, error)
        if self._closed:
            return
        self._perform(tx.transport_error(self._loop.time()))
        self._rearm()

    # -- forgetting ------------------------------------------------------------------------

    def _forget(self, tx: Transaction | None) -> None:
        if isinstance(tx, ClientTransaction):
            self._client_flows.pop(tx, None)
            if self._dns_branches:
                self._dns_branches.pop(tx, None)
            proxied = self._owner.pop(tx, None)
            if proxied is not None:
                proxied.clients -= 1
                self._settle(proxied)
        elif isinstance(tx, ServerTransaction):
            incoming = self._incoming.pop(tx, None)
            if incoming is not None and incoming.proxied is not None:
                incoming.proxied.server_gone = True
                self._settle(incoming.proxied)

    # -- time ------------------------------------------------------------------------------

    def _rearm(self) -> None:
        """Keep one ``call_at`` at the earliest deadline.  A timer armed earlier
        than needed is left alone: it fires, finds nothing due and re-arms."""
        if self._closed:
            return
        deadline = self.transactions.next_deadline()
        heap = self._deadlines
        while heap:
            when, _, proxied = heap[0]
            if proxied.deadline == when and not proxied.done:
                if deadline is None or when < deadline:
                    deadline = when
                break
            heapq.heappop(heap)
        if deadline is None:
            return
        timer = self._timer
        if timer is not None:
            if deadline >= self._timer_when:
                return
            timer.cancel()
        self._timer_when = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # the loop may run a callback up to a clock tick early: it is due
        now = max(self._loop.time(), self._timer_when)
        actions = self.transactions.handle_timer(now)
        for action in actions:
            if type(action) is Send:  # a timer's only sends are retransmissions
                self.retransmissions += 1
        self._perform(actions)
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            when, _, proxied = heapq.heappop(heap)
            if proxied.deadline != when or proxied.done:
                continue
            proxied.deadline = None
            self._context_actions(proxied, proxied.context.handle_timer(now), now)
            self._settle(proxied)
        self._rearm()

    # -- tasks -----------------------------------------------------------------------------

    def _run_store(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro``, which uses the store: at once with the memory store
        (the rest in a task should it wait after all), else in a task."""
        if not self.eager:
            self._run(coro)
            return
        try:
            started = eager.start(coro)
        except Exception:
            log.exception("request handling failed")
            return
        if not started.done:
            assert started.rest is not None
            self._run(self._finish(started.rest))

    async def _finish(self, rest: eager.Rest[None]) -> None:
        await rest

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in a task; the timer is re-armed when it ends."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._rearm()
        if not task.cancelled() and task.exception() is not None:
            log.error("request handling failed", exc_info=task.exception())

    # -- stopping --------------------------------------------------------------------------

    def abandon(self) -> None:
        """The grace period is over: answer what is still pending 503 (§21.5.4)
        and CANCEL its branches."""
        now = self._loop.time()
        for proxied in list(self._contexts):
            context = proxied.context
            if context.final_sent or proxied.server_gone:
                continue
            self._context_actions(proxied, list(context.cancel_pending()), now)
            self.respond(proxied.server, proxied.server.request.reply(503))

    async def close(self) -> None:
        """Stop the timer and every task; the transport and store are the caller's."""
        self._closed = True
        if self._lag_probe is not None:
            self._lag_probe.stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _forwarded_once(proxied: Proxied, preprocessed: Request, target: Target) -> bool:
    """Whether the branch to ``target`` may be forwarded from ``preprocessed``
    itself rather than from a copy (§16.6 step 1 is there to keep the request
    for the other branches): it is a copy already (preprocessing changed it),
    the only target of its context with no alternate flow (RFC 5626 §7), and
    it goes over a flow to an IP address (what a Record-Route token pins for a
    request within a dialog), so no RFC 3263 failover forwards it again.  A
    BYE or re-INVITE is then copied once, by §16.4, not twice."""
    flow = target.flow
    if not proxied.owned or flow is None or target.alternates or target.path \
            or not is_ip(flow.host):
        return False
    targets = proxied.context.targets
    if targets is None or len(targets.groups) != 1 or len(targets.groups[0]) != 1:
        return False
    routes = preprocessed.route
    return not routes or bool(routes[0].uri.lr)  # strict routing: the hop is not the flow's


def _interface(flow: Flow) -> ProxyAddress:
    """The listening address a flow arrived on, as the proxy names it (§16.4 maddr)."""
    local = flow.local
    return ProxyAddress(flow.transport.value, local.host, local.port)


def _dns_uri(fwd: Forwarded) -> URI | None:
    """The URI whose RFC 3263 targets a forwarded request goes to, or None when
    its next hop is an IP address (a registered flow's included).

    The hop's URI as ``forward`` chose it (§16.6 step 7: the Request-URI after
    strict routing, else the top Route, else the Request-URI; SIPS when the
    Request-URI is); a hop a Record-Route token pinned by name keeps its
    transport and port, so only its addresses are looked up (§4.2)."""
    hop = fwd.next_hop
    if is_ip(hop.host):
        return None
    if hop.flow is not None:
        return URI("sip", None, hop.host, hop.port, {"transport": hop.transport.lower()})
    request = fwd.request
    routes = request.route
    uri = request.uri if fwd.strict_routed or not routes else routes[0].uri
    if request.uri.scheme == "sips" and uri.scheme != "sips":
        uri = uri.copy(scheme="sips")
    return uri


def _destination(hop: NextHop) -> Destination:
    """The transport's target for a next hop (``TransportError`` for a
    transport we cannot send over, such as SCTP)."""
    return Destination(Transport.parse(hop.transport), hop.host, hop.port)
