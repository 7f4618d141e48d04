"""An INVITE with Replaces (RFC 3891 §3) naming each kind of dialog of a
UserAgent on 127.0.0.1: a confirmed one with early-only (486), an early one
the agent did not initiate (481), one that ended (603), and an early one it
initiated, which the new call replaces by CANCELling it."""

from __future__ import annotations

import asyncio

import pytest

from sipwire.ua import Call, CallFailed, CallState, Ended, UserAgent

from .conftest import TIMEOUT
from .test_agent import MakeUA, address, connected, ended, make_ua, next_call

__all__ = ["make_ua"]


def replaces(call: Call, *, early_only: bool = False) -> str:
    """The Replaces naming ``call``'s dialog, as the agent holding it reads it:
    to-tag its local tag, from-tag the remote one."""
    assert call.dialog is not None
    value = (f"{call.call_id};to-tag={call.dialog.id.local_tag};"
             f"from-tag={call.dialog.id.remote_tag}")
    return value + (";early-only" if early_only else "")


async def replacing(carol: UserAgent, target: UserAgent, value: str) -> int:
    """carol's INVITE with Replaces ``value`` to ``target``: its final status."""
    try:
        call = await asyncio.wait_for(carol.call(address(target, "alice"), headers=[
            ("Replaces", value)]), TIMEOUT)
    except CallFailed as exc:
        return exc.status
    await asyncio.wait_for(call.hangup(), TIMEOUT)
    return 200


async def test_early_only_for_a_confirmed_dialog_is_486(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    a_b, b_a = await connected(alice, bob)
    assert await replacing(carol, alice, replaces(a_b, early_only=True)) == 486
    assert a_b.state is CallState.CONFIRMED  # left unchanged
    await asyncio.wait_for(a_b.hangup(), TIMEOUT)
    await ended(b_a)


async def test_an_early_dialog_the_agent_did_not_initiate_is_481(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    placing = asyncio.ensure_future(bob.call(address(alice, "alice")))
    ringing = await next_call(alice)
    await asyncio.wait_for(ringing.ringing(), TIMEOUT)
    assert await replacing(carol, alice, replaces(ringing)) == 481
    assert ringing.state is CallState.EARLY  # left unchanged
    await asyncio.wait_for(ringing.answer(), TIMEOUT)
    call = await asyncio.wait_for(placing, TIMEOUT)
    await asyncio.wait_for(call.hangup(), TIMEOUT)
    await ended(ringing)


async def test_a_dialog_that_ended_is_603(make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    a_b, b_a = await connected(alice, bob)
    value = replaces(a_b)
    await asyncio.wait_for(b_a.hangup(), TIMEOUT)
    assert await ended(a_b) == Ended("bye", "remote")
    assert await replacing(carol, alice, value) == 603
    assert await replacing(carol, alice, value.replace("from-tag=", "from-tag=x")) == 481


async def test_an_early_dialog_the_agent_initiated_is_cancelled_by_the_new_call(
        make_ua: MakeUA) -> None:
    alice, bob, carol = await make_ua("alice"), await make_ua("bob"), await make_ua("carol")
    placing = asyncio.ensure_future(alice.call(address(bob)))
    b_a = await next_call(bob)
    await asyncio.wait_for(b_a.ringing(), TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        while not alice.calls or alice.calls[0].state is not CallState.EARLY:
            await asyncio.sleep(0.01)
    [a_b] = alice.calls
    c_a = await asyncio.wait_for(carol.call(address(alice, "alice"), headers=[
        ("Replaces", replaces(a_b))]), TIMEOUT)
    assert c_a.state is CallState.CONFIRMED
    # §3: "shuts down the replaced dialog by sending a CANCEL"
    assert await ended(a_b) == Ended("replaced", "local", 487)
    assert await ended(b_a) == Ended("cancelled", "remote", 487)
    with pytest.raises(CallFailed) as failed:
        await asyncio.wait_for(placing, TIMEOUT)
    assert failed.value.status == 487
    [a_c] = alice.calls  # the new call took the place of the old one
    assert a_c.call_id == c_a.call_id and a_c.replaces is a_b
    await asyncio.wait_for(c_a.hangup(), TIMEOUT)
    assert await ended(a_c) == Ended("bye", "remote")
