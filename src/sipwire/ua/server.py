"""The UAS side of an endpoint: a request received and the way to answer it (RFC 3261 §8.2).

A handler gets the request and its ``ServerTransactionHandle``, and answers
through the server transaction (§17.2): provisional responses with
``await tx.respond(180)``, then one final response, either with ``respond``
or by returning it.  The endpoint keeps the UAS core's duties the
transaction layer does not have: the same To tag in every response
(§8.2.6.2, §12.1.1), 2xx retransmissions until the ACK (§13.3.1.4), and
CANCEL (§9.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..message.fields.base import Field
from ..message.message import Request, Response, new_tag
from ..transaction.server import ServerTransaction
from ..transport.base import Flow

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = ["ServerTransactionHandle"]


class ServerTransactionHandle:
    """A request received by an ``Endpoint``: answer it with ``respond``.

    ``flow`` is where the request came from (responses go back that way,
    §18.2.2), ``transaction`` its server transaction, ``final_response`` the
    final response once sent.  ``cancelled`` turns True when a CANCEL ended
    the INVITE (§9.2; the endpoint then answered it 487 and cancelled the
    handler's task).
    """

    __slots__ = ("_ack", "_endpoint", "_task", "_to_tag", "cancelled", "final_response",
                 "flow", "request", "transaction")

    def __init__(self, endpoint: Endpoint, request: Request, transaction: ServerTransaction,
                 flow: Flow) -> None:
        self._endpoint = endpoint
        self.request = request
        self.transaction = transaction
        self.flow = flow
        self.final_response: Response | None = None
        self.cancelled = False
        self._to_tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._ack: asyncio.Future[Request | None] | None = None

    def __repr__(self) -> str:
        final = self.final_response
        state = f"{final.status}" if final is not None else "pending"
        return f"<ServerTransactionHandle {self.request.method} {self.request.uri} {state}>"

    @property
    def to_tag(self) -> str:
        """The To tag of every response this handle builds (§8.2.6.2): the
        request's own when it has one (a request within a dialog), else one
        new tag for the whole transaction, so 1xx and 2xx name one dialog."""
        if self._to_tag is None:
            self._to_tag = self.request.to.tag or new_tag()
        return self._to_tag

    def reply(self, status: int, reason: str | None = None, *,
              headers: Iterable[tuple[str, str | Field]] = (), **kwargs: Any) -> Response:
        """A response to the request (§8.2.6), with this handle's To tag and the
        endpoint's Server header; keyword arguments as ``Request.reply``."""
        lines = list(headers)
        server = self._endpoint.config.server
        if server and not any(name.lower() == "server" for name, _ in lines):
            lines.append(("Server", server))
        kwargs.setdefault("to_tag", self.to_tag)
        return self.request.reply(status, reason, headers=lines, **kwargs)

    async def respond(self, response: Response | int, reason: str | None = None) -> Response:
        """Send ``response`` (or ``reply(status, reason)``) through the transaction.

        Any number of provisional responses, then one final response; a
        second final response raises RuntimeError.  Returns what was sent.
        A 2xx to an INVITE is retransmitted until its ACK arrives (§13.3.1.4).
        """
        message, waits = self._submit(response, reason)
        for wait in waits:
            await wait
        return message

    def respond_nowait(self, response: Response | int, reason: str | None = None) -> Response:
        """``respond`` from synchronous code: what cannot be sent at once (over a
        connection) is sent by a background task."""
        message, waits = self._submit(response, reason, background=True)
        assert not waits
        return message

    async def wait_ack(self) -> Request | None:
        """The ACK for the 2xx sent to this INVITE (§13.3.1.4), or None when
        64*T1 passed without one (the session SHOULD then end with a BYE), or
        at once when the final response was not a 2xx (that ACK is the
        transaction's business, §17.2.1)."""
        if self.request.method != "INVITE":
            raise ValueError("only the 2xx to an INVITE is acknowledged end to end")
        return await asyncio.shield(self._ack_future())

    # -- what the endpoint calls ----------------------------------------------------------

    def _submit(self, response: Response | int, reason: str | None, *,
                background: bool = False) -> tuple[Response, list[Any]]:
        message = self.reply(response, reason) if isinstance(response, int) else response
        if self.final_response is not None:
            raise RuntimeError(f"{self!r} already has a final response")
        if message.status >= 200:
            self.final_response = message
        waits = self._endpoint._respond(self, message, background=background)
        return message, waits

    def _ack_future(self) -> asyncio.Future[Request | None]:
        if self._ack is None:
            self._ack = asyncio.get_running_loop().create_future()
        return self._ack

    def _acknowledged(self, ack: Request | None) -> None:
        future = self._ack_future()
        if not future.done():
            future.set_result(ack)
