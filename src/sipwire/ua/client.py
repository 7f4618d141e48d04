"""The UAC side of an endpoint: one request and the responses it gets (RFC 3261 §8.1).

A ``ClientTransactionHandle`` follows a request through its client
transaction (§17.1): provisional responses as they arrive, then one final
response, real or synthetic (408 on Timer B/F, 503 on a transport error,
§8.1.3.1).  A 401 or 407 answered with credentials (§22.2, §22.3) is not
final: the handle moves on to the new transaction of the retried request
(CSeq + 1, new branch) and ``request`` becomes that request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..auth.client import DigestClient
from ..message.message import Request, Response
from ..transaction.client import ClientTransaction, build_cancel
from ..transport.base import Flow, Target, TransportError

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = ["ClientTransactionHandle"]

logger = logging.getLogger("sipwire.ua")


class ClientTransactionHandle:
    """A request sent by an ``Endpoint``, and what came back.

    ``responses`` holds every response passed up so far, in order (the
    challenges answered with credentials are in ``challenges`` instead);
    ``final_response`` is the final one once it is there, and ``synthetic``
    tells whether it was made here (408 on Timer B/F, 503 on a transport
    error or when the endpoint closes, §8.1.3.1) rather than received.  Iterate with
    ``async for response in handle`` (it ends after the final response), or
    ``await handle.final()``.  ``flow`` is where the request went.
    """

    __slots__ = ("_cancel", "_cancel_wanted", "_endpoint", "_error", "_start_task",
                 "_waiter", "challenges", "credentials", "final_response", "flow", "request",
                 "responses", "synthetic", "target", "transaction")

    def __init__(self, endpoint: Endpoint, request: Request, target: Target, *,
                 credentials: DigestClient | None = None, flow: Flow | None = None) -> None:
        self._endpoint = endpoint
        #: the request as sent (its top Via stamped by the transport); after a
        #: challenge, the retried request
        self.request = request
        self.target = target
        self.credentials = credentials
        self.transaction: ClientTransaction | None = None
        self.flow = flow
        self.responses: list[Response] = []
        self.challenges: list[Response] = []
        self.final_response: Response | None = None
        self.synthetic = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._cancel_wanted = False
        self._cancel: asyncio.Future[ClientTransactionHandle | None] | None = None

    def __repr__(self) -> str:
        final = self.final_response
        state = f"{final.status}" if final is not None else "pending"
        return f"<ClientTransactionHandle {self.request.method} {self.request.uri} {state}>"

    # -- what the caller uses -------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the final response is there (or sending failed)."""
        return self.final_response is not None or self._error is not None

    async def final(self) -> Response:
        """The final response: the peer's, or the synthetic 408 or 503 (§8.1.3.1).

        Raises what sending raised when the request could not even be given
        to a transaction (a duplicate branch, say).
        """
        while True:
            if self._error is not None:
                raise self._error
            if self.final_response is not None:
                return self.final_response
            await self._wait()

    async def __aiter__(self) -> AsyncIterator[Response]:
        """Every response passed up, provisional ones first, ending with the final one."""
        seen = 0
        while True:
            while seen < len(self.responses):
                response = self.responses[seen]
                seen += 1
                yield response
            if self._error is not None:
                raise self._error
            if self.final_response is not None and seen >= len(self.responses):
                return
            await self._wait()

    async def cancel(self) -> Response | None:
        """Cancel the INVITE (§9.1): the final response to the CANCEL, or None.

        The CANCEL waits for a provisional response ("the CANCEL request MUST
        NOT be sent" before one arrives); None when a final response came
        first, and nothing was cancelled.  The INVITE's own final response
        (487 Request Terminated, or a 2xx that crossed the CANCEL, which is
        then acknowledged and ended with a BYE) comes through ``final()``.
        """
        if self.request.method != "INVITE":
            raise ValueError(f"only an INVITE can be cancelled, not {self.request.method} "
                             "(RFC 3261 §9.1)")
        self._cancel_wanted = True
        if self._cancel is None:
            self._cancel = asyncio.get_running_loop().create_future()
            if self.done:
                self._cancel.set_result(None)
            elif self._provisional_seen():
                self._send_cancel()
        handle = await asyncio.shield(self._cancel)
        return None if handle is None else await handle.final()

    # -- what the endpoint calls ----------------------------------------------------------

    async def _start(self) -> None:
        """Give the request to a new client transaction and send it (§17.1)."""
        endpoint = self._endpoint
        request = self.request
        try:
            if self.flow is not None:
                reliable = self.flow.reliable
            else:
                transport = await endpoint.transport.choose_transport(request, self.target)
                reliable = transport.reliable
            tx = endpoint.transactions.create_client(request, reliable=reliable)
        except TransportError as exc:
            logger.info("cannot send %r: %s", request, exc)
            self._on_response(request.reply(503), synthetic=True)
            return
        except asyncio.CancelledError:
            self._on_response(request.reply(503), synthetic=True)  # the endpoint is closing
            raise
        except Exception as exc:
            self._fail(exc)
            return
        self.transaction = tx
        await endpoint._start_client(self, tx)

    def _on_response(self, response: Response, *, synthetic: bool = False) -> None:
        """A response of the current transaction (or a synthetic one) arrived."""
        if self.final_response is not None:
            return
        if response.status < 200:
            self.responses.append(response)
            self._wake()
            if self._cancel_wanted and self._cancel is not None and not self._cancel.done():
                self._send_cancel()
            return
        if response.status in (401, 407) and self._retry_with_credentials(response):
            return
        self.final_response = response
        self.synthetic = synthetic
        self.responses.append(response)
        self._wake()
        if self._cancel is not None and not self._cancel.done():
            self._cancel.set_result(None)
        if self._cancel_wanted and response.status < 300 and self.request.method == "INVITE":
            # the 2xx crossed our CANCEL: the call is up; ack it and end it (§15, §9.1)
            self._endpoint._end_unwanted_call(self.request, response)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()
        if self._cancel is not None and not self._cancel.done():
            self._cancel.set_result(None)

    def _retry_with_credentials(self, challenge: Response) -> bool:
        """§22.2: answer a challenge with a new request, CSeq + 1; False: give up."""
        credentials = self.credentials
        if credentials is None or \
                len(self.challenges) >= self._endpoint.config.max_challenges:
            return False
        retry = credentials.answer(challenge, self.request)
        if retry is None:
            return False
        self.challenges.append(challenge)
        self.request = retry
        self.transaction = None
        self.flow = None  # the retry may be larger: the transport chooses again (§18.1.1)
        self._endpoint._spawn(self._start())
        return True

    def _provisional_seen(self) -> bool:
        # only a provisional response of the current INVITE transaction counts
        return any(r.status < 200 and r.cseq.seq == self.request.cseq.seq
                   for r in self.responses)

    def _send_cancel(self) -> None:
        assert self._cancel is not None
        tx = self.transaction
        if tx is None:  # a retry with credentials is starting: wait for its provisional
            return
        cancel = build_cancel(tx.request)
        handle = ClientTransactionHandle(self._endpoint, cancel, self.target, flow=self.flow)
        self._endpoint._spawn(handle._start())
        self._cancel.set_result(handle)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._waiter)
