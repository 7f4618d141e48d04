"""RFC 3261 §12 dialogs: creation on both sides, requests within them, their states."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sipwire import Request
from sipwire.dialog import (
    DIALOG_TABLE,
    Dialog,
    DialogEdge,
    DialogError,
    DialogId,
    DialogState,
)

from .builders import ALICE_CONTACT, BOB_CONTACT, invite, reply, wire

PROXIES = ("<sip:p2.biloxi.example.com;lr>", "<sip:p1.atlanta.example.com;lr>")


def test_uac_dialog_from_a_2xx() -> None:
    inv = invite(cseq=314)
    ok = reply(inv, 200, record_route=PROXIES)
    dialog = Dialog.uac(inv, ok)
    assert dialog.id == DialogId("call-1@atlanta", "alicetag", "bobtag")
    assert dialog.state is DialogState.CONFIRMED and dialog.is_uac
    # §12.1.2: the route set is the Record-Route in reverse order
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.atlanta.example.com;lr", "sip:p2.biloxi.example.com;lr"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4:5062"
    assert dialog.local_seq == 314 and dialog.remote_seq is None
    assert str(dialog.local_uri) == "sip:alice@atlanta.example.com"
    assert str(dialog.remote_uri) == "sip:bob@biloxi.example.com"
    assert dialog.local.tag == "alicetag" and dialog.remote.tag == "bobtag"
    assert dialog.local.display_name == "Alice"
    assert str(dialog.local_target) == "sip:alice@192.0.2.1:5060"
    assert not dialog.secure


def test_uac_early_dialog_from_a_provisional_with_a_to_tag() -> None:
    inv = invite()
    dialog = Dialog.uac(inv, reply(inv, 180))
    assert dialog.state is DialogState.EARLY


@pytest.mark.parametrize(("status", "to_tag", "contact"), [
    (100, None, None), (180, None, BOB_CONTACT), (486, "bobtag", BOB_CONTACT),
    (200, "bobtag", None),
])
def test_responses_that_create_no_dialog(status: int, to_tag: str | None,
                                         contact: str | None) -> None:
    inv = invite()
    with pytest.raises(DialogError):
        Dialog.uac(inv, reply(inv, status, to_tag=to_tag, contact=contact))


def test_uas_dialog_from_the_request_and_its_response() -> None:
    inv = invite(cseq=7, headers=[("Record-Route", r) for r in PROXIES])
    ringing = inv.reply(180, to_tag="bobtag", contact=BOB_CONTACT)
    dialog = Dialog.uas(inv, ringing)
    assert dialog.id == DialogId("call-1@atlanta", "bobtag", "alicetag")
    assert dialog.state is DialogState.EARLY and not dialog.is_uac
    # §12.1.1: the route set is the Record-Route in order
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.biloxi.example.com;lr", "sip:p1.atlanta.example.com;lr"]
    assert str(dialog.remote_target) == "sip:alice@192.0.2.1:5060"
    assert dialog.remote_seq == 7 and dialog.local_seq is None
    assert str(dialog.local_uri) == "sip:bob@biloxi.example.com"
    assert str(dialog.remote_uri) == "sip:alice@atlanta.example.com"
    assert str(dialog.local_target) == "sip:bob@192.0.2.4:5062"
    assert Dialog.uas(inv, inv.reply(200, to_tag="t", contact=BOB_CONTACT)).state is \
        DialogState.CONFIRMED


def test_uas_dialog_needs_a_to_tag_and_a_contact() -> None:
    inv = invite(contact=None)
    with pytest.raises(DialogError):
        Dialog.uas(inv, inv.reply(200, to_tag="t"))
    with pytest.raises(DialogError):
        Dialog.uas(invite(), invite().reply(100))
    with pytest.raises(DialogError):
        Dialog.uas(invite(), invite().reply(404))


@pytest.mark.parametrize(("uri", "transport", "secure"), [
    ("sips:bob@biloxi.example.com", "TLS", True),
    ("sips:bob@biloxi.example.com", "UDP", False),
    ("sip:bob@biloxi.example.com", "TLS", False),
])
def test_secure_flag_is_sips_over_tls(uri: str, transport: str, secure: bool) -> None:
    inv = invite(uri=uri, transport=transport)
    assert Dialog.uac(inv, reply(inv, 200)).secure is secure
    assert Dialog.uas(inv, inv.reply(200, to_tag="t", contact=BOB_CONTACT)).secure is secure
    assert Dialog.uac(inv, reply(inv, 200), secure=True).secure


def _uac(*record_route: str) -> Dialog:
    inv = invite(headers=[("Authorization", 'Digest username="alice", realm="x", nonce="n", '
                                            'uri="sip:bob@biloxi.example.com", response="r"')])
    return Dialog.uac(inv, reply(inv, 200, record_route=record_route))


def test_request_within_a_dialog_with_loose_routes() -> None:
    dialog = _uac(*PROXIES)
    bye = wire(dialog.create_request("BYE"))
    assert bye.method == "BYE" and str(bye.uri) == "sip:bob@192.0.2.4:5062"
    assert [str(r.uri) for r in bye.route] == ["sip:p1.atlanta.example.com;lr",
                                               "sip:p2.biloxi.example.com;lr"]
    assert bye.cseq.seq == 2 and bye.cseq.method == "BYE" and dialog.local_seq == 2
    assert bye.from_.tag == "alicetag" and bye.to.tag == "bobtag"
    assert bye.call_id == "call-1@atlanta" and bye.max_forwards == 70
    assert (bye.via[0].branch or "").startswith("z9hG4bK")
    assert bye.contact == [] and bye.headers.get("Authorization") is None
    info = dialog.create_request("INFO", body=b"x", content_type="text/plain")
    assert info.cseq.seq == 3 and info.body == b"x" and info.content_length == 1
    assert info.headers.get("Content-Type") == "text/plain"
    assert dialog.create_request("INVITE").via[0].branch != bye.via[0].branch


def test_target_refresh_requests_carry_our_contact() -> None:
    dialog = _uac()
    for method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"):
        request = wire(dialog.create_request(method))
        assert [str(c.uri) for c in request.contact] == ["sip:alice@192.0.2.1:5060"]
    assert dialog.local_target is not None
    moved = wire(dialog.create_request("INVITE", contact=dialog.local_target.copy(port=5070)))
    assert [str(c.uri) for c in moved.contact] == ["sip:alice@192.0.2.1:5070"]
    own = wire(dialog.create_request("UPDATE", headers=[("Contact", "<sip:a@192.0.2.9>")]))
    assert [str(c.uri) for c in own.contact] == ["sip:a@192.0.2.9"]


def test_strict_router_first_goes_in_the_request_uri() -> None:
    # §12.2.1.1: the first route lacks lr
    dialog = _uac("<sip:p2.biloxi.example.com;lr>",
                  "<sip:p1.atlanta.example.com;maddr=192.0.2.7;transport=tcp>")
    bye = wire(dialog.create_request("BYE"))
    assert str(bye.uri) == "sip:p1.atlanta.example.com;transport=tcp"  # maddr stripped
    assert [str(r.uri) for r in bye.route] == ["sip:p2.biloxi.example.com;lr",
                                               "sip:bob@192.0.2.4:5062"]
    assert bye.top_via.transport == "TCP"


def test_uas_first_request_starts_its_local_sequence() -> None:
    inv = invite(cseq=99)
    dialog = Dialog.uas(inv, inv.reply(200, to_tag="bobtag", contact=BOB_CONTACT))
    bye = wire(dialog.create_request("BYE"))
    assert bye.cseq.seq == 1 and dialog.local_seq == 1
    assert bye.from_.tag == "bobtag" and bye.to.tag == "alicetag"
    assert str(bye.uri) == "sip:alice@192.0.2.1:5060"


def test_ack_for_a_2xx() -> None:
    inv = invite(cseq=5, headers=[("Proxy-Authorization", 'Digest username="a", realm="r", '
                                  'nonce="n", uri="sip:bob@biloxi.example.com", response="x"')])
    ok = reply(inv, 200, record_route=PROXIES)
    dialog = Dialog.uac(inv, ok)
    ack = wire(dialog.ack(inv, ok, body=b"v=0\r\n", content_type="application/sdp"))
    assert ack.method == "ACK" and ack.cseq.seq == 5 and ack.cseq.method == "ACK"
    assert dialog.local_seq == 5  # unchanged
    assert ack.headers.get("Proxy-Authorization") == inv.headers.get("Proxy-Authorization")
    assert str(ack.uri) == "sip:bob@192.0.2.4:5062" and len(ack.route) == 2
    assert ack.via[0].branch != inv.via[0].branch
    assert ack.body == b"v=0\r\n"
    with pytest.raises(DialogError):
        dialog.ack(inv, reply(inv, 486))


def test_no_ack_cancel_or_request_on_a_terminated_dialog() -> None:
    dialog = _uac()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(DialogError):
            dialog.create_request(method)
    dialog.terminate("BYE sent")
    assert dialog.terminated and dialog.reason == "BYE sent"
    with pytest.raises(DialogError, match="BYE sent"):
        dialog.create_request("INFO")
    dialog.terminate("again")
    assert dialog.reason == "BYE sent"


def _peer_request(dialog: Dialog, method: str, cseq: int,
                  contact: str | None = None) -> Request:
    headers = [("Contact", contact)] if contact else []
    return wire(Request.build(method, str(dialog.local_target), from_=str(dialog.remote),
                              to=str(dialog.local), call_id=dialog.id.call_id, cseq=cseq,
                              headers=headers))


def test_receive_request_checks_the_cseq_order() -> None:
    dialog = _uac()
    assert dialog.remote_seq is None
    assert dialog.receive_request(_peer_request(dialog, "INFO", 10)) is None
    assert dialog.remote_seq == 10
    late = dialog.receive_request(_peer_request(dialog, "INFO", 9))
    assert late is not None and late.status == 500  # §12.2.2: out of order
    assert dialog.remote_seq == 10
    assert dialog.receive_request(_peer_request(dialog, "BYE", 11)) is None
    assert dialog.remote_seq == 11
    ack = _peer_request(dialog, "ACK", 3)
    assert dialog.receive_request(ack) is None and dialog.remote_seq == 11


def test_target_refresh_request_updates_the_remote_target() -> None:
    dialog = _uac()
    dialog.receive_request(_peer_request(dialog, "INFO", 2, "<sip:bob@192.0.2.99>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4:5062"  # INFO refreshes nothing
    dialog.receive_request(_peer_request(dialog, "INVITE", 3, "<sip:bob@192.0.2.99>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.99"
    dialog.receive_request(_peer_request(dialog, "UPDATE", 4, "<sip:bob@192.0.2.98>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.98"


def test_request_on_a_terminated_dialog_gets_481() -> None:
    dialog = _uac()
    dialog.terminate("BYE received")
    response = dialog.receive_request(_peer_request(dialog, "INFO", 2))
    assert response is not None and response.status == 481


def test_2xx_to_a_target_refresh_request_updates_the_remote_target() -> None:
    dialog = _uac()
    update = dialog.create_request("UPDATE")
    dialog.receive_response(update, reply(update, 200, contact="<sip:bob@192.0.2.50>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.50"
    info = dialog.create_request("INFO")
    dialog.receive_response(info, reply(info, 200, contact="<sip:bob@192.0.2.51>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.50"


def test_2xx_confirming_an_early_dialog_recomputes_the_route_set() -> None:
    inv = invite()
    dialog = Dialog.uac(inv, reply(inv, 183, record_route=PROXIES[:1]))
    assert len(dialog.route_set) == 1
    dialog.receive_response(inv, reply(inv, 200, record_route=PROXIES,
                                       contact="<sip:bob@192.0.2.5>"))
    assert dialog.state is DialogState.CONFIRMED
    assert len(dialog.route_set) == 2 and str(dialog.remote_target) == "sip:bob@192.0.2.5"


def test_failed_reinvite_keeps_the_dialog() -> None:
    dialog = _uac()
    reinvite = dialog.create_request("INVITE")
    dialog.receive_response(reinvite, reply(reinvite, 488))
    dialog.receive_response(reinvite, reply(reinvite, 491))
    assert dialog.state is DialogState.CONFIRMED


def test_uas_dialog_follows_the_responses_it_sends() -> None:
    inv = invite()
    ringing = inv.reply(180, to_tag="bobtag", contact=BOB_CONTACT)
    dialog = Dialog.uas(inv, ringing)
    dialog.send_response(inv, ringing)
    assert dialog.state is DialogState.EARLY
    dialog.send_response(inv, inv.reply(200, to_tag="bobtag", contact="<sip:bob@192.0.2.77>"))
    assert dialog.state.value == "confirmed"
    assert str(dialog.local_target) == "sip:bob@192.0.2.77"


# -- every edge of DIALOG_TABLE -------------------------------------------------------------

Fire = Callable[[Dialog, Request], None]


def _fire(event: str, role: str) -> Fire:
    def fire(dialog: Dialog, inv: Request) -> None:
        if event == "terminate":
            dialog.terminate("BYE")
            return
        status = {"2xx to the INVITE": 200, "300-699 to the INVITE": 486,
                  "481 or 408": 481}[event]
        if event == "481 or 408":
            request = dialog.create_request("INFO")
            dialog.receive_response(request, reply(request, status))
        elif role == "UAC":
            dialog.receive_response(inv, reply(inv, status))
        else:
            dialog.send_response(inv, inv.reply(status, to_tag="bobtag", contact=BOB_CONTACT))
    return fire


def _created(state: DialogState | None, role: str, event: str) -> tuple[Dialog, Request]:
    inv = invite()
    status = 200 if state is DialogState.CONFIRMED or event == "2xx" else 180
    if role == "UAC":
        return Dialog.uac(inv, reply(inv, status)), inv
    return Dialog.uas(inv, inv.reply(status, to_tag="bobtag", contact=BOB_CONTACT)), inv


@pytest.mark.parametrize("role", ["UAC", "UAS"])
@pytest.mark.parametrize("edge", DIALOG_TABLE, ids=lambda e: f"{e.state}-{e.event}")
def test_every_edge_of_the_dialog_table(edge: DialogEdge, role: str) -> None:
    dialog, inv = _created(edge.state, role, edge.event)
    if edge.state is None:  # creation is the event
        assert dialog.state is edge.next_state
        return
    assert dialog.state is edge.state
    _fire(edge.event, role)(dialog, inv)
    assert dialog.state is edge.next_state


def test_408_also_terminates() -> None:
    dialog = _uac()
    request = dialog.create_request("OPTIONS")
    dialog.receive_response(request, reply(request, 408))
    assert dialog.terminated and dialog.reason == "408"


def test_old_helpers_still_build_ack_and_bye() -> None:
    from sipwire.ua import build_2xx_ack, build_in_dialog_request
    inv = invite(cseq=3)
    ok = reply(inv, 200)
    assert build_2xx_ack(inv, ok).cseq.seq == 3
    assert build_in_dialog_request("BYE", inv, ok, 9).cseq.seq == 9
    assert ALICE_CONTACT
