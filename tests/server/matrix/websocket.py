"""A WebSocket phone (RFC 7118) made of sipwire's own UA, ``sipwire.ua.Endpoint``.

It listens on nothing: like a browser it opens one WebSocket connection to
the server, registers over it with digest, and must get every request for it
over that same connection (one arriving on another is a problem of the
call).  Contact and Via name an ``.invalid`` host (RFC 7118 §5.2), and it
registers as an outbound client (RFC 5626 §4.2: ``reg-id``,
``+sip.instance``, ``;ob``), as browser phones do.  It answers
calls at once (180, then 200); as caller it dials, re-INVITEs and hangs up
on command; every message it sends and receives is kept as ``Observed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sipwire import Request, Response
from sipwire.auth.client import DigestClient
from sipwire.message.fields.cseq import CSeq
from sipwire.message.fields.nameaddr import NameAddr
from sipwire.message.fields.via import Via
from sipwire.message.message import new_branch
from sipwire.message.uri import URI
from sipwire.transaction.config import TimerConfig
from sipwire.transport.base import Connection, Flow, Target, Transport, TransportError
from sipwire.ua import ClientTransactionHandle, Endpoint, EndpointConfig, ServerTransactionHandle

from .observe import Observed

#: seconds the requests of a call still under way get to finish
STEP_LIMIT = 5.0

SDP = ("v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n")


def sdp(version: int, direction: str = "sendrecv") -> bytes:
    return SDP.format(version=version, direction=direction).encode()


@dataclass
class Dialog:
    """The dialog state of RFC 3261 §12 the test needs: route set, remote
    target, the two tags (in ``local`` and ``remote``), the local CSeq."""

    call_id: str
    local: NameAddr
    remote: NameAddr
    remote_target: URI
    route_set: list[NameAddr]
    local_cseq: int

    @classmethod
    def as_caller(cls, invite: Request, response: Response) -> Dialog:
        """§12.1.2: the route set is the 2xx's Record-Route reversed."""
        return cls(invite.call_id, _copy(invite.from_), _copy(response.to),
                   response.contact[0].uri.copy(),
                   [_copy(r) for r in reversed(response.record_route)], invite.cseq.seq)

    @classmethod
    def as_callee(cls, invite: Request, tag: str) -> Dialog:
        """§12.1.1: the route set is the INVITE's Record-Route in order."""
        local = _copy(invite.to)
        local.tag = tag
        return cls(invite.call_id, local, _copy(invite.from_), invite.contact[0].uri.copy(),
                   [_copy(r) for r in invite.record_route], 0)

    def request(self, method: str, cseq: int | None = None) -> Request:
        """A request in the dialog (§12.2.1.1), to a loose-routing route set:
        Request-URI the remote target, Route the route set.  ``cseq`` is for
        an ACK, which takes its INVITE's; other requests take the next one."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        return Request(method, self.remote_target.copy(), [
            ("Via", Via("WS", "127.0.0.1", None, branch=new_branch())),
            ("Max-Forwards", "70"),
            ("From", _copy(self.local)),
            ("To", _copy(self.remote)),
            ("Call-ID", self.call_id),
            ("CSeq", CSeq(cseq, method)),
            *(("Route", _copy(route)) for route in self.route_set),
            ("Content-Length", "0"),
        ])

    def refresh(self, message: Request | Response) -> None:
        """A re-INVITE and its 2xx refresh the remote target (§12.2.1.2,
        §12.2.2); the route set stays as the dialog made it."""
        if message.contact:
            self.remote_target = message.contact[0].uri.copy()


def _copy(value: NameAddr) -> NameAddr:
    return NameAddr.parse(str(value))


@dataclass
class WsPhone:
    """``sip:user@127.0.0.1`` over a WebSocket to ``server``."""

    user: str
    password: str
    server: tuple[str, int]
    directory: Path
    transport: str = "WS"
    seen: list[Observed] = field(default_factory=list)
    endpoint: Endpoint | None = None
    dialog: Dialog | None = None
    problems: list[str] = field(default_factory=list)
    _calls: list[asyncio.Task[None]] = field(default_factory=list)
    _invite: ClientTransactionHandle | None = None
    _registered_on: Connection | None = None

    def __post_init__(self) -> None:
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.instance = f"<urn:uuid:{uuid.uuid4()}>"

    @property
    def label(self) -> str:
        return "sipwire UA/ws"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@127.0.0.1"

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host};transport=ws;ob>"

    @property
    def logs(self) -> list[Path]:
        return []

    @property
    def target(self) -> Target:
        return Target(Transport.WS, *self.server)

    def observed(self) -> list[Observed]:
        return list(self.seen)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        config = EndpointConfig(timers=TimerConfig(t1=0.1, t2=0.4, t4=0.5, timer_d=1.0))
        endpoint = Endpoint(config=config, credentials=DigestClient(self.user, self.password))
        endpoint.receive_filter = self._received
        endpoint.on_request(self._on_invite, "INVITE")
        endpoint.on_request(self._on_bye, "BYE")
        self.endpoint = await endpoint.start()

    async def stop(self) -> None:
        for task in self._calls:
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        if self.endpoint is not None:
            await self.endpoint.close()

    def _received(self, message: Request | Response, flow: Flow) -> bool:
        self.seen.append(Observed("in", str(flow.transport), message))
        if isinstance(message, Response):
            if message.status == 200 and message.cseq.method == "REGISTER":
                self._registered_on = flow.connection
        elif flow.connection is not self._registered_on:
            self.problems.append(f"{self.label}: {message.method} arrived over another "
                                 "connection than the one the REGISTER went on (RFC 7118 §5)")
        return True

    def _sent(self, message: Request | Response) -> None:
        self.seen.append(Observed("out", self.transport, message))

    def _build(self, method: str, uri: str, *, to: str, cseq: int, call_id: str | None = None,
               body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Request:
        return Request.build(
            method, uri, from_=f"<{self.aor}>", to=to, call_id=call_id, cseq=cseq,
            transport="WS", sent_by=(self.host, None), contact=self.contact, body=body,
            content_type="application/sdp" if body else None, headers=headers)

    async def _request(self, request: Request, target: Target | None = None) -> Response:
        """Send ``request`` (to ``target``, else where its Route or Request-URI
        says, §8.1.2) and return its final response."""
        assert self.endpoint is not None
        response = await self.endpoint.request(request, target)
        self._sent(request)
        return response

    async def wait_registered(self, timeout: float) -> str | None:
        register = Request.build(
            "REGISTER", "sip:127.0.0.1", from_=f"<{self.aor}>", to=f"<{self.aor}>",
            transport="WS", sent_by=(self.host, None),
            contact=f"<sip:{self.user}@{self.host};transport=ws>;reg-id=1;"
                    f"+sip.instance=\"{self.instance}\"",
            headers=[("Expires", "60"), ("Supported", "path, outbound")])
        try:
            async with asyncio.timeout(timeout):
                response = await self._request(register, self.target)
        except (TimeoutError, TransportError) as exc:
            return f"{self.label} {self.user}: REGISTER failed: {exc!r}"
        if response.status != 200:
            return f"{self.label} {self.user}: REGISTER answered {response.status} " \
                   f"{response.reason}"
        return None

    # -- as caller ---------------------------------------------------------------------------

    async def prepare(self, role: str, hangup_by: str) -> None:
        """Nothing: the phone answers every call."""

    async def dial(self, uri: str, hangup_by: str) -> None:
        invite = self._build("INVITE", uri, to=f"<{uri}>", cseq=1, body=sdp(1))
        self._calls.append(asyncio.get_running_loop().create_task(self._call(invite)))

    async def _call(self, invite: Request) -> None:
        assert self.endpoint is not None
        handle = self.endpoint.send(invite, self.target)
        self._invite = handle
        try:
            response = await handle.final()
        except TransportError as exc:
            self.problems.append(f"{self.label}: the INVITE could not be sent: {exc}")
            return
        self._sent(handle.request)
        if not 200 <= response.status < 300:
            return
        self.dialog = Dialog.as_caller(handle.request, response)
        assert self.endpoint is not None
        try:  # the endpoint sends it again for each retransmission of the 2xx
            self._sent(await self.endpoint.ack(handle.request, response))
        except (TransportError, ValueError) as exc:
            self.problems.append(f"{self.label}: the ACK could not be sent: {exc}")

    async def reinvite(self) -> None:
        if self.dialog is None:
            self.problems.append(f"{self.label}: no call to re-INVITE")
            return
        request = self.dialog.request("INVITE")
        request.headers.add("Contact", self.contact, before="Content-Length")
        body = sdp(2, "sendonly")
        request.headers.add("Content-Type", "application/sdp", before="Content-Length")
        request.headers.set("Content-Length", str(len(body)))
        request.body = body
        self._calls.append(asyncio.get_running_loop().create_task(self._reinvite(request)))

    async def _reinvite(self, request: Request) -> None:
        assert self.endpoint is not None
        try:
            response = await self._request(request)
            if not 200 <= response.status < 300 or self.dialog is None:
                return
            self.dialog.refresh(response)
            ack = self.dialog.request("ACK", cseq=request.cseq.seq)
            await self.endpoint.send_direct(ack)
        except TransportError as exc:
            self.problems.append(f"{self.label}: the re-INVITE or its ACK could not be "
                                 f"sent: {exc}")
            return
        self._sent(ack)

    async def hangup(self) -> None:
        if self.dialog is None:
            self.problems.append(f"{self.label}: no call to hang up")
            return
        bye = self.dialog.request("BYE")
        self.dialog = None
        self._calls.append(asyncio.get_running_loop().create_task(self._bye(bye)))

    async def _bye(self, bye: Request) -> None:
        try:
            await self._request(bye)
        except TransportError as exc:
            self.problems.append(f"{self.label}: the BYE could not be sent: {exc}")

    async def cancel(self) -> None:
        if self._invite is not None:
            await self._invite.cancel()

    async def finish(self, abort: bool) -> list[str]:
        """What went wrong on our side of the call (a request that could not be
        sent); after a call that broke off, what is left of it is dropped."""
        if abort:
            for task in self._calls:
                task.cancel()
            self.dialog = None
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._calls, return_exceptions=True),
                                       STEP_LIMIT)
        await asyncio.gather(*self._calls, return_exceptions=True)
        self._calls.clear()
        problems, self.problems = self.problems, []
        return problems

    # -- as callee ---------------------------------------------------------------------------

    async def _on_invite(self, request: Request, tx: ServerTransactionHandle) -> Response | None:
        if request.to.tag is None:
            await tx.respond(tx.reply(180))
            self.dialog = Dialog.as_callee(request, tx.to_tag)
            version = 1
        else:
            if self.dialog is not None:
                self.dialog.refresh(request)
            version = 2
        ok = tx.reply(200, contact=self.contact, body=sdp(version),
                      content_type="application/sdp")
        await tx.respond(ok)
        self._sent(ok)
        await tx.wait_ack()
        return None

    async def _on_bye(self, request: Request, tx: ServerTransactionHandle) -> Response | None:
        self.dialog = None
        ok = tx.reply(200)
        await tx.respond(ok)
        self._sent(ok)
        return None
