"""The non-INVITE client transaction: RFC 3261 §17.1.2 (Figure 6)."""

from __future__ import annotations

import pytest

import sipwire
from sipwire.transaction import (
    Deliver,
    NonInviteClientTransaction,
    Send,
    State,
    Terminated,
    Timeout,
    Timer,
    TimerConfig,
    TransportFailure,
)

from .builders import kinds, reply, request, run_clock, timeline


def started(method: str = "OPTIONS", *, reliable: bool = False,
            config: TimerConfig | None = None) -> NonInviteClientTransaction:
    tx = NonInviteClientTransaction(request(method), reliable=reliable, config=config)
    assert tx.start(0.0) == [Send(tx.request)]
    assert tx.state is State.TRYING
    return tx


def test_timer_e_doubles_up_to_t2_and_timer_f_times_out_at_64_t1() -> None:
    tx = started("REGISTER")
    log = run_clock(tx, 100.0)
    resent = [t for t, a in log if isinstance(a, Send)]
    # 500 ms, 1 s, 2 s, 4 s, 4 s, 4 s ... (§17.1.2.2)
    assert resent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert timeline(log[-2:]) == [(32.0, "Timeout"), (32.0, "Terminated")]


def test_timer_f_timeout_delivers_a_synthetic_408() -> None:
    tx = started()
    timeout = next(a for _, a in run_clock(tx, 32.0) if isinstance(a, Timeout))
    assert timeout.timer is Timer.F
    assert timeout.response is not None
    parsed = sipwire.parse(bytes(timeout.response))
    assert isinstance(parsed, sipwire.Response)
    assert (parsed.status, parsed.cseq.method) == (408, "OPTIONS")
    assert tx.state is State.TERMINATED


def test_timer_e_caps_at_the_instance_t2() -> None:
    tx = started(config=TimerConfig(t1=0.25, t2=1.0))
    resent = [t for t, a in run_clock(tx, 5.0) if isinstance(a, Send)]
    assert resent == [0.25, 0.75, 1.75, 2.75, 3.75, 4.75]


def test_reliable_transport_starts_timer_f_but_not_timer_e() -> None:
    tx = started(reliable=True)
    assert tx.timers == {Timer.F: 32.0}
    assert timeline(run_clock(tx, 40.0)) == [(32.0, "Timeout"), (32.0, "Terminated")]


def test_provisional_moves_to_proceeding_where_timer_e_resets_to_t2() -> None:
    tx = started()
    trying = reply(tx.request, 100)
    assert tx.receive(trying, 0.2) == [Deliver(trying)]
    assert tx.state is State.PROCEEDING
    # retransmissions go on after a provisional, to get the final response through
    resent = [t for t, a in run_clock(tx, 20.0) if isinstance(a, Send)]
    assert resent == [0.5, 4.5, 8.5, 12.5, 16.5]


def test_timer_f_in_proceeding_delivers_408() -> None:
    tx = started(reliable=True)
    tx.receive(reply(tx.request, 180), 1.0)
    assert timeline(run_clock(tx, 32.0)) == [(32.0, "Timeout"), (32.0, "Terminated")]


@pytest.mark.parametrize("status", [200, 302, 404, 500, 603])
def test_final_response_is_passed_up_and_timer_k_waits_t4(status: int) -> None:
    tx = started()
    final = reply(tx.request, status)
    assert tx.receive(final, 1.0) == [Deliver(final)]
    assert tx.state is State.COMPLETED
    assert tx.timers == {Timer.K: 6.0}
    assert tx.handle_timer(5.9) == []
    assert tx.handle_timer(6.0) == [Terminated("Timer K")]


def test_timer_k_is_zero_over_reliable_transports() -> None:
    tx = started(reliable=True)
    tx.receive(reply(tx.request, 180), 0.5)
    tx.receive(reply(tx.request, 200), 1.0)
    assert tx.next_deadline() == 1.0
    assert tx.handle_timer(1.0) == [Terminated("Timer K")]


def test_response_retransmissions_in_completed_are_absorbed() -> None:
    tx = started()
    tx.receive(reply(tx.request, 200), 1.0)
    for status in (200, 180, 500):
        assert tx.receive(reply(tx.request, status), 2.0) == []
    assert tx.state is State.COMPLETED
    assert tx.timers == {Timer.K: 6.0}


def test_lost_request_is_retransmitted_until_the_final_response() -> None:
    tx = started()
    assert kinds(tx.handle_timer(0.5)) == ["Send"]
    assert kinds(tx.handle_timer(1.5)) == ["Send"]
    assert kinds(tx.receive(reply(tx.request, 200), 1.6)) == ["Deliver"]
    assert tx.timers == {Timer.K: 6.6}  # E and F stop in Completed


@pytest.mark.parametrize("provisional", [False, True])
def test_transport_error_delivers_a_synthetic_503(provisional: bool) -> None:
    tx = started()
    if provisional:
        tx.receive(reply(tx.request, 100), 0.1)
    actions = tx.transport_error(0.2)
    assert kinds(actions) == ["TransportFailure", "Terminated"]
    failure = actions[0]
    assert isinstance(failure, TransportFailure) and failure.response is not None
    assert failure.response.status == 503
    assert sipwire.parse(bytes(failure.response)).cseq.method == "OPTIONS"
    assert tx.state is State.TERMINATED


def test_invite_needs_the_invite_client_transaction() -> None:
    with pytest.raises(ValueError, match="InviteClientTransaction"):
        NonInviteClientTransaction(request("INVITE"), reliable=False)
