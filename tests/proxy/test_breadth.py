"""Max-Breadth (RFC 5393 §5): the proxy adds it, splits it among parallel
branches, and answers 440 to a fork wider than it."""

from __future__ import annotations

import pytest

from sipwire import URI, Response
from sipwire.location import Source
from sipwire.proxy import Target, TargetSet, branch_for, determine_targets, forward_request
from sipwire.proxy.breadth import DEFAULT_MAX_BREADTH, incoming_breadth, split_breadth

from .builders import T0, binding, config, request

BOB = [binding(f"sip:bob@192.0.2.{10 + i}") for i in range(8)]


def max_breadth(headers: list[str]) -> int:
    return incoming_breadth(request(headers=headers), DEFAULT_MAX_BREADTH)


def shares(result: TargetSet | Response) -> list[list[int | None]]:
    assert isinstance(result, TargetSet), result
    return [[t.breadth for t in group] for group in result.groups]


def test_the_recommended_maximum_is_60() -> None:
    # §5.3.3: "it MUST add one, with a value that is RECOMMENDED to be 60"
    assert DEFAULT_MAX_BREADTH == 60 and config().max_breadth == 60


@pytest.mark.parametrize(("headers", "expected"), [
    ([], 60),                                            # none: added
    (["Max-Breadth: 7"], 7),
    (["Max-Breadth: 60"], 60),
    (["Max-Breadth: 1000"], 60),                         # over the maximum: overwritten
    (["Max-Breadth: 0"], 60),                            # not a positive integer
    (["Max-Breadth: -3"], 60),
    (["Max-Breadth: seven"], 60),
    (["Max-Breadth: \u0663"], 60),                       # a digit, but not 1*DIGIT
    (["Max-Breadth: 9", "Max-Breadth: 4"], 4),           # more than one: the smallest
])
def test_incoming_max_breadth(headers: list[str], expected: int) -> None:
    assert max_breadth(headers) == expected


def test_split_breadth_adds_up_and_gives_each_at_least_one() -> None:
    assert split_breadth(60, 1) == [60]
    assert split_breadth(60, 7) == [9, 9, 9, 9, 8, 8, 8]
    assert split_breadth(4, 4) == [1, 1, 1, 1]
    for total in range(1, 30):
        for branches in range(1, total + 1):
            parts = split_breadth(total, branches)
            assert sum(parts) == total and min(parts) >= 1 and len(parts) == branches
    with pytest.raises(ValueError, match="RFC 5393"):
        split_breadth(3, 4)


def test_a_parallel_fork_shares_the_incoming_max_breadth() -> None:
    result = determine_targets(request(headers=["Max-Breadth: 10"]), config(), BOB[:3], now=T0)
    assert shares(result) == [[4, 3, 3]]
    assert shares(determine_targets(request(), config(), BOB[:1], now=T0)) == [[60]]


def test_a_fork_wider_than_max_breadth_is_440() -> None:
    # §5.3.3: "that proxy MUST return a 440 (Max-Breadth Exceeded) response"
    result = determine_targets(request(headers=["Max-Breadth: 3"]), config(), BOB[:4], now=T0)
    assert isinstance(result, Response)
    assert (result.status, result.reason) == (440, "Max-Breadth Exceeded")
    assert "4 targets" in (result.headers.get("Warning") or "")
    # the proxy's own maximum counts when the request asks for more
    wide = determine_targets(request(headers=["Max-Breadth: 70"]), config(max_breadth=5),
                             BOB[:6], now=T0)
    assert isinstance(wide, Response) and wide.status == 440
    assert shares(determine_targets(request(), config(max_breadth=8), BOB, now=T0)) == [[1] * 8]


def test_sequential_groups_each_get_all_of_it() -> None:
    # groups are tried one after the other, the next once the one before has
    # its final responses (§5.3.3.1: their Max-Breadth is free again)
    bindings = [binding("sip:bob@192.0.2.1", q=1.0), binding("sip:bob@192.0.2.2", q=1.0),
                binding("sip:bob@192.0.2.3", q=0.5)]
    result = determine_targets(request(headers=["Max-Breadth: 2"]),
                               config(forking="sequential"), bindings, now=T0)
    assert shares(result) == [[1, 1], [2]]
    one = determine_targets(request(headers=["Max-Breadth: 1"]),
                            config(forking="sequential"), bindings, now=T0)
    assert isinstance(one, Response) and one.status == 440


def test_every_forwarded_request_carries_one_max_breadth() -> None:
    # §5.3.3: "All proxied requests MUST contain a single Max-Breadth header field value"
    received = request(headers=["Max-Breadth: 9", "Max-Breadth: 30"])
    out = forward_request(received, Target(URI.parse("sip:bob@192.0.2.9"), breadth=5), config(),
                          branch_for(received))
    assert out.headers.getall("Max-Breadth") == ["5"]
    # no share: the whole Incoming Max-Breadth (a relayed request, a single target)
    plain = request()
    out = forward_request(plain, "sip:carol@biloxi.example.org", config(), branch_for(plain))
    assert out.headers.getall("Max-Breadth") == ["60"]
    too_much = request(headers=["Max-Breadth: 500"])
    out = forward_request(too_much, "sip:bob@192.0.2.9", config(), branch_for(too_much))
    assert out.headers.getall("Max-Breadth") == ["60"]


def test_a_max_breadth_that_stays_the_same_keeps_its_bytes() -> None:
    received = request(headers=["Max-breadth:   60"])
    out = forward_request(received, "sip:bob@192.0.2.9", config(), branch_for(received))
    assert b"\r\nMax-breadth:   60\r\n" in bytes(out)


def test_an_alternate_flow_takes_the_share_of_the_branch_it_replaces() -> None:
    uri = URI.parse("sip:bob@10.0.0.9;transport=tcp;ob")
    spare = Target(uri, flow=Source("TCP", "198.51.100.4", 40001, "conn-2"))
    target = Target(uri, flow=Source("TCP", "198.51.100.4", 40000, "conn-1"),
                    alternates=(spare,), breadth=7)
    alternate = target.next_alternate()
    assert alternate is not None and alternate.breadth == 7 and alternate.flow == spare.flow


def test_max_breadth_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_breadth"):
        config(max_breadth=0)
