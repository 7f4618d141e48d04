"""The dialogs one INVITE creates when it forks (RFC 3261 §12.1.2, §13.2.2.4).

A proxy may fork our INVITE: every provisional response with a To tag of its
own makes another early dialog, and more than one callee may answer.
``DialogSet`` keeps one dialog per To tag.  The first 2xx confirms its dialog
and is the call; every other early dialog ends then (the proxy cancels the
other branches, §16.7 step 10).  A 2xx with another tag after that creates a
dialog nobody wants: §13.2.2.4 has the UAC acknowledge it and end it with a
BYE, which ``receive_response`` returns as ``SendAck`` and ``SendRequest``.  A
non-2xx final response ends every early dialog (§13.2.2.3, §15).

``ForkOutcome`` names what a response was to the set::

    100, or no To tag ---------------------------> NONE
    1xx with a new To tag -----------------------> NEW_EARLY
    1xx with a known To tag ---------------------> EARLY
    first 2xx -----------------------------------> CONFIRMED
    2xx again for the confirmed dialog ----------> RETRANSMISSION (ACK it again)
    2xx of another fork after the first ---------> EXTRA (ACK and BYE returned)
    300-699 -------------------------------------> FAILED (every early dialog ends)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..message.message import Request, Response
from .actions import SendAck, SendRequest
from .dialog import Dialog, DialogState

__all__ = ["DialogSet", "ForkOutcome", "ForkResponse"]


class ForkOutcome(Enum):
    NONE = "none"
    NEW_EARLY = "new early dialog"
    EARLY = "early dialog"
    CONFIRMED = "confirmed"
    RETRANSMISSION = "2xx retransmission"
    EXTRA = "2xx of another fork"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ForkResponse:
    """What a response did: ``outcome``, the ``dialog`` it belongs to (None for
    NONE and a FAILED without a To tag) and the requests to send."""

    outcome: ForkOutcome
    dialog: Dialog | None
    actions: tuple[SendAck | SendRequest, ...] = ()


class DialogSet:
    """The dialogs created by ``invite``, a request we sent, keyed by To tag.

    ``confirmed`` is the dialog of the first 2xx (None before it), ``dialogs``
    every dialog created, ``final`` the first final response received.
    ``secure`` is passed to ``Dialog.uac``.
    """

    __slots__ = ("_extra_acks", "confirmed", "dialogs", "final", "invite", "secure")

    def __init__(self, invite: Request, *, secure: bool | None = None) -> None:
        self.invite = invite
        self.secure = secure
        self.dialogs: dict[str, Dialog] = {}
        self.confirmed: Dialog | None = None
        self.final: Response | None = None
        self._extra_acks: dict[str, Request] = {}

    @property
    def early(self) -> list[Dialog]:
        """The dialogs still early."""
        return [d for d in self.dialogs.values() if d.state is DialogState.EARLY]

    def receive_response(self, response: Response) -> ForkResponse:
        """Take a response to the INVITE (see the module docstring for the outcomes)."""
        status = response.status
        tag = response.to.tag
        if status >= 300:
            if self.final is None:
                self.final = response
            for early in self.early:
                early.terminate(str(status))
            return ForkResponse(ForkOutcome.FAILED,
                                self.dialogs.get(tag) if tag is not None else None)
        if tag is None or status == 100:
            return ForkResponse(ForkOutcome.NONE, None)
        dialog = self.dialogs.get(tag)
        if status < 200:
            if self.final is not None:
                return ForkResponse(ForkOutcome.NONE, dialog)  # late: no new early dialog
            if dialog is None:
                if not response.contact:
                    # §12.1.2 takes the remote target from the Contact, which
                    # §12.1.1 asks of the UAS; a 1xx without one (some
                    # gateways send it) is taken as a provisional response
                    # that makes no early dialog, not refused
                    return ForkResponse(ForkOutcome.NONE, None)
                dialog = self.dialogs[tag] = Dialog.uac(self.invite, response, secure=self.secure)
                return ForkResponse(ForkOutcome.NEW_EARLY, dialog)
            return ForkResponse(ForkOutcome.EARLY, dialog)
        confirmed = self.confirmed
        if confirmed is not None:
            if dialog is confirmed:
                return ForkResponse(ForkOutcome.RETRANSMISSION, dialog)
            return self._extra(tag, response)
        if dialog is None:
            confirmed = self.dialogs[tag] = Dialog.uac(self.invite, response,
                                                       secure=self.secure)
        else:
            confirmed = dialog
            confirmed.receive_response(self.invite, response)
        self.confirmed = confirmed
        if self.final is None:
            self.final = response
        for other in self.early:
            other.terminate("another fork answered")
        return ForkResponse(ForkOutcome.CONFIRMED, confirmed)

    def _extra(self, tag: str, response: Response) -> ForkResponse:
        """§13.2.2.4: a 2xx from another fork: ACK it, then BYE its dialog; a
        retransmission of that 2xx gets the same ACK again."""
        ack = self._extra_acks.get(tag)
        if ack is not None:
            return ForkResponse(ForkOutcome.EXTRA, self.dialogs.get(tag), (SendAck(ack),))
        dialog = Dialog.uac(self.invite, response, secure=self.secure)
        self.dialogs[tag] = dialog
        ack = self._extra_acks[tag] = dialog.ack(self.invite, response)
        bye = dialog.create_request("BYE")
        return ForkResponse(ForkOutcome.EXTRA, dialog, (SendAck(ack), SendRequest(bye)))
