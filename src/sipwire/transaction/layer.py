"""The transaction layer: every transaction of one element, matched and timed.

Sans-I/O like the transactions it holds.  The transport hands it each parsed
message with ``receive(message, now)``; the TU creates client transactions
with ``create_client`` and answers server transactions through the
``transaction`` of the ``Deliver`` it got; the driver sleeps until
``next_deadline()`` and then calls ``handle_timer(now)``.  Every call returns
``Action`` values whose ``transaction`` says which transaction they are for.
Terminated transactions are forgotten the moment they terminate (§17.1.1.2).

A driver, in outline (``dest`` maps a client transaction to where its TU sent
the request; a server transaction answers over the connection its request came
in on, or per §18.2.2)::

    tx = layer.create_client(request, reliable=False)
    dest[tx] = address
    perform(tx.start(loop.time()))

    def perform(actions):
        for action in actions:
            match action:
                case Send(message, transaction=tx):
                    transport.send(bytes(message), dest[tx])
                case Deliver(message, transaction=tx):
                    core.on_message(message, tx)   # tx.send(response, now) to answer
                case Timeout(response=r) | TransportFailure(response=r) if r:
                    core.on_message(r, action.transaction)   # 408 / 503, §8.1.3.1
                case Terminated(transaction=tx):
                    dest.pop(tx, None)

    # on every datagram:   perform(layer.receive(sipwire.parse(data), loop.time()))
    # after every call:    loop.call_at(layer.next_deadline(), ...handle_timer(now))

Completed non-INVITE server transactions over an unreliable transport (UDP)
wait 64*T1 for Timer J, only to answer retransmissions of their request with
their final response (§17.2.2): a busy registrar holds tens of thousands.  A
driver that has sent that response may ``retire(tx, data, destination)`` it:
the layer then forgets the transaction object and keeps one table entry, the
request's §17.2.3 match as one byte string -> the response's bytes and where
they went, dropped when Timer J would have fired (the entries expire in the
order they came: Timer J is one constant).  A retransmission that matches comes
back as ``Retransmit(data, destination)``, with no transaction and no parse.
Timer J deadlines less than ``J_RESOLUTION`` (10 ms) apart share one, the
latest: a completed transaction may end up to 10 ms late, never early.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

from ..message.message import Message, Request, Response
from .actions import Action, Deliver, LoopDetected, Retransmit, Stray
from .base import Transaction
from .client import ClientTransaction, InviteClientTransaction, NonInviteClientTransaction
from .config import TimerConfig
from .matching import (
    BranchKey,
    ClientKey,
    MergeKey,
    Rfc2543Key,
    branch_key,
    branch_key_of,
    completed_key,
    merge_key,
    response_key,
    rfc2543_key,
    rfc2543_matches,
    to_tag,
)
from .server import InviteServerTransaction, NonInviteServerTransaction, ServerTransaction
from .table import State

__all__ = ["J_RESOLUTION", "UNRELIABLE_TRANSPORTS", "TransactionLayer"]

#: Via transports with no delivery guarantee: retransmissions and wait timers apply
#: (TCP, TLS, SCTP, WS and WSS are reliable, §18 and RFC 7118)
UNRELIABLE_TRANSPORTS = frozenset({"UDP"})

#: Timer J deadlines closer than this (seconds) share one float, the latest:
#: a busy registrar completes several transactions per millisecond
J_RESOLUTION = 0.01
#: at most this many entries share one deadline (their count stays a cached small int)
_J_BUCKET = 256

K = TypeVar("K")

# Members read on every message, bound once: the enum metaclass of Python
# 3.11 has a __getattr__, which makes each ``State.TERMINATED`` a slow lookup.
_TERMINATED = State.TERMINATED
_COMPLETED = State.COMPLETED


class TransactionLayer:
    """Owns client and server transactions; matches messages to them (§17.1.3, §17.2.3).

    ``detect_merged_requests`` turns on the UAS check of §8.2.2.2 (a proxy
    turns it off: merged requests are a UAS matter).
    """

    __slots__ = ("_by_2543", "_by_branch", "_by_branch_more", "_clients", "_completed",
                 "_counter", "_heap", "_j_at", "_j_count", "_j_keys", "_j_opened", "_merge",
                 "_merge_keys", "_on_change", "_pushed", "_servers", "_waiting_j", "config",
                 "detect_merged_requests")

    def __init__(self, config: TimerConfig | None = None, *,
                 detect_merged_requests: bool = True) -> None:
        self.config = config if config is not None else TimerConfig()
        self.detect_merged_requests = detect_merged_requests
        self._clients: dict[ClientKey, ClientTransaction] = {}
        #: the index key of each server transaction: its branch key, or its
        #: RFC 2543 key when its branch has no magic cookie
        self._servers: dict[ServerTransaction, BranchKey | Rfc2543Key] = {}
        #: its merge key, when merged requests are detected
        self._merge_keys: dict[ServerTransaction, MergeKey] = {}
        #: the server transaction of each branch key, and the others sharing it
        #: (a CANCEL shares its INVITE's): one dict entry per transaction, no list
        self._by_branch: dict[BranchKey, ServerTransaction] = {}
        self._by_branch_more: dict[BranchKey, list[ServerTransaction]] = {}
        self._by_2543: dict[Rfc2543Key, list[ServerTransaction]] = {}
        self._merge: dict[MergeKey, list[ServerTransaction]] = {}
        # (deadline, tie-breaker, transaction); stale entries are dropped when seen
        self._heap: list[tuple[float, int, Transaction]] = []
        self._pushed: dict[Transaction, float] = {}
        self._counter = itertools.count()
        #: Timer J over an unreliable transport, in its own queue rather than the
        #: heap (one constant interval: deadlines come in order): the
        #: ``completed_key`` of each completed non-INVITE server transaction
        #: with a branch key; and the deadlines, each with how many of those
        #: keys share it (``J_RESOLUTION``)
        self._j_keys: deque[bytes] = deque()
        self._j_at: deque[float] = deque()
        self._j_count: deque[int] = deque()
        #: the first deadline of the last of them
        self._j_opened = 0.0
        #: those of them still held as objects, by ``completed_key``
        self._waiting_j: dict[bytes, ServerTransaction] = {}
        #: those ``retire``-d: the bytes of the final response, with where they
        #: went unless that is where the request came from (None)
        self._completed: dict[bytes, bytes | tuple[bytes, object]] = {}
        #: every transaction's observer: one bound method, not one per transaction
        self._on_change = self._changed

    # -- client side ------------------------------------------------------------------------

    def create_client(self, request: Request, *, reliable: bool) -> ClientTransaction:
        """A new client transaction for ``request``, owned by this layer, not yet started.

        Record where it sends (the TU's choice, §8.1.2), then call ``start(now)``.
        Raises ValueError for ACK (no transaction, §17.1) or a branch and method
        already in use.
        """
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = InviteClientTransaction(request, reliable=reliable, config=self.config)
        else:
            tx = NonInviteClientTransaction(request, reliable=reliable, config=self.config)
        key = tx._key  # §17.1.3's (branch, method), which the transaction took when made
        if key in self._clients:
            raise ValueError(f"a client transaction for {key} already exists")
        self._clients[key] = tx
        tx._observer = self._on_change
        return tx

    def find_client(self, response: Response) -> ClientTransaction | None:
        """The client transaction ``response`` belongs to (§17.1.3)."""
        key = response_key(response)
        return self._clients.get(key) if key is not None else None

    # -- server side ------------------------------------------------------------------------

    def find_server(self, request: Request) -> ServerTransaction | None:
        """The server transaction ``request`` belongs to (§17.2.3), ACK included
        (None for a retired one: see ``retire``)."""
        return self._find_server(request, branch_key(request))

    def _find_server(self, request: Request,
                     key: BranchKey | None) -> ServerTransaction | None:
        if key is not None:
            method = "INVITE" if request.method == "ACK" else request.method
            tx = self._by_branch.get(key)
            if tx is None or tx.method == method:
                return tx
            for tx in self._by_branch_more.get(key, ()):
                if tx.method == method:
                    return tx
            return None
        for tx in self._by_2543.get(rfc2543_key(request), ()):
            if rfc2543_matches(tx.request, tx.last_response, request):
                return tx
        return None

    def _branch_candidates(self, key: BranchKey) -> list[ServerTransaction]:
        first = self._by_branch.get(key)
        if first is None:
            return []
        return [first, *self._by_branch_more.get(key, ())]

    def find_cancelled(self, cancel: Request) -> ServerTransaction | None:
        """The transaction a CANCEL cancels (§9.2): the one it would match if its
        method were anything but CANCEL or ACK.  None: answer the CANCEL 481."""
        key = branch_key(cancel)
        if key is not None:
            candidates = self._branch_candidates(key)
        else:
            candidates = [tx for tx in self._by_2543.get(rfc2543_key(cancel), ())
                          if to_tag(tx.request) == to_tag(cancel)]
        for tx in candidates:
            if tx.method not in ("CANCEL", "ACK"):
                return tx
        return None

    def send_response(self, response: Response, now: float) -> list[Action]:
        """Pass a response of the TU to the server transaction it answers.

        Found by the response's top Via and CSeq; with a transaction at hand,
        ``transaction.send(response, now)`` is the same.  A response whose
        transaction is gone is discarded (RFC 6026 §8.3): returns ``[]``.
        """
        tx = self._server_for_response(response)
        return tx.send(response, now) if tx is not None else []

    def retire(self, tx: ServerTransaction, data: bytes, destination: object = None) -> bool:
        """Keep a completed non-INVITE server transaction as a table entry.

        For a transaction in Completed over an unreliable transport, whose
        request had a branch with the magic cookie: ``data`` is the final
        response as the transport sent it, ``destination`` where it went (the
        driver's flow, given back untouched), or None when it went back where
        the request came from (RFC 3581 §4, the usual case: nothing is kept
        for it, and the driver answers each retransmission where it came
        from).  Until Timer J (64*T1 after the response, §17.2.2) a
        retransmission of the request is answered ``Retransmit(data,
        destination)``; then the entry is dropped, with no action (there is
        no transaction left to terminate).  The layer
        forgets ``tx``: it is no longer counted, iterated or found, and a
        later response of the TU to the same request matches nothing (§17.2.2:
        discarded).  Returns False, changing nothing, for any other
        transaction: a reliable one (Timer J is zero), an INVITE one, one with
        an RFC 2543 request, one not in Completed or not of this layer.
        """
        name = tx._j_name
        if name is None or self._waiting_j.get(name) is not tx:
            # not waiting for Timer J in our queue: not ours, not a completed
            # non-INVITE one over UDP with a branch key, or its Timer J is in
            # the heap (see _changed)
            return False
        del self._waiting_j[name]
        tx._j_name = None
        self._completed[name] = data if destination is None else (data, destination)
        self._drop(tx)
        return True

    @property
    def retired(self) -> int:
        """How many retired transactions are kept as table entries (``retire``)."""
        return len(self._completed)

    # -- the transport's entry point ----------------------------------------------------------

    def receive(self, message: Message, now: float, *,
                reliable: bool | None = None) -> list[Action]:
        """A message from the transport.

        A response goes to its client transaction, or comes back as ``Stray``.
        A request goes to its server transaction; an ACK matching none comes
        back as ``Deliver`` with no transaction (an ACK for a 2xx: the core's);
        any other new request gets a new server transaction, started, whose
        ``Deliver`` passes it up (``LoopDetected`` instead for a merged
        request).  ``reliable`` is the transport the request came over; by
        default, the transport of its top Via.
        """
        if not isinstance(message, Request):
            if isinstance(message, Response):
                client = self.find_client(message)
                if client is None:
                    return [Stray(message)]
                return client.receive(message, now)
            raise TypeError(f"not a SIP request or response: {message!r}")
        by_branch = branch_key(message)
        server = self._find_server(message, by_branch)
        if server is not None:
            return server.receive(message, now)
        method = message.method
        if method == "ACK":
            return [Deliver(message)]
        name: bytes | None = None
        if by_branch is not None and self._completed and method != "INVITE":
            # only non-INVITE transactions are retired (an INVITE matches none)
            name = completed_key(by_branch, method)
            done = self._completed.get(name)
            if done is not None:  # §17.2.2, from a retired transaction
                if type(done) is bytes:
                    return [Retransmit(done, None)]
                assert isinstance(done, tuple)
                return [Retransmit(done[0], done[1])]
        merged = self._is_merged(message)
        if reliable is None:
            reliable = message.top_via.transport.upper() not in UNRELIABLE_TRANSPORTS
        tx: ServerTransaction
        if method == "INVITE":
            tx = InviteServerTransaction(message, reliable=reliable, config=self.config)
        else:
            tx = NonInviteServerTransaction(message, reliable=reliable, config=self.config)
            tx._j_name = name  # computed already: the key of its Timer J entry
        self._add_server(tx, by_branch)
        actions = tx.start(now)
        if merged:
            loop = LoopDetected(message, message.reply(482), tx)
            actions = [loop if isinstance(a, Deliver) else a for a in actions]
        return actions

    # -- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest deadline of all transactions (and retired ones), or None."""
        heap = self._heap
        first: float | None = None
        while heap:
            deadline, _, tx = heap[0]
            if self._pushed.get(tx) == deadline:
                first = deadline
                break
            heapq.heappop(heap)
        at = self._j_at
        if at and (first is None or at[0] < first):
            return at[0]
        return first

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``, in deadline order."""
        actions: list[Action] = []
        heap = self._heap
        at = self._j_at
        while True:
            if at and at[0] <= now and (not heap or at[0] <= heap[0][0]):
                at.popleft()
                actions += self._timer_j(self._j_count.popleft(), now)
            elif heap and heap[0][0] <= now:
                deadline, _, tx = heapq.heappop(heap)
                if self._pushed.get(tx) == deadline:
                    del self._pushed[tx]
                    actions += tx.handle_timer(now)
            else:
                return actions

    def _timer_j(self, count: int, now: float) -> list[Action]:
        """The next ``count`` entries of the Timer J queue are due."""
        actions: list[Action] = []
        keys = self._j_keys
        completed = self._completed
        for _ in range(count):
            name = keys.popleft()
            if completed.pop(name, None) is not None:
                continue  # a retired transaction: nothing to tell
            tx = self._waiting_j.pop(name, None)
            if tx is not None:
                tx._j_name = None
                if self._pushed.pop(tx, None) is not None:
                    actions += tx.handle_timer(now)
        return actions

    # -- what it holds ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    def __iter__(self) -> Iterator[Transaction]:
        yield from list(self._clients.values())
        yield from list(self._servers)

    # -- bookkeeping --------------------------------------------------------------------------

    def _is_merged(self, request: Request) -> bool:
        """§8.2.2.2: no To tag, and an ongoing transaction has the same From tag,
        Call-ID and CSeq (it did not match it: the caller looked first)."""
        if not self.detect_merged_requests or to_tag(request) is not None:
            return False
        return bool(self._merge.get(merge_key(request)))

    def _server_for_response(self, response: Response) -> ServerTransaction | None:
        # A response copies the request's Via, From, Call-ID and CSeq (§8.2.6.2),
        # so the §8.2.2.2 index narrows the search to (nearly always) one.
        via = response.top_via
        key = merge_key(response)
        candidates: Iterable[ServerTransaction]
        if self.detect_merged_requests:
            candidates = self._merge.get(key, ())
        else:  # no such index: the branch one, or every RFC 2543 transaction
            by_branch = branch_key_of(via)
            candidates = [tx for tx in (self._branch_candidates(by_branch) if by_branch
                                        else itertools.chain(*self._by_2543.values()))
                          if (tx._request is not None or tx._request_wire is not None)
                          and merge_key(tx.request) == key]
        for tx in candidates:
            if tx._request is None and tx._request_wire is None:
                # completed and compacted: its response is sent, and any other
                # is discarded (§17.2.2), as a response to no transaction is
                continue
            top = tx.request.top_via
            if via.has_magic_cookie:
                if top.branch == via.branch and top.sent_by == via.sent_by:
                    return tx
            elif str(top) == str(via):
                return tx
        return None

    def _add_server(self, tx: ServerTransaction, by_branch: BranchKey | None) -> None:
        # the §8.2.2.2 index only when merged requests are detected (it costs a
        # From parse per request)
        merged = merge_key(tx.request) if self.detect_merged_requests else None
        if by_branch is not None:
            tx._key = by_branch
            self._servers[tx] = by_branch
            if self._by_branch.setdefault(by_branch, tx) is not tx:
                self._by_branch_more.setdefault(by_branch, []).append(tx)
        else:  # the RFC 2543 key is computed only for the requests that need it
            by_2543 = rfc2543_key(tx.request)
            self._servers[tx] = by_2543
            self._by_2543.setdefault(by_2543, []).append(tx)
        if merged is not None:
            self._merge_keys[tx] = merged
            self._merge.setdefault(merged, []).append(tx)
        tx._observer = self._on_change

    def _changed(self, tx: Transaction) -> None:
        state = tx.state
        if state is _TERMINATED:
            self._forget(tx)
            return
        deadline = tx.next_deadline()
        pushed = self._pushed
        if deadline is None:
            pushed.pop(tx, None)
        elif pushed.get(tx) != deadline:
            pushed[tx] = deadline
            if state is not _COMPLETED or tx.reliable \
                    or not isinstance(tx, NonInviteServerTransaction) or tx._key is None \
                    or not self._queue_j(tx, deadline):
                heapq.heappush(self._heap, (deadline, next(self._counter), tx))

    def _queue_j(self, tx: ServerTransaction, deadline: float) -> bool:
        """Timer J, the only timer of Completed (Figure 8), in the queue, where
        the transaction may be retired; False if its deadline is out of order."""
        at = self._j_at
        counts = self._j_count
        opened = self._j_opened
        if at and opened <= deadline < opened + J_RESOLUTION and counts[-1] < _J_BUCKET:
            counts[-1] += 1
            if deadline > at[-1]:
                at[-1] = deadline
        elif not at or deadline >= at[-1]:
            at.append(deadline)
            counts.append(1)
            self._j_opened = deadline
        else:
            return False
        name = tx._j_name
        if name is None:
            assert tx._key is not None
            name = tx._j_name = completed_key(tx._key, tx._method)
        self._waiting_j[name] = tx
        self._j_keys.append(name)
        return True

    def _forget(self, tx: Transaction) -> None:
        if isinstance(tx, ClientTransaction):
            tx._observer = None
            self._pushed.pop(tx, None)
            key = tx._key  # not tx.request: a compact() one would be parsed again
            if self._clients.get(key) is tx:
                del self._clients[key]
            return
        assert isinstance(tx, ServerTransaction)
        self._drop(tx)

    def _drop(self, tx: ServerTransaction) -> None:
        """Take a server transaction out of every index (its Timer J entry, if
        any, is dropped when it comes due and finds another or none)."""
        tx._observer = None
        self._pushed.pop(tx, None)
        found = self._servers.pop(tx, None)
        if found is None:
            return
        merged = self._merge_keys.pop(tx, None)
        if isinstance(found, Rfc2543Key):
            _remove(self._by_2543, found, tx)
        else:
            if self._by_branch.get(found) is not tx:
                _remove(self._by_branch_more, found, tx)
            else:
                more = self._by_branch_more.get(found)
                if more:
                    self._by_branch[found] = more.pop(0)
                    if not more:
                        del self._by_branch_more[found]
                else:
                    del self._by_branch[found]
        if merged is not None:
            _remove(self._merge, merged, tx)


def _remove(index: dict[K, list[ServerTransaction]], key: K, tx: ServerTransaction) -> None:
    found = index.get(key)
    if found is None:
        return
    found.remove(tx)
    if not found:
        del index[key]
