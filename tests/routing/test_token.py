"""``RouteToken``: the signed user part of this proxy's Record-Route."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from sipwire.location import Source
from sipwire.routing import RouteToken

TOKEN = RouteToken(b"k" * 32)
CALLER = Source("TCP", "192.0.2.20", 40000)
CALLEE = Source("WS", "2001:db8::31", 443)


def test_either_side_of_the_dialog_verifies_and_gets_the_other_flow() -> None:
    token = TOKEN.sign("call-1", "from-tag", caller_flow=CALLER, callee_flow=CALLEE)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # a URI user part as is (RFC 3261 §25.1)
    from_caller = TOKEN.verify(token, "call-1", "from-tag", "to-tag")
    assert from_caller is not None and from_caller.from_caller
    assert from_caller.next_flow == CALLEE
    from_callee = TOKEN.verify(token, "call-1", "to-tag", "from-tag")
    assert from_callee is not None and not from_callee.from_caller
    assert from_callee.next_flow == CALLER


def test_a_token_is_worthless_in_another_dialog_or_with_another_secret() -> None:
    token = TOKEN.sign("call-1", "from-tag")
    assert TOKEN.verify(token, "call-1", "from-tag", None) is not None
    assert TOKEN.verify(token, "call-2", "from-tag", None) is None
    assert TOKEN.verify(token, "call-1", "other", "another") is None
    assert RouteToken(b"j" * 32).verify(token, "call-1", "from-tag", None) is None
    assert TOKEN.verify(None, "call-1", "from-tag", None) is None
    assert TOKEN.verify("", "call-1", "from-tag", None) is None


def test_a_changed_flow_breaks_the_mac() -> None:
    token = TOKEN.sign("call-1", "t", callee_flow=Source("UDP", "192.0.2.31", 5060))
    raw = bytearray(token.encode())
    raw[3] = ord("A") if raw[3] != ord("A") else ord("B")
    assert TOKEN.verify(raw.decode(), "call-1", "t", None) is None


@given(st.text(max_size=80))
def test_made_up_text_is_refused_without_an_exception(text: str) -> None:
    assert TOKEN.verify(text, "call-1", "from-tag", "to-tag") is None


@given(st.binary(max_size=60))
def test_a_valid_mac_over_made_up_bytes_is_refused_or_decoded_never_an_exception(
        body: bytes) -> None:
    # whatever bytes the MAC covers (only a holder of the secret can make
    # one), decoding them is bounded and raises nothing
    token = TOKEN._mac("call-1", "t", body)
    raw = base64.urlsafe_b64encode(body + token).rstrip(b"=").decode()
    verified = TOKEN.verify(raw, "call-1", "t", None)
    assert verified is None or verified.from_caller


def test_a_hop_may_be_a_host_name() -> None:
    hop = Source("TCP", "edge.example.com", 5060)
    token = TOKEN.sign("call-1", "t", caller_flow=CALLER, callee_flow=hop)
    verified = TOKEN.verify(token, "call-1", "t", None)
    assert verified is not None and verified.next_flow == hop
    assert not RouteToken.flowable(Source("TCP", "bad name!", 5060))
    assert not RouteToken.flowable(Source("SCTP", "192.0.2.1", 5060))


@given(st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS"]), st.ip_addresses(),
       st.integers(0, 65535), st.text(min_size=1, max_size=40), st.text(max_size=20))
def test_flows_round_trip(transport: str, ip: object, port: int, call_id: str, tag: str) -> None:
    flow = Source(transport, str(ip), port)
    token = TOKEN.sign(call_id, tag, caller_flow=flow)
    verified = TOKEN.verify(token, call_id, "other-tag", tag)
    assert verified is not None and verified.next_flow == flow


def test_a_token_of_format_1_still_verifies() -> None:
    # format 1 (HMAC-SHA256 under the same key) was what earlier versions
    # signed: a dialog set up before an upgrade keeps its in-dialog requests
    import hashlib
    import hmac

    key = hashlib.sha256(b"sipwire record-route\x00" + b"k" * 32).digest()
    body = bytes((0x10 | 0x02, 0)) + (5060).to_bytes(2, "big") + bytes((192, 0, 2, 31))
    mac = hmac.digest(key, b"call-1\x00from-tag\x00" + body, "sha256")[:10]
    token = base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()
    verified = TOKEN.verify(token, "call-1", "from-tag", "to-tag")
    assert verified is not None and verified.from_caller
    assert verified.next_flow == Source("UDP", "192.0.2.31", 5060)
    assert TOKEN.verify(token, "call-1", "other", "to-tag") is None
    # the same bytes under the current format's number are refused
    forged = base64.urlsafe_b64encode(bytes((0x22,)) + body[1:] + mac).rstrip(b"=").decode()
    assert TOKEN.verify(forged, "call-1", "from-tag", "to-tag") is None
