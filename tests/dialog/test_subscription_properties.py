"""Any sequence of responses, NOTIFYs, refreshes, unsubscribes and timer firings
keeps a ``Subscriber`` on its table, and a fired deadline is never offered again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import sipwire
from sipwire import Request, Response
from sipwire.dialog.subscription import Subscriber, SubscriberState
from sipwire.transaction.config import TimerConfig

OPS = st.lists(st.tuples(
    # timers fire often: their deadlines are what this test is about
    st.sampled_from(["2xx", "423", "481", "500", "active", "pending", "terminated",
                     "refresh", "unsubscribe", "timer", "timer", "timer", "wait"]),
    # durations around Timer N (32 s) and half of it matter most
    st.one_of(st.sampled_from([0, 1, 10, 20, 40, 63, 64, 65, 600, 3600]), st.integers(0, 4000))),
    max_size=25)


def subscribe() -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        "SUBSCRIBE", "sip:vm@example.com", from_="<sip:a@example.com>;tag=a", call_id="c",
        contact="<sip:a@192.0.2.1>", headers=[("Event", "message-summary"),
                                              ("Expires", "600")])))
    assert isinstance(parsed, Request)
    return parsed


def notify(cseq: int, substate: str) -> Request:
    parsed = sipwire.parse(bytes(Request.build(
        "NOTIFY", "sip:a@192.0.2.1", from_="<sip:vm@example.com>;tag=n",
        to="<sip:a@example.com>;tag=a", call_id="c", cseq=cseq, contact="<sip:vm@192.0.2.9>",
        headers=[("Event", "message-summary"), ("Subscription-State", substate)])))
    assert isinstance(parsed, Request)
    return parsed


def answer(req: Request, status: int, headers: list[tuple[str, str]]) -> Response:
    parsed = sipwire.parse(bytes(req.reply(status, to_tag="n", contact="<sip:vm@192.0.2.9>",
                                           headers=headers)))
    assert isinstance(parsed, Response)
    return parsed


@settings(max_examples=500, deadline=None)
@given(OPS)
def test_any_sequence_stays_on_the_table(ops: list[tuple[str, int]]) -> None:
    sub = Subscriber(subscribe(), timers=TimerConfig(t1=0.5))
    sub.start(0.0)
    last = sub.request
    now = 0.0
    cseq = 1
    for op, seconds in ops:
        now += 0.5
        if op in ("2xx", "423", "481", "500"):
            status = 200 if op == "2xx" else int(op)
            header = {"2xx": "Expires", "423": "Min-Expires"}.get(op)
            sub.receive_response(last, answer(last, status, [(header, str(seconds))]
                                              if header else []), now)
        elif op in ("active", "pending", "terminated"):
            cseq += 1
            sub.receive_notify(notify(cseq, f"{op};expires={seconds}"), now)
        elif op in ("refresh", "unsubscribe"):
            try:
                actions = sub.refresh(now) if op == "refresh" else sub.unsubscribe(now)
            except ValueError:
                continue  # no subscription to refresh yet
            if actions and hasattr(actions[0], "request"):
                last = actions[0].request
        elif op == "timer":
            deadline = sub.next_deadline()
            if deadline is not None:
                now = max(now, deadline)
                sub.handle_timer(now)
                later = sub.next_deadline()
                assert later is None or later > deadline
        else:
            now += seconds
        if sub.state is SubscriberState.TERMINATED:
            assert sub.next_deadline() is None
