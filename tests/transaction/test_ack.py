"""The ACK for a non-2xx final response (§17.1.1.3) and the CANCEL of §9.1."""

from __future__ import annotations

import sipwire
from sipwire import Request, Response
from sipwire.transaction import InviteClientTransaction, Send, build_ack, build_cancel

from .builders import sip

# the example of §17.1.1.3, with a Route set and a body to show what is kept
RFC_INVITE = """\
INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKkjshdyff
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=88sja8x
Max-Forwards: 69
Route: <sip:p1.atlanta.com;lr>
Route: <sip:p2.biloxi.com;lr>
Call-ID: 987asjd97y7atg
CSeq: 986759 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Type: application/sdp
Content-Length: 4

v=0
"""

RFC_486 = """\
SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKkjshdyff;received=192.0.2.1
To: Bob <sip:bob@biloxi.com>;tag=99sa0xk
From: Alice <sip:alice@atlanta.com>;tag=88sja8x
Call-ID: 987asjd97y7atg
CSeq: 986759 INVITE
Content-Length: 0

"""

RFC_ACK = """\
ACK sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKkjshdyff
Max-Forwards: 70
From: Alice <sip:alice@atlanta.com>;tag=88sja8x
To: Bob <sip:bob@biloxi.com>;tag=99sa0xk
Call-ID: 987asjd97y7atg
CSeq: 986759 ACK
Route: <sip:p1.atlanta.com;lr>
Route: <sip:p2.biloxi.com;lr>
Content-Length: 0

"""


def literal_pair() -> tuple[Request, Response]:
    invite, busy = sip(RFC_INVITE), sip(RFC_486)
    assert isinstance(invite, Request) and isinstance(busy, Response)
    return invite, busy


def test_ack_for_non_2xx_follows_the_rfc_example_byte_for_byte() -> None:
    invite, busy = literal_pair()
    ack = build_ack(invite, busy)
    assert bytes(ack) == RFC_ACK.replace("\n", "\r\n").encode()


def test_ack_headers_come_from_the_invite_and_the_response() -> None:
    invite, busy = literal_pair()
    ack = sipwire.parse(bytes(build_ack(invite, busy)))
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri  # Request-URI of the original request
    assert ack.call_id == invite.call_id
    assert ack.from_ == invite.from_ and ack.from_.tag == "88sja8x"
    assert ack.to == busy.to and ack.to.tag == "99sa0xk"  # To of the response, with tag
    assert len(ack.via) == 1  # a single Via: the INVITE's top Via, same branch
    assert str(ack.via[0]) == str(invite.via[0])
    assert (ack.cseq.seq, ack.cseq.method) == (986759, "ACK")
    assert ack.headers.getall("Route") == invite.headers.getall("Route")
    assert ack.max_forwards == 70
    assert ack.body == b"" and ack.content_length == 0  # no body (NOT RECOMMENDED)
    assert ack.contact == []


def test_ack_keeps_a_tagless_rfc2543_from_untagged() -> None:
    invite = sip(RFC_INVITE.replace(";tag=88sja8x", ""))
    busy = sip(RFC_486.replace(";tag=88sja8x", ""))
    assert isinstance(invite, Request) and isinstance(busy, Response)
    ack = sipwire.parse(bytes(build_ack(invite, busy)))
    assert ack.from_.tag is None


def test_client_transaction_sends_that_ack_to_the_invites_destination() -> None:
    invite, busy = literal_pair()
    tx = InviteClientTransaction(invite, reliable=False)
    tx.start(0.0)
    actions = tx.receive(busy, 0.1)
    send = actions[1]
    assert isinstance(send, Send)
    # same transaction as the INVITE: the caller sends it where the INVITE went
    assert send.transaction is tx
    assert bytes(send.message) == RFC_ACK.replace("\n", "\r\n").encode()


def test_cancel_copies_what_section_9_1_requires() -> None:
    invite, _ = literal_pair()
    cancel = sipwire.parse(bytes(build_cancel(invite)))
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert cancel.call_id == invite.call_id
    assert cancel.to == invite.to and cancel.from_ == invite.from_
    assert (cancel.cseq.seq, cancel.cseq.method) == (986759, "CANCEL")
    assert [str(v) for v in cancel.via] == [str(invite.via[0])]
    assert cancel.headers.getall("Route") == invite.headers.getall("Route")
    assert cancel.max_forwards == 70
