"""Any sequence of refreshes, answers, 422s, failures and timer firings keeps a
``SessionTimer`` on its table, and a fired deadline is never offered again."""

from __future__ import annotations

from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import Request, Response
from sipwire.dialog.session_timer import SessionTimer, SessionTimerConfig, TimerState
from sipwire.message.fields.base import Field

OPS = st.lists(st.tuples(
    st.sampled_from(["2xx", "2xx bare", "422", "481", "500", "peer refresh", "timer"]),
    st.integers(90, 7200), st.sampled_from([None, "uac", "uas"])), max_size=25)


def request(headers: list[tuple[str, str | Field]], method: str = "UPDATE") -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        method, "sip:bob@example.com", from_="<sip:a@example.com>;tag=a", call_id="c",
        headers=headers)))
    assert isinstance(parsed, Request)
    return parsed


def response(req: Request, status: int, headers: list[tuple[str, str]]) -> Response:
    parsed = sipwire.parse(bytes(req.reply(status, to_tag="b", headers=headers)))
    assert isinstance(parsed, Response)
    return parsed


@settings(max_examples=150, deadline=None)
@given(OPS, st.sampled_from([None, "uac", "uas"]))
def test_any_sequence_stays_on_the_table(ops: list[tuple[str, int, str | None]],
                                         preference: Literal["uac", "uas"] | None) -> None:
    timer = SessionTimer(SessionTimerConfig(refresher=preference))
    now = 0.0
    for op, seconds, refresher in ops:
        now += 1.0
        se = f"{seconds}" + (f";refresher={refresher}" if refresher else "")
        if op == "peer refresh":
            got = request([("Session-Expires", se), ("Supported", "timer")])
            if timer.receive_request(got) is None:
                timer.answer(got, now)
        elif op == "timer":
            deadline = timer.next_deadline()
            if deadline is not None:
                now = max(now, deadline)
                timer.handle_timer(now)
                later = timer.next_deadline()
                assert later is None or later > deadline
        else:
            sent = request(timer.request_headers())
            extra = {"2xx": [("Session-Expires", se)], "2xx bare": [("Supported", "timer")],
                     "422": [("Min-SE", str(seconds))]}.get(op, [])
            status = {"2xx": 200, "2xx bare": 200, "422": 422}.get(op) or int(op)
            timer.receive_response(sent, response(sent, status, extra), now)
        # a deadline exists exactly while a timer runs
        running = timer.state in (TimerState.LOCAL, TimerState.REMOTE)
        assert (timer.next_deadline() is not None) == running
        assert (timer.interval is not None) == running or timer.state is TimerState.EXPIRED
