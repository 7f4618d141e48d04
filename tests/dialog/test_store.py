"""DialogStore: matching by dialog id and the 481 of RFC 3261 §12.2.2."""

from __future__ import annotations

from sipwire import Request, Response
from sipwire.dialog import Dialog, DialogId, DialogStore

from .builders import BOB_CONTACT, invite, reply, wire


def _in_dialog(method: str, *, to_tag: str | None, from_tag: str = "alicetag",
               call_id: str = "call-1@atlanta", cseq: int = 2) -> Request:
    to = "<sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    return wire(Request.build(method, "sip:bob@192.0.2.4:5062",
                              from_=f"<sip:alice@atlanta.example.com>;tag={from_tag}", to=to,
                              call_id=call_id, cseq=cseq))


def _store() -> tuple[DialogStore, Dialog, Dialog]:
    store = DialogStore()
    inv = invite()
    uas = store.add(Dialog.uas(inv, inv.reply(200, to_tag="bobtag", contact=BOB_CONTACT)))
    out = invite(call_id="call-2@biloxi")
    uac = store.add(Dialog.uac(out, reply(out, 200, to_tag="carol")))
    return store, uas, uac


def test_a_request_matches_by_to_tag_as_local_tag() -> None:
    store, uas, uac = _store()
    assert store.match(_in_dialog("BYE", to_tag="bobtag")) is uas
    assert store.receive(_in_dialog("BYE", to_tag="bobtag")) is uas
    # the peer of our UAC dialog sends a request: its To tag is our From tag
    assert store.match(_in_dialog("BYE", to_tag="alicetag", from_tag="carol",
                                  call_id="call-2@biloxi")) is uac
    assert store.match(_in_dialog("BYE", to_tag="bobtag", from_tag="other")) is None
    assert store.get(DialogId("call-1@atlanta", "bobtag", "alicetag")) is uas
    assert len(store) == 2 and uas in store and set(store) == {uas, uac}


def test_a_response_matches_by_from_tag_as_local_tag() -> None:
    store, _, uac = _store()
    bye = uac.create_request("BYE")
    assert store.match_response(reply(bye, 200, to_tag="carol")) is uac
    other = reply(bye, 200)
    other.headers.set("To", "<sip:bob@biloxi.example.com>;tag=dave")
    assert store.match_response(wire(other)) is None
    # a 100 to an INVITE has no To tag
    assert store.match_response(reply(invite(call_id="call-2@biloxi"), 100, to_tag=None)) is None


def test_unmatched_in_dialog_request_gets_481() -> None:
    store, _, _ = _store()
    answer = store.receive(_in_dialog("BYE", to_tag="nobody"))
    assert isinstance(answer, Response) and answer.status == 481
    assert answer.to.tag == "nobody"
    # no To tag: out of any dialog, for the UAS core (§8.2)
    assert store.receive(_in_dialog("INVITE", to_tag=None)) is None
    # no response to an ACK; a CANCEL goes to its transaction (§9.2)
    assert store.receive(_in_dialog("ACK", to_tag="nobody")) is None
    assert store.receive(_in_dialog("CANCEL", to_tag="nobody")) is None


def test_rfc2543_peer_without_from_tag() -> None:
    store = DialogStore()
    inv = wire(Request.build("INVITE", "sip:bob@biloxi.example.com",
                             from_="<sip:alice@atlanta.example.com>;tag=x",
                             contact="<sip:alice@192.0.2.1>", call_id="old"))
    inv.headers.set("From", "<sip:alice@atlanta.example.com>")
    inv = wire(inv)
    dialog = store.add(Dialog.uas(inv, inv.reply(200, to_tag="b", contact=BOB_CONTACT)))
    assert dialog.id.remote_tag == ""
    bye = wire(Request.build("BYE", "sip:bob@192.0.2.4", from_="<sip:alice@atlanta.example.com>",
                             to="<sip:bob@biloxi.example.com>;tag=b", call_id="old", cseq=2))
    bye.headers.set("From", "<sip:alice@atlanta.example.com>")
    assert store.match(wire(bye)) is dialog


def test_prune_and_remove() -> None:
    store, uas, uac = _store()
    uas.terminate("BYE received")
    assert store.prune() == [uas]
    assert uas not in store and len(store) == 1
    assert store.remove(uac) is uac and store.remove(uac.id) is None
    assert len(store) == 0
