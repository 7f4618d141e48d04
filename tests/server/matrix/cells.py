"""The cells of the matrix, and running them.

A cell is a caller and a callee (a kind of phone on a transport), and what
they do: two calls (the caller hangs up one, the callee the other), a
cancelled call, or SIPp's built-in ``uac`` calling its built-in ``uas``.
Kamailio may stand in front of sipwire (both phones' outbound proxy) or
behind it (the callee's edge proxy, by Path).  Every cell has its own
``sipwire serve``, phones, ports and directory, so cells run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .baresip import Baresip
from .calls import Checks, Phone, basic_call, cancelled_call, register
from .capture import Capture
from .certs import Authority, Issued
from .kamailio import Kamailio
from .ports import Ports
from .programs import Missing, baresip_modules, find
from .report import CellResult
from .serving import Serve, add_users
from .sipp import Sipp
from .websocket import WsPhone

#: seconds one cell may take, whatever happens
CELL_TIMEOUT = 150.0


@dataclass(frozen=True)
class End:
    """One side of a call: ``kind`` is baresip, sipp, builtin (SIPp's own
    uac/uas) or ws (sipwire's UA); ``kamailio``: it goes through Kamailio."""

    kind: str
    transport: str
    ipv6: bool = False
    kamailio: bool = False

    @property
    def label(self) -> str:
        name = {"baresip": "baresip", "sipp": "sipp", "builtin": "sipp builtin",
                "ws": "sipwire UA"}[self.kind]
        return f"{name}/{self.transport}{'6' if self.ipv6 else ''}"


@dataclass(frozen=True)
class Cell:
    id: str
    caller: End
    callee: End
    flow: str = "call"
    kamailio: str | None = None
    capture: bool = False

    @property
    def title(self) -> str:
        text = f"{self.caller.label} -> {self.callee.label}"
        if self.flow != "call":
            text += f" ({self.flow})"
        if self.kamailio:
            text += f" via kamailio ({self.kamailio})"
        return text

    @property
    def programs(self) -> list[str]:
        kinds = {self.caller.kind, self.callee.kind}
        needed = ["openssl"] if "tls" in (self.caller.transport, self.callee.transport) else []
        needed += [kind for kind in ("baresip", "sipp") if kind in kinds]
        if "builtin" in kinds:
            needed.append("sipp")
        if self.kamailio:
            needed.append("kamailio")
        return needed


def _b(transport: str, **kw: bool) -> End:
    return End("baresip", transport, **kw)


CELLS = [
    Cell("udp", _b("udp"), _b("udp"), capture=True),
    Cell("tcp", _b("tcp"), _b("tcp")),
    Cell("tls", _b("tls"), _b("tls")),
    Cell("ws", End("ws", "ws"), End("ws", "ws")),
    Cell("udp6", End("sipp", "udp", ipv6=True), End("sipp", "udp", ipv6=True)),
    Cell("udp-tcp", _b("udp"), _b("tcp")),
    Cell("tcp-udp", _b("tcp"), _b("udp")),
    Cell("tls-udp", _b("tls"), _b("udp")),
    Cell("udp-tls", _b("udp"), _b("tls")),
    Cell("ws-udp", End("ws", "ws"), _b("udp")),
    Cell("udp-ws", _b("udp"), End("ws", "ws")),
    Cell("cancel-udp", End("sipp", "udp"), End("sipp", "udp"), flow="cancel"),
    Cell("cancel-tcp", _b("tcp"), _b("tcp"), flow="cancel"),
    Cell("sipp-builtin", End("builtin", "udp"), End("builtin", "udp"), flow="builtin"),
    Cell("kamailio-front-udp", _b("udp", kamailio=True), _b("udp", kamailio=True),
         kamailio="front"),
    Cell("kamailio-front-tcp", _b("tcp", kamailio=True), _b("tcp", kamailio=True),
         kamailio="front"),
    Cell("kamailio-behind-udp", _b("udp"), End("sipp", "udp", kamailio=True),
         kamailio="behind"),
    Cell("kamailio-behind-tcp", _b("tcp"), End("sipp", "tcp", kamailio=True),
         kamailio="behind"),
]
#: the tshark check of the udp cell's capture, a row of its own
WIRE = "udp-wire"
CELL_IDS = [cell.id for cell in CELLS] + [WIRE]
BY_ID = {cell.id: cell for cell in CELLS}


@dataclass
class Context:
    """What the cells of one run share: a directory, ports, certificates, users."""

    base: Path
    ports: Ports
    users: Path
    passwords: dict[str, str]
    authority: Authority | None = None
    server_certificate: Issued | None = None
    phone_certificate: Issued | None = None

    @classmethod
    async def create(cls, base: Path) -> Context:
        passwords = {"alice": f"a-{secrets.token_hex(4)}", "bob": f"b-{secrets.token_hex(4)}"}
        users = base / "users" / "users.db"
        await add_users(users, passwords)
        context = cls(base, Ports(), users, passwords)
        with contextlib.suppress(FileNotFoundError):
            context.authority = Authority.create(base / "ca")
            context.server_certificate = context.authority.issue("server")
            context.phone_certificate = context.authority.issue("phone")
        return context


class _Cell:
    """One cell being run: its server, proxies, phones and checks."""

    def __init__(self, cell: Cell, context: Context, wire: CellResult | None) -> None:
        self.cell = cell
        self.context = context
        self.directory = context.base / cell.id
        self.result = CellResult(cell.id, cell.title, self.directory)
        self.wire = wire
        self.listen: dict[str, tuple[str, int]] = {}

    def _listening_points(self) -> list[str]:
        """One listening point per transport the phones (or Kamailio) use; UDP
        and TCP share a port, as §18.2.1 asks of a server."""
        cell, ports = self.cell, self.context.ports
        transports = {end.transport for end in (cell.caller, cell.callee)
                      if not (end.kamailio and cell.kamailio)}
        if cell.kamailio:
            transports.add(cell.callee.transport if cell.kamailio == "behind"
                           else cell.caller.transport)
        host = "::1" if cell.caller.ipv6 or cell.callee.ipv6 else "127.0.0.1"
        shared = ports.one()
        specs = []
        for transport in sorted(transports):
            port = shared if transport in ("udp", "tcp") else ports.one()
            self.listen[transport] = (host, port)
            specs.append(f"{transport}:[{host}]:{port}" if ":" in host
                         else f"{transport}:{host}:{port}")
        return specs

    def _phone(self, end: End, user: str, role: str, registrar: tuple[str, int]) -> Phone:
        context, ports = self.context, self.context.ports
        directory = self.directory / f"{role}-{user}"
        password = context.passwords[user]
        if end.kind == "baresip":
            return Baresip(user, password, end.transport.upper(), registrar, directory,
                           sip_port=ports.pair(), ctrl_port=ports.one(),
                           answer=self.cell.flow != "cancel",
                           ca=context.authority.cert if context.authority else None,
                           certificate=context.phone_certificate)
        if end.kind == "ws":
            return WsPhone(user, password, registrar, directory)
        host = "::1" if end.ipv6 else ("127.0.0.2" if end.kind == "builtin" and
                                       role == "caller" else "127.0.0.1")
        return Sipp(user, password, end.transport.upper(), registrar, directory,
                    port=ports.one(), host=host, builtin=end.kind == "builtin")

    async def run(self) -> CellResult:
        started = time.monotonic()
        try:
            for program in self.cell.programs:
                find(program)
            if "baresip" in (self.cell.caller.kind, self.cell.callee.kind):
                baresip_modules()
            async with asyncio.timeout(CELL_TIMEOUT):
                await self._run()
        except Missing as missing:
            if missing.required:
                self.result.error = missing.reason
            else:
                self.result.skipped = missing.reason
        except Exception:
            self.result.error = traceback.format_exc()
        self.result.seconds = time.monotonic() - started
        return self.result

    async def _run(self) -> None:
        cell, context, checks = self.cell, self.context, self.result.checks
        async with contextlib.AsyncExitStack() as stack:
            uses_tls = "tls" in (cell.caller.transport, cell.callee.transport)
            serve = Serve(self.directory / "serve", self._listening_points(),
                          context.server_certificate if uses_tls else None,
                          context.authority.cert if context.authority else None)
            await serve.start(context.users)
            stack.push_async_callback(serve.stop)
            kamailio = None
            if cell.kamailio:
                transport = cell.callee.transport
                kamailio = Kamailio(self.directory / "kamailio", context.ports.one(),
                                    cell.kamailio, self.listen[transport], transport)
                await kamailio.start()
                stack.push_async_callback(kamailio.stop)
            capture = None
            if cell.capture and self.wire is not None:
                capture = await self._capture(stack)

            def registrar(end: End) -> tuple[str, int]:
                if end.kamailio and kamailio is not None:
                    return kamailio.address
                return self.listen[end.transport]

            caller = self._phone(cell.caller, "alice", "caller", registrar(cell.caller))
            callee = self._phone(cell.callee, "bob", "callee", registrar(cell.callee))
            for phone in (caller, callee):
                await phone.start()
                stack.push_async_callback(phone.stop)
            registering = [callee] if cell.flow == "builtin" else [caller, callee]
            if await register(registering, checks):
                await self._calls(caller, callee, checks,
                                  kamailio.address if kamailio is not None else None)
            if capture is not None:
                await self._wire(capture)

    async def _calls(self, caller: Phone, callee: Phone, checks: Checks,
                     through: tuple[str, int] | None) -> None:
        flow = self.cell.flow
        if flow == "cancel":
            await cancelled_call(caller, callee, checks)
        elif flow == "builtin":
            await basic_call(caller, callee, "caller", checks, reinvite=False)
        else:
            for hangup_by in ("caller", "callee"):
                await basic_call(caller, callee, hangup_by, checks, through=through)

    async def _capture(self, stack: contextlib.AsyncExitStack) -> Capture | None:
        assert self.wire is not None
        try:
            find("tshark")
            capture = Capture(self.directory / "capture", self.listen["udp"][1])
            await capture.start()
        except Missing as missing:
            if missing.required:
                self.wire.error = missing.reason
            else:
                self.wire.skipped = missing.reason
            return None
        except Exception:
            self.wire.error = traceback.format_exc()
            return None
        stack.push_async_callback(capture.stop)
        return capture

    async def _wire(self, capture: Capture) -> None:
        assert self.wire is not None
        await capture.stop()
        try:
            problems = await capture.verdict()
        except Exception:
            self.wire.error = traceback.format_exc()
            return
        what = "no malformed packet; REGISTER, INVITE, ACK and BYE on the wire"
        self.wire.checks.record("capture", what, not problems, "; ".join(problems))


async def run_cells(ids: list[str], base: Path, concurrency: int = 6) -> dict[str, CellResult]:
    """Run the cells ``ids`` (``udp-wire`` runs the udp cell with a capture),
    ``concurrency`` at a time; their results in the order of ``CELL_IDS``."""
    wanted = [cell for cell in CELLS
              if cell.id in ids or (cell.id == "udp" and WIRE in ids)]
    context = await Context.create(base)
    results: dict[str, CellResult] = {}
    wire = None
    if WIRE in ids:
        wire = results[WIRE] = CellResult(WIRE, "capture of the udp cell, decoded by tshark",
                                          base / "udp" / "capture")
    gate = asyncio.Semaphore(concurrency)

    async def one(cell: Cell) -> None:
        async with gate:
            results[cell.id] = await _Cell(cell, context, wire).run()

    await asyncio.gather(*(one(cell) for cell in wanted))
    if wire is not None and not wire.checks.items and wire.skipped is None \
            and wire.error is None:
        wire.error = "the udp cell ended before its capture was read"
    return {i: results[i] for i in CELL_IDS if i in results and i in ids}
