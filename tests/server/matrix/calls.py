"""The calls of a cell, and what each must show at the far end.

A call (``basic_call``): the caller dials the callee's address-of-record;
the INVITE must reach the callee and its 200 the caller; the ACK must reach
the callee (RFC 3261 §13.2.2.4); the caller re-INVITEs (§14.1), and that
INVITE, its 200 and its ACK must arrive; then one side hangs up and the BYE
must reach the other (§15.1), its 200 coming back.  Every request the
phones send in the dialog must leave on the transport the phone uses: a
Record-Route naming another transport breaks a TCP, TLS or WebSocket phone
(RFC 5658 §6.1).  ``cancelled_call`` gives up while it rings (§9): the CANCEL
must reach the callee, the 487 the caller, and the ACK of the 487 the callee.

Each check is recorded, passing or not, with what both phones saw of the
call when one fails; every wait is bounded (``STEP`` seconds).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from sipwire import Request

from .observe import Match, Observed, request, response, summary

#: seconds a message has to arrive once the step that sends it is taken
STEP = 5.0
#: seconds for a phone to register
REGISTER_TIMEOUT = 10.0


class Phone(Protocol):
    label: str
    transport: str

    @property
    def aor(self) -> str: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def wait_registered(self, timeout: float) -> str | None: ...
    async def prepare(self, role: str, hangup_by: str) -> None: ...
    async def dial(self, uri: str, hangup_by: str) -> None: ...
    async def reinvite(self) -> None: ...
    async def hangup(self) -> None: ...
    async def cancel(self) -> None: ...
    async def finish(self, abort: bool) -> list[str]: ...
    def observed(self) -> list[Observed]: ...


@dataclass(frozen=True)
class Check:
    call: str
    what: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"{mark} [{self.call}] {self.what}"
        return f"{text}\n       {self.detail}" if self.detail and not self.ok else text


@dataclass
class Checks:
    items: list[Check] = field(default_factory=list)

    def record(self, call: str, what: str, ok: bool, detail: str = "") -> bool:
        self.items.append(Check(call, what, ok, detail))
        return ok

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.items if not c.ok]


async def arrived(phone: Phone, match: Match, *, since: int = 0,
                  timeout: float = STEP) -> Observed | None:
    """The first message ``phone`` saw (from its ``since``-th on) that matches."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for seen in phone.observed()[since:]:
            if match(seen):
                return seen
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.05)


def _saw(caller: Phone, callee: Phone, call_id: str | None, since: tuple[int, int]) -> str:
    def seen(phone: Phone, start: int) -> list[Observed]:
        return [s for s in phone.observed()[start:] if call_id is None or s.call_id == call_id]
    return (f"caller {caller.label} saw: {summary(seen(caller, since[0]))} | "
            f"callee {callee.label} saw: {summary(seen(callee, since[1]))}")


async def register(phones: list[Phone], checks: Checks) -> bool:
    """Register every phone at once (digest); a check each."""
    problems = await asyncio.gather(*(p.wait_registered(REGISTER_TIMEOUT) for p in phones))
    ok = True
    for phone, problem in zip(phones, problems, strict=True):
        ok &= checks.record("register", f"{phone.label} registered {phone.aor}",
                            problem is None, problem or "")
    return ok


async def basic_call(caller: Phone, callee: Phone, hangup_by: str, checks: Checks, *,
                     reinvite: bool = True, through: tuple[str, int] | None = None) -> None:
    """One call, hung up by ``hangup_by`` ("caller" or "callee").  ``through``:
    the host and port of a proxy every request in the dialog must have passed
    (its Via in what arrived), a proxy that record-routed."""
    name = f"{hangup_by} hangs up"
    since = (len(caller.observed()), len(callee.observed()))
    await callee.prepare("callee", hangup_by)
    await caller.dial(callee.aor, hangup_by)
    call_id: str | None = None
    completed = False

    def check(what: str, seen: Observed | None) -> bool:
        return checks.record(name, what, seen is not None,
                             "" if seen else _saw(caller, callee, call_id, since))

    try:
        invite = await arrived(callee, request("INVITE", in_dialog=False), since=since[1])
        if not check("INVITE reached the callee", invite):
            return
        assert invite is not None
        call_id = invite.call_id
        if not check("200 reached the caller",
                     await arrived(caller, response(200, "INVITE", call_id))):
            return
        check("ACK reached the callee", await arrived(
            callee, request("ACK", call_id, cseq=invite.message.cseq.seq)))
        if reinvite:
            await caller.reinvite()
            again = await arrived(callee, request("INVITE", call_id, in_dialog=True))
            if check("re-INVITE reached the callee", again):
                assert again is not None
                seq = again.message.cseq.seq
                check("200 to the re-INVITE reached the caller",
                      await arrived(caller, response(200, "INVITE", call_id, cseq=seq)))
                check("ACK of the re-INVITE reached the callee",
                      await arrived(callee, request("ACK", call_id, cseq=seq)))
        hanger, other = (caller, callee) if hangup_by == "caller" else (callee, caller)
        other_role = "callee" if hangup_by == "caller" else "caller"
        await hanger.hangup()
        if check(f"BYE reached the {other_role}", await arrived(other, request("BYE", call_id))):
            completed = check(f"200 to the BYE reached the {hangup_by}",
                              await arrived(hanger, response(200, "BYE", call_id)))
    finally:
        await _end(caller, callee, name, checks, abort=not completed)
    for phone, role in ((caller, "caller"), (callee, "callee")):
        _check_transport(phone, role, call_id, name, checks)
        if through is not None:
            _check_path(phone, role, call_id, through, name, checks)


async def cancelled_call(caller: Phone, callee: Phone, checks: Checks) -> None:
    """A call the caller gives up while the callee rings (§9)."""
    name = "cancel"
    since = (len(caller.observed()), len(callee.observed()))
    await callee.prepare("callee", "cancel")
    await caller.dial(callee.aor, "cancel")
    call_id: str | None = None
    completed = False

    def check(what: str, seen: Observed | None) -> bool:
        return checks.record(name, what, seen is not None,
                             "" if seen else _saw(caller, callee, call_id, since))

    try:
        invite = await arrived(callee, request("INVITE", in_dialog=False), since=since[1])
        if not check("INVITE reached the callee", invite):
            return
        assert invite is not None
        call_id = invite.call_id
        if not check("180 reached the caller",
                     await arrived(caller, response(180, "INVITE", call_id))):
            return
        await caller.cancel()
        check("CANCEL reached the callee", await arrived(callee, request("CANCEL", call_id)))
        check("200 to the CANCEL reached the caller",
              await arrived(caller, response(200, "CANCEL", call_id)))
        check("487 reached the caller", await arrived(caller, response(487, "INVITE", call_id)))
        completed = check("ACK of the 487 reached the callee", await arrived(
            callee, request("ACK", call_id, cseq=invite.message.cseq.seq)))
    finally:
        await _end(caller, callee, name, checks, abort=not completed)


async def _end(caller: Phone, callee: Phone, name: str, checks: Checks, *,
               abort: bool) -> None:
    """The scripted phones' verdicts on the call (a SIPp scenario fails when
    a request it requires never came), and the problems the others met.
    ``abort``: the call broke off; each phone drops what is left of it."""
    for phone, role in ((caller, "caller"), (callee, "callee")):
        for problem in await phone.finish(abort):
            checks.record(name, f"the {role} ({phone.label}) completed its side", False, problem)


def _check_transport(phone: Phone, role: str, call_id: str | None, name: str,
                     checks: Checks) -> None:
    if call_id is None:
        return
    sent = [s for s in phone.observed() if s.direction == "out" and s.call_id == call_id
            and isinstance(s.message, Request) and s.message.to.tag is not None]
    if not sent:
        return
    wrong = [s for s in sent if s.transport.upper() != phone.transport.upper()]
    checks.record(name, f"the {role}'s requests in the dialog left on {phone.transport.upper()}",
                  not wrong, "; ".join(s.describe() for s in wrong))


def _check_path(phone: Phone, role: str, call_id: str | None, through: tuple[str, int],
                name: str, checks: Checks) -> None:
    """Every request in the dialog that reached ``phone`` went through ``through``
    (§16.6 step 4: a proxy that record-routes stays on the path)."""
    if call_id is None:
        return
    got = [s for s in phone.observed() if s.direction == "in" and s.call_id == call_id
           and isinstance(s.message, Request) and s.message.to.tag is not None]
    if not got:
        return
    host, port = through
    missed = [s for s in got if not any(v.host == host and v.port == port
                                        for v in s.message.via)]
    checks.record(name, f"the requests in the dialog reached the {role} through {host}:{port}",
                  not missed, "; ".join(f"{s.describe()} via "
                                        f"{', '.join(f'{v.host}:{v.port}' for v in s.message.via)}"
                                        for s in missed))
