"""Messages and a fake clock for the transaction tests (no real time anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import sipwire
from sipwire import Request, Response
from sipwire.transaction import Action, Send

ALICE = "Alice <sip:alice@atlanta.example.com>"
BOB = "sip:bob@biloxi.example.com"

M = TypeVar("M", Request, Response)


def request(method: str = "INVITE", *, transport: str = "UDP", cseq: int = 1,
            call_id: str = "call-1@atlanta", host: str = "pc33.atlanta.example.com",
            port: int | None = 5060, branch: str | None = None, from_tag: str = "alicetag",
            headers: Sequence[tuple[str, str]] = ()) -> Request:
    """A request as a UAC builds it (§8.1.1), passed through the wire and back."""
    via = None
    if branch is not None:
        via = sipwire.Via(transport, host, port, branch=branch)
    built = Request.build(method, BOB, from_=f"{ALICE};tag={from_tag}", call_id=call_id,
                          cseq=cseq, via=via, transport=transport, sent_by=(host, port),
                          headers=list(headers))
    return wire(built)


def invite(**kwargs: object) -> Request:
    return request("INVITE", **kwargs)  # type: ignore[arg-type]


def wire(message: M) -> M:
    """``message`` serialized and parsed again: what the far end receives."""
    parsed = sipwire.parse(bytes(message))
    assert isinstance(parsed, type(message))
    return parsed


def reply(req: Request, status: int, *, to_tag: str = "bobtag") -> Response:
    """A response of the far end, as received."""
    return wire(req.reply(status, to_tag=to_tag))


def sip(text: str) -> Request | Response:
    """A literal message written with LF line endings, parsed from CRLF bytes."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    parsed = sipwire.parse(data)
    assert isinstance(parsed, Request | Response)
    return parsed


def kinds(actions: Sequence[Action]) -> list[str]:
    """The action type names, for compact assertions."""
    return [type(a).__name__ for a in actions]


def timeline(log: Sequence[tuple[float, Action]]) -> list[tuple[float, str]]:
    """(time, action type name) for each entry of a ``run_clock`` log."""
    return [(t, type(a).__name__) for t, a in log]


def sent(actions: Sequence[Action]) -> list[Request | Response]:
    return [a.message for a in actions if isinstance(a, Send)]


class Timed(Protocol):
    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> list[Action]: ...


def run_clock(machine: Timed, until: float) -> list[tuple[float, Action]]:
    """Advance a fake clock from deadline to deadline up to ``until`` (inclusive),
    firing timers exactly when due; every action with the time it happened."""
    log: list[tuple[float, Action]] = []
    while (deadline := machine.next_deadline()) is not None and deadline <= until:
        log += [(deadline, action) for action in machine.handle_timer(deadline)]
    return log
