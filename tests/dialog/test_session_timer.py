"""RFC 4028 session timers: negotiation on both sides (§7, §9 Table 2), 422 and
its retry, deadlines (§7.2, §10) and every edge of the table, on a driven clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.dialog.session_timer import (
    SESSION_TIMER_TABLE,
    Expired,
    Refresh,
    Retry,
    SessionTimer,
    SessionTimerConfig,
    TimerState,
    bye_margin,
)
from sipwire.message.fields.base import Field
from sipwire.message.fields.session import MinSE, SessionExpires

Headers = list[tuple[str, str | Field]]


def request(*headers: tuple[str, str | Field], method: str = "INVITE") -> Request:
    built = Request.build(method, "sip:bob@biloxi.example.com",
                          from_="<sip:alice@atlanta.example.com>;tag=alice",
                          call_id="call-1@atlanta", headers=list(headers))
    parsed = sipwire.parse(bytes(built))
    assert isinstance(parsed, Request)
    return parsed


def response(req: Request, status: int, *headers: tuple[str, str | Field]) -> Response:
    parsed = sipwire.parse(bytes(req.reply(status, to_tag="bob", headers=list(headers))))
    assert isinstance(parsed, Response)
    return parsed


def state_of(timer: SessionTimer) -> TimerState:
    """The state, read through a call (mypy would narrow the attribute)."""
    return timer.state


def named(headers: Headers) -> dict[str, str]:
    return {name: str(value) for name, value in headers}


# -- the UAC side (§7) -----------------------------------------------------------------


def test_initial_request_headers() -> None:
    timer = SessionTimer()
    assert timer.option_tags() == (["timer"], [])
    assert named(timer.request_headers()) == {"Session-Expires": "1800"}
    config = SessionTimerConfig(interval=600, min_se=300, refresher="uac", require=True)
    timer = SessionTimer(config)
    assert timer.option_tags() == (["timer"], ["timer"])
    assert named(timer.request_headers()) == {"Session-Expires": "600;refresher=uac",
                                              "Min-SE": "300"}
    assert named(SessionTimer(SessionTimerConfig(interval=None)).request_headers()) == {}
    disabled = SessionTimer(SessionTimerConfig(enabled=False))
    assert disabled.option_tags() == ([], []) and disabled.request_headers() == []


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="§5"):
        SessionTimerConfig(min_se=30)
    with pytest.raises(ValueError, match="below Min-SE"):
        SessionTimerConfig(interval=100, min_se=200)


def test_uac_refresher_refreshes_at_half_the_interval() -> None:
    timer = SessionTimer()
    invite = request(*timer.request_headers())
    ok = response(invite, 200, ("Session-Expires", "1800;refresher=uac"), ("Require", "timer"))
    assert timer.receive_response(invite, ok, 100.0) == []
    assert timer.state is TimerState.LOCAL and timer.interval == 1800
    assert timer.expires_at == 1900.0
    assert timer.next_deadline() == 1000.0
    assert timer.handle_timer(999.0) == []
    assert timer.handle_timer(1000.0) == [Refresh()]
    # the refresh keeps the interval and the roles (§7.4)
    assert named(timer.request_headers()) == {"Session-Expires": "1800;refresher=uac"}
    # no 2xx to it: BYE at expiration - min(32, 1800/3)
    assert timer.next_deadline() == 1900.0 - 32
    assert timer.handle_timer(1900.0 - 32) == [Expired("session expired")]
    assert state_of(timer) is TimerState.EXPIRED and timer.next_deadline() is None


def test_uac_peer_refreshes_then_bye_if_no_refresh() -> None:
    timer = SessionTimer()
    invite = request(*timer.request_headers())
    timer.receive_response(invite, response(invite, 200, ("x", "90;refresher=uas")), 0.0)
    assert timer.state is TimerState.REMOTE
    assert timer.next_deadline() == 90 - 30  # one third of 90 is less than 32
    assert named(timer.request_headers()) == {"Session-Expires": "90;refresher=uas"}


def test_uac_2xx_without_session_expires_from_a_uas_without_timers() -> None:
    # §7.2: we asked, the UAS does not support timers: we refresh with our value
    timer = SessionTimer(SessionTimerConfig(interval=1200))
    invite = request(*timer.request_headers())
    timer.receive_response(invite, response(invite, 200), 0.0)
    assert timer.state is TimerState.LOCAL and timer.interval == 1200
    assert timer.next_deadline() == 600.0


def test_uac_2xx_without_session_expires_turns_the_timer_off() -> None:
    timer = SessionTimer()
    to_local(timer)
    update = request(*timer.request_headers(), method="UPDATE")
    timer.receive_response(update, response(update, 200, ("Require", "timer")), 5.0)
    assert timer.state is TimerState.OFF and timer.interval is None
    assert timer.next_deadline() is None


def test_uac_no_timer_asked_none_given() -> None:
    timer = SessionTimer(SessionTimerConfig(interval=None))
    invite = request(*timer.request_headers())
    timer.receive_response(invite, response(invite, 200), 0.0)
    assert timer.state is TimerState.OFF and timer.next_deadline() is None


def test_uac_422_retry_with_the_larger_value() -> None:
    timer = SessionTimer(SessionTimerConfig(interval=100))
    invite = request(*timer.request_headers())
    assert named(timer.request_headers()) == {"Session-Expires": "100"}
    too_small = response(invite, 422, ("Min-SE", "1000"))
    assert timer.receive_response(invite, too_small, 0.0) == [Retry(1000)]
    assert timer.peer_min_se == 1000
    retry = named(timer.request_headers())
    assert retry == {"Session-Expires": "1000", "Min-SE": "1000"}
    # the same 422 again for the larger value: not retried (§10)
    invite2 = request(*timer.request_headers())
    assert timer.receive_response(invite2, response(invite2, 422, ("Min-SE", "1000")),
                                  1.0) == []
    # a 422 without Min-SE cannot be retried usefully
    assert timer.receive_response(invite2, response(invite2, 422), 1.0) == []


def test_422_when_no_interval_was_asked_uses_the_min_se() -> None:
    timer = SessionTimer(SessionTimerConfig(interval=None))
    invite = request(*timer.request_headers())
    assert timer.receive_response(invite, response(invite, 422, ("Min-SE", "600")), 0.0) == [
        Retry(600)]
    assert named(timer.request_headers()) == {"Session-Expires": "600", "Min-SE": "600"}


def test_responses_that_do_not_concern_the_timer() -> None:
    timer = SessionTimer()
    invite = request(*timer.request_headers())
    assert timer.receive_response(invite, response(invite, 180), 0.0) == []
    bye = request(method="BYE")
    assert timer.receive_response(bye, response(bye, 200, ("x", "90")), 0.0) == []
    assert timer.state is TimerState.OFF
    # a 408 to the initial INVITE is the dialog layer's business
    assert timer.receive_response(invite, response(invite, 408), 0.0) == []
    timer.receive_response(invite, response(invite, 200, ("x", "90")), 0.0)
    assert timer.receive_response(invite, response(invite, 486), 1.0) == []
    assert state_of(timer) is TimerState.LOCAL


# -- the UAS side (§9, Table 2) ---------------------------------------------------------


@pytest.mark.parametrize(("supported", "param", "refresher", "require"), [
    (False, None, "uas", False),     # row 1 (a proxy inserted the Session-Expires)
    (True, None, "uac", True),       # row 4: our default choice
    (True, "uac", "uac", True),      # row 5
    (True, "uas", "uas", True),      # row 6 (Require: SHOULD)
])
def test_table_2(supported: bool, param: str | None, refresher: str, require: bool) -> None:
    se = "1800" + (f";refresher={param}" if param else "")
    headers: Headers = [("Session-Expires", se)]
    if supported:
        headers.append(("Supported", "timer"))
    invite = request(*headers)
    timer = SessionTimer()
    assert timer.receive_request(invite) is None
    answer = named(timer.answer(invite, 10.0))
    assert answer["Session-Expires"] == f"1800;refresher={refresher}"
    assert ("Require" in answer) is require
    # we are the UAS: the "uas" refresher is us
    assert timer.state is (TimerState.LOCAL if refresher == "uas" else TimerState.REMOTE)
    assert timer.expires_at == 1810.0


def test_table_2_row_4_our_choice_uas() -> None:
    invite = request(("Session-Expires", "1800"), ("Supported", "timer"))
    timer = SessionTimer(SessionTimerConfig(refresher="uas"))
    assert named(timer.answer(invite, 0.0)) == {"Session-Expires": "1800;refresher=uas",
                                                "Require": "timer"}
    assert timer.next_deadline() == 900.0


def test_uas_may_reduce_but_not_below_min_se() -> None:
    timer = SessionTimer(SessionTimerConfig(interval=600))
    invite = request(("Session-Expires", "3600"), ("Min-SE", "900"), ("Supported", "timer"))
    assert timer.receive_request(invite) is None
    assert named(timer.answer(invite, 0.0))["Session-Expires"] == "900;refresher=uac"
    assert timer.peer_min_se == 900
    # and never increases it
    invite = request(("Session-Expires", "300"), ("Supported", "timer"))
    timer = SessionTimer(SessionTimerConfig(interval=1800))
    assert named(timer.answer(invite, 0.0))["Session-Expires"] == "300;refresher=uac"


def test_uas_asks_for_a_timer_the_uac_supports() -> None:
    timer = SessionTimer(SessionTimerConfig(interval=1200))
    invite = request(("Supported", "timer"), ("Min-SE", "1500"))
    assert named(timer.answer(invite, 0.0))["Session-Expires"] == "1500;refresher=uac"
    # without support and without Session-Expires: no timer
    timer = SessionTimer()
    assert timer.answer(request(), 0.0) == [] and timer.state is TimerState.OFF


def test_uas_422_when_too_small() -> None:
    timer = SessionTimer(SessionTimerConfig(min_se=1000))
    invite = request(("Session-Expires", "500"), ("Supported", "timer"))
    rejected = timer.receive_request(invite)
    assert rejected is not None and rejected.status == 422
    assert rejected.headers.first("Min-SE") == MinSE(1000)
    # without Supported: timer the UAS cannot usefully reject (§9 applies to Supported)
    assert timer.receive_request(request(("Session-Expires", "500"))) is None
    assert timer.receive_request(request(("Session-Expires", "1000"),
                                         ("Supported", "timer"))) is None


def test_uas_without_timer_support() -> None:
    timer = SessionTimer(SessionTimerConfig(enabled=False))
    rejected = timer.receive_request(request(("Require", "timer"), ("Supported", "timer")))
    assert rejected is not None and rejected.status == 420
    assert rejected.headers.get("Unsupported") == "timer"
    invite = request(("Session-Expires", "90"), ("Supported", "timer"))
    assert timer.receive_request(invite) is None
    assert timer.answer(invite, 0.0) == []


def test_requests_that_are_not_refreshes() -> None:
    timer = SessionTimer(SessionTimerConfig(enabled=False))
    assert timer.receive_request(request(("Require", "timer"), method="OPTIONS")) is None
    assert SessionTimer().answer(request(("x", "90"), method="BYE"), 0.0) == []


def test_uas_peer_refresh_rearms_the_bye_deadline() -> None:
    timer = SessionTimer()
    invite = request(("Session-Expires", "1800;refresher=uac"), ("Supported", "timer"))
    timer.answer(invite, 0.0)
    assert timer.next_deadline() == 1800 - 32
    refresh = request(("Session-Expires", "1800;refresher=uac"), ("Supported", "timer"),
                      method="UPDATE")
    assert timer.receive_request(refresh) is None
    timer.answer(refresh, 900.0)
    assert timer.next_deadline() == 900 + 1800 - 32
    assert timer.handle_timer(1800.0) == []


def test_bye_margin() -> None:
    assert bye_margin(90) == 30
    assert bye_margin(96) == 32
    assert bye_margin(1800) == 32


# -- every edge of the table ------------------------------------------------------------

Setup = Callable[[SessionTimer], None]


def to_local(timer: SessionTimer) -> None:
    invite = request(*timer.request_headers())
    timer.receive_response(invite, response(invite, 200, ("x", "1800;refresher=uac")), 0.0)


def to_remote(timer: SessionTimer) -> None:
    invite = request(*timer.request_headers())
    timer.receive_response(invite, response(invite, 200, ("x", "1800;refresher=uas")), 0.0)


def fire(timer: SessionTimer, event: str) -> list[object]:
    sent = request(*timer.request_headers(), method="UPDATE")
    if event == "2xx, we refresh":
        return list(timer.receive_response(sent, response(sent, 200, ("x", "1800;refresher=uac")),
                                           10.0))
    if event == "2xx, the peer refreshes":
        # the peer's refresh, answered by us (we are its UAS), picking uac = the peer
        got = request(("x", "1800;refresher=uac"), ("Supported", "timer"), method="UPDATE")
        assert timer.receive_request(got) is None
        timer.answer(got, 10.0)  # headers for our 2xx, no actions
        return []
    if event == "2xx without timer":
        # a UAS that supports timers answers our refresh without Session-Expires
        return list(timer.receive_response(sent, response(sent, 200, ("Supported", "timer")),
                                           10.0))
    if event == "422":
        return list(timer.receive_response(sent, response(sent, 422, ("Min-SE", "7200")), 10.0))
    if event == "408 or 481":
        return list(timer.receive_response(sent, response(sent, 481), 10.0))
    if event == "refresh due":
        return list(timer.handle_timer(900.0))
    assert event == "expiry"
    return list(timer.handle_timer(1800.0 - 32))


CASES: list[tuple[Setup | None, str, list[object], TimerState]] = [
    (None, "2xx, we refresh", [], TimerState.LOCAL),
    (None, "2xx, the peer refreshes", [], TimerState.REMOTE),
    (None, "2xx without timer", [], TimerState.OFF),
    (None, "422", [Retry(7200)], TimerState.OFF),
    (to_local, "refresh due", [Refresh()], TimerState.LOCAL),
    (to_local, "expiry", [Expired("session expired")], TimerState.EXPIRED),
    (to_local, "2xx, we refresh", [], TimerState.LOCAL),
    (to_local, "2xx, the peer refreshes", [], TimerState.REMOTE),
    (to_local, "2xx without timer", [], TimerState.OFF),
    (to_local, "422", [Retry(7200)], TimerState.LOCAL),
    (to_local, "408 or 481", [Expired("session refresh got 481")], TimerState.EXPIRED),
    (to_remote, "expiry", [Expired("session expired")], TimerState.EXPIRED),
    (to_remote, "2xx, we refresh", [], TimerState.LOCAL),
    (to_remote, "2xx, the peer refreshes", [], TimerState.REMOTE),
    (to_remote, "2xx without timer", [], TimerState.OFF),
    (to_remote, "422", [Retry(7200)], TimerState.REMOTE),
    (to_remote, "408 or 481", [Expired("session refresh got 481")], TimerState.EXPIRED),
]


@pytest.mark.parametrize(("setup", "event", "expected", "next_state"), CASES)
def test_edge(setup: Setup | None, event: str, expected: list[object],
              next_state: TimerState) -> None:
    timer = SessionTimer()
    if setup is not None:
        setup(timer)
    assert fire(timer, event) == expected
    assert timer.state is next_state


def test_every_edge_has_a_test() -> None:
    walked = set()
    for setup, event, _, next_state in CASES:
        timer = SessionTimer()
        if setup is not None:
            setup(timer)
        walked.add((timer.state, event, next_state))
    assert walked == SESSION_TIMER_TABLE


def test_no_edge_out_of_expired() -> None:
    timer = SessionTimer()
    to_local(timer)
    timer.handle_timer(5000.0)
    assert timer.state is TimerState.EXPIRED
    for event in ("2xx, we refresh", "2xx without timer", "422", "408 or 481", "refresh due"):
        assert fire(timer, event) == []
        assert timer.state is TimerState.EXPIRED
    got = request(("x", "1800"), ("Supported", "timer"))
    assert timer.answer(got, 0.0) == []


def test_session_expires_typed_in_answer() -> None:
    invite = request(("Session-Expires", "1800"), ("Supported", "timer"))
    headers = SessionTimer().answer(invite, 0.0)
    assert SessionExpires(1800, "uac") in [v for _, v in headers]


def test_malformed_timer_headers_count_as_absent() -> None:
    # a Session-Expires or Min-SE that does not parse is no request for a timer
    timer = SessionTimer()
    invite = request(("Session-Expires", "soon"), ("Min-SE", "x"), ("Supported", "timer"))
    assert timer.receive_request(invite) is None
    assert named(timer.answer(invite, 0.0)) == {"Session-Expires": "1800;refresher=uac",
                                                "Require": "timer"}
    sent = request(*SessionTimer().request_headers())
    timer = SessionTimer()
    timer.request_headers()
    timer.receive_response(sent, response(sent, 200, ("Session-Expires", "bad")), 0.0)
    assert timer.state is TimerState.LOCAL and timer.interval == 1800  # as if absent (§7.2)
