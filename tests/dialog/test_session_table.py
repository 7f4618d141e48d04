"""Walk every row of SESSION_TABLE and MODIFY_TABLE with a driven clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sipwire import Request, Response
from sipwire.dialog import (
    MODIFY_TABLE,
    SESSION_TABLE,
    ModifyEdge,
    ModifyEvent,
    ModifyState,
    Role,
    SendResponse,
    SessionEdge,
    SessionEvent,
    SessionState,
    SessionTimerConfig,
)
from sipwire.transaction import build_cancel

from .builders import wire
from .probe import Probe

S, E = SessionState, SessionEvent


def _reinvite_in(probe: Probe) -> tuple[Request, Response]:
    """The peer re-INVITEs; our 2xx (unacknowledged) and the re-INVITE."""
    reinvite = probe.peer_request("INVITE", body=b"offer peer v9 sendrecv")
    actions = probe.do(probe.session.receive_request(reinvite, probe.now))
    ok = probe.sent(actions)[0]
    assert isinstance(ok, Response) and ok.status == 200
    return reinvite, ok


def _to(probe: Probe, state: SessionState, event: SessionEvent) -> None:
    """Drive ``probe`` from initial to ``state`` (ready for ``event``)."""
    s = probe.session
    if state is S.INITIAL:
        return
    if s.role is Role.UAC:
        probe.do(s.start(0.0))
        if state is S.CALLING:
            return
        if state is S.TERMINATED:
            probe.do(s.receive_response(probe.response(486), 0.0))
            return
        probe.do(s.receive_response(probe.response(180), 0.0))
        if state is S.EARLY:
            return
        probe.do(s.receive_response(probe.response(200, body=b"answer bob sendrecv"), 0.0))
    else:
        probe.do(s.start(0.0))
        if state is S.PROCEEDING:
            return
        probe.do(s.provisional(0.0, 180, early_media=s.reliable is not None))
        probe.last_response()
        if state is S.EARLY:
            return
        probe.now = 1.0
        probe.do(s.answer(probe.now))
        ok = probe.last_response()
        if state is S.ACCEPTED:
            return
        probe.do(s.receive_request(probe.peer_ack(probe.invite, ok), probe.now))
    assert s.state is S.CONFIRMED
    if event in (E.RETRANSMIT, E.ACK, E.NO_ACK):
        probe.now = 5.0
        probe.reinvite = _reinvite_in(probe)


Fire = Callable[[Probe], None]


def _fire(event: SessionEvent) -> Fire:
    def fire(probe: Probe) -> None:
        s = probe.session
        now = probe.now
        if event is E.START or event is E.START_REFUSED:
            probe.do(s.start(now))
        elif event is E.PROVISIONAL:
            probe.do(s.receive_response(probe.response(183, to_tag=None), now))
        elif event is E.EARLY_DIALOG:
            probe.do(s.receive_response(probe.response(180, to_tag="other"), now))
        elif event is E.SUCCESS:
            probe.do(s.receive_response(probe.response(200, body=b"answer bob x"), now))
        elif event is E.FAILURE:
            probe.do(s.receive_response(probe.response(603), now))
        elif event is E.SEND_PROVISIONAL:
            probe.do(s.provisional(now, 183))
        elif event is E.SEND_SUCCESS:
            probe.do(s.answer(now))
        elif event is E.SEND_FAILURE and s.state is S.ACCEPTED:
            # the 2xx held for the PRACK of a reliable 1xx that never comes (RFC 3262 §3)
            probe.do(s.handle_timer(now + 64 * s.timers.t1))
        elif event is E.SEND_FAILURE:
            probe.do(s.reject(now, 486))
        elif event is E.RETRY_422:
            too_small = probe.invite.reply(422, headers=[("Min-SE", "3600")])
            probe.do(s.receive_response(wire(too_small), now))
        elif event is E.CANCEL:
            probe.do(s.receive_request(build_cancel(probe.invite), now))
        elif event is E.RETRANSMIT:
            deadline = s.next_deadline()
            assert deadline is not None
            sent = probe.do(s.handle_timer(deadline))
            assert [type(a) for a in sent] == [SendResponse]
        elif event is E.ACK:
            if probe.reinvite is not None:
                request, unacked = probe.reinvite
            else:
                request, unacked = probe.invite, probe.last_response()
            probe.do(s.receive_request(probe.peer_ack(request, unacked), now))
        elif event is E.NO_ACK:
            probe.do(s.handle_timer(now + 64 * s.timers.t1))
        elif event is E.BYE_SENT:
            probe.do(s.bye(now))
        elif event is E.BYE_RECEIVED:
            probe.do(s.receive_request(probe.peer_request("BYE"), now))
        elif event is E.DIALOG_GONE:
            info = probe.sent(s.send_request("INFO", now))[0]
            assert isinstance(info, Request)
            probe.do(s.receive_response(_reply(info, 481), now))
    return fire


def _reply(request: Request, status: int, **kwargs: Any) -> Response:
    return wire(request.reply(status, **kwargs))


def _probe(edge: SessionEdge) -> Probe:
    if edge.role is Role.UAC:
        timer = SessionTimerConfig() if edge.event is E.RETRY_422 else None
        return Probe.uac(session_timer=timer)
    if edge.event is E.SEND_FAILURE and edge.state is S.ACCEPTED:
        return Probe.uas(headers=(("Require", "100rel"),))
    return Probe.uas(refuse=edge.event is E.START_REFUSED)


@pytest.mark.parametrize("edge", SESSION_TABLE,
                         ids=lambda e: f"{e.role.value}-{e.state.value}-{e.event.value}")
def test_every_edge_of_the_session_table(edge: SessionEdge) -> None:
    probe = _probe(edge)
    _to(probe, edge.state, edge.event)
    assert probe.session.state is edge.state
    _fire(edge.event)(probe)
    assert probe.session.state is edge.next_state


def test_events_without_a_row_change_nothing() -> None:
    probe = Probe.uac()
    _to(probe, S.CONFIRMED, E.BYE_SENT)
    probe.do(probe.session.receive_response(probe.response(180), 2.0))
    probe.do(probe.session.receive_response(probe.response(486), 2.0))
    assert probe.session.state is S.CONFIRMED
    uas = Probe.uas()
    _to(uas, S.CONFIRMED, E.BYE_SENT)
    # a CANCEL after the 2xx: 200, and nothing else (§9.2)
    actions = uas.session.receive_request(build_cancel(uas.invite), 2.0)
    assert [m.status for m in uas.sent(actions)] == [200]  # type: ignore[union-attr]
    assert uas.session.state is S.CONFIRMED


# -- MODIFY_TABLE --------------------------------------------------------------------------


def _modify_to(probe: Probe, state: ModifyState) -> Request | None:
    """A confirmed call whose own re-INVITE is in ``state``; the pending request."""
    _to(probe, S.CONFIRMED, E.BYE_SENT)
    if state is ModifyState.IDLE:
        return None
    request = probe.sent(probe.session.reinvite(2.0))[0]
    assert isinstance(request, Request)
    if state is ModifyState.BACKOFF:
        probe.do(probe.session.receive_response(_reply(request, 491), 2.0))
    return request


@pytest.mark.parametrize("edge", MODIFY_TABLE, ids=lambda e: f"{e.state.value}-{e.event.value}")
def test_every_edge_of_the_modify_table(edge: ModifyEdge) -> None:
    timer = SessionTimerConfig() if edge.event is ModifyEvent.RETRY_422 else None
    probe = Probe.uac(session_timer=timer)
    s = probe.session
    request = _modify_to(probe, edge.state)
    assert s.modify_state is edge.state
    if edge.event is ModifyEvent.SEND:
        probe.do(s.reinvite(2.0))
    elif edge.event is ModifyEvent.RETRY:
        deadline = s.next_deadline()
        assert deadline is not None
        probe.do(s.handle_timer(deadline))
    elif edge.event is ModifyEvent.ENDED:
        probe.do(s.bye(3.0))
    elif edge.event is ModifyEvent.RETRY_422:
        assert request is not None
        again = probe.sent(s.receive_response(_reply(request, 422,
                                                     headers=[("Min-SE", "3600")]), 2.0))
        assert [m.headers.get("Session-Expires") for m in again] == ["3600;refresher=uac"]
    else:
        assert request is not None
        status = {ModifyEvent.SUCCESS: 200, ModifyEvent.GLARE: 491,
                  ModifyEvent.FAILURE: 488}[edge.event]
        probe.do(s.receive_response(_reply(request, status), 2.0))
    assert s.modify_state is edge.next_state
