"""A ringing INVITE branch kept as bytes (``ResponseContext.compact_branch``):
CANCEL (§9.1, §16.7 step 10) and Timer C (§16.8) work as before."""

from __future__ import annotations

from sipwire.proxy import CancelBranch, ForwardResponse

from .test_context import TIMER_C, Fork, T, cancelled, statuses


def test_a_ringing_branch_kept_as_bytes_is_cancelled_as_before() -> None:
    plain, compacted = Fork(2), Fork(2)
    for fork in (plain, compacted):
        assert statuses(fork.respond(0, 180)) == [180]
    sent = bytes(compacted.sent[0])
    compacted.ctx.compact_branch(0)
    request = compacted.ctx.branch_request(0)
    assert request is not compacted.sent[0] and bytes(request) == sent
    # a 2xx on the other branch cancels the ringing one (§16.7 step 10)
    expected = [a for a in plain.respond(1, 200) if isinstance(a, CancelBranch)]
    actions = compacted.respond(1, 200)
    assert cancelled(actions) == [0]
    [cancel] = [a for a in actions if isinstance(a, CancelBranch)]
    assert bytes(cancel.request) == bytes(expected[0].request)


def test_timer_c_of_a_compacted_branch_still_fires() -> None:
    fork = Fork(1)
    bytes(fork.sent[0])  # sent
    fork.respond(0, 180)
    fork.ctx.compact_branch(0)
    actions = fork.ctx.handle_timer(T + TIMER_C)
    assert cancelled(actions) == [0]
    assert not [a for a in actions if isinstance(a, ForwardResponse)]


def test_compacting_an_unknown_or_compacted_branch_does_nothing() -> None:
    fork = Fork(1)
    sent = bytes(fork.sent[0])  # sent (serialized) before a response can come
    fork.ctx.compact_branch(7)
    fork.ctx.compact_branch(0)
    fork.ctx.compact_branch(0)
    assert bytes(fork.ctx.branch_request(0)) == sent
