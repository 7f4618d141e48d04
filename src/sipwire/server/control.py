"""Operating a running ``sipwire serve``: the control socket, and what its
commands do (the same code answers SIGHUP and ``/health``).

**The socket.**  A Unix stream socket, mode 0600 (only the account running
the server may use it), at ``--control PATH`` (``control`` in the TOML
file), by default ``$XDG_RUNTIME_DIR/sipwire/control.sock``, or
``./sipwire-control.sock`` in the working directory when ``XDG_RUNTIME_DIR``
is not set (``default_control_path``).  ``--control ""`` opens none.  A
stale socket file left by a server that died is replaced; a socket a
running server answers on is not: the second server does not start when
the path was given, and runs without a control socket (a warning) when it
was the default.

**The protocol.**  One JSON object per line each way::

    {"command": "registrations list", "aor": "sip:alice@example.com"}   (aor optional)
    {"command": "registrations remove", "aor": "...", "contact": "..."}  (contact optional)
    {"command": "stats"}
    {"command": "reload"}

answered ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "one
line"}``.  ``sipwire registrations|stats|reload`` (``cli/admin.py``) speak it.

**Reload** (``Operator.reload``; SIGHUP and ``sipwire reload``): the user
file is reread, the TLS certificate and key are loaded again (handshakes
from then on present the new certificate; open connections keep theirs),
and when the server was started with ``--config FILE`` the file is read
again with the flags on top, as at start.  Of the settings that changed,
those in ``LIVE_SETTINGS`` take effect at once; every other one is reported
as needing a restart (in the log and in the reply), never silently
ignored.  A reload that fails (a bad file, a certificate that does not
load) changes nothing of what failed and says why; it never stops the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..location.binding import Binding
from ..location.store import StoreError
from ..message.errors import ParseError
from ..message.uri import URI
from .config import ConfigError, ServerConfig
from .http import close_server
from .metrics import Sample, as_dict, render

if TYPE_CHECKING:
    from .app import Server

__all__ = ["LIVE_SETTINGS", "ControlError", "ControlServer", "Operations", "Operator", "ask",
           "default_control_path"]

log = logging.getLogger("sipwire.server")

#: settings a reload applies to the running server; any other that changed is
#: reported as needing a restart
LIVE_SETTINGS = (
    "log_level", "min_expires", "max_expires", "default_expires", "max_contacts",
    "max_contacts_per_register", "max_contact_length", "max_failures", "failure_window",
    "lockout", "max_lockout", "ban_users", "ban_window", "ban_time", "tls_cert", "tls_key",
)
#: setting -> attribute of ``FailureThrottle``
_THROTTLE = {"max_failures": "max_failures", "failure_window": "window",
             "lockout": "lockout", "max_lockout": "max_lockout", "ban_users": "ban_users",
             "ban_window": "ban_window", "ban_time": "ban_time"}
_REGISTRAR = ("min_expires", "max_expires", "default_expires", "max_contacts",
              "max_contacts_per_register", "max_contact_length")

#: bytes of one request line accepted on the control socket
MAX_LINE = 65536
#: seconds a store operation of a command (or of /health) may take
STORE_TIMEOUT = 3.0


class ControlError(Exception):
    """A command that cannot be done; its text is the one-line reply."""


def default_control_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/sipwire/control.sock``, else ``./sipwire-control.sock``
    (absolute).  The XDG Base Directory Specification's place for sockets is
    the runtime directory; it ignores a relative ``XDG_RUNTIME_DIR``."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return Path(runtime) / "sipwire" / "control.sock"
    return Path.cwd() / "sipwire-control.sock"


def _canonical_aor(text: str) -> str:
    """``alice@example.com`` or ``sip:alice@example.com;transport=tcp`` as the
    registrar stores it (``URI.aor``, §10.3 step 5)."""
    uri_text = text if ":" in text.split("@", 1)[0] else f"sip:{text}"
    try:
        return URI.parse(uri_text).aor
    except (ParseError, ValueError) as exc:
        raise ControlError(f"not an address-of-record: {text!r} ({exc})") from None


def binding_record(binding: Binding, now: float) -> dict[str, Any]:
    """A binding as ``registrations list --json`` shows it."""
    source = binding.source
    return {
        "aor": binding.aor, "contact": binding.contact, "expires_in": binding.remaining(now),
        "expires_at": binding.expires_at, "q": binding.q, "call_id": binding.call_id,
        "cseq": binding.cseq, "path": list(binding.path), "instance_id": binding.instance_id,
        "reg_id": binding.reg_id, "user_agent": binding.user_agent,
        "source": None if source is None else
        f"{source.transport.lower()}:{_hostport(source.host, source.port)}",
    }


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Operator:
    """The commands of the control socket, ``/metrics``, ``/health`` and reload,
    for one started ``Server``.  ``load_config`` reads the configuration again
    (file and flags) for a reload; None when there is nothing to reread."""

    def __init__(self, server: Server,
                 load_config: Callable[[], ServerConfig] | None = None) -> None:
        self.server = server
        self.load_config = load_config
        self._reloading = asyncio.Lock()

    # -- registrations ---------------------------------------------------------------

    async def registrations(self, aor: str | None = None) -> list[dict[str, Any]]:
        now = self.server.clock()
        name = None if aor is None else _canonical_aor(aor)
        bindings = await self._store_call(self.server.store.bindings(now, name))
        return [binding_record(b, now) for b in bindings]

    async def remove(self, aor: str, contact: str | None = None) -> int:
        """Remove ``aor``'s bindings, or the one whose contact URI (or key) is
        ``contact``; how many went.  ``ControlError`` when none matched."""
        name = _canonical_aor(aor)
        store = self.server.store
        if contact is None:
            removed: int = await self._store_call(store.remove(name))
            if not removed:
                raise ControlError(f"no binding of {name}")
            log.info("registrations removed aor=%s count=%d (control socket)", name, removed)
            return removed
        gone: list[Binding] = []

        def without(current: list[Binding]) -> list[Binding]:
            gone[:] = [b for b in current if contact in (b.contact, b.key)]
            return [b for b in current if b not in gone]

        await self._store_call(store.update(name, without, self.server.clock()))
        if not gone:
            raise ControlError(f"no binding of {name} with contact {contact}")
        log.info("registration removed aor=%s contact=%s (control socket)", name, contact)
        return len(gone)

    async def _store_call(self, work: Any) -> Any:
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                return await work
        except StoreError as exc:
            raise ControlError(f"location store: {exc}") from None
        except TimeoutError:
            raise ControlError(f"location store: no answer within {STORE_TIMEOUT:g} s") \
                from None

    # -- figures ---------------------------------------------------------------------

    async def families(self) -> list[Sample]:
        server = self.server
        now = server.clock()
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                bindings: int | None = await server.store.count(now)
            store_up: bool | None = True
        except (StoreError, TimeoutError):
            bindings, store_up = None, False
        own = self._collect(bindings, store_up)
        relay = server.relay
        if relay is None or relay.figures is None:
            return own
        # worker 0 of --workers N: the others' figures added (server.workers)
        await relay.gather_figures()
        return relay.figures.merge(own)

    def local_families(self) -> list[Sample]:
        """This process's figures, without the location store's (which every
        worker shares): what a worker other than 0 sends to worker 0."""
        return self._collect(None, None)

    def _collect(self, bindings: int | None, store_up: bool | None) -> list[Sample]:
        server = self.server
        engine = server.engine
        throttle = engine.policy.throttle
        relay = server.relay
        return server.metrics.collect(
            transactions=engine.transactions, connections=engine.transport.connections,
            bindings=bindings, bans=throttle.bans(engine.policy.clock()),
            auth_failures=throttle.failures, retransmissions=engine.retransmissions,
            store_up=store_up, draining=engine.draining,
            retired=engine.transactions.retired, store=server.store,
            responses_relayed=None if relay is None else relay.responses_relayed)

    async def metrics_text(self) -> str:
        return render(await self.families())

    async def stats(self) -> dict[str, Any]:
        return as_dict(await self.families())

    async def health(self) -> str | None:
        """None when healthy; else why not, in one line."""
        server = self.server
        try:
            engine = server.engine
        except RuntimeError:
            return "not started"
        if engine.draining:
            return "draining: stopping, new requests are answered 503"
        expected = len(server.config.listen)
        listening = len(server.listening_points)
        if listening < expected:
            return f"listening on {listening} of {expected} listening points"
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                await server.store.ping()
        except StoreError as exc:
            return f"location store unavailable: {exc}"
        except TimeoutError:
            return f"location store unavailable: no answer within {STORE_TIMEOUT:g} s"
        return None

    # -- reload ----------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """Reload users, TLS certificate and settings (see the module docs)."""
        async with self._reloading:
            return self._reload()

    def _reload(self) -> dict[str, Any]:
        server = self.server
        result: dict[str, Any] = {"users": server.reload_users(), "applied": [],
                                  "restart_needed": [], "errors": []}
        old = server.config
        new = old
        if self.load_config is not None:
            try:
                new = self.load_config()
            except ConfigError as exc:
                result["errors"].append(f"configuration not reloaded: {exc}")
                new = old
        changed = [f.name for f in fields(ServerConfig)
                   if f.compare and getattr(old, f.name) != getattr(new, f.name)]
        live = [name for name in changed if name in LIVE_SETTINGS]
        result["restart_needed"] = [name for name in changed if name not in LIVE_SETTINGS]
        tls_error = self._reload_tls(new)
        if tls_error is not None:
            result["errors"].append(tls_error)
            live = [name for name in live if name not in ("tls_cert", "tls_key")]
        elif new.tls_cert and new.tls_key:
            result["tls"] = f"certificate reloaded from {new.tls_cert}"
        self._apply(new, live)
        result["applied"] = live
        server.config = replace(old, **{name: getattr(new, name) for name in live})
        log.info("reloaded: applied=%s restart_needed=%s%s",
                 ",".join(live) or "-", ",".join(result["restart_needed"]) or "-",
                 "".join(f"; {error}" for error in result["errors"]))
        for name in result["restart_needed"]:
            log.warning("reload: setting %s changed but takes effect only after a restart",
                        name)
        return result

    def _reload_tls(self, config: ServerConfig) -> str | None:
        """Load the certificate and key into the context the TLS and WSS listening
        points use, after checking them in a scratch context; an error text."""
        context = self.server.engine.transport.config.tls_server_context
        if context is None or not (config.tls_cert and config.tls_key):
            return None
        try:
            scratch = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            scratch.load_cert_chain(config.tls_cert, config.tls_key)
            context.load_cert_chain(config.tls_cert, config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            return f"TLS certificate not reloaded ({config.tls_cert}): {exc}"
        return None

    def _apply(self, config: ServerConfig, names: list[str]) -> None:
        engine = self.server.engine
        core = engine.registrar.core
        throttle = engine.policy.throttle
        for name in names:
            value = getattr(config, name)
            if name == "log_level":
                logging.getLogger("sipwire").setLevel(value.upper())
            elif name in _REGISTRAR:
                setattr(core, name, value)
            elif name in _THROTTLE:
                setattr(throttle, _THROTTLE[name], value)

    # -- the socket's commands ------------------------------------------------------

    async def execute(self, request: Mapping[str, Any]) -> Any:
        """The result of one control request; ``ControlError`` for a bad one."""
        command = request.get("command")
        if command == "registrations list":
            return await self.registrations(_optional_text(request, "aor"))
        if command == "registrations remove":
            aor = _optional_text(request, "aor")
            if aor is None:
                raise ControlError("registrations remove needs an aor")
            return {"removed": await self.remove(aor, _optional_text(request, "contact"))}
        if command == "stats":
            return await self.stats()
        if command == "reload":
            result = await self.reload()
            relay = self.server.relay
            if relay is not None:  # --workers N: the other workers reload on SIGHUP
                relay.tell_supervisor("reload")
                result["workers"] = relay.context.count
            return result
        raise ControlError(f"unknown command {command!r} (registrations list, registrations "
                           "remove, stats, reload)")


def _optional_text(request: Mapping[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"{key} must be a non-empty string")
    return value


class ControlServer:
    """The Unix socket at ``path`` answering ``operator``'s commands."""

    def __init__(self, path: str | os.PathLike[str], operator: Operator) -> None:
        self.path = Path(path)
        self.operator = operator
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> ControlServer:
        """Bind at ``path`` (its directory made 0700 if missing, such as the
        ``sipwire`` one of ``$XDG_RUNTIME_DIR``, but not the directories above
        it: a mistyped path is an error).  ``OSError`` when it cannot be,
        ``FileExistsError`` when a server answers there."""
        path = self.path
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise FileExistsError(f"control socket {path}: a file that is not a socket "
                                      "is there")
            if _answers(path):
                raise FileExistsError(f"control socket {path}: another sipwire serve is "
                                      "running there")
            path.unlink()  # left by a server that died
        umask = os.umask(0o177)  # the socket is made 0600, never wider for a moment
        try:
            self._server = await asyncio.start_unix_server(self._serve, str(path),
                                                           limit=MAX_LINE)
        finally:
            os.umask(umask)
        os.chmod(path, 0o600)
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        await close_server(self._server, self._handlers)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await _reply(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                await _reply(writer, await self._answer(line))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object"}
        try:
            return {"ok": True, "result": await self.operator.execute(request)}
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control command %r failed", request.get("command"))
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _reply(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    writer.write(json.dumps(reply, separators=(",", ":")).encode("utf-8") + b"\n")
    await writer.drain()


def _reason(error: OSError) -> str:
    """``address already in use``: the system's words for an errno, else the text."""
    return os.strerror(error.errno).lower() if error.errno else str(error)


def _answers(path: Path) -> bool:
    """Whether something accepts connections at the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def ask(path: str | os.PathLike[str], request: Mapping[str, Any],
        timeout: float = 30.0) -> Any:
    """Send one request to the control socket at ``path``; its result.
    ``ConnectionError`` (with a one-line text) when no server answers there,
    ``ControlError`` with the server's error."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ConnectionError(f"no sipwire serve is running with control socket {path}"
                                  ) from None
        except PermissionError:
            raise ConnectionError(f"control socket {path}: permission denied (run as the "
                                  "server's account)") from None
        sock.sendall(json.dumps(dict(request)).encode("utf-8") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise ConnectionError(f"control socket {path}: no answer within "
                                      f"{timeout:g} s") from None
            if not chunk:
                raise ConnectionError(f"control socket {path}: the server closed the "
                                      "connection")
            data += chunk
    reply = json.loads(data)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "failed")))
    return reply.get("result")


class Operations:
    """What ``sipwire serve`` adds around a started ``Server``: the control
    socket (``config.control``; None: the default path), the HTTP endpoint
    (``config.http``) and reload on SIGHUP (``sighup``).  ``load_config``
    rereads the configuration for a reload."""

    def __init__(self, server: Server,
                 load_config: Callable[[], ServerConfig] | None = None) -> None:
        self.operator = Operator(server, load_config)
        self.control: ControlServer | None = None
        self.http: Any = None  # HttpServer, imported when asked for
        self._reloads: set[asyncio.Task[None]] = set()

    async def start(self) -> Operations:
        """Open the control socket and the HTTP endpoint; ``OSError`` (with the
        path or address) when one cannot be, nothing left open then."""
        config = self.operator.server.config
        relay = self.operator.server.relay
        if relay is not None:  # --workers N: worker 0 serves everyone's figures
            relay.share_figures(self.operator.local_families)
        try:
            if config.control is None or config.control:
                await self._start_control(config.control)
            if config.http:
                from .http import HttpServer, parse_http_address

                host, port = parse_http_address(config.http)
                http = HttpServer(host, port, metrics=self.operator.metrics_text,
                                  health=self.operator.health)
                try:
                    await http.start()
                except OSError as exc:
                    raise OSError(f"cannot serve HTTP on {config.http}: {_reason(exc)}"
                                  ) from None
                self.http = http
                log.info("http=%s:%d serving /metrics and /health", *http.address)
        except BaseException:
            await self.close()
            raise
        return self

    async def _start_control(self, configured: str | None) -> None:
        path = Path(configured) if configured else default_control_path()
        control = ControlServer(path, self.operator)
        try:
            await control.start()
        except FileExistsError as exc:
            if configured:
                raise OSError(f"{exc} (give another --control PATH)") from None
            log.warning("%s: no control socket (give --control PATH)", exc)
            return
        except OSError as exc:
            raise OSError(f"cannot open control socket {path}: {_reason(exc)}") from None
        self.control = control
        log.info("control=%s", path)

    def sighup(self) -> None:
        """SIGHUP: reload in a task; whatever goes wrong is logged, never fatal."""
        task = asyncio.get_running_loop().create_task(self._reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload(self) -> None:
        try:
            await self.operator.reload()
        except Exception:
            log.exception("reload on SIGHUP failed; the server goes on as before")

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.control is not None:
            await self.control.close()
            self.control = None
        for task in list(self._reloads):
            task.cancel()
