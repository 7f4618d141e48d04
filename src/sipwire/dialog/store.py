"""The dialogs of a UA, matched by dialog id (RFC 3261 §12.2.2).

A request received within a dialog carries our tag in To and the peer's in
From; a response to a request we sent, ours in From and the peer's in To.
``DialogStore.receive(request)`` says which dialog a request belongs to, or
hands back the 481 (Call/Transaction Does Not Exist) of §12.2.2 for a request
with a To tag that matches none.  No asyncio, no clock: a dict.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..message.message import Request, Response
from .dialog import Dialog, DialogId

__all__ = ["DialogStore"]


class DialogStore:
    """Dialogs by ``DialogId``."""

    __slots__ = ("_dialogs",)

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def add(self, dialog: Dialog) -> Dialog:
        """Keep ``dialog`` (replacing one with the same id); returns it."""
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog: Dialog | DialogId) -> Dialog | None:
        """Forget a dialog; returns it, or None when it was not kept."""
        key = dialog.id if isinstance(dialog, Dialog) else dialog
        return self._dialogs.pop(key, None)

    def get(self, id: DialogId) -> Dialog | None:
        return self._dialogs.get(id)

    def match(self, request: Request) -> Dialog | None:
        """The dialog a received ``request`` belongs to (local tag = To tag)."""
        id = DialogId.of_request(request)
        if id is None:
            to_tag = request.to.tag
            if to_tag is None:
                return None
            # an RFC 2543 peer: no From tag, kept as the empty remote tag (§12.1.1)
            id = DialogId(request.call_id, to_tag, "")
        return self._dialogs.get(id)

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog a response to a request we sent belongs to (local tag = From tag)."""
        id = DialogId.of_response(response)
        return self._dialogs.get(id) if id is not None else None

    def receive(self, request: Request) -> Dialog | Response | None:
        """Where a received ``request`` goes (§12.2.2).

        Its ``Dialog`` when it matches one; None when it has no To tag (out of
        any dialog: the UAS core handles it, §8.2); a ready 481 for a request
        with a To tag matching no dialog.  An ACK or CANCEL with a To tag that
        matches nothing also gives None: no response is sent to an ACK
        (§17.2.3), and a CANCEL is matched to its transaction (§9.2).
        """
        dialog = self.match(request)
        if dialog is not None or request.to.tag is None:
            return dialog
        if request.method == "ACK" or request.method == "CANCEL":
            return None
        return request.reply(481)

    def prune(self) -> list[Dialog]:
        """Forget the terminated dialogs; returns them."""
        ended = [d for d in self._dialogs.values() if d.terminated]
        for dialog in ended:
            del self._dialogs[dialog.id]
        return ended

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Dialog):
            return self._dialogs.get(item.id) is item
        return item in self._dialogs
