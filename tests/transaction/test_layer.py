"""The transaction layer: matching (§17.1.3, §17.2.3, §9.2, §8.2.2.2) and timers."""

from __future__ import annotations

import pytest

import sipwire
from sipwire import Request, Response
from sipwire.transaction import (
    Deliver,
    InviteClientTransaction,
    InviteServerTransaction,
    LoopDetected,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Send,
    ServerTransaction,
    State,
    Stray,
    Terminated,
    Timer,
    TimerConfig,
    TransactionLayer,
    build_ack,
    build_cancel,
)

from .builders import invite, kinds, reply, request, run_clock, sip, wire


def serve(layer: TransactionLayer, req: Request, now: float = 0.0) -> ServerTransaction:
    """Pass a new request to the layer; the server transaction it was delivered with."""
    [deliver] = [a for a in layer.receive(req, now) if isinstance(a, Deliver)]
    tx = deliver.transaction
    assert isinstance(tx, ServerTransaction)
    return tx


# -- responses to client transactions (§17.1.3) ---------------------------------------------


def test_response_matches_client_transaction_by_branch_and_cseq_method() -> None:
    layer = TransactionLayer()
    tx = layer.create_client(invite(), reliable=False)
    assert isinstance(tx, InviteClientTransaction)
    tx.start(0.0)
    ringing = reply(tx.request, 180)
    assert layer.find_client(ringing) is tx
    assert layer.receive(ringing, 0.1) == [Deliver(ringing)]
    assert tx.state is State.PROCEEDING


def test_cancel_has_its_own_client_transaction_with_the_same_branch() -> None:
    layer = TransactionLayer()
    inv = layer.create_client(invite(), reliable=False)
    inv.start(0.0)
    cancel = layer.create_client(build_cancel(inv.request), reliable=False)
    assert isinstance(cancel, NonInviteClientTransaction)
    assert cancel.branch == inv.branch
    cancel.start(0.1)
    ok_cancel = reply(cancel.request, 200)
    terminated = reply(inv.request, 487)
    assert layer.find_client(ok_cancel) is cancel
    assert layer.find_client(terminated) is inv
    assert kinds(layer.receive(ok_cancel, 0.2)) == ["Deliver"]
    assert cancel.state is State.COMPLETED and inv.state is State.CALLING


def test_response_with_unknown_branch_or_method_is_stray() -> None:
    layer = TransactionLayer()
    tx = layer.create_client(request("OPTIONS"), reliable=False)
    tx.start(0.0)
    other = reply(request("OPTIONS"), 200)  # another branch
    assert layer.receive(other, 0.1) == [Stray(other)]
    wrong_method = sipwire.parse(bytes(reply(tx.request, 200)).replace(
        b"CSeq: 1 OPTIONS", b"CSeq: 1 INFO"))
    assert layer.find_client(wrong_method) is None  # type: ignore[arg-type]
    assert tx.state is State.TRYING


def test_client_transactions_refuse_ack_and_duplicates() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.create_client(req, reliable=False)
    with pytest.raises(ValueError, match="already exists"):
        layer.create_client(wire(req), reliable=False)
    with pytest.raises(ValueError, match="ACK"):
        layer.create_client(request("ACK"), reliable=False)


# -- requests to server transactions (§17.2.3) -----------------------------------------------


def test_new_request_creates_a_server_transaction_and_is_passed_up() -> None:
    layer = TransactionLayer()
    req = invite()
    actions = layer.receive(req, 0.0)
    assert actions == [Deliver(req)]
    tx = actions[0].transaction
    assert isinstance(tx, InviteServerTransaction) and tx.request is req
    assert layer.find_server(wire(req)) is tx
    assert isinstance(serve(layer, request("OPTIONS")), NonInviteServerTransaction)
    assert len(layer) == 2


def test_retransmission_matches_by_branch_sent_by_and_method() -> None:
    layer = TransactionLayer()
    tx = serve(layer, request("OPTIONS"))
    ok = tx.request.reply(200, to_tag="uas")
    tx.send(ok, 0.1)
    assert layer.receive(wire(tx.request), 0.5) == [Send(ok)]
    assert len(layer) == 1


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer = TransactionLayer(detect_merged_requests=False)
    first = serve(layer, request("OPTIONS", branch="z9hG4bKsame"))
    second = serve(layer, request("OPTIONS", branch="z9hG4bKsame", host="other.example.com"))
    assert first is not second and len(layer) == 2


def test_same_branch_and_sent_by_with_another_method_is_another_transaction() -> None:
    layer = TransactionLayer()
    inv = serve(layer, invite(branch="z9hG4bKsame"))
    info = serve(layer, request("INFO", branch="z9hG4bKsame", cseq=2))
    assert inv is not info


def test_ack_for_non_2xx_matches_the_invite_transaction() -> None:
    layer = TransactionLayer()
    tx = serve(layer, invite())
    busy = tx.request.reply(486, to_tag="uas")
    layer.send_response(busy, 0.1)
    ack = wire(build_ack(tx.request, busy))
    assert layer.find_server(ack) is tx
    assert layer.receive(ack, 0.2) == []
    assert tx.state is State.CONFIRMED


def test_ack_for_2xx_has_a_new_branch_and_goes_to_the_core() -> None:
    layer = TransactionLayer()
    tx = serve(layer, invite())
    ok = tx.request.reply(200, to_tag="uas")
    tx.send(ok, 0.1)
    assert tx.branch is not None
    ack = sipwire.parse(bytes(build_ack(tx.request, ok)).replace(
        tx.branch.encode(), b"z9hG4bKnewtransaction"))
    assert isinstance(ack, Request)
    actions = layer.receive(ack, 0.2)
    assert actions == [Deliver(ack)]
    assert actions[0].transaction is None  # no transaction: §13.3.1.4 is the core's
    assert len(layer) == 1  # an ACK creates no server transaction


# -- the RFC 2543 fallback (§17.2.3) -----------------------------------------------------------

RFC2543_INVITE = """\
INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com:5060{branch}
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Content-Length: 0

"""


def old_invite(branch: str = "") -> Request:
    msg = sip(RFC2543_INVITE.format(branch=branch))
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize("branch", ["", ";branch=1234abcd"])
def test_rfc2543_retransmission_matches_without_magic_cookie(branch: str) -> None:
    layer = TransactionLayer()
    tx = serve(layer, old_invite(branch))
    ringing = tx.request.reply(180, to_tag="uas")
    tx.send(ringing, 0.0)
    assert layer.find_server(old_invite(branch)) is tx
    assert layer.receive(old_invite(branch), 0.5) == [Send(ringing)]
    assert len(layer) == 1


@pytest.mark.parametrize(("old", "new"), [
    ("sip:bob@biloxi.com SIP", "sip:carol@biloxi.com SIP"),  # Request-URI
    ("tag=1928", "tag=1929"),  # From tag
    ("Call-ID: a84b4c76e66710", "Call-ID: other"),
    ("CSeq: 314159", "CSeq: 314160"),
    ("pc33.atlanta.com:5060", "pc34.atlanta.com:5060"),  # top Via
    ("To: Bob <sip:bob@biloxi.com>", "To: Bob <sip:bob@biloxi.com>;tag=x"),  # To tag
])
def test_rfc2543_requests_differing_in_a_compared_field_do_not_match(old: str,
                                                                      new: str) -> None:
    layer = TransactionLayer(detect_merged_requests=False)
    serve(layer, old_invite())
    changed = sip(RFC2543_INVITE.format(branch="").replace(old, new))
    assert isinstance(changed, Request)
    assert layer.find_server(changed) is None


def test_rfc2543_request_uri_compares_per_section_19_1_4() -> None:
    layer = TransactionLayer()
    tx = serve(layer, old_invite())
    same = sip(RFC2543_INVITE.format(branch="").replace("sip:bob@biloxi.com SIP",
                                                        "sip:bob@BILOXI.com SIP"))
    assert layer.find_server(same) is tx  # type: ignore[arg-type]


def test_rfc2543_ack_matches_by_the_to_tag_of_the_response_sent() -> None:
    layer = TransactionLayer()
    tx = serve(layer, old_invite())
    busy = tx.request.reply(486, to_tag="uas486")
    tx.send(busy, 0.0)
    ack = wire(build_ack(old_invite(), busy))
    assert ack.via[0].branch is None
    assert layer.find_server(ack) is tx
    wrong = wire(build_ack(old_invite(), tx.request.reply(486, to_tag="someone-else")))
    assert layer.find_server(wrong) is None
    assert layer.receive(ack, 0.1) == []
    assert tx.state is State.CONFIRMED


def test_rfc2543_ack_for_2xx_is_passed_to_the_tu_in_accepted() -> None:
    layer = TransactionLayer()
    tx = serve(layer, old_invite())
    ok = tx.request.reply(200, to_tag="uas200")
    tx.send(ok, 0.0)
    ack = wire(build_ack(old_invite(), ok))
    actions = layer.receive(ack, 0.1)
    assert actions == [Deliver(ack)] and actions[0].transaction is tx  # RFC 6026 §7.1
    assert tx.state is State.ACCEPTED


def test_rfc2543_ack_before_any_response_matches_nothing() -> None:
    layer = TransactionLayer()
    tx = serve(layer, old_invite())
    ack = wire(build_ack(old_invite(), tx.request.reply(486, to_tag="x")))
    assert layer.find_server(ack) is None


# What an RFC 2543 phone sends, parsed as any element parses (sipwire.parse with
# its default limits): no Via branch, no Max-Forwards, no From tag.
PHONE_INVITE = b"""\
INVITE sip:bob@192.0.2.20 SIP/2.0\r
Via: SIP/2.0/UDP 192.0.2.10:5060\r
From: <sip:alice@192.0.2.10>\r
To: <sip:bob@192.0.2.20>\r
Call-ID: 12345@192.0.2.10\r
CSeq: 1 INVITE\r
Content-Length: 0\r
\r
"""


def from_phone(data: bytes) -> Request:
    msg = sipwire.parse(data)
    assert isinstance(msg, Request) and msg.top_via.branch is None
    return msg


def test_branchless_invite_retransmission_and_ack_meet_one_server_transaction() -> None:
    """§17.2.3, the RFC 2543 rule: the retransmitted INVITE matches by
    Request-URI, tags, Call-ID, CSeq and top Via; the ACK for the non-2xx by
    the same and the To tag of the response sent."""
    layer = TransactionLayer()
    actions = layer.receive(from_phone(PHONE_INVITE), 0.0)
    assert kinds(actions) == ["Deliver"]
    tx = actions[0].transaction
    assert isinstance(tx, InviteServerTransaction)
    busy = tx.request.reply(486, to_tag="b486")
    assert layer.send_response(busy, 0.1) == [Send(busy)]
    # the retransmission is absorbed: the 486 is sent again, nothing goes up
    assert layer.receive(from_phone(PHONE_INVITE), 0.5) == [Send(busy)]
    assert len(layer) == 1 and tx.state is State.COMPLETED
    # §17.1.1.3: the ACK has the INVITE's Via, Request-URI, From, Call-ID and
    # CSeq number, and the To of the response
    ack = PHONE_INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK")
    others = from_phone(ack.replace(b"<sip:bob@192.0.2.20>\r", b"<sip:bob@192.0.2.20>;tag=x\r"))
    assert layer.find_server(others) is None  # another To tag: not this transaction's ACK
    acked = from_phone(ack.replace(b"<sip:bob@192.0.2.20>\r",
                                   b"<sip:bob@192.0.2.20>;tag=b486\r"))
    assert layer.find_server(acked) is tx
    assert layer.receive(acked, 0.6) == []
    assert tx.state is State.CONFIRMED and len(layer) == 1


@pytest.mark.parametrize("method", ["OPTIONS", "REGISTER", "BYE"])
def test_branchless_non_invite_and_its_retransmission_meet_one_server_transaction(
        method: str) -> None:
    layer = TransactionLayer()
    data = PHONE_INVITE.replace(b"INVITE", method.encode())
    actions = layer.receive(from_phone(data), 0.0)
    assert kinds(actions) == ["Deliver"]
    tx = actions[0].transaction
    assert isinstance(tx, NonInviteServerTransaction)
    assert layer.receive(from_phone(data), 0.2) == []  # Trying: absorbed (Figure 8)
    ok = tx.request.reply(200, to_tag="ok1")
    assert tx.send(ok, 0.3) == [Send(ok)]
    assert layer.receive(from_phone(data), 0.5) == [Send(ok)]  # Completed: sent again
    assert len(layer) == 1 and tx.state is State.COMPLETED
    # the next request of the same phone (CSeq 2) is a new transaction
    following = layer.receive(from_phone(data.replace(b"CSeq: 1", b"CSeq: 2")), 1.0)
    assert kinds(following) == ["Deliver"] and following[0].transaction is not tx
    assert len(layer) == 2


# -- CANCEL (§9.2) -------------------------------------------------------------------------------


def test_cancel_gets_its_own_transaction_and_finds_the_invite_it_cancels() -> None:
    layer = TransactionLayer()
    inv = serve(layer, invite())
    cancel_request = wire(build_cancel(inv.request))
    assert layer.find_server(cancel_request) is None  # not the INVITE's transaction
    cancel = serve(layer, cancel_request, 1.0)
    assert isinstance(cancel, NonInviteServerTransaction) and cancel is not inv
    assert layer.find_cancelled(cancel_request) is inv
    # the UAS core: 487 to the INVITE, 200 to the CANCEL, same To tag (§9.2)
    terminated = inv.request.reply(487, to_tag="uas")
    ok = cancel_request.reply(200, to_tag="uas")
    assert inv.send(terminated, 1.0) == [Send(terminated)]
    assert cancel.send(ok, 1.0) == [Send(ok)]
    # a retransmitted CANCEL is absorbed by the CANCEL transaction
    assert layer.receive(wire(cancel_request), 1.5) == [Send(ok)]
    assert inv.state is State.COMPLETED


@pytest.mark.parametrize("first_gone", ["INVITE", "CANCEL"])
def test_transactions_sharing_a_branch_are_found_until_each_is_gone(first_gone: str) -> None:
    layer = TransactionLayer()
    inv = serve(layer, invite())
    cancel_request = wire(build_cancel(inv.request))
    cancel = serve(layer, cancel_request, 1.0)
    gone, kept = (inv, cancel) if first_gone == "INVITE" else (cancel, inv)
    layer._forget(gone)
    assert layer.find_server(wire(kept.request)) is kept
    assert layer.find_server(wire(gone.request)) is None
    assert layer.find_cancelled(cancel_request) is (None if gone is inv else inv)
    layer._forget(kept)
    assert layer.find_server(wire(kept.request)) is None and len(layer) == 0
    assert not layer._by_branch and not layer._by_branch_more


def test_cancel_matching_nothing_is_answered_481_by_the_core() -> None:
    layer = TransactionLayer()
    inv = serve(layer, invite())
    stray = wire(build_cancel(invite()))  # a CANCEL for another INVITE
    assert layer.find_cancelled(stray) is None
    assert inv.state is State.PROCEEDING


def test_cancel_of_an_rfc2543_invite_matches_without_branch() -> None:
    layer = TransactionLayer()
    inv = serve(layer, old_invite())
    cancel = wire(build_cancel(old_invite()))
    assert layer.find_cancelled(cancel) is inv
    cancel_tx = serve(layer, cancel)
    assert cancel_tx is not inv
    assert layer.find_server(wire(cancel)) is cancel_tx


def test_cancel_can_cancel_a_non_invite_transaction() -> None:
    # §9.2: the target is matched as if the CANCEL's method were "anything but
    # CANCEL or ACK"; answering it has no effect on a non-INVITE (the core's call)
    layer = TransactionLayer()
    sub = serve(layer, request("SUBSCRIBE"))
    assert layer.find_cancelled(wire(build_cancel(sub.request))) is sub


# -- merged requests (§8.2.2.2) ------------------------------------------------------------------


def test_merged_request_arriving_by_another_path_is_answered_482() -> None:
    layer = TransactionLayer()
    first = serve(layer, invite(host="proxy1.example.com"))
    # the same INVITE, forked upstream, arrives through another proxy
    other = invite(host="proxy2.example.com")
    assert (other.from_.tag, other.call_id) == (first.request.from_.tag, first.request.call_id)
    actions = layer.receive(other, 0.1)
    [loop] = actions
    assert isinstance(loop, LoopDetected) and loop.request is other
    assert loop.response.status == 482
    parsed = sipwire.parse(bytes(loop.response))
    assert isinstance(parsed, Response) and parsed.via[0].host == "proxy2.example.com"
    # the 482 goes through a server transaction of its own
    tx = loop.transaction
    assert isinstance(tx, InviteServerTransaction) and tx is not first
    assert tx.send(loop.response, 0.1) == [Send(loop.response)]
    assert layer.receive(wire(other), 0.6) == [Send(loop.response)]  # absorbed
    assert first.state is State.PROCEEDING


def test_request_with_to_tag_or_other_cseq_is_not_merged() -> None:
    layer = TransactionLayer()
    serve(layer, request("OPTIONS", host="proxy1.example.com"))
    in_dialog = sipwire.parse(bytes(request("OPTIONS", host="proxy2.example.com")).replace(
        b"To: <sip:bob@biloxi.example.com>", b"To: <sip:bob@biloxi.example.com>;tag=t"))
    assert kinds(layer.receive(in_dialog, 0.1)) == ["Deliver"]
    later = request("OPTIONS", host="proxy2.example.com", cseq=2)
    assert kinds(layer.receive(later, 0.1)) == ["Deliver"]


def test_merged_request_check_is_off_for_proxies() -> None:
    layer = TransactionLayer(detect_merged_requests=False)
    serve(layer, invite(host="proxy1.example.com"))
    assert kinds(layer.receive(invite(host="proxy2.example.com"), 0.1)) == ["Deliver"]


def test_finished_transaction_no_longer_merges() -> None:
    layer = TransactionLayer()
    tx = serve(layer, request("OPTIONS", host="proxy1.example.com"))
    tx.send(tx.request.reply(200, to_tag="uas"), 0.0)
    run_clock(layer, 100.0)  # Timer J
    assert len(layer) == 0
    assert kinds(layer.receive(request("OPTIONS", host="proxy2.example.com"), 100.0)) == [
        "Deliver"]


# -- the TU answering -------------------------------------------------------------------------


@pytest.mark.parametrize("merged", [True, False])
def test_send_response_finds_the_server_transaction_from_the_response(merged: bool) -> None:
    # without §8.2.2.2's index (a proxy's layer) it is found all the same
    layer = TransactionLayer(detect_merged_requests=merged)
    tx = serve(layer, invite())
    ringing = tx.request.reply(180, to_tag="uas")
    assert layer.send_response(ringing, 0.1) == [Send(ringing)]
    assert tx.last_response is ringing
    old = serve(layer, old_invite())
    busy = old.request.reply(486, to_tag="uas")
    assert layer.send_response(busy, 0.1) == [Send(busy)]
    assert old.state is State.COMPLETED
    assert layer.send_response(invite().reply(200), 0.1) == []  # gone: discarded


def test_reliability_of_a_new_server_transaction_follows_its_via() -> None:
    layer = TransactionLayer()
    tcp = serve(layer, request("OPTIONS", transport="TCP"))
    udp = serve(layer, request("OPTIONS", transport="UDP", cseq=2))
    forced = layer.receive(request("OPTIONS", cseq=3), 0.0, reliable=True)[0].transaction
    assert (tcp.reliable, udp.reliable) == (True, False)
    assert forced is not None and forced.reliable


# -- time: deadlines over all transactions ---------------------------------------------------


def test_next_deadline_is_the_earliest_over_all_transactions() -> None:
    layer = TransactionLayer()
    assert layer.next_deadline() is None
    a = layer.create_client(request("OPTIONS"), reliable=False)
    b = layer.create_client(invite(), reliable=True)
    a.start(0.0)
    assert layer.next_deadline() == 0.5  # a's Timer E
    b.start(0.1)
    server = serve(layer, invite(host="far.example.com", call_id="c2"), 0.2)
    assert layer.next_deadline() == pytest.approx(0.4)  # the 100 Trying timer
    server.send(server.request.reply(180, to_tag="uas"), 0.3)  # directly on the handle
    assert layer.next_deadline() == 0.5


def test_handle_timer_fires_every_due_transaction_in_order() -> None:
    layer = TransactionLayer()
    a = layer.create_client(request("OPTIONS"), reliable=False)
    b = layer.create_client(request("OPTIONS", cseq=2), reliable=False)
    a.start(0.0)
    b.start(0.25)
    actions = layer.handle_timer(0.75)  # a's E was due at 0.5, b's at 0.75
    assert [x.transaction for x in actions] == [a, b]
    # E is reset when it is handled: a late wake-up does not bunch retransmissions
    assert a.timers[Timer.E] == b.timers[Timer.E] == 1.75
    assert layer.next_deadline() == 1.75


def test_terminated_transactions_are_removed() -> None:
    layer = TransactionLayer()
    client = layer.create_client(request("OPTIONS"), reliable=True)
    client.start(0.0)
    server = serve(layer, request("OPTIONS", host="far.example.com", call_id="c2"))
    assert len(layer) == 2
    layer.receive(reply(client.request, 200), 1.0)  # Timer K = 0 over TCP
    assert layer.handle_timer(1.0) == [Terminated("Timer K")]
    assert list(layer) == [server]
    server.send(server.request.reply(200, to_tag="uas"), 1.0)
    log = run_clock(layer, 100.0)
    assert log == [(33.0, Terminated("Timer J"))]
    assert len(layer) == 0 and layer.next_deadline() is None
    late = reply(client.request, 200)
    assert layer.receive(late, 2.0) == [Stray(late)]


def test_transport_error_through_the_handle_removes_a_client_transaction() -> None:
    layer = TransactionLayer()
    tx = layer.create_client(invite(), reliable=False)
    [send] = tx.start(0.0)
    assert isinstance(send, Send) and send.transaction is tx
    assert kinds(tx.transport_error(0.0)) == ["TransportFailure", "Terminated"]
    assert len(layer) == 0 and layer.next_deadline() is None
    # with the transaction gone, a late response is stray (RFC 6026 §7.2)
    late = reply(tx.request, 200)
    assert layer.receive(late, 1.0) == [Stray(late)]


def test_layer_config_reaches_every_transaction() -> None:
    layer = TransactionLayer(TimerConfig(t1=1.0, t2=8.0))
    tx = layer.create_client(invite(), reliable=False)
    tx.start(0.0)
    assert tx.timers == {Timer.A: 1.0, Timer.B: 64.0}
    server = serve(layer, request("OPTIONS", host="far.example.com", call_id="c2"))
    server.send(server.request.reply(200, to_tag="uas"), 0.0)
    assert server.timers == {Timer.J: 64.0}
