"""Two sessions back to back through plain message passing: a call is set up,
put on hold and back (re-INVITE), survives re-INVITE glare, and is torn down."""

from __future__ import annotations

from sipwire import Request, Response
from sipwire.dialog import (
    AckReceived,
    Answered,
    AnswerReceived,
    Ended,
    Modified,
    ModifyFailed,
    ModifyState,
    OfferReceived,
    Ringing,
    SendResponse,
    SessionState,
)

from .net import FakeMedia, Net


def _answered() -> Net:
    net = Net.call()
    assert net.bob is not None and net.bob.state is SessionState.PROCEEDING
    net.perform("bob", net.bob.provisional(net.now, 180))
    assert net.alice.state is SessionState.EARLY and net.kinds("alice") == ["Ringing"]
    net.now = 1.0
    net.perform("bob", net.bob.answer(net.now))
    return net


def test_call_set_up_hold_glare_and_tear_down() -> None:
    net = _answered()
    alice, bob = net.alice, net.bob
    assert bob is not None
    # set up: offer in the INVITE, answer in the 2xx, the ACK reaches Bob
    assert alice.state is SessionState.CONFIRMED and bob.state is SessionState.CONFIRMED
    assert net.kinds("alice") == ["Ringing", "Answered", "AnswerReceived"]
    assert net.kinds("bob") == ["OfferReceived", "AckReceived"]
    answered = net.events["alice"][1]
    assert isinstance(answered, Answered) and answered.response.body == b"answer bob sendrecv"
    assert len(net.sent("alice", "ACK")) == 1 and bob.next_deadline() is None
    assert alice.dialog is not None and bob.dialog is not None
    assert alice.dialog.id.local_tag == bob.dialog.id.remote_tag
    assert alice.dialog.id.remote_tag == bob.dialog.id.local_tag

    # hold: a re-INVITE whose offer is sendonly, answered recvonly
    net.now = 10.0
    net.perform("alice", alice.hold(net.now))
    reinvite = net.sent("alice", "INVITE")[-1]
    assert isinstance(reinvite, Request) and reinvite.body == b"offer alice v2 sendonly"
    assert reinvite.cseq.seq == 2 and reinvite.to.tag == bob.to_tag
    assert net.kinds("alice")[-2:] == ["AnswerReceived", "Modified"]
    received = net.events["alice"][-2]
    assert isinstance(received, AnswerReceived) and received.answer == b"answer bob recvonly"
    assert net.kinds("bob")[-3:] == ["OfferReceived", "Modified", "AckReceived"]
    assert alice.on_hold and alice.modify_state is ModifyState.IDLE
    net.perform("alice", alice.unhold(net.now))
    assert net.sent("alice", "INVITE")[-1].body == b"offer alice v3 sendrecv"
    assert len(net.sent("alice", "ACK")) == 3 and not alice.on_hold

    # glare: both re-INVITE at once; each answers the other 491 (§14.2)
    net.now = 20.0
    net.queue += [("alice", a) for a in alice.reinvite(net.now)]
    net.queue += [("bob", a) for a in bob.reinvite(net.now)]
    net.flush()
    assert [r.status for r in net.sent("alice", "491 INVITE")] == [491]
    assert [r.status for r in net.sent("bob", "491 INVITE")] == [491]
    alice_failed, bob_failed = net.events["alice"][-1], net.events["bob"][-1]
    assert isinstance(alice_failed, ModifyFailed) and isinstance(bob_failed, ModifyFailed)
    assert alice_failed.retry_at is not None and bob_failed.retry_at is not None
    # §14.1: the owner of the Call-ID (Alice) waits 2.1-4 s, Bob 0-2 s
    assert 22.1 <= alice_failed.retry_at <= 24.0 and 20.0 <= bob_failed.retry_at <= 22.0
    assert isinstance(alice.media, FakeMedia) and alice.media.log[-1][0] == "rollback"
    net.advance(bob_failed.retry_at)
    assert net.kinds("bob")[-2:] == ["AnswerReceived", "Modified"]  # Bob's retry went through
    assert alice.modify_state is ModifyState.BACKOFF
    net.advance(alice_failed.retry_at)
    assert net.kinds("alice")[-2:] == ["AnswerReceived", "Modified"]
    assert alice.modify_state is ModifyState.IDLE and bob.modify_state is ModifyState.IDLE
    assert len(net.sent("bob", "491 INVITE")) == 1  # no second glare

    # tear down: Bob hangs up, Alice answers 200
    net.now = 30.0
    net.perform("bob", bob.bye(net.now))
    ended = net.events["bob"][-1]
    assert isinstance(ended, Ended) and ended.reason == "BYE sent"
    assert ended.message is not None and bytes(ended.message) == bytes(net.sent("bob", "BYE")[0])
    assert isinstance(net.events["alice"][-1], Ended)
    assert net.events["alice"][-1].reason == "BYE received"
    assert [r.status for r in net.sent("alice", "200 BYE")] == [200]
    assert alice.terminated and bob.terminated
    assert alice.dialog.terminated and bob.dialog.terminated
    assert alice.next_deadline() is None and bob.next_deadline() is None
    # a request on the ended dialog gets 481
    info = Request.build("INFO", "sip:alice@192.0.2.1:5060", from_=str(bob.dialog.local),
                         to=str(bob.dialog.remote), call_id=bob.dialog.id.call_id, cseq=99)
    refused = alice.receive_request(info, net.now)
    assert len(refused) == 1 and isinstance(refused[0], SendResponse)
    assert refused[0].response.status == 481


def test_the_caller_hangs_up() -> None:
    net = _answered()
    net.perform("alice", net.alice.bye(2.0))
    assert net.kinds("alice")[-1] == "Ended" and net.kinds("bob")[-1] == "Ended"
    bye = net.sent("alice", "BYE")[0]
    assert bye.cseq.seq == 2 and isinstance(net.events["bob"][-1], Ended)
    assert [type(e) for e in net.events["bob"]] == [OfferReceived, AckReceived, Ended]
    assert [type(e) for e in net.events["alice"]][:3] == [Ringing, Answered, AnswerReceived]


def test_offer_in_the_2xx_and_answer_in_the_ack() -> None:
    net = Net.call(offer=False)
    bob = net.bob
    assert bob is not None and net.sent("alice", "INVITE")[0].body == b""
    net.perform("bob", bob.answer(1.0))
    ok = net.sent("bob", "200 INVITE")[0]
    assert isinstance(ok, Response) and ok.body == b"offer bob v1 sendrecv"
    ack = net.sent("alice", "ACK")[0]
    assert ack.body == b"answer alice sendrecv"
    assert ack.headers.get("Content-Type") == "application/sdp"
    assert net.kinds("alice") == ["Answered", "OfferReceived"]
    assert net.kinds("bob") == ["AckReceived", "AnswerReceived"]
    assert net.alice.state is SessionState.CONFIRMED and bob.state is SessionState.CONFIRMED


def test_reinvite_without_offer_gets_an_offer_in_the_2xx() -> None:
    net = _answered()
    bob = net.bob
    assert bob is not None
    net.alice.media = None  # Alice sends no offer; her ACK then carries no answer either
    net.perform("alice", net.alice.reinvite(5.0))
    ok = net.sent("bob", "200 INVITE")[-1]
    assert ok.body == b"offer bob v1 sendrecv"
    assert net.kinds("alice")[-2:] == ["OfferReceived", "Modified"]
    assert isinstance(bob.media, FakeMedia) and bob.media.log[-1][0] == "rollback"
    assert isinstance(net.events["bob"][-1], AckReceived)
    assert isinstance(net.events["bob"][-2], Modified)
