"""Forking: the dialogs of one INVITE (RFC 3261 §12.1.2, §13.2.2.4)."""

from __future__ import annotations

from sipwire.dialog import (
    DialogSet,
    DialogState,
    ForkOutcome,
    SendAck,
    SendRequest,
)

from .builders import invite, reply, wire


def test_each_to_tag_makes_an_early_dialog_and_the_first_2xx_wins() -> None:
    inv = invite(cseq=10)
    forks = DialogSet(inv)
    assert forks.receive_response(reply(inv, 100, to_tag=None)).outcome is ForkOutcome.NONE
    first = forks.receive_response(reply(inv, 180, to_tag="phone1"))
    second = forks.receive_response(reply(inv, 183, to_tag="phone2"))
    assert first.outcome is ForkOutcome.NEW_EARLY and second.outcome is ForkOutcome.NEW_EARLY
    assert forks.receive_response(reply(inv, 180, to_tag="phone1")).outcome is \
        ForkOutcome.EARLY
    assert len(forks.early) == 2
    answered = forks.receive_response(reply(inv, 200, to_tag="phone2"))
    assert answered.outcome is ForkOutcome.CONFIRMED and answered.dialog is second.dialog
    assert forks.confirmed is second.dialog and answered.actions == ()
    assert second.dialog is not None and second.dialog.state is DialogState.CONFIRMED
    # the other early dialog ends with the final response
    assert first.dialog is not None and first.dialog.terminated
    assert forks.final is not None and forks.final.to.tag == "phone2"
    again = forks.receive_response(reply(inv, 200, to_tag="phone2"))
    assert again.outcome is ForkOutcome.RETRANSMISSION and again.dialog is second.dialog


def test_a_1xx_without_contact_makes_no_early_dialog() -> None:
    """§12.1.2 needs the Contact as the remote target: a 180 with a To tag and
    no Contact is a provisional response, and the 2xx still makes the dialog."""
    inv = invite(cseq=10)
    forks = DialogSet(inv)
    ringing = forks.receive_response(reply(inv, 180, to_tag="gw", contact=None))
    assert ringing.outcome is ForkOutcome.NONE and ringing.dialog is None
    assert forks.dialogs == {} and forks.early == []
    answered = forks.receive_response(reply(inv, 200, to_tag="gw"))
    assert answered.outcome is ForkOutcome.CONFIRMED and answered.dialog is not None
    assert str(answered.dialog.remote_target) == "sip:bob@192.0.2.4:5062"


def test_a_2xx_of_another_fork_is_acknowledged_and_ended_with_bye() -> None:
    inv = invite(cseq=10)
    forks = DialogSet(inv)
    forks.receive_response(reply(inv, 200, to_tag="phone1"))
    extra = forks.receive_response(reply(inv, 200, to_tag="phone2",
                                         contact="<sip:bob@192.0.2.66>"))
    assert extra.outcome is ForkOutcome.EXTRA
    ack_action, bye_action = extra.actions
    assert isinstance(ack_action, SendAck) and isinstance(bye_action, SendRequest)
    ack, bye = wire(ack_action.request), wire(bye_action.request)
    assert ack.method == "ACK" and ack.cseq.seq == 10 and ack.to.tag == "phone2"
    assert bye.method == "BYE" and bye.cseq.seq == 11 and bye.to.tag == "phone2"
    assert str(ack.uri) == str(bye.uri) == "sip:bob@192.0.2.66"
    assert forks.confirmed is not None and forks.confirmed.id.remote_tag == "phone1"
    # its retransmission gets the same ACK again, and no second BYE
    again = forks.receive_response(reply(inv, 200, to_tag="phone2"))
    assert again.outcome is ForkOutcome.EXTRA and again.actions == (SendAck(ack_action.request),)


def test_a_2xx_for_an_early_dialog_that_lost_is_also_ended() -> None:
    inv = invite()
    forks = DialogSet(inv)
    forks.receive_response(reply(inv, 180, to_tag="phone1"))
    forks.receive_response(reply(inv, 200, to_tag="phone2"))
    late = forks.receive_response(reply(inv, 200, to_tag="phone1"))
    assert late.outcome is ForkOutcome.EXTRA and len(late.actions) == 2


def test_a_failure_ends_every_early_dialog() -> None:
    inv = invite()
    forks = DialogSet(inv)
    a = forks.receive_response(reply(inv, 180, to_tag="a")).dialog
    b = forks.receive_response(reply(inv, 180, to_tag="b")).dialog
    failed = forks.receive_response(reply(inv, 486, to_tag="a"))
    assert failed.outcome is ForkOutcome.FAILED and failed.dialog is a
    assert a is not None and b is not None and a.terminated and b.terminated
    assert forks.early == [] and forks.confirmed is None
    assert forks.final is not None and forks.final.status == 486
    late = forks.receive_response(reply(inv, 180, to_tag="c"))
    assert late.outcome is ForkOutcome.NONE and "c" not in forks.dialogs
