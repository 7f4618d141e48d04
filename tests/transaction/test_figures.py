"""Walk every edge of RFC 3261 Figures 5-8 (RFC 6026 for 5 and 7), row by row.

Each row of a transaction's table is one arrow of its figure.  For every row
the test puts a fresh transaction in the row's state, fires the row's event
with a message its guard admits, and checks the next state and the kinds of
action taken.  A second test checks that events with no arrow change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sipwire import Request
from sipwire.transaction import (
    FIGURE_5,
    FIGURE_6,
    FIGURE_7,
    FIGURE_8,
    Action,
    ClientTransaction,
    Deliver,
    Edge,
    Event,
    Guard,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Send,
    ServerTransaction,
    State,
    Terminated,
    Timeout,
    Timer,
    Transaction,
    TransportFailure,
    build_ack,
)

from .builders import invite, reply, request, wire

#: the action each step of a table yields (timer steps yield none)
STEP_ACTIONS: dict[str, type[Action] | None] = {
    "send_request": Send, "send_ack": Send, "send_response": Send,
    "resend_response": Send, "send_trying": Send, "deliver": Deliver,
    "timeout_408": Timeout, "timeout": Timeout,
    "transport_failure_503": TransportFailure, "transport_failure": TransportFailure,
}
#: statuses a guard is tried with; None (no guard) on a response event: one of each class
GUARD_STATUSES: dict[str | None, tuple[int, ...]] = {
    "1xx": (100, 180), "2xx": (200, 202), "300-699": (302, 486, 603),
    "200-699": (200, 404, 503), None: (180, 200, 486),
}

Setup = Callable[[bool], Transaction]


def _client(cls: type[ClientTransaction], *statuses: int, start: bool = True) -> Setup:
    def setup(reliable: bool) -> Transaction:
        req = invite() if cls is InviteClientTransaction else request("OPTIONS")
        tx = cls(req, reliable=reliable)
        if start:
            tx.start(0.0)
        for status in statuses:
            tx.receive(reply(req, status), 0.0)
        return tx
    return setup


def _server(cls: type[ServerTransaction], *steps: int | str, start: bool = True) -> Setup:
    def setup(reliable: bool) -> Transaction:
        req = invite() if cls is InviteServerTransaction else request("OPTIONS")
        tx = cls(req, reliable=reliable)
        if start:
            tx.start(0.0)
        for step in steps:
            if step == "ACK":
                tx.receive(_ack(tx), 0.0)
            else:
                assert isinstance(step, int)
                tx.send(req.reply(step, to_tag="bobtag"), 0.0)
        return tx
    return setup


def _ack(tx: ServerTransaction) -> Request:
    final = tx.last_response or tx.request.reply(486, to_tag="bobtag")
    return wire(build_ack(tx.request, final))


#: per figure, ways of putting a transaction in each state; the first that can
#: take the event is used (for a timer: one where that timer fires first)
SETUPS: dict[type[Transaction], dict[State, list[Setup]]] = {
    InviteClientTransaction: {
        State.INITIAL: [_client(InviteClientTransaction, start=False)],
        State.CALLING: [_client(InviteClientTransaction)],
        State.PROCEEDING: [_client(InviteClientTransaction, 180)],
        State.COMPLETED: [_client(InviteClientTransaction, 486)],
        State.ACCEPTED: [_client(InviteClientTransaction, 200)],
    },
    NonInviteClientTransaction: {
        State.INITIAL: [_client(NonInviteClientTransaction, start=False)],
        State.TRYING: [_client(NonInviteClientTransaction)],
        State.PROCEEDING: [_client(NonInviteClientTransaction, 180)],
        State.COMPLETED: [_client(NonInviteClientTransaction, 200)],
    },
    InviteServerTransaction: {
        State.INITIAL: [_server(InviteServerTransaction, start=False)],
        State.PROCEEDING: [_server(InviteServerTransaction, 180),
                           _server(InviteServerTransaction)],
        State.COMPLETED: [_server(InviteServerTransaction, 486)],
        State.CONFIRMED: [_server(InviteServerTransaction, 486, "ACK")],
        State.ACCEPTED: [_server(InviteServerTransaction, 200)],
    },
    NonInviteServerTransaction: {
        State.INITIAL: [_server(NonInviteServerTransaction, start=False)],
        State.TRYING: [_server(NonInviteServerTransaction)],
        State.PROCEEDING: [_server(NonInviteServerTransaction, 180)],
        State.COMPLETED: [_server(NonInviteServerTransaction, 200)],
    },
}
FIGURES: list[tuple[type[Transaction], tuple[Edge, ...]]] = [
    (InviteClientTransaction, FIGURE_5), (NonInviteClientTransaction, FIGURE_6),
    (InviteServerTransaction, FIGURE_7), (NonInviteServerTransaction, FIGURE_8),
]


def _cases() -> Iterator[object]:
    for cls, table in FIGURES:
        for edge in table:
            label = str(edge.guard) if edge.guard is not None else None
            statuses: tuple[int | None, ...] = (None,)
            if edge.event in (Event.RESPONSE, Event.TU_RESPONSE):
                statuses = GUARD_STATUSES[label]
            for status in statuses:
                yield pytest.param(cls, edge, status, id=f"{cls.__name__}: {edge} ({status})")


def _fire(tx: Transaction, event: Event | Timer, status: int | None) -> list[Action]:
    if isinstance(event, Timer):
        return tx.handle_timer(tx.timers[event])
    if event is Event.START:
        return tx.start(1.0)
    if event is Event.TRANSPORT_ERROR:
        return tx.transport_error(1.0)
    if event is Event.RESPONSE:
        assert isinstance(tx, ClientTransaction) and status is not None
        return tx.receive(reply(tx.request, status), 1.0)
    assert isinstance(tx, ServerTransaction)
    if event is Event.TU_RESPONSE:
        assert status is not None
        return tx.send(tx.request.reply(status, to_tag="bobtag"), 1.0)
    if event is Event.ACK:
        return tx.receive(_ack(tx), 1.0)
    return tx.receive(wire(tx.request), 1.0)  # a retransmission


def _prepare(cls: type[Transaction], edge: Edge) -> Transaction:
    for setup in SETUPS[cls][edge.state]:
        for reliable in (False, True):
            tx = setup(reliable)
            assert tx.state is edge.state
            if not isinstance(edge.event, Timer):
                return tx
            if edge.event in tx.timers and tx.timers[edge.event] == tx.next_deadline():
                return tx
    raise AssertionError(f"no setup fires {edge.event} first in {edge.state}")


@pytest.mark.parametrize(("cls", "edge", "status"), list(_cases()))
def test_every_edge_of_the_figure(cls: type[Transaction], edge: Edge,
                                  status: int | None) -> None:
    tx = _prepare(cls, edge)
    actions = _fire(tx, edge.event, status)
    assert tx.state is edge.next_state
    expected = [STEP_ACTIONS[s] for s in edge.actions if STEP_ACTIONS.get(s)]
    if edge.next_state is State.TERMINATED:
        expected.append(Terminated)
        assert tx.next_deadline() is None
    assert [type(a) for a in actions] == expected
    assert all(a.transaction is tx for a in actions)


def _all_events() -> list[tuple[Event | Timer, int | None]]:
    events: list[tuple[Event | Timer, int | None]] = [
        (Event.START, None), (Event.TRANSPORT_ERROR, None), (Event.REQUEST, None),
        (Event.ACK, None)]
    for status in (100, 180, 200, 302, 486, 603):
        events += [(Event.RESPONSE, status), (Event.TU_RESPONSE, status)]
    return events


@pytest.mark.parametrize(("cls", "table"), FIGURES, ids=[c.__name__ for c, _ in FIGURES])
def test_events_with_no_arrow_change_nothing(cls: type[Transaction],
                                             table: tuple[Edge, ...]) -> None:
    client = issubclass(cls, ClientTransaction)
    for state, setups in SETUPS[cls].items():
        for event, status in _all_events():
            if (event in (Event.REQUEST, Event.ACK, Event.TU_RESPONSE) and client) or (
                    event is Event.RESPONSE and not client):
                continue
            if event is Event.ACK and cls is not InviteServerTransaction:
                continue
            admitted = [e for e in table if e.state is state and e.event is event
                        and (e.guard is None or _admits(e.guard, status))]
            if admitted:
                continue
            tx = setups[0](False)
            before = (tx.state, tx.timers)
            assert _fire(tx, event, status) == []
            assert (tx.state, tx.timers) == before


def _admits(guard: Guard, status: int | None) -> bool:
    return status is not None and guard.low <= status <= guard.high


def test_terminated_transactions_ignore_everything() -> None:
    tx = InviteClientTransaction(invite(), reliable=True)
    tx.start(0.0)
    tx.receive(reply(tx.request, 486), 0.0)
    tx.handle_timer(0.0)  # Timer D = 0 over a reliable transport
    assert tx.terminated
    assert tx.receive(reply(tx.request, 486), 1.0) == []
    assert tx.transport_error(1.0) == []
    assert tx.start(1.0) == []
    assert tx.next_deadline() is None


@pytest.mark.parametrize(("cls", "table"), FIGURES, ids=[c.__name__ for c, _ in FIGURES])
def test_every_state_of_the_figure_is_reached(cls: type[Transaction],
                                              table: tuple[Edge, ...]) -> None:
    states = {e.state for e in table} | {e.next_state for e in table}
    assert states == set(SETUPS[cls]) | {State.TERMINATED}
