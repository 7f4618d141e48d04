"""The response context of a stateful proxy (RFC 3261 §16.6, §16.7, §16.8,
§16.10): one server transaction, its branches, and what to do as responses
and timers arrive.

Sans-I/O like the transactions it sits on: every method takes ``now`` where
time matters and returns actions, small frozen values the driver performs in
order.  Branches are named by keys of the driver's choosing (the client
transaction itself, or its branch parameter).

A driver, in outline::

    ctx = ResponseContext(server_tx.request, targets, timer_c=config.timer_c)
    perform(ctx.start(now))

    def perform(actions):
        for action in actions:
            match action:
                case TryTarget(target, branch):
                    fwd = forward(preprocessed, target, config, branch)
                    tx = layer.create_client(fwd.request, reliable=...)
                    ctx.add_branch(tx, fwd.request, now, target)
                    send via fwd.next_hop; perform_tx(tx.start(now))
                case ForwardResponse(response):
                    perform_tx(server_tx.send(response, now))
                case CancelBranch(key, cancel):
                    a new client transaction for ``cancel``, sent where ``key``'s went
                case AbandonBranch(key):
                    forget the client transaction ``key``

    # a response Delivered by client transaction tx:  perform(ctx.on_response(tx, r, now))
    # Timeout / TransportFailure with a response r:   perform(ctx.on_response(tx, r, now))
    # a CANCEL matching server_tx (§16.10):           answer it 200; perform(ctx.cancel())
    # timers:                                         ctx.next_deadline(), ctx.handle_timer(now)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from .._frozen import quick_init
from ..message.message import Request, Response, kept_bytes
from ..message.parser import parse
from ..transaction.client import build_cancel
from .branch import branch_for
from .config import TIMER_C_MIN
from .targets import Target, TargetSet

__all__ = [
    "AbandonBranch",
    "CancelBranch",
    "ContextAction",
    "ForwardResponse",
    "ResponseContext",
    "TryTarget",
    "best_response",
    "final_response",
]

BranchKey = Hashable

#: §16.7 step 6: "give preference to responses that provide information
#: affecting resubmission of this request, such as 401, 407, 415, 420, and
#: 484"; then any other 4xx; then those that say least about the callee.
_PREFERENCE_4XX = {401: 0, 407: 0, 415: 1, 420: 2, 484: 3, 480: 5, 404: 6, 487: 7, 430: 8,
                   408: 9}
#: a 503 is only forwarded when nothing else is there, and then as 500
_PREFERENCE_5XX = {500: 1, 503: 2}


@quick_init
@dataclass(frozen=True, slots=True)
class ForwardResponse:
    """Send ``response`` upstream on the server transaction (§16.7 step 9):
    a provisional, a 2xx, or the best final response."""

    response: Response


@quick_init
@dataclass(frozen=True, slots=True)
class CancelBranch:
    """Send ``request``, a CANCEL for branch ``key`` (§9.1), in a new client
    transaction to the address, port and transport ``key``'s request went to."""

    key: BranchKey
    request: Request


@quick_init
@dataclass(frozen=True, slots=True)
class TryTarget:
    """Forward the request to ``target`` with Via branch ``branch`` and call
    ``add_branch`` for it: the next group of a sequential fork, or another
    flow of a UA instance after a 430 (RFC 5626 §7)."""

    target: Target
    branch: str


@quick_init
@dataclass(frozen=True, slots=True)
class AbandonBranch:
    """The proxy gave up on branch ``key`` (Timer C, §16.8): it counts as a
    408 now; the driver may drop its client transaction."""

    key: BranchKey
    reason: str


ContextAction = ForwardResponse | CancelBranch | TryTarget | AbandonBranch


@dataclass(slots=True)
class _Branch:
    key: BranchKey
    #: the forwarded request; None once the context is compacted (``wire`` has it)
    kept: Request | None
    target: Target | None
    #: a provisional response (100 included) came: it may be cancelled (§9.1)
    proceeding: bool = False
    #: a final response came, or the proxy gave up on it
    done: bool = False
    #: a CANCEL was sent for it
    cancelled: bool = False
    #: cancel it as soon as a provisional response comes (§9.1)
    cancel_wanted: bool = False
    #: the group of a sequential fork it belongs to
    group: int = 0
    timer_c: float | None = None
    wire: bytes = b""

    @property
    def request(self) -> Request:
        request = self.kept
        if request is None:
            request = self.kept = _reparse(self.wire)
        return request


@dataclass(slots=True)
class _State:
    responses: list[Response] = field(default_factory=list)
    final_sent: bool = False
    #: §16.7 step 5: no new branches after a 6xx, a final response or a CANCEL
    closed: bool = False
    cancelled_upstream: bool = False
    #: TryTarget actions given out whose add_branch has not come yet
    awaiting: int = 0
    next_index: int = 0
    group: int = -1
    group_deadline: float | None = None


class ResponseContext:
    """The "response context" of §16.6: one proxied request and its branches.

    ``request`` is the request as the server transaction received it (its
    Vias are what the responses go back through, and its branches are
    computed from it).  ``targets``, when given, is tried group by group
    through ``TryTarget`` actions, starting with ``start(now)``; without it
    the driver adds branches itself.  ``timer_c`` applies to INVITE branches
    (§16.6 step 11), ``cancel_grace`` to a branch cancelled by Timer C that
    does not answer, ``group_timeout`` to each group of a sequential fork.
    """

    def __init__(
        self,
        request: Request,
        targets: TargetSet | None = None,
        *,
        timer_c: float = 185.0,
        cancel_grace: float = 32.0,
        group_timeout: float | None = None,
    ) -> None:
        if timer_c <= TIMER_C_MIN:
            raise ValueError("Timer C must be larger than 3 minutes (RFC 3261 §16.6 step 11)")
        self._request: Request | None = request
        self._request_wire = b""
        self.targets = targets
        self.timer_c = timer_c
        self.cancel_grace = cancel_grace
        self.group_timeout = group_timeout
        self.invite = request.method == "INVITE"
        self._branches: dict[BranchKey, _Branch] = {}
        self._state = _State()

    # -- reading --------------------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The request as the server transaction received it (parsed again
        from its bytes after ``compact()``)."""
        request = self._request
        if request is None:
            request = self._request = _reparse(self._request_wire)
        return request

    @property
    def final_sent(self) -> bool:
        """A final response went upstream (a 2xx, or the best one)."""
        return self._state.final_sent

    @property
    def finished(self) -> bool:
        """A final response went upstream and no branch is pending: the context
        may go once the client transactions are gone (§16.7 step 9)."""
        state = self._state
        if not state.final_sent or state.awaiting:
            return False
        for branch in self._branches.values():  # noqa: SIM110 (all() builds a generator)
            if not branch.done:
                return False
        return True

    @property
    def responses(self) -> list[Response]:
        """The final non-2xx responses kept so far, our Via removed (§16.7 step
        4); none after ``compact()``."""
        return list(self._state.responses)

    def compact(self) -> None:
        """Keep the requests as bytes only, parsed again if read.

        For a ``finished`` context, which waits only for the client
        transactions of its branches to end (Timer M of a 2xx, 64*T1, RFC 6026
        §8.4): it no longer reads its requests, but a busy proxy holds
        thousands of such contexts, and their parsed messages would be most
        of its memory and of its garbage collector's work.  A request is kept
        as it was received or last sent (what the transport added to the top
        Via of a received one, §18.2.1, is not kept).  The targets go too
        (``targets`` and ``branch_target`` are None afterwards): a finished
        context starts no branch.
        """
        request = self._request
        if request is not None:
            self._request_wire = kept_bytes(request)
            self._request = None
        self.targets = None  # §16.7 step 5: closed, no new branch
        for branch in self._branches.values():
            branch.target = None
            if branch.kept is not None:
                branch.wire = kept_bytes(branch.kept)
                branch.kept = None
        self._state.responses.clear()  # only the best response (§16.7 step 6) read them

    def compact_branch(self, key: BranchKey) -> None:
        """Keep branch ``key``'s forwarded request as bytes only (parsed again
        if read), as it was last sent.

        For an INVITE branch a provisional response reached: until its final
        response, a CANCEL (§9.1) or Timer C (§16.8) nothing reads that
        request, and a ringing call may last minutes."""
        branch = self._branches.get(key)
        if branch is not None and branch.kept is not None:
            branch.wire = kept_bytes(branch.kept)
            branch.kept = None

    def __contains__(self, key: object) -> bool:
        return key in self._branches

    def branch_request(self, key: BranchKey) -> Request:
        return self._branches[key].request

    def branch_target(self, key: BranchKey) -> Target | None:
        """The target branch ``key`` was forwarded to (None if not given)."""
        return self._branches[key].target

    # -- branches -------------------------------------------------------------------------

    def start(self, now: float) -> list[ContextAction]:
        """Try the first group of ``targets`` (or answer 480 for none, §16.5)."""
        if self.targets is None or not self.targets.groups:
            return self._finish()
        return self._next_group(now)

    def add_branch(self, key: BranchKey, request: Request, now: float,
                   target: Target | None = None) -> None:
        """Record a forwarded request (``request``, our Via on top) sent in the
        client transaction ``key``; for INVITE, Timer C starts (§16.6 step 11)."""
        if key in self._branches:
            raise ValueError(f"branch {key!r} is already in this context")
        state = self._state
        if state.awaiting:
            state.awaiting -= 1
        branch = _Branch(key, request, target, group=max(state.group, 0))
        if self.invite:
            branch.timer_c = now + self.timer_c
        if state.closed and self.invite:
            # a branch started after the context closed is cancelled at once (§9.1)
            branch.cancel_wanted = True
        self._branches[key] = branch

    def on_response(self, key: BranchKey, response: Response,
                    now: float, *, owned: bool = False) -> list[ContextAction]:
        """A response from branch ``key``'s client transaction (§16.7), or the
        408 or 503 it made up for a timeout or a transport error (§16.9).

        Our Via is removed from a copy of ``response`` (§16.7 step 3); with
        ``owned`` the caller hands ``response`` over (a message parsed for
        this call and read by nobody after it) and it is removed from
        ``response`` itself, which is then what goes upstream: a relayed
        response costs no copy."""
        branch = self._branches[key]
        upstream: Response = response if owned else response.copy()
        upstream.headers.pop("Via")
        if "Via" not in upstream.headers:
            # §16.7 step 3: it was meant for this element
            return []
        if branch.done:
            if self.invite and 200 <= response.status < 300:
                return [ForwardResponse(upstream)]
            return []
        if response.status < 200:
            return self._provisional(branch, upstream, now)
        branch.done = True
        branch.timer_c = None
        if response.status < 300:
            return self._success(upstream)
        return self._failure(branch, upstream, now)

    def on_timeout(self, key: BranchKey, now: float) -> list[ContextAction]:
        """Branch ``key`` timed out with no response: as if it answered 408
        (§16.6 step 7, §16.8)."""
        branch = self._branches[key]
        return self.on_response(key, branch.request.reply(408), now)

    def _provisional(self, branch: _Branch, response: Response,
                     now: float) -> list[ContextAction]:
        actions: list[ContextAction] = []
        branch.proceeding = True
        if self.invite and response.status > 100 and branch.timer_c is not None \
                and not branch.cancelled:
            branch.timer_c = now + self.timer_c  # §16.7 step 2
        if branch.cancel_wanted and not branch.cancelled:
            actions.append(self._cancel(branch))
        if response.status > 100 and not self._state.final_sent:
            actions.append(ForwardResponse(response))
        return actions

    def _success(self, response: Response) -> list[ContextAction]:
        state = self._state
        if state.final_sent and not self.invite:
            return []
        first = not state.final_sent
        state.final_sent = True
        actions: list[ContextAction] = [ForwardResponse(response)]
        if first:
            actions += self.cancel_pending()  # §16.7 step 10
        return actions

    def _failure(self, branch: _Branch, response: Response,
                 now: float) -> list[ContextAction]:
        state = self._state
        state.responses.append(response)
        actions: list[ContextAction] = []
        if state.final_sent:
            return actions
        if response.status >= 600:
            actions += self.cancel_pending()  # §16.7 step 5
        elif response.status == 430 and branch.target is not None and not state.closed:
            alternate = branch.target.next_alternate()
            if alternate is not None:
                actions.append(self._try(alternate))
        return actions + self._advance(now)

    # -- cancelling -----------------------------------------------------------------------

    def cancel_pending(self) -> list[CancelBranch]:
        """CANCEL every pending INVITE branch (§16.7 step 10, §16.10) and start
        no new ones.  A branch with no provisional response yet is cancelled
        when one comes (§9.1); non-INVITE branches are left to finish."""
        self._state.closed = True
        return self._cancel_branches(self._branches.values())

    def cancel(self) -> list[ContextAction]:
        """The upstream CANCEL matched this context (§16.10): the driver has
        answered it 200; cancel the pending branches.  With none left, the
        request is answered 487 (§9.2)."""
        state = self._state
        state.cancelled_upstream = True
        actions: list[ContextAction] = list(self.cancel_pending())
        return actions + self._advance(None)

    def _cancel_branches(self, branches: Iterable[_Branch]) -> list[CancelBranch]:
        out: list[CancelBranch] = []
        if not self.invite:
            return out
        for branch in list(branches):
            if branch.done or branch.cancelled:
                continue
            if branch.proceeding:
                out.append(self._cancel(branch))
            else:
                branch.cancel_wanted = True
        return out

    def _cancel(self, branch: _Branch) -> CancelBranch:
        branch.cancelled = True
        return CancelBranch(branch.key, build_cancel(branch.request))

    # -- timers ---------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` is next due (Timer C of a branch, or the
        group timeout of a sequential fork), or None."""
        first = self._state.group_deadline
        for branch in self._branches.values():
            timer_c = branch.timer_c
            if timer_c is not None and (first is None or timer_c < first):
                first = timer_c
        return first

    def handle_timer(self, now: float) -> list[ContextAction]:
        """Fire what is due at ``now``.

        Timer C (§16.8): a branch with a provisional response is cancelled and
        given ``cancel_grace`` to answer; one without, or cancelled and still
        silent, counts as a 408 and is abandoned.  A sequential group that
        rang ``group_timeout`` is cancelled and the next group tried.
        """
        actions: list[ContextAction] = []
        for branch in list(self._branches.values()):
            if branch.timer_c is None or branch.timer_c > now:
                continue
            if branch.proceeding and not branch.cancelled:
                branch.timer_c = now + self.cancel_grace
                actions.append(self._cancel(branch))
                continue
            branch.timer_c = None
            actions.append(AbandonBranch(branch.key, "Timer C"))
            actions += self.on_timeout(branch.key, now)
        deadline = self._state.group_deadline
        if deadline is not None and deadline <= now:
            self._state.group_deadline = None
            actions += self._group_expired(now)
        return actions

    def _group_expired(self, now: float) -> list[ContextAction]:
        state = self._state
        if state.final_sent or state.closed or not self._more_groups():
            return []
        current = [b for b in self._branches.values() if b.group == state.group]
        actions: list[ContextAction] = list(self._cancel_branches(current))
        return actions + self._next_group(now)

    # -- choosing -------------------------------------------------------------------------

    def _advance(self, now: float | None) -> list[ContextAction]:
        """Start the next group once the current one is over (§16.6: groups
        "processed serially"), or send the best response once every branch is."""
        state = self._state
        if state.final_sent or state.awaiting:
            return []
        branches = self._branches.values()
        if not state.closed and self._more_groups() and now is not None:
            if any(not b.done for b in branches if b.group == state.group):
                return []
            return self._next_group(now)
        if any(not b.done for b in branches):
            return []
        return self._finish()

    def _more_groups(self) -> bool:
        return self.targets is not None and self._state.group + 1 < len(self.targets.groups)

    def _next_group(self, now: float) -> list[ContextAction]:
        assert self.targets is not None
        state = self._state
        state.group += 1
        if self.group_timeout is not None and self._more_groups():
            state.group_deadline = now + self.group_timeout
        else:
            state.group_deadline = None
        return [self._try(target) for target in self.targets.groups[state.group]]

    def _try(self, target: Target) -> TryTarget:
        state = self._state
        state.awaiting += 1
        index = state.next_index
        state.next_index += 1
        return TryTarget(target, branch_for(self.request, index))

    def _finish(self) -> list[ContextAction]:
        state = self._state
        state.final_sent = True
        state.closed = True
        state.group_deadline = None
        if not state.responses:
            # §16.7 step 6: no final response at all is a 408; §16.5: nowhere
            # to go is a 480; a CANCEL before any branch answered, a 487
            if state.cancelled_upstream:
                status = 487
            elif self._branches:
                status = 408
            else:
                status = 480
            return [ForwardResponse(self.request.reply(status))]
        return [ForwardResponse(final_response(self.request, state.responses))]


def _reparse(wire: bytes) -> Request:
    request = parse(wire)
    assert isinstance(request, Request)
    return request


def _rank(response: Response) -> tuple[int, int]:
    status = response.status
    klass = status // 100
    if klass >= 6:
        return (0, 0)
    if klass == 4:
        return (klass, _PREFERENCE_4XX.get(status, 4))
    if klass == 5:
        return (klass, _PREFERENCE_5XX.get(status, 0))
    return (klass, 0)


def best_response(responses: Sequence[Response]) -> Response:
    """§16.7 step 6: a 6xx if any; else one of the lowest class, preferring
    those that help the UAC resubmit (401, 407, 415, 420, 484) and passing
    over those that say least (480, 404, 487, 430, 408; 503 in the 5xx);
    the earliest received among equals."""
    if not responses:
        raise ValueError("no responses to choose from")
    return min(responses, key=_rank)


def final_response(request: Request, responses: Sequence[Response]) -> Response:
    """The final response to send upstream for ``request`` from the final
    non-2xx ``responses`` of its branches (our Via already removed).

    The best one (``best_response``), with the challenges of every 401 and
    407 merged into a chosen 401 or 407 (§16.7 step 7).  A chosen 503
    becomes a 500 of our own (§16.7 step 6: a 503 would tell the UAC that
    this proxy is unavailable) that keeps the 503's Warning values, which
    say why (§20.43: a TLS handshake that failed, say), and a 430 a 480
    (RFC 5626 §7: a failed flow means nothing upstream).
    """
    best = best_response(responses)
    if best.status == 503:
        warnings = [("Warning", value) for value in best.headers.getall("Warning")]
        return request.reply(500, to_tag=best.to.tag, headers=warnings)
    if best.status == 430:
        return request.reply(480, to_tag=best.to.tag)
    if best.status not in (401, 407):
        return best
    out: Response = best.copy()
    for other in responses:
        if other is best or other.status not in (401, 407):
            continue
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            present = out.headers.getall(name)
            for value in other.headers.getall(name):
                if value not in present:
                    out.headers.add(name, value, before="Content-Length")
                    present.append(value)
    return out
