"""RFC 3515 REFER with its implicit subscription, and RFC 3891 Replaces: a blind and
an attended transfer walked message by message through the wire."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.dialog.actions import SendRequest, SendResponse
from sipwire.dialog.dialog import Dialog
from sipwire.dialog.refer import (
    ReferNotifier,
    ReferTarget,
    build_refer,
    match_replaces,
    progress_status,
    refer_to,
    replaces_for,
)
from sipwire.dialog.subscription import (
    Notified,
    Subscriber,
    SubscriberState,
    SubscriptionAction,
    SubscriptionEnded,
)
from sipwire.message.fields.events import Event, SubscriptionState
from sipwire.message.fields.refer import ReferredBy, ReferTo, Replaces
from sipwire.transaction.config import TimerConfig


def wire_request(message: Request) -> Request:
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, Request)
    return parsed


def wire_response(message: Response) -> Response:
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, Response)
    return parsed


def call(caller: str, callee: str, call_id: str, *, status: int = 200) -> tuple[Dialog, Dialog]:
    """(caller's dialog, callee's dialog) of an INVITE answered with ``status``."""
    invite = wire_request(Request.build(
        "INVITE", f"sip:{callee}@192.0.2.20", from_=f"<sip:{caller}@example.com>;tag={caller}",
        to=f"<sip:{callee}@example.com>", call_id=call_id,
        contact=f"<sip:{caller}@192.0.2.10>"))
    answer = wire_response(invite.reply(status, to_tag=callee,
                                        contact=f"<sip:{callee}@192.0.2.20>"))
    return Dialog.uac(invite, answer), Dialog.uas(invite, answer)


def sent_request(actions: Sequence[SubscriptionAction], index: int = -1) -> Request:
    action = actions[index]
    assert isinstance(action, SendRequest)
    return wire_request(action.request)


def sent_response(actions: Sequence[SubscriptionAction], index: int = 0) -> Response:
    action = actions[index]
    assert isinstance(action, SendResponse)
    return wire_response(action.response)


def kinds(actions: Sequence[SubscriptionAction]) -> list[str]:
    return [type(a).__name__ for a in actions]


# -- building the REFER -----------------------------------------------------------------


def test_refer_to_with_replaces_is_escaped_as_in_rfc_3891() -> None:
    replaces = Replaces("12345@192.168.118.3", "12345", "5FFE-3994")
    value = refer_to("sip:bob@biloxi.example.com", replaces=replaces)
    # RFC 3891 §6.1's example
    assert str(value) == ("<sip:bob@biloxi.example.com?Replaces=12345%40192.168.118.3%3B"
                          "to-tag%3D12345%3Bfrom-tag%3D5FFE-3994>")
    parsed = ReferTo.parse(str(value))
    assert ReferTarget.from_refer_to(parsed).replaces == replaces
    assert str(refer_to("sip:conf@example.com", method="SUBSCRIBE", display_name="Conf")) == (
        '"Conf" <sip:conf@example.com;method=SUBSCRIBE>')


def test_replaces_for_names_the_dialog_from_the_other_side() -> None:
    alice_carol, carol_alice = call("alice", "carol", "call-ac")
    replaces = replaces_for(alice_carol)
    assert (replaces.call_id, replaces.to_tag, replaces.from_tag) == ("call-ac", "carol", "alice")
    assert replaces_for(alice_carol, early_only=True).early_only
    # exactly the dialog the transfer target finds
    assert match_replaces(wire_request(Request.build(
        "INVITE", "sip:carol@192.0.2.20", from_="<sip:alice@example.com>",
        headers=[("Replaces", str(replaces))])), [carol_alice]).dialog is carol_alice


def test_build_refer_in_the_dialog() -> None:
    alice_bob, _ = call("alice", "bob", "call-ab")
    refer = wire_request(build_refer(alice_bob, "sip:carol@example.com",
                                     referred_by="<sip:alice@example.com>"))
    assert refer.method == "REFER" and refer.cseq.seq == 2
    assert refer.to.tag == "bob" and refer.from_.tag == "alice"
    assert refer.headers.get("Refer-To") == "<sip:carol@example.com>"
    by = refer.headers.first("Referred-By")
    assert isinstance(by, ReferredBy) and str(by.uri) == "sip:alice@example.com"
    ready = ReferTo.parse("<sip:x@example.com>")
    assert wire_request(build_refer(alice_bob, ready)).headers.get("r") == "<sip:x@example.com>"


# -- a transfer, end to end ------------------------------------------------------------------


def test_attended_transfer() -> None:
    alice_bob, bob_alice = call("alice", "bob", "call-ab")
    alice_carol, carol_alice = call("alice", "carol", "call-ac")
    # Alice refers Bob to Carol, replacing her own call with Carol
    refer = build_refer(alice_bob, "sip:carol@example.com", replaces=replaces_for(alice_carol),
                        referred_by="<sip:alice@example.com>")
    referrer = Subscriber(refer, dialog=alice_bob, timers=TimerConfig(t1=0.5))
    arrived = sent_request(referrer.start(0.0))
    referee, actions = ReferNotifier.receive_refer(arrived, 0.0, dialog=bob_alice)
    assert referee is not None
    assert kinds(actions) == ["SendResponse", "SendRequest"]
    accepted = sent_response(actions)
    assert accepted.status == 202
    trying = sent_request(actions)
    assert trying.headers.first("Event") == Event("refer", id=str(arrived.cseq.seq))
    assert trying.headers.get("Content-Type") == "message/sipfrag;version=2.0"
    assert trying.body == b"SIP/2.0 100 Trying\r\n"
    assert trying.headers.first("Subscription-State") == SubscriptionState("active", expires=60)
    # Alice gets the 202 and the NOTIFY
    assert referrer.receive_response(refer, accepted, 0.1) == []
    got = referrer.receive_notify(trying, 0.1)
    assert kinds(got) == ["SendResponse", "Notified"]
    assert isinstance(got[1], Notified) and progress_status(got[1]) == 100
    assert referrer.state is SubscriberState.ACTIVE
    # Bob sends the INVITE the REFER asks for
    target = referee.target
    assert target.method == "INVITE" and str(target.uri) == "sip:carol@example.com"
    invite = wire_request(target.build(from_="<sip:bob@example.com>",
                                       contact="<sip:bob@192.0.2.20>",
                                       referred_by=str(by_of(arrived))))
    assert invite.method == "INVITE" and str(invite.uri) == "sip:carol@example.com"
    replaces = invite.headers.first("Replaces")
    assert replaces == replaces_for(alice_carol)
    # Carol matches it to her call with Alice (referred by Alice: authorized)
    match = match_replaces(invite, [carol_alice])
    assert match.reject is None and match.dialog is carol_alice and match.end_with == "BYE"
    # Bob reports progress; a repeated code sends nothing
    ringing = sent_request(referee.progress(180, 1.0))
    assert ringing.body == b"SIP/2.0 180 Ringing\r\n"
    assert referee.progress(180, 1.1) == []
    assert progress_status(ringing) == 180
    referrer.receive_notify(ringing, 1.0)
    final = sent_request(referee.progress(wire_response(invite.reply(200, to_tag="c2")), 2.0))
    assert final.body == b"SIP/2.0 200 OK\r\n"
    assert final.headers.first("Subscription-State") == SubscriptionState(
        "terminated", reason="noresource")
    assert referee.terminated and referee.progress(486, 3.0) == []
    ended = referrer.receive_notify(final, 2.0)
    assert kinds(ended) == ["SendResponse", "SubscriptionEnded"]
    end = ended[1]
    assert isinstance(end, SubscriptionEnded) and end.reason == "noresource"
    assert end.retry is None


def by_of(request: Request) -> ReferredBy:
    value = request.headers.first("Referred-By")
    assert isinstance(value, ReferredBy)
    return value


def test_second_refer_in_a_dialog_is_told_apart_by_id() -> None:
    alice_bob, bob_alice = call("alice", "bob", "call-ab")
    first = build_refer(alice_bob, "sip:carol@example.com")
    second = build_refer(alice_bob, "sip:dave@example.com")
    one = Subscriber(first, dialog=alice_bob)
    two = Subscriber(second, dialog=alice_bob)
    _, actions1 = ReferNotifier.receive_refer(wire_request(first), 0.0, dialog=bob_alice)
    _, actions2 = ReferNotifier.receive_refer(wire_request(second), 0.0, dialog=bob_alice)
    notify1, notify2 = sent_request(actions1), sent_request(actions2)
    assert notify1.headers.get("Event") == "refer;id=2"
    assert notify2.headers.get("Event") == "refer;id=3"
    assert one.matches(notify1) and not one.matches(notify2)
    assert two.matches(notify2) and not two.matches(notify1)
    # a NOTIFY without id may only be for the first REFER (RFC 3515 §2.4.6): both accept it
    plain = wire_request(notify1)
    plain.headers.set("Event", "refer")
    assert one.matches(plain)


def test_referrer_refreshes_with_the_id() -> None:
    alice_bob, bob_alice = call("alice", "bob", "call-ab")
    refer = build_refer(alice_bob, "sip:carol@example.com")
    referrer = Subscriber(refer, dialog=alice_bob)
    referrer.start(0.0)
    _, actions = ReferNotifier.receive_refer(wire_request(refer), 0.0, dialog=bob_alice)
    referrer.receive_notify(sent_request(actions), 0.0)
    refresh = sent_request(referrer.refresh(10.0))
    assert refresh.method == "SUBSCRIBE" and refresh.headers.get("Event") == "refer;id=2"
    assert refresh.expires == 60
    unsubscribe = sent_request(referrer.unsubscribe(11.0))
    assert unsubscribe.expires == 0 and unsubscribe.headers.get("Event") == "refer;id=2"


def test_out_of_dialog_refer_makes_a_dialog() -> None:
    refer = wire_request(Request.build(
        "REFER", "sip:bob@192.0.2.20", from_="<sip:alice@example.com>;tag=a1",
        contact="<sip:alice@192.0.2.10>", headers=[("Refer-To", "<sip:carol@example.com>")]))
    with pytest.raises(ValueError, match="Contact"):
        ReferNotifier.receive_refer(refer, 0.0)
    referee, actions = ReferNotifier.receive_refer(refer, 0.0, contact="sip:bob@192.0.2.20")
    assert referee is not None
    accepted = sent_response(actions)
    assert accepted.status == 202 and accepted.to.tag is not None
    notify = sent_request(actions)
    assert notify.to.tag == "a1" and notify.from_.tag == accepted.to.tag
    assert str(notify.uri) == "sip:alice@192.0.2.10"
    refer.headers.remove("Contact")
    referee, actions = ReferNotifier.receive_refer(refer, 0.0, contact="sip:bob@192.0.2.20")
    assert referee is None and sent_response(actions).status == 400


@pytest.mark.parametrize(("headers", "reason"), [
    ([], "Missing Refer-To"),
    ([("Refer-To", "<sip:a@example.com>"), ("Refer-To", "<sip:b@example.com>")],
     "More Than One Refer-To"),
    ([("Refer-To", "<sip:a@example.com")], "Bad Refer-To"),
])
def test_refer_refused(headers: list[tuple[str, str]], reason: str) -> None:
    _, bob_alice = call("alice", "bob", "call-ab")
    refer = wire_request(Request.build(
        "REFER", "sip:bob@192.0.2.20", from_="<sip:alice@example.com>;tag=alice",
        to="<sip:bob@example.com>;tag=bob", call_id="call-ab", cseq=5, headers=headers))
    referee, actions = ReferNotifier.receive_refer(refer, 0.0, dialog=bob_alice)
    assert referee is None
    response = sent_response(actions)
    assert response.status == 400 and response.reason.startswith(reason)


def test_refer_out_of_order_in_the_dialog() -> None:
    alice_bob, bob_alice = call("alice", "bob", "call-ab")
    bob_alice.remote_seq = 10
    refer = wire_request(build_refer(alice_bob, "sip:carol@example.com"))
    referee, actions = ReferNotifier.receive_refer(refer, 0.0, dialog=bob_alice)
    assert referee is None and sent_response(actions).status == 500


def test_refer_target_method_headers_and_body() -> None:
    value = ReferTo.parse("<sip:conf@example.com;method=subscribe;transport=tcp"
                          "?Event=conference&Call-ID=evil&Via=x&body=hello%20there"
                          "&Subject=hi%21>")
    target = ReferTarget.from_refer_to(value)
    assert target.method == "SUBSCRIBE"
    assert str(target.uri) == "sip:conf@example.com;transport=tcp"
    assert target.headers == (("Event", "conference"), ("Subject", "hi!"))
    assert target.body == b"hello there" and target.replaces is None
    request = wire_request(target.build(from_="<sip:bob@example.com>", call_id="new-call"))
    assert request.method == "SUBSCRIBE" and request.call_id == "new-call"
    assert request.headers.get("Event") == "conference" and request.body == b"hello there"
    assert request.headers.get("Content-Type") == "text/plain"
    assert ReferTarget.from_refer_to(ReferTo.parse(
        "<sip:x@example.com?Replaces=garbage>")).replaces is None


def test_progress_status_of_other_bodies() -> None:
    alice_bob, _ = call("alice", "bob", "call-ab")
    notify = wire_request(alice_bob.create_request("NOTIFY", body=b"not sip\r\n",
                                                   content_type="text/plain"))
    assert progress_status(notify) is None
    assert progress_status(Notified("active", wire_request(alice_bob.create_request(
        "NOTIFY", body=b"SIP/2.0 503 Service Unavailable\r\n")))) == 503


# -- Replaces at the transfer target (RFC 3891 §3) ------------------------------------------


def replacing(replaces: str | None, *, method: str = "INVITE", from_: str = "alice",
              extra: Sequence[tuple[str, str]] = ()) -> Request:
    headers = list(extra)
    if replaces is not None:
        headers.append(("Replaces", replaces))
    return wire_request(Request.build(method, "sip:carol@192.0.2.20",
                                      from_=f"<sip:{from_}@example.com>", headers=headers))


def test_replaces_confirmed_early_only_terminated_and_unknown() -> None:
    _, carol_alice = call("alice", "carol", "call-ac")
    ok = "call-ac;to-tag=carol;from-tag=alice"
    assert match_replaces(replacing(ok), [carol_alice]).end_with == "BYE"
    busy = match_replaces(replacing(ok + ";early-only"), [carol_alice])
    assert busy.reject is not None and busy.reject.status == 486
    for other in ("call-x;to-tag=carol;from-tag=alice", "call-ac;to-tag=alice;from-tag=carol"):
        missing = match_replaces(replacing(other), [carol_alice])
        assert missing.reject is not None and missing.reject.status == 481
    # matching two dialogs is matching none
    twice = match_replaces(replacing(ok), [carol_alice, carol_alice])
    assert twice.reject is not None and twice.reject.status == 481
    carol_alice.terminate("BYE received")
    declined = match_replaces(replacing(ok), [carol_alice])
    assert declined.reject is not None and declined.reject.status == 603


def test_replaces_early_dialogs() -> None:
    # Carol called Alice and it rings: Carol initiated the early dialog -> CANCEL it
    carol_alice, alice_carol = call("carol", "alice", "call-ca", status=180)
    ours = match_replaces(replacing("call-ca;to-tag=carol;from-tag=alice"), [carol_alice])
    assert ours.reject is None and ours.end_with == "CANCEL"
    # Alice's side: an early dialog she did not initiate -> 481
    theirs = match_replaces(wire_request(Request.build(
        "INVITE", "sip:alice@192.0.2.20", from_="<sip:carol@example.com>",
        headers=[("Replaces", "call-ca;to-tag=alice;from-tag=carol")])), [alice_carol])
    assert theirs.reject is not None and theirs.reject.status == 481


def test_replaces_authorization() -> None:
    _, carol_alice = call("alice", "carol", "call-ac")
    ok = "call-ac;to-tag=carol;from-tag=alice"
    # from a third party with no Referred-By of the replaced party: declined by policy
    stranger = match_replaces(replacing(ok, from_="mallory"), [carol_alice])
    assert stranger.reject is not None and stranger.reject.status == 603
    referred = replacing(ok, from_="bob", extra=[("Referred-By", "<sip:alice@example.com>")])
    assert match_replaces(referred, [carol_alice]).end_with == "BYE"
    bad_by = replacing(ok, from_="bob", extra=[("Referred-By", "<sip:alice@example.com")])
    assert match_replaces(bad_by, [carol_alice]).reject is not None
    # a policy of the application's own
    assert match_replaces(replacing(ok, from_="mallory"), [carol_alice],
                          authorize=lambda invite, dialog: True).end_with == "BYE"


@pytest.mark.parametrize(("request_", "reason"), [
    (lambda: replacing("call-ac;to-tag=carol;from-tag=alice", method="OPTIONS"),
     "Replaces Only In INVITE"),
    (lambda: replacing("call-ac;to-tag=carol", method="INVITE"), "Bad Replaces"),
    (lambda: replacing(None, extra=[("Replaces", "a;to-tag=b;from-tag=c"),
                                    ("Replaces", "d;to-tag=e;from-tag=f")]),
     "Exactly One Replaces"),
    (lambda: replacing(None), "Exactly One Replaces"),
])
def test_replaces_400(request_: Callable[[], Request], reason: str) -> None:
    _, carol_alice = call("alice", "carol", "call-ac")
    match = match_replaces(request_(), [carol_alice])
    assert match.reject is not None and match.reject.status == 400
    assert match.reject.reason.startswith(reason)
