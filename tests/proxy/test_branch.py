"""RFC 3261 §16.6 step 8: the Via branch of a loop-detecting proxy."""

from __future__ import annotations

import re

import pytest

from sipwire.message.abnf import TOKEN
from sipwire.proxy import branch_for, loop_hash, loop_part

from .builders import request


def test_branch_has_the_magic_cookie_and_is_a_token() -> None:
    branch = branch_for(request())
    assert branch.startswith("z9hG4bK")
    assert re.fullmatch(TOKEN, branch)


def test_branch_is_deterministic_for_the_same_request() -> None:
    assert branch_for(request(), 0) == branch_for(request(), 0)


def test_each_branch_of_a_context_differs() -> None:
    # §16.6 step 7: "the branch parameter ... MUST be different for each attempt"
    branches = {branch_for(request(), i) for i in range(20)}
    assert len(branches) == 20


def test_branches_of_one_request_share_the_loop_part() -> None:
    assert loop_part(branch_for(request(), 0)) == loop_part(branch_for(request(), 7))
    assert loop_part(branch_for(request(), 3)) == loop_hash(request())


@pytest.mark.parametrize("change", [
    {"to": "<sip:bob@example.com>;tag=8321234356"},
    {"from_": "Alice <sip:alice@example.com>;tag=other"},
    {"call_id": "different@pc33.example.com"},
    {"uri": "sip:bob@biloxi.example.com"},
    {"cseq": 314160},
    {"headers": ["Route: <sip:p2.example.com;lr>"]},
    {"headers": ["Proxy-Require: foo"]},
    {"headers": ['Proxy-Authorization: Digest username="alice", realm="example.com"']},
])
def test_branch_and_loop_part_change_with_each_processing_field(
        change: dict[str, object]) -> None:
    # "The value placed in this part of the branch parameter SHOULD reflect all
    # of those fields (including any Route, Proxy-Require and
    # Proxy-Authorization header fields)."
    changed = request(**change)  # type: ignore[arg-type]
    assert branch_for(changed) != branch_for(request())
    assert loop_hash(changed) != loop_hash(request())


def test_branch_changes_with_the_top_via() -> None:
    # the top Via makes branches unique across transactions (§16.11) ...
    other = request(vias=["SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnew"])
    assert branch_for(other) != branch_for(request())
    # ... but is not part of the loop hash: it differs on each pass of a loop
    assert loop_hash(other) == loop_hash(request())


def test_method_is_not_in_the_branch() -> None:
    # "The request method MUST NOT be included in the calculation"
    cancel = request("CANCEL")
    assert branch_for(cancel) == branch_for(request("INVITE"))


def test_body_and_other_headers_do_not_change_the_branch() -> None:
    other = request(body=b"v=0\r\n", headers=["Subject: lunch"])
    assert branch_for(other) == branch_for(request())


def test_loop_part_of_foreign_branches_is_none() -> None:
    assert loop_part("z9hG4bK776asdhds") is None
    assert loop_part("abc.0.0123456789abcdef") is None
    assert loop_part(None) is None
    assert loop_part("z9hG4bKx.0.0123456789ABCDEF") is None
