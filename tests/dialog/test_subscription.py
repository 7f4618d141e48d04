"""RFC 6665 subscriptions: a subscriber and a notifier talking through the wire
(every message serialized and parsed again), every edge of both tables, Timer N,
refresh and expiry on a driven clock, and the 481/489 answers to stray NOTIFYs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.dialog.actions import SendRequest, SendResponse
from sipwire.dialog.events import EventPackages, MessageCounts, MessageSummary
from sipwire.dialog.subscription import (
    NOTIFIER_TABLE,
    SUBSCRIBER_TABLE,
    Notified,
    Notifier,
    NotifierState,
    Subscriber,
    SubscriberState,
    SubscriptionAction,
    SubscriptionEnded,
    Subscriptions,
    retry_delay,
)
from sipwire.message.fields.events import SubscriptionState
from sipwire.transaction.config import TimerConfig

T1 = 0.5
TIMER_N = 64 * T1
PACKAGES = EventPackages.default()
SUMMARY = MessageSummary(True, "sip:alice@example.com",
                         (("voice-message", MessageCounts(2, 8, 0, 2)),))

W, P, A, T = (SubscriberState.NOTIFY_WAIT, SubscriberState.PENDING, SubscriberState.ACTIVE,
              SubscriberState.TERMINATED)


def wire_request(message: Request) -> Request:
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, Request)
    return parsed


def wire_response(message: Response) -> Response:
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, Response)
    return parsed


def subscribe(expires: int | None = 600, event: str = "message-summary",
              *headers: tuple[str, str]) -> Request:
    extra = [("Event", event), *headers]
    if expires is not None:
        extra.append(("Expires", str(expires)))
    return wire_request(Request.build(
        "SUBSCRIBE", "sip:alice@vm.example.com", from_="<sip:alice@example.com>;tag=sub1",
        call_id="sub-1@example.com", contact="<sip:alice@192.0.2.1:5060>", headers=extra))


def kinds(actions: Sequence[SubscriptionAction]) -> list[str]:
    return [type(a).__name__ for a in actions]


def sent_request(actions: Sequence[SubscriptionAction], index: int = -1) -> Request:
    action = actions[index]
    assert isinstance(action, SendRequest)
    return wire_request(action.request)


def sent_response(actions: Sequence[SubscriptionAction], index: int = 0) -> Response:
    action = actions[index]
    assert isinstance(action, SendResponse)
    return wire_response(action.response)


class Pair:
    """A subscriber and the notifier its SUBSCRIBE reached, at time 0."""

    def __init__(self, *, pending: bool = False, expires: int = 600) -> None:
        self.subscriber = Subscriber(subscribe(expires), timers=TimerConfig(t1=T1))
        started = self.subscriber.start(0.0)
        arrived = sent_request(started)
        notifier, actions = Notifier.receive_subscribe(
            arrived, 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9", pending=pending,
            resource_state=SUMMARY, to_tag="vm1")
        assert notifier is not None
        self.notifier = notifier
        self.ok = sent_response(actions, 0)
        self.first_notify = sent_request(actions, 1)

    def answer(self, now: float = 0.1) -> list[SubscriptionAction]:
        return self.subscriber.receive_response(self.subscriber.request, self.ok, now)

    def notify_first(self, now: float = 0.2) -> list[SubscriptionAction]:
        return self.subscriber.receive_notify(self.first_notify, now)

    def notify(self, substate: str, now: float = 1.0) -> list[SubscriptionAction]:
        """A later NOTIFY of the notifier with ``substate`` written in."""
        made = self.notifier._notify("active", now, SUMMARY)
        made.headers.set("Subscription-State", substate)
        return self.subscriber.receive_notify(wire_request(made), now)


# -- the happy path ------------------------------------------------------------------


def test_subscribe_200_notify_and_body() -> None:
    pair = Pair()
    assert pair.ok.status == 200 and pair.ok.expires == 600
    assert pair.first_notify.method == "NOTIFY"
    state = pair.first_notify.headers.first("Subscription-State")
    assert state == SubscriptionState("active", expires=600)
    assert pair.first_notify.headers.get("Event") == "message-summary"
    assert pair.first_notify.content_type.mime == "application/simple-message-summary"
    assert MessageSummary.parse(pair.first_notify.body) == SUMMARY
    assert pair.answer() == []
    actions = pair.notify_first()
    assert kinds(actions) == ["SendResponse", "Notified"]
    assert sent_response(actions).status == 200
    notified = actions[1]
    assert isinstance(notified, Notified)
    assert notified.state == "active" and notified.expires == 600
    assert notified.body == bytes(SUMMARY)
    assert pair.subscriber.state is A
    # the dialog ids mirror each other
    assert pair.subscriber.dialog is not None
    sub_id, not_id = pair.subscriber.dialog.id, pair.notifier.dialog.id
    assert (sub_id.local_tag, sub_id.remote_tag) == (not_id.remote_tag, not_id.local_tag)


def test_notify_before_the_2xx_creates_the_dialog() -> None:
    pair = Pair()
    actions = pair.notify_first(0.05)
    assert kinds(actions) == ["SendResponse", "Notified"]
    dialog = pair.subscriber.dialog
    assert dialog is not None
    assert dialog.id.remote_tag == "vm1" and dialog.id.local_tag == "sub1"
    assert str(dialog.remote_target) == "sip:vm@192.0.2.9"
    assert dialog.local_seq == 1
    # the late 2xx keeps that dialog and sets the expiry
    assert pair.answer(0.1) == []
    assert pair.subscriber.dialog is dialog
    # a refresh goes in that dialog with a higher CSeq
    refresh = sent_request(pair.subscriber.refresh(1.0))
    assert refresh.cseq.seq == 2 and refresh.to.tag == "vm1"
    assert refresh.headers.get("Event") == "message-summary"
    assert refresh.expires == 600 and str(refresh.uri) == "sip:vm@192.0.2.9"


def test_refresh_at_a_fraction_before_expiry_then_notify_re_arms() -> None:
    pair = Pair(expires=600)
    pair.answer(0.0)
    pair.notify_first(0.0)
    # 600 s granted: refresh Timer-N-long (32 s) before expiry
    assert pair.subscriber.next_deadline() == 600 - TIMER_N
    actions = pair.subscriber.handle_timer(600 - TIMER_N)
    refresh = sent_request(actions)
    assert refresh.method == "SUBSCRIBE" and refresh.expires == 600
    # the notifier answers it with 200 and a NOTIFY
    answered = pair.notifier.receive_subscribe_refresh(refresh, 570.0, SUMMARY)
    assert kinds(answered) == ["SendResponse", "SendRequest"]
    pair.subscriber.receive_response(refresh, sent_response(answered), 570.0)
    got = pair.subscriber.receive_notify(sent_request(answered), 570.0)
    assert kinds(got) == ["SendResponse", "Notified"]
    assert pair.subscriber.next_deadline() == 570 + 600 - TIMER_N


def test_short_subscription_refreshes_at_half() -> None:
    pair = Pair(expires=40)
    pair.answer(0.0)
    pair.notify_first(0.0)
    assert pair.subscriber.next_deadline() == 20.0


def test_unsubscribe_and_final_notify() -> None:
    pair = Pair()
    pair.answer()
    pair.notify_first()
    unsub = sent_request(pair.subscriber.unsubscribe(5.0))
    assert unsub.expires == 0
    answered = pair.notifier.receive_subscribe_refresh(unsub, 5.0)
    assert sent_response(answered).expires == 0
    final = sent_request(answered)
    assert final.headers.first("Subscription-State") == SubscriptionState(
        "terminated", reason="timeout")
    assert pair.notifier.state is NotifierState.TERMINATED
    pair.subscriber.receive_response(unsub, sent_response(answered), 5.1)
    actions = pair.subscriber.receive_notify(final, 5.1)
    assert kinds(actions) == ["SendResponse", "SubscriptionEnded"]
    ended = actions[1]
    assert isinstance(ended, SubscriptionEnded) and ended.reason == "timeout"
    assert pair.subscriber.state is T
    # anything later is 481
    assert sent_response(pair.subscriber.receive_notify(final, 6.0)).status == 481


# -- subscriber edges ------------------------------------------------------------------------

Setup = Callable[[Pair], None]


def waiting(pair: Pair) -> None:
    pass


def waiting_2xx(pair: Pair) -> None:
    pair.answer()


def waiting_short_2xx(pair: Pair) -> None:
    """A 2xx granting 10 s, less than Timer N, and no NOTIFY yet."""
    ok = wire_response(pair.subscriber.request.reply(
        200, to_tag="vm1", contact="<sip:vm@192.0.2.9>", headers=[("Expires", "10")]))
    pair.subscriber.receive_response(pair.subscriber.request, ok, 0.0)


def pending(pair: Pair) -> None:
    pair.answer()
    pair.notify("pending;expires=600", 0.2)


def active(pair: Pair) -> None:
    pair.answer()
    pair.notify_first()


def respond(pair: Pair, status: int, *headers: tuple[str, str]) -> list[SubscriptionAction]:
    sub = pair.subscriber
    if sub.state is W:
        request = sub.request
    else:
        request = sent_request(sub.refresh(1.0))
    response = wire_response(request.reply(status, to_tag="vm1", headers=list(headers)))
    return sub.receive_response(request, response, 1.5)


def fire(pair: Pair, event: str) -> list[SubscriptionAction]:
    sub = pair.subscriber
    if event == "2xx":
        return respond(pair, 200, ("Expires", "300"), ("Contact", "<sip:vm@192.0.2.9>"))
    if event == "423":
        return respond(pair, 423, ("Min-Expires", "1200"))
    if event == "failure":
        return respond(pair, 500 if sub.state is not W else 403)
    if event == "terminating failure":
        return respond(pair, 481)
    if event.startswith("NOTIFY "):
        substate = event.removeprefix("NOTIFY ")
        if substate == "terminated":
            substate = "terminated;reason=noresource"
        else:
            substate += ";expires=500"
        return pair.notify(substate, 2.0)
    if event == "Timer N":
        if sub.state is not W:
            sub.refresh(10.0)
        return sub.handle_timer(10.0 + TIMER_N)
    if event == "expiry":
        deadline = sub.expires_at
        assert deadline is not None
        return sub.handle_timer(deadline)
    if event == "refresh":
        return sub.refresh(3.0)
    assert event in ("unsubscribe", "unsubscribe, no dialog")
    return sub.unsubscribe(3.0)


SUB_CASES: list[tuple[Setup, str, list[str], SubscriberState]] = [
    (waiting_2xx, "2xx", [], W),
    (waiting, "423", ["SendRequest"], W),
    (waiting, "failure", ["SubscriptionEnded"], T),
    (waiting, "NOTIFY active", ["SendResponse", "Notified"], A),
    (waiting, "NOTIFY pending", ["SendResponse", "Notified"], P),
    (waiting, "NOTIFY terminated", ["SendResponse", "SubscriptionEnded"], T),
    (waiting, "Timer N", ["SubscriptionEnded"], T),
    (waiting_short_2xx, "expiry", ["SubscriptionEnded"], T),
    (waiting_2xx, "unsubscribe", ["SendRequest"], W),
    (waiting, "unsubscribe, no dialog", ["SubscriptionEnded"], T),
    (pending, "NOTIFY active", ["SendResponse", "Notified"], A),
    (pending, "NOTIFY pending", ["SendResponse", "Notified"], P),
    (active, "NOTIFY active", ["SendResponse", "Notified"], A),
    (active, "NOTIFY pending", ["SendResponse", "Notified"], P),
]
for _setup, _state in ((pending, P), (active, A)):
    SUB_CASES += [
        (_setup, "NOTIFY terminated", ["SendResponse", "SubscriptionEnded"], T),
        (_setup, "refresh", ["SendRequest"], _state),
        (_setup, "unsubscribe", ["SendRequest"], _state),
        (_setup, "2xx", [], _state),
        (_setup, "423", ["SendRequest"], _state),
        (_setup, "terminating failure", ["SubscriptionEnded"], T),
        (_setup, "failure", [], _state),
        (_setup, "Timer N", ["SubscriptionEnded"], T),
        (_setup, "expiry", ["SubscriptionEnded"], T),
    ]


@pytest.mark.parametrize(("setup", "event", "expected", "next_state"), SUB_CASES)
def test_subscriber_edge(setup: Setup, event: str, expected: list[str],
                         next_state: SubscriberState) -> None:
    pair = Pair()
    setup(pair)
    actions = fire(pair, event)
    assert kinds(actions) == expected
    assert pair.subscriber.state is next_state


def test_every_subscriber_edge_has_a_test() -> None:
    walked = set()
    for setup, event, _, next_state in SUB_CASES:
        pair = Pair()
        setup(pair)
        walked.add((pair.subscriber.state, event, next_state))
    assert walked == SUBSCRIBER_TABLE


# -- subscriber details ----------------------------------------------------------------------


def test_423_retry_raises_expires_and_cseq() -> None:
    pair = Pair()
    first_branch = pair.subscriber.request.top_via.branch
    actions = respond(pair, 423, ("Min-Expires", "1200"))
    retry = sent_request(actions)
    assert retry.expires == 1200 and retry.cseq.seq == 2
    assert retry.call_id == "sub-1@example.com" and retry.from_.tag == "sub1"
    assert retry.top_via.branch != first_branch
    assert pair.subscriber.request.cseq.seq == 2  # the retry is the request now
    # a 423 without Min-Expires cannot be retried: the subscription failed
    pair = Pair()
    assert kinds(respond(pair, 423)) == ["SubscriptionEnded"]


def test_failure_reason_and_timer_n_reason() -> None:
    pair = Pair()
    ended = respond(pair, 489)[0]
    assert isinstance(ended, SubscriptionEnded) and ended.reason == "489"
    pair = Pair()
    assert pair.subscriber.next_deadline() == TIMER_N
    assert pair.subscriber.handle_timer(TIMER_N - 0.1) == []
    ended = pair.subscriber.handle_timer(TIMER_N)[0]
    assert isinstance(ended, SubscriptionEnded) and ended.reason == "Timer N"
    # after Timer N, a NOTIFY that would create a dialog gets 481 (§4.1.2.4)
    assert sent_response(pair.notify_first(TIMER_N + 1)).status == 481
    assert pair.subscriber.handle_timer(1000.0) == []


def test_2xx_does_not_stop_timer_n() -> None:
    pair = Pair()
    pair.answer(1.0)
    assert pair.subscriber.next_deadline() == TIMER_N
    pair.notify_first(2.0)
    assert pair.subscriber.next_deadline() == 2.0 + 600 - TIMER_N


def test_notify_expires_is_authoritative() -> None:
    pair = Pair()
    pair.answer(0.0)
    pair.notify("active;expires=100", 10.0)
    assert pair.subscriber.expires == 100 and pair.subscriber.expires_at == 110.0


def test_terminated_reasons_and_retry() -> None:
    pair = Pair()
    pair.answer()
    actions = pair.notify("terminated;reason=probation;retry-after=30;expires=99")
    ended = actions[1]
    assert isinstance(ended, SubscriptionEnded)
    assert (ended.reason, ended.retry_after, ended.retry) == ("probation", 30, 30.0)
    assert retry_delay("deactivated", 50) == 0.0
    assert retry_delay("timeout", None) == 0.0
    for reason in ("rejected", "noresource", "invariant"):
        assert retry_delay(reason, 10) is None
    assert retry_delay("giveup", None) == 0.0
    assert retry_delay("giveup", 60) == 60.0
    assert retry_delay(None, 5) == 5.0


def test_bad_notifies() -> None:
    pair = Pair()
    pair.answer()
    made = pair.notifier._notify("active", 1.0, SUMMARY)
    made.headers.remove("Subscription-State")
    assert sent_response(pair.subscriber.receive_notify(wire_request(made), 1.0)).status == 400
    made.headers.set("Subscription-State", "act ive")
    assert sent_response(pair.subscriber.receive_notify(wire_request(made), 1.0)).status == 400
    # an Event of another subscription does not match
    made.headers.set("Subscription-State", "active")
    made.headers.set("Event", "presence")
    assert sent_response(pair.subscriber.receive_notify(wire_request(made), 1.0)).status == 481
    # an out-of-order CSeq in the dialog gets 500 (RFC 3261 §12.2.2)
    pair.notify_first()
    old = pair.notifier._notify("active", 1.0, SUMMARY)
    newer = pair.notifier._notify("active", 1.0, SUMMARY)
    assert sent_response(pair.subscriber.receive_notify(wire_request(newer), 1.0)).status == 200
    assert sent_response(pair.subscriber.receive_notify(wire_request(old), 1.0)).status == 500


def test_first_notify_without_contact_cannot_make_the_dialog() -> None:
    pair = Pair()
    made = wire_request(pair.first_notify)
    made.headers.remove("Contact")
    refused = sent_response(pair.subscriber.receive_notify(wire_request(made), 0.1))
    assert refused.status == 400 and refused.reason == "Missing Contact"
    assert pair.subscriber.dialog is None and pair.subscriber.state is W


def test_extension_substate_is_reported_without_a_state_change() -> None:
    pair = Pair()
    pair.answer()
    actions = pair.notify("x-later;expires=5")
    assert kinds(actions) == ["SendResponse", "Notified"]
    assert pair.subscriber.state is W


def test_refresh_needs_a_subscription() -> None:
    pair = Pair()
    with pytest.raises(ValueError, match="no subscription"):
        pair.subscriber.refresh(1.0)
    with pytest.raises(ValueError, match="Event"):
        Subscriber(wire_request(Request.build("SUBSCRIBE", "sip:a@b", from_="<sip:c@d>")))


def test_unsubscribe_when_terminated_does_nothing() -> None:
    pair = Pair()
    pair.subscriber.handle_timer(TIMER_N)
    assert pair.subscriber.unsubscribe(40.0) == []


def test_unsubscribe_timer_n_without_final_notify() -> None:
    pair = Pair()
    active(pair)
    pair.subscriber.unsubscribe(10.0)
    ended = pair.subscriber.handle_timer(10.0 + TIMER_N)[0]
    assert isinstance(ended, SubscriptionEnded) and ended.reason == "Timer N"


# -- Subscriptions: NOTIFYs matching nothing -----------------------------------------------------


def test_subscriptions_481_489_and_dispatch() -> None:
    subs = Subscriptions()
    pair = Pair()
    subs.add(pair.subscriber)
    assert len(subs) == 1 and list(subs) == [pair.subscriber]
    assert kinds(subs.receive_notify(pair.first_notify, 0.1)) == ["SendResponse", "Notified"]
    stray = pair.notifier._notify("active", 1.0, SUMMARY)
    stray.headers.set("Call-ID", "other@example.com")
    assert sent_response(subs.receive_notify(wire_request(stray), 1.0)).status == 481
    stray.headers.set("Event", "presence")
    bad = sent_response(subs.receive_notify(wire_request(stray), 1.0))
    assert bad.status == 489 and bad.headers.getall("Allow-Events") == ["message-summary", "refer"]
    stray.headers.remove("Event")
    assert sent_response(subs.receive_notify(wire_request(stray), 1.0)).status == 489
    assert subs.prune() == []
    pair.subscriber.handle_timer(10_000.0)
    assert subs.prune() == [pair.subscriber] and len(subs) == 0


# -- the notifier ------------------------------------------------------------------------------


def test_notifier_refusals() -> None:
    unknown, actions = Notifier.receive_subscribe(
        subscribe(600, "presence"), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9")
    assert unknown is None and sent_response(actions).status == 489
    assert sent_response(actions).headers.getall("Allow-Events") == ["message-summary", "refer"]
    _, actions = Notifier.receive_subscribe(
        subscribe(60), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9", min_expires=300)
    too_brief = sent_response(actions)
    assert too_brief.status == 423 and too_brief.min_expires == 300
    # an hour or more is never too brief (§4.2.1.1)
    notifier, _ = Notifier.receive_subscribe(
        subscribe(3600), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9", min_expires=7200)
    assert notifier is not None
    _, actions = Notifier.receive_subscribe(
        subscribe(600, "message-summary", ("Accept", "application/pidf+xml")), 0.0,
        packages=PACKAGES, contact="sip:vm@192.0.2.9")
    assert sent_response(actions).status == 406
    _, actions = Notifier.receive_subscribe(
        subscribe(600, "refer"), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9")
    assert sent_response(actions).status == 403
    no_contact = subscribe(600)
    no_contact.headers.remove("Contact")
    _, actions = Notifier.receive_subscribe(no_contact, 0.0, packages=PACKAGES,
                                            contact="sip:vm@192.0.2.9")
    assert sent_response(actions).status == 400


def test_notifier_default_and_max_expires() -> None:
    notifier, actions = Notifier.receive_subscribe(
        subscribe(None), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9")
    assert notifier is not None and sent_response(actions).expires == 3600  # RFC 3842
    notifier, actions = Notifier.receive_subscribe(
        subscribe(7200), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9", max_expires=600)
    assert notifier is not None and sent_response(actions).expires == 600
    assert notifier.expires_at == 600.0


def notifier_pair(state: NotifierState) -> Pair:
    return Pair(pending=state is NotifierState.PENDING)


def notifier_fire(pair: Pair, event: str) -> list[SubscriptionAction]:
    notifier = pair.notifier
    if event == "authorized":
        return notifier.authorize(True, 1.0, SUMMARY)
    if event == "rejected":
        return notifier.authorize(False, 1.0)
    if event == "state change":
        return notifier.notify(1.0, SUMMARY)
    if event in ("refresh", "unsubscribe"):
        pair.answer()
        pair.notify_first()
        request = sent_request(pair.subscriber.refresh(2.0) if event == "refresh"
                               else pair.subscriber.unsubscribe(2.0))
        return notifier.receive_subscribe_refresh(request, 2.0, SUMMARY)
    if event == "expiry":
        return notifier.handle_timer(600.0)
    if event == "terminate":
        return notifier.terminate(1.0, "deactivated")
    assert event == "NOTIFY failure"
    notify = notifier.notify(1.0, SUMMARY)
    request = sent_request(notify)
    return notifier.receive_response(request, wire_response(request.reply(481)), 1.5)


NA, NP, NT = NotifierState.ACTIVE, NotifierState.PENDING, NotifierState.TERMINATED
NOTIFIER_CASES: list[tuple[NotifierState, str, list[str], NotifierState]] = [
    (NP, "authorized", ["SendRequest"], NA),
    (NP, "rejected", ["SendRequest"], NT),
]
for _nstate in (NP, NA):
    NOTIFIER_CASES += [
        (_nstate, "state change", ["SendRequest"], _nstate),
        (_nstate, "refresh", ["SendResponse", "SendRequest"], _nstate),
        (_nstate, "unsubscribe", ["SendResponse", "SendRequest"], NT),
        (_nstate, "expiry", ["SendRequest"], NT),
        (_nstate, "terminate", ["SendRequest"], NT),
        (_nstate, "NOTIFY failure", ["SubscriptionEnded"], NT),
    ]


@pytest.mark.parametrize(("state", "event", "expected", "next_state"), NOTIFIER_CASES)
def test_notifier_edge(state: NotifierState, event: str, expected: list[str],
                       next_state: NotifierState) -> None:
    pair = notifier_pair(state)
    assert pair.notifier.state is state
    assert kinds(notifier_fire(pair, event)) == expected
    assert pair.notifier.state is next_state


def test_notifier_initial_edges() -> None:
    assert Pair().notifier.state is NA            # SUBSCRIBE, authorized
    pair = Pair(pending=True)                     # SUBSCRIBE, pending
    assert pair.notifier.state is NP
    assert pair.first_notify.headers.first("Subscription-State") == SubscriptionState(
        "pending", expires=600)
    assert pair.first_notify.body == b""
    fetch, actions = Notifier.receive_subscribe(   # SUBSCRIBE, fetch
        subscribe(0), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9",
        resource_state=SUMMARY)
    assert fetch is not None and fetch.state is NT
    final = sent_request(actions)
    assert final.headers.first("Subscription-State") == SubscriptionState(
        "terminated", reason="timeout")
    assert MessageSummary.parse(final.body) == SUMMARY
    assert fetch.next_deadline() is None
    implicit = Notifier.implicit(pair.notifier.dialog, PACKAGES.get("refer") or
                                 pytest.fail("no refer package"),
                                 pair.notifier.event, 0.0)
    assert implicit.state is NA and implicit.expires_at == 60.0


def test_every_notifier_edge_has_a_test() -> None:
    walked = {(s, e, n) for s, e, _, n in NOTIFIER_CASES}
    walked |= {(NotifierState.INIT, "SUBSCRIBE, authorized", NA),
               (NotifierState.INIT, "SUBSCRIBE, pending", NP),
               (NotifierState.INIT, "SUBSCRIBE, fetch", NT),
               (NotifierState.INIT, "implicit", NA)}  # test_notifier_initial_edges
    assert walked == NOTIFIER_TABLE


def test_notifier_details() -> None:
    pair = Pair(pending=True)
    rejected = sent_request(pair.notifier.authorize(False, 1.0))
    assert rejected.headers.first("Subscription-State") == SubscriptionState(
        "terminated", reason="rejected")
    with pytest.raises(ValueError, match="not pending"):
        pair.notifier.authorize(True, 2.0)
    with pytest.raises(ValueError, match="no NOTIFY"):
        pair.notifier.notify(2.0, SUMMARY)
    assert pair.notifier.terminate(2.0) == []
    pair = Pair()
    # expiry NOTIFY says timeout; the deadline is the granted duration
    assert pair.notifier.next_deadline() == 600.0
    assert pair.notifier.handle_timer(599.0) == []
    final = sent_request(pair.notifier.handle_timer(600.0))
    assert final.headers.first("Subscription-State") == SubscriptionState(
        "terminated", reason="timeout")
    # a later NOTIFY says how long is left
    pair = Pair()
    later = sent_request(pair.notifier.notify(100.0, SUMMARY))
    assert later.headers.first("Subscription-State") == SubscriptionState("active",
                                                                            expires=500)
    # terminate with retry-after
    final = sent_request(pair.notifier.terminate(1.0, "probation", retry_after=30))
    assert final.headers.get("Subscription-State") == (
        "terminated;reason=probation;retry-after=30")


def test_notifier_responses_that_keep_the_subscription() -> None:
    pair = Pair()
    request = sent_request(pair.notifier.notify(1.0, SUMMARY))
    assert pair.notifier.receive_response(request, wire_response(request.reply(200)), 1.0) == []
    assert pair.notifier.receive_response(request, wire_response(request.reply(500)), 1.0) == []
    assert pair.notifier.state is NA
    ended = pair.notifier.receive_response(request, wire_response(request.reply(408)), 1.0)
    assert kinds(ended) == ["SubscriptionEnded"]


def test_notifier_refresh_refusals() -> None:
    pair = Pair()
    pair.notifier.min_expires = 300
    pair.answer()
    pair.notify_first()
    short = sent_request(pair.subscriber.refresh(1.0, expires=60))
    assert sent_response(pair.notifier.receive_subscribe_refresh(short, 1.0)).status == 423
    other = sent_request(pair.subscriber.refresh(1.0))
    other.headers.set("Event", "presence")
    assert sent_response(pair.notifier.receive_subscribe_refresh(other, 1.0)).status == 481
    pair.notifier.max_expires = 100
    capped = sent_request(pair.subscriber.refresh(1.0, expires=500))
    answered = pair.notifier.receive_subscribe_refresh(capped, 1.0)
    assert sent_response(answered).expires == 100
    stale = sent_request(pair.subscriber.refresh(1.0))
    newer = sent_request(pair.subscriber.refresh(1.0))
    pair.notifier.receive_subscribe_refresh(newer, 1.0)
    assert sent_response(pair.notifier.receive_subscribe_refresh(stale, 1.0)).status == 500


def test_subscriber_details() -> None:
    # provisional responses change nothing; a 2xx without Expires keeps the one asked for
    pair = Pair(expires=300)
    sub = pair.subscriber
    trying = wire_response(sub.request.reply(100))
    assert sub.receive_response(sub.request, trying, 0.0) == []
    ok = wire_response(sub.request.reply(200, to_tag="vm1", contact="<sip:vm@192.0.2.9>"))
    ok.headers.remove("Expires")
    sub.receive_response(sub.request, ok, 0.0)
    pair.notify("active", 1.0)  # no expires parameter: the 2xx's duration holds
    assert sub.expires == 300 and sub.expires_at == 300.0
    # the Accept of the SUBSCRIBE goes into its refreshes
    sub = Subscriber(subscribe(600, "message-summary",
                               ("Accept", "application/simple-message-summary")))
    notifier, actions = Notifier.receive_subscribe(
        sent_request(sub.start(0.0)), 0.0, packages=PACKAGES, contact="sip:vm@192.0.2.9",
        resource_state=SUMMARY)
    assert notifier is not None
    sub.receive_notify(sent_request(actions), 0.1)
    refresh = sent_request(sub.refresh(1.0))
    assert refresh.headers.get("Accept") == "application/simple-message-summary"


def test_malformed_headers_count_as_absent() -> None:
    pair = Pair()
    sub = pair.subscriber
    # a 423 whose Min-Expires does not parse cannot be retried
    bad = wire_response(sub.request.reply(423, headers=[("Min-Expires", "soon")]))
    assert kinds(sub.receive_response(sub.request, bad, 0.0)) == ["SubscriptionEnded"]
    # a 2xx with a malformed Expires keeps the duration asked for
    pair = Pair()
    ok = wire_response(pair.subscriber.request.reply(
        200, to_tag="vm1", contact="<sip:vm@192.0.2.9>", headers=[("Expires", "x")]))
    pair.subscriber.receive_response(pair.subscriber.request, ok, 0.0)
    assert pair.subscriber.expires == 600
    # a NOTIFY with a malformed Event matches nothing
    made = wire_request(pair.first_notify)
    made.headers.set("Event", "a..b")
    assert not pair.subscriber.matches(wire_request(made))


def test_no_refresh_before_the_first_notify() -> None:
    # a 2xx granting 40 s: its refresh (at 20 s) waits for the subscription to exist
    pair = Pair(expires=40)
    ok = wire_response(pair.subscriber.request.reply(
        200, to_tag="vm1", contact="<sip:vm@192.0.2.9>", headers=[("Expires", "40")]))
    pair.subscriber.receive_response(pair.subscriber.request, ok, 0.0)
    assert pair.subscriber.next_deadline() == TIMER_N
    assert pair.subscriber.handle_timer(20.0) == []
    # the NOTIFY comes late: the overdue refresh goes out at the next timer
    pair.notify("active", 25.0)
    assert pair.subscriber.next_deadline() == 20.0
    refresh = sent_request(pair.subscriber.handle_timer(25.0))
    assert refresh.method == "SUBSCRIBE" and refresh.expires == 40
