"""Two transaction layers talking over a lossy fake network with a fake clock.

The driver here is what an asyncio driver does, minus the event loop: carry
``Send`` bytes to the other side (parsed again, as a transport would), wake at
``next_deadline()``, call ``handle_timer``.  Losing requests, responses and
ACKs shows the retransmission rules of §17 working end to end.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import sipwire
from sipwire import Request, Response
from sipwire.transaction import (
    Action,
    Deliver,
    Send,
    ServerTransaction,
    Terminated,
    TransactionLayer,
)

from .builders import request

LATENCY = 0.05


@dataclass
class Network:
    """UAC and UAS layers, a one-way latency and a rule for which packets are lost."""

    lost: Callable[[str], bool]
    uac: TransactionLayer = field(default_factory=TransactionLayer)
    uas: TransactionLayer = field(default_factory=TransactionLayer)
    now: float = 0.0
    #: (time, order, callback): packets in flight and TU decisions to come
    agenda: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    log: list[tuple[float, str]] = field(default_factory=list)
    uas_handler: Callable[[Network, ServerTransaction], None] | None = None
    uac_received: list[Response] = field(default_factory=list)

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self.agenda, (when, len(self.log) + len(self.agenda), callback))

    def perform(self, side: TransactionLayer, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.transmit(side, action.message)
            elif isinstance(action, Deliver):
                if side is self.uac:
                    assert isinstance(action.message, Response)
                    self.uac_received.append(action.message)
                elif isinstance(action.transaction, ServerTransaction):
                    assert self.uas_handler is not None
                    self.uas_handler(self, action.transaction)
            elif isinstance(action, Terminated):
                self.log.append((self.now, f"{_name(side, self)} terminated: {action.reason}"))

    def transmit(self, side: TransactionLayer, message: Request | Response) -> None:
        label = _label(message)
        name = f"{_name(side, self)} sends {label}"
        if self.lost(name):
            self.log.append((self.now, name + " (lost)"))
            return
        self.log.append((self.now, name))
        peer = self.uas if side is self.uac else self.uac
        data = bytes(message)
        self.at(self.now + LATENCY,
                lambda: self.perform(peer, peer.receive(sipwire.parse(data), self.now)))

    def run(self, until: float) -> None:
        while True:
            deadlines = [d for d in (self.uac.next_deadline(), self.uas.next_deadline())
                         if d is not None]
            if self.agenda:
                deadlines.append(self.agenda[0][0])
            if not deadlines or min(deadlines) > until:
                return
            self.now = min(deadlines)
            if self.agenda and self.agenda[0][0] == self.now:
                heapq.heappop(self.agenda)[2]()
                continue
            for side in (self.uac, self.uas):
                self.perform(side, side.handle_timer(self.now))


def _name(side: TransactionLayer, net: Network) -> str:
    return "UAC" if side is net.uac else "UAS"


def _label(message: Request | Response) -> str:
    if isinstance(message, Request):
        return message.method
    return str(message.status)


def lose_first(*names: str) -> Callable[[str], bool]:
    """Lose the first packet of each name given (``"UAC sends INVITE"`` ...)."""
    pending = list(names)

    def lost(name: str) -> bool:
        if name in pending:
            pending.remove(name)
            return True
        return False
    return lost


def sends(net: Network) -> list[str]:
    return [entry for _, entry in net.log if " sends " in entry]


def test_invite_rejected_over_udp_with_a_lost_invite_response_and_ack() -> None:
    def uas(net: Network, tx: ServerTransaction) -> None:
        # the UAS core takes a second to decide: the transaction sends 100 meanwhile
        net.at(net.now + 1.0, lambda: net.perform(
            net.uas, tx.send(tx.request.reply(486, to_tag="uas"), net.now)))

    net = Network(lose_first("UAC sends INVITE", "UAS sends 486", "UAC sends ACK"))
    net.uas_handler = uas
    client = net.uac.create_client(request("INVITE"), reliable=False)
    net.perform(net.uac, client.start(0.0))
    net.run(100.0)
    assert sends(net) == [
        "UAC sends INVITE (lost)",
        "UAC sends INVITE",  # Timer A, at T1
        "UAS sends 100",  # nobody answered within 200 ms
        "UAS sends 486 (lost)",
        "UAS sends 486",  # Timer G
        "UAC sends ACK (lost)",
        "UAS sends 486",  # Timer G again, doubled
        "UAC sends ACK",  # the same ACK, for the retransmitted 486
    ]
    assert [r.status for r in net.uac_received] == [100, 486]  # the 486 passed up once
    assert len(net.uac) == 0 and len(net.uas) == 0  # Timers I and D ended both
    ended = [entry for _, entry in net.log if "terminated" in entry]
    assert ended == ["UAS terminated: Timer I", "UAC terminated: Timer D"]


def test_non_invite_over_udp_with_lost_request_and_lost_final_response() -> None:
    def uas(net: Network, tx: ServerTransaction) -> None:
        net.perform(net.uas, tx.send(tx.request.reply(200, to_tag="uas"), net.now))

    net = Network(lose_first("UAC sends REGISTER", "UAS sends 200"))
    net.uas_handler = uas
    client = net.uac.create_client(request("REGISTER"), reliable=False)
    net.perform(net.uac, client.start(0.0))
    net.run(100.0)
    assert sends(net) == [
        "UAC sends REGISTER (lost)",
        "UAC sends REGISTER",  # Timer E, at T1
        "UAS sends 200 (lost)",
        "UAC sends REGISTER",  # Timer E, at 2*T1
        "UAS sends 200",  # the retransmission is answered with the stored 200
    ]
    assert [r.status for r in net.uac_received] == [200]
    assert len(net.uac) == 0 and len(net.uas) == 0
    ended = [entry for _, entry in net.log if "terminated" in entry]
    assert ended == ["UAC terminated: Timer K", "UAS terminated: Timer J"]


def test_invite_accepted_2xx_retransmitted_by_the_tu_passes_through_accepted() -> None:
    answers: list[Response] = []

    def uas(net: Network, tx: ServerTransaction) -> None:
        ok = tx.request.reply(200, to_tag="uas")
        answers.append(ok)
        net.perform(net.uas, tx.send(ok, net.now))
        # §13.3.1.4: the UAS core, not the transaction, retransmits its 2xx
        net.at(net.now + 0.5, lambda: net.perform(net.uas, tx.send(ok, net.now)))

    net = Network(lose_first("UAS sends 200"))
    net.uas_handler = uas
    client = net.uac.create_client(request("INVITE"), reliable=False)
    net.perform(net.uac, client.start(0.0))
    net.run(100.0)
    assert sends(net) == [
        "UAC sends INVITE",
        "UAS sends 200 (lost)",
        "UAC sends INVITE",  # Timer A: absorbed in Accepted, not a new request
        "UAS sends 200",  # the TU's retransmission
    ]
    assert len(answers) == 1  # the retransmitted INVITE never reached the UAS core
    assert [r.status for r in net.uac_received] == [200]
    ended = [entry for _, entry in net.log if "terminated" in entry]
    assert ended == ["UAS terminated: Timer L", "UAC terminated: Timer M"]
