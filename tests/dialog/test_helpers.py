"""§8.2.2-8.2.3 checks, the 488 of §14.2, and following a 3xx (§8.1.3.4)."""

from __future__ import annotations

import pytest

from sipwire import URI
from sipwire.dialog import (
    TargetSet,
    check_content,
    check_require,
    not_acceptable_here,
    redirected_request,
)

from .builders import invite, reply, wire


def test_415_lists_what_we_accept() -> None:
    sdp = invite(body=b"v=0\r\n")
    assert check_content(sdp) is None
    assert check_content(invite()) is None  # no body
    odd = invite(body=b"<xml/>")
    odd.headers.set("Content-Type", "application/xml")
    refused = check_content(wire(odd), ["application/sdp", "text/plain"])
    assert refused is not None and refused.status == 415
    assert refused.headers.getall("Accept") == ["application/sdp", "text/plain"]


def test_420_lists_the_unsupported_option_tags() -> None:
    request = invite(headers=[("Require", "100rel, foo"), ("Require", "timer")])
    refused = check_require(request, ["100rel", "TIMER"])
    assert refused is not None and refused.status == 420
    assert refused.headers.get("Unsupported") == "foo"
    assert check_require(request, ["100rel", "foo", "timer"]) is None
    assert check_require(invite()) is None


def test_488_carries_a_warning() -> None:
    response = not_acceptable_here(invite(), 'no "PCMU"', to_tag="t")
    assert response.status == 488 and response.to.tag == "t"
    assert response.headers.get("Warning") == r'399 sipwire "no \"PCMU\""'


def test_target_set_orders_by_q_and_never_repeats() -> None:
    original = invite()
    targets = TargetSet(original.uri)
    moved = reply(original, 302, contact=None, headers=[
        ("Contact", "<sip:bob@192.0.2.1>;q=0.5"),
        ("Contact", "<sip:bob@192.0.2.2>;q=0.9, <sip:bob@biloxi.example.com>"),
        ("Contact", "<sip:bob@192.0.2.3;method=INVITE>"),
    ])
    added = targets.add(moved)
    # q 1.0 (absent) first, in order; the original Request-URI is not tried again
    assert [str(u) for u in added] == ["sip:bob@192.0.2.3;method=INVITE", "sip:bob@192.0.2.2",
                                       "sip:bob@192.0.2.1"]
    assert len(targets) == 3
    first = targets.next()
    assert first is not None and str(first) == "sip:bob@192.0.2.3;method=INVITE"
    # a second server redirecting back: nothing new (the loop guard)
    back = reply(original, 301, contact="<sip:bob@192.0.2.1>")
    assert targets.add(back) == []
    assert [str(targets.next()), str(targets.next())] == ["sip:bob@192.0.2.2",
                                                          "sip:bob@192.0.2.1"]
    assert targets.next() is None
    with pytest.raises(ValueError):
        targets.add(reply(original, 486))


def test_redirected_request() -> None:
    original = invite(cseq=4, body=b"v=0\r\n")
    target = URI.parse("sip:bob@192.0.2.2;method=INVITE;transport=tcp?Subject=moved"
                       "&Call-ID=evil")
    request = wire(redirected_request(original, target))
    assert str(request.uri) == "sip:bob@192.0.2.2;transport=tcp"
    assert request.cseq.seq == 5 and request.cseq.method == "INVITE"
    assert request.via[0].branch != original.via[0].branch and len(request.via) == 1
    assert request.call_id == original.call_id and request.to.tag is None
    assert request.from_.tag == original.from_.tag and request.body == b"v=0\r\n"
    assert request.headers.get("Subject") == "moved"
    assert original.cseq.seq == 4 and original.headers.get("Subject") is None
