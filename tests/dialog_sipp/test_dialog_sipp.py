"""The dialog layer against SIPp (RFC 3261 §12-15, RFC 3311): scenarios the
sipwire ``UserAgent`` must pass, judged by SIPp (its scenario succeeds only
when what arrived there is what the RFC says: checked headers, tags, bodies).

- a BYE for no dialog: 481 (§15.1.2);
- a 302 redirect followed to the Contact it names (§8.1.3.4), the call up there;
- a forked INVITE answered by two 200s: the second ACKed, then ended with BYE
  (§13.2.2.4), while the first call stays up until its BYE;
- re-INVITE glare: 491 both ways, the UA's re-INVITE sent again after its wait
  (§14.1, §14.2);
- UPDATE in the early dialog, before the answer (RFC 3311 §5.1): after a
  reliable 180 (RFC 3262) carrying the SDP answer (RFC 3261 §13.2.1) and its
  PRACK, an UPDATE with a new offer moving the caller's target, answered in
  its 200, and which the callee's BYE must then use (§12.2.2);
- a forked INVITE with two reliable 183s answering the offer differently,
  each PRACKed in its early dialog; the media of the call is that of the fork
  whose 200 came (§13.2.2.4);
- session timers (RFC 4028) with ``UserAgentConfig(session_timer=...)``: as
  refresher the UA refreshes at half the interval; a session the other side
  does not refresh is ended by the UA with a BYE.  Session-Expires cannot go
  below 90 s (Min-SE, RFC 4028 §5), so these two wait 45 s and 60 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sipwire.dialog.session_timer import SessionTimerConfig
from sipwire.ua import Call, Ended, UserAgent, UserAgentConfig
from tests.server.processes import wait_listening
from tests.sipp.conftest import SippRun, StartSipp, sipp_path, start_sipp

__all__ = ["sipp_path", "start_sipp"]  # fixtures of tests/sipp, used here

HERE = Path(__file__).parent
WAIT = 15.0


MakeAgent = Callable[..., Awaitable[UserAgent]]


@pytest.fixture
async def make_agent() -> AsyncIterator[MakeAgent]:
    """``await make_agent(**config)``: a UserAgent on UDP 127.0.0.1, closed at the end."""
    agents: list[UserAgent] = []

    async def make(**config: Any) -> UserAgent:
        ua = UserAgent(["udp:127.0.0.1:0"], aor="sip:callee@127.0.0.1",
                       config=UserAgentConfig(**config))
        agents.append(ua)
        return await ua.start()

    yield make
    for ua in agents:
        await asyncio.wait_for(ua.close(), WAIT)


@pytest.fixture
async def agent(make_agent: MakeAgent) -> UserAgent:
    return await make_agent()


@pytest.fixture
async def timed_agent(make_agent: MakeAgent) -> UserAgent:
    """A UserAgent running session timers (RFC 4028) with their defaults."""
    return await make_agent(session_timer=SessionTimerConfig())


def port_of(ua: UserAgent) -> int:
    return ua.endpoint.listening_points[0].port


async def succeeded(sipp: SippRun, timeout: float = WAIT) -> None:
    assert await sipp.wait(timeout) == 0, sipp.report()
    stats = sipp.stats()
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0", sipp.report()


async def ended(call: Call, timeout: float = WAIT) -> Ended:
    async with asyncio.timeout(timeout):
        async for event in call.events():
            if isinstance(event, Ended):
                return event
    raise AssertionError(f"{call!r} did not end")


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


async def incoming(ua: UserAgent) -> Call:
    async with asyncio.timeout(WAIT):
        async for call in ua.incoming():
            return call
    raise AssertionError("no incoming call")


async def test_a_stale_bye_is_answered_481(agent: UserAgent, start_sipp: StartSipp) -> None:
    sipp = await start_sipp("-sf", str(HERE / "stale_bye.xml"), "-s", "callee",
                            f"127.0.0.1:{port_of(agent)}", calls=1)
    await succeeded(sipp)


async def test_a_302_is_followed_to_its_contact(agent: UserAgent,
                                                start_sipp: StartSipp) -> None:
    callee = await start_sipp("-sf", str(HERE / "answer_call.xml"), calls=1)
    redirector = await start_sipp("-sf", str(HERE / "redirect_302.xml"), "-set", "target",
                                  f"sip:callee@127.0.0.1:{callee.port}", calls=1)
    await wait_listening(callee.port)
    await wait_listening(redirector.port)
    call = await asyncio.wait_for(agent.call(f"sip:moved@127.0.0.1:{redirector.port}"), WAIT)
    assert call.dialog is not None
    assert call.dialog.remote_target.port == callee.port
    response = await asyncio.wait_for(call.hangup(), WAIT)
    assert response is not None and response.status == 200
    await succeeded(redirector)  # the INVITE got its 302 and the 302 its ACK
    await succeeded(callee)  # INVITE, ACK and BYE arrived at the Contact of the 302


async def test_the_second_2xx_of_a_fork_is_acked_then_ended(agent: UserAgent,
                                                            start_sipp: StartSipp) -> None:
    sipp = await start_sipp("-sf", str(HERE / "fork_two_2xx.xml"), calls=1)
    await wait_listening(sipp.port)
    call = await asyncio.wait_for(agent.call(f"sip:forked@127.0.0.1:{sipp.port}"), WAIT)
    assert call.dialog is not None and call.dialog.id.remote_tag.startswith("forkA")
    # SIPp saw the ACK and BYE of fork B (checked by tag), then ends fork A itself
    event = await ended(call)
    assert (event.reason, event.by) == ("bye", "remote")
    await succeeded(sipp)


async def test_forked_early_dialogs_answer_the_offer_each_their_own_way(
        agent: UserAgent, start_sipp: StartSipp) -> None:
    # two reliable 183s from two forks, media on ports 6000 and 7000, each PRACKed
    # in its own early dialog; fork B's 200 makes the call: its answer is the media
    sipp = await start_sipp("-sf", str(HERE / "fork_early_answers.xml"), calls=1)
    await wait_listening(sipp.port)
    call = await asyncio.wait_for(agent.call(f"sip:forked@127.0.0.1:{sipp.port}"), WAIT)
    assert call.dialog is not None and call.dialog.id.remote_tag.startswith("forkB")
    assert call.media is not None and call.media.streams[0].remote_port == 7000
    response = await asyncio.wait_for(call.hangup(), WAIT)
    assert response is not None and response.status == 200
    await succeeded(sipp)  # PRACKs and ACK/BYE in the right dialogs (checked by tag)


async def test_reinvite_glare_is_491_both_ways_then_retried(agent: UserAgent,
                                                            start_sipp: StartSipp) -> None:
    sipp = await start_sipp("-sf", str(HERE / "glare.xml"), "-s", "callee",
                            f"127.0.0.1:{port_of(agent)}", calls=1)
    call = await incoming(agent)
    await asyncio.wait_for(call.answer(), WAIT)
    await asyncio.wait_for(call.hold(), WAIT)  # 491 first, then 200 (SIPp: recvonly)
    event = await ended(call)
    assert (event.reason, event.by) == ("bye", "remote")
    await succeeded(sipp)


async def unless_sipp_ends(sipp: SippRun, step: Awaitable[object], timeout: float) -> None:
    """Await ``step``; a SIPp that exits first (its scenario failed) fails the test
    at once with its report, rather than after our own timeouts."""
    work = asyncio.ensure_future(step)
    gone = asyncio.ensure_future(sipp.process.wait())
    try:
        done, _ = await asyncio.wait({work, gone}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if work not in done:
        work.cancel()
        raise AssertionError(f"SIPp ended first (or {timeout:g} s passed):\n{sipp.report()}")
    work.result()


async def test_update_before_the_answer(agent: UserAgent, start_sipp: StartSipp) -> None:
    sipp = await start_sipp("-sf", str(HERE / "update_early.xml"), "-s", "callee",
                            f"127.0.0.1:{port_of(agent)}", calls=1)
    call = await incoming(agent)
    # reliable (SIPp requires 100rel), with the answer to the INVITE's offer
    await asyncio.wait_for(call.ringing(), WAIT)
    # SIPp PRACKs it, then its UPDATE, with a new offer (sendonly), moves its
    # target within the early dialog; the 200 to it has our answer (recvonly)
    await unless_sipp_ends(sipp, until(lambda: call.dialog is not None and
                                       call.dialog.remote_target.user == "moved"), WAIT)
    assert call.held  # the UPDATE's offer: SIPp holds us
    await asyncio.wait_for(call.answer(), WAIT)
    response = await asyncio.wait_for(call.hangup(), WAIT)
    assert response is not None and response.status == 200
    await succeeded(sipp)  # the BYE went to sip:moved@ (checked by SIPp)


async def test_a_session_nobody_refreshes_is_ended_with_bye(timed_agent: UserAgent,
                                                           start_sipp: StartSipp) -> None:
    agent = timed_agent
    sipp = await start_sipp("-sf", str(HERE / "session_expiry.xml"), "-s", "callee",
                            f"127.0.0.1:{port_of(agent)}", calls=1, timeout=120)
    call = await incoming(agent)
    await unless_sipp_ends(sipp, call.answer(), WAIT)
    # SIPp (the refresher) never refreshes: BYE at 90 - min(32, 90/3) = 60 s
    event = await ended(call, 75.0)
    assert (event.reason, event.by) != ("bye", "remote")
    await succeeded(sipp)


async def test_the_refresher_refreshes_the_session(timed_agent: UserAgent,
                                                   start_sipp: StartSipp) -> None:
    agent = timed_agent
    sipp = await start_sipp("-sf", str(HERE / "session_refresh.xml"), "-s", "callee",
                            f"127.0.0.1:{port_of(agent)}", calls=1, timeout=120)
    call = await incoming(agent)
    await unless_sipp_ends(sipp, call.answer(), WAIT)
    # the UA refreshes after 45 s (UPDATE or re-INVITE); SIPp then hangs up
    event = await ended(call, 75.0)
    assert (event.reason, event.by) == ("bye", "remote")
    await succeeded(sipp)
