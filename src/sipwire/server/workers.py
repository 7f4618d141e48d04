"""``sipwire serve --workers N``: worker processes sharing the listening ports.

A supervisor process (``supervise``) starts N workers, each a whole
``sipwire serve`` (``Server``) on its own event loop, and restarts one that
dies.  They share:

- the listening addresses: every socket is bound with SO_REUSEPORT
  (``TransportConfig.reuse_port``).  Linux hands each UDP datagram to one of
  the sockets by a hash of its source and destination addresses, so every
  retransmission of a transaction (RFC 3261 §17), which comes from the same
  source, reaches the worker that holds the transaction; each TCP, TLS or
  WebSocket connection is accepted by one worker, which reads all of it.
  Ports given as 0 are chosen once, by the supervisor, for all;
- the location store (SQLite in WAL mode, Redis): any worker finds any
  binding.  The memory store cannot be shared (``ServerConfig.check``);
- the secret of nonces and Record-Route tokens (``$SIPWIRE_SECRET``, one
  drawn by the supervisor when none is configured), so that a token signed
  by one worker verifies in another.

What the kernel cannot spread right goes between workers over Unix datagram
sockets (``Relay``), one per worker in a private directory:

- each worker tells the others which connections it holds.  A connection
  of another worker is pooled as a ``RemoteConnection`` standing for it
  (``TransportLayer.adopt``): a request for a registered TCP, TLS or WS flow
  (RFC 5626 §5.3), or for a Record-Route hop pinned to one, is written to
  the owning worker, which sends the bytes on its connection;
- a response that matches no client transaction of the worker it reached
  (the kernel hashed its source to another worker than the one that sent
  the request) goes to the others, and the one whose client transaction it
  matches handles it (§17.1.3).  Few do: a worker forwards a request over
  UDP from a socket of its own (``TransportConfig.udp_private_send``), its
  port in the Via, so the responses come straight back to it.  Only a
  request on a hop pinned to a flow (a registered phone's NAT binding, a
  Record-Route hop) leaves from the shared port, as the far end's NAT
  expects, and its responses may cross;
- ``/metrics`` and the control socket are served by worker 0 alone, so every
  other worker sends it a snapshot of its figures (``Metrics.collect``: the
  counters, histograms and gauges, not the shared store's) every
  ``SHARE_INTERVAL`` seconds, when it stops, and when worker 0 asks (on each
  scrape or ``sipwire stats``, waiting at most ``GATHER_TIMEOUT``).  Worker 0
  adds them to its own (``WorkerFigures``); nothing is sent per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..auth.userfile import users_location
from ..message.message import Request, Response, kept_bytes
from ..message.parser import parse
from ..transaction.layer import TransactionLayer
from ..transport.base import Address, Connection, Flow, ListeningPoint, Transport
from ..transport.layer import MessageHandler, TransportLayer
from .config import ServerConfig
from .logs import log
from .metrics import MAX_SNAPSHOT_PARTS, Sample, WorkerFigures, decode_snapshot, encode_snapshot

__all__ = ["Relay", "RemoteConnection", "WorkerContext", "supervise", "worker_count"]

#: the environment variable that makes a ``sipwire serve`` process a worker:
#: ``INDEX:COUNT:SUPERVISOR_PID:DIRECTORY``
WORKER_ENV = "SIPWIRE_WORKER"
#: the listening points of a worker, the ports chosen (one per line)
LISTEN_ENV = "SIPWIRE_WORKER_LISTEN"
#: the default number of workers when ``workers`` is 0
COUNT_ENV = "SIPWIRE_WORKERS"

#: prctl(2) option: the signal a process gets when its parent dies
PR_SET_PDEATHSIG = 1

#: seconds a worker has to start before the supervisor gives up
START_TIMEOUT = 30.0
#: seconds a worker gets past ``drain_timeout`` to stop before SIGKILL
STOP_MARGIN = 5.0
#: seconds before restarting a worker that died, doubled while they die young
RESTART_DELAY = 0.2
MAX_RESTART_DELAY = 5.0
#: seconds between two snapshots of a worker's figures sent to worker 0
SHARE_INTERVAL = 1.0
#: seconds worker 0 waits for the others' fresh snapshots when asked for figures
GATHER_TIMEOUT = 0.5


def worker_count(config: ServerConfig) -> int:
    """How many workers ``config`` asks for: ``workers``, else
    ``$SIPWIRE_WORKERS``, else one per core this process may run on; always
    1 for the memory store, which one process holds."""
    if config.store.startswith("memory:"):
        return 1
    if config.workers > 0:
        return config.workers
    text = os.environ.get(COUNT_ENV, "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What makes a ``sipwire serve`` process worker ``index`` of ``count``."""

    index: int
    count: int
    #: the supervisor's process id
    supervisor: int
    #: the directory of the workers' Unix sockets
    directory: Path
    #: the listening points, with the ports the supervisor chose
    listen: tuple[str, ...]

    @classmethod
    def from_environment(cls) -> WorkerContext | None:
        """The context the supervisor gave this process, or None for a process
        that is not a worker."""
        text = os.environ.get(WORKER_ENV)
        if not text:
            return None
        index, count, supervisor, directory = text.split(":", 3)
        listen = tuple(line for line in os.environ.get(LISTEN_ENV, "").splitlines() if line)
        return cls(int(index), int(count), int(supervisor), Path(directory), listen)

    def watch_parent(self) -> None:
        """Be sent SIGTERM when the supervisor dies, even by SIGKILL: a worker
        is never left serving alone (Linux ``PR_SET_PDEATHSIG``)."""
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != self.supervisor:  # it died before that
            os.kill(os.getpid(), signal.SIGTERM)

    def tag_log(self) -> None:
        """Start each of this process's log lines with ``worker=N``."""
        index = self.index

        class _Tag(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                record.msg = f"worker={index} {record.msg}"
                return True

        for handler in logging.getLogger("sipwire").handlers:
            handler.addFilter(_Tag())

    def environment(self) -> dict[str, str]:
        return {WORKER_ENV: f"{self.index}:{self.count}:{self.supervisor}:{self.directory}",
                LISTEN_ENV: "\n".join(self.listen)}

    def configure(self, config: ServerConfig) -> ServerConfig:
        """``config`` for this worker: the chosen ports, one worker; the HTTP
        endpoint and the control socket only in worker 0 (one address each)."""
        if self.index == 0:
            return replace(config, listen=self.listen, workers=1)
        return replace(config, listen=self.listen, workers=1, http="", control="")

    def socket_path(self, index: int) -> str:
        return str(self.directory / f"w{index}")

    @property
    def supervisor_path(self) -> str:
        return str(self.directory / "supervisor")


# -- between workers -------------------------------------------------------------------------

_Key = tuple[Transport, Address]


def _address_text(address: Address) -> str:
    return f"{address.host} {address.port}"


class RemoteConnection(Connection):
    """A connection held by worker ``worker``, pooled here under its far end:
    what is sent on it is written to that worker (``Relay``), which sends it on
    the real connection.  Open until that worker says the connection is gone."""

    def __init__(self, relay: Relay, worker: int, transport: Transport, remote: Address,
                 local: Address) -> None:
        super().__init__(transport, relay.transport, 0.0)
        self.remote = remote
        self.local = local
        self.worker = worker
        self._relay = relay
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    async def send(self, data: bytes) -> None:
        self._relay.forward(self, data)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._relay.transport.release(self)

    def abort(self) -> None:
        self.close()

    def _send_pong(self) -> None:  # pragma: no cover - never receives
        pass

    def __repr__(self) -> str:
        return f"<RemoteConnection {self.transport} {self.remote} worker={self.worker}>"


class Relay:
    """One worker's end of the Unix datagram sockets between workers.

    Datagrams are ``SENDER KIND FIELDS...\\n`` and a payload; KIND is:

    ``H``  hello: the sender (re)started; its old connections are gone
    ``G``  gone: the sender stops; so do its connections
    ``O``  open: the sender holds a connection (transport, remote, local)
    ``C``  closed: the sender no longer holds it (or never did)
    ``S``  send: the payload is to be sent on the receiver's connection
    ``R``  response: a response that matched no client transaction of the
           sender, with the flow it arrived on
    ``M``  metrics: part PART of COUNT of the sender's snapshot number SEQ
           (``encode_snapshot``), for worker 0
    ``Q``  query: worker 0 asks for a snapshot now
    """

    def __init__(self, context: WorkerContext, transport: TransportLayer,
                 transactions: TransactionLayer) -> None:
        self.context = context
        self.transport = transport
        self.transactions = transactions
        self.index = context.index
        #: the connections of other workers, by far end
        self._remote: dict[_Key, RemoteConnection] = {}
        #: the connections this worker holds (announced to the others)
        self._held: dict[_Key, Connection] = {}
        self._handler: MessageHandler | None = None
        self._socket: socket.socket | None = None
        self._peers = [context.socket_path(i) for i in range(context.count) if i != self.index]
        #: datagrams that could not be written to a worker (its queue full, or it is gone)
        self.lost = 0
        self.forwarded = 0
        self.responses_relayed = 0
        #: worker 0: the other workers' figures (None in the others)
        self.figures = WorkerFigures() if self.index == 0 else None
        self._figures_source: Callable[[], list[Sample]] | None = None
        self._sharing: asyncio.Task[None] | None = None
        self._snapshot_seq = 0
        #: worker 0: the parts of a snapshot being received, by sender
        self._parts: dict[int, tuple[int, int, dict[int, list[Sample]]]] = {}
        #: worker 0: the workers each pending ``gather_figures`` waits for
        self._gathers: list[tuple[set[int], asyncio.Event]] = []

    # -- wiring ------------------------------------------------------------------------------

    def wrap(self, handler: MessageHandler) -> MessageHandler:
        """``handler`` with the responses that match no client transaction of
        ours passed to the other workers instead (see the module)."""
        self._handler = handler
        find_client = self.transactions.find_client
        # at debug level each request is logged with the worker's number, which
        # shows where the kernel sent it (a worker's log lines all carry it)
        debug = log.isEnabledFor(logging.DEBUG)

        def on_message(message: Request | Response, flow: Flow) -> None:
            if type(message) is Response:
                if find_client(message) is None:
                    self._relay_response(message, flow)
                    return
            elif debug:
                assert isinstance(message, Request)
                log.debug("received %s call_id=%s cseq=%d branch=%s from %s", message.method,
                          message.call_id, message.cseq.seq, message.top_via.branch, flow)
            handler(message, flow)

        return on_message

    def open(self) -> None:
        """Bind this worker's socket, and say hello to the others."""
        path = self.context.socket_path(self.index)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind(path)
        sock.setblocking(False)
        self._socket = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        self.transport.on_connection = self._connection_changed
        self._broadcast(self._header("H"))

    def close(self) -> None:
        self.transport.on_connection = None
        if self._sharing is not None:
            self._sharing.cancel()
            self._sharing = None
        sock = self._socket
        if sock is not None:
            self.send_figures()  # the last counts, before worker 0 retires ours
            self._broadcast(self._header("G"))
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
            self._socket = None
            with contextlib.suppress(OSError):
                os.unlink(self.context.socket_path(self.index))
        for conn in list(self._remote.values()):
            conn.close()
        self._remote.clear()

    # -- figures -----------------------------------------------------------------------------

    def share_figures(self, source: Callable[[], list[Sample]],
                      interval: float = SHARE_INTERVAL) -> None:
        """Send worker 0 the families ``source`` gives, now, then every
        ``interval`` seconds, when asked and when stopping (not in worker 0)."""
        if self.index == 0:
            return
        self._figures_source = source
        self.send_figures()

        async def periodically() -> None:
            while True:
                await asyncio.sleep(interval)
                self.send_figures()

        self._sharing = asyncio.get_running_loop().create_task(periodically())

    def send_figures(self) -> None:
        """Write a snapshot of this worker's figures to worker 0."""
        source = self._figures_source
        if source is None or self.index == 0:
            return
        try:
            parts = encode_snapshot(source())
        except Exception:
            log.exception("worker %d: cannot take a snapshot of the figures", self.index)
            return
        self._snapshot_seq += 1
        path = self.context.socket_path(0)
        for number, part in enumerate(parts):
            header = self._header("M", str(self._snapshot_seq), str(number), str(len(parts)))
            if self._write(path, header + part):
                return  # worker 0 is not there (or its queue is full): the next one

    async def gather_figures(self, timeout: float = GATHER_TIMEOUT) -> None:
        """Worker 0: ask the others for a snapshot and wait for them, at most
        ``timeout`` seconds (a worker that does not answer keeps its last)."""
        if self.figures is None:
            return
        waiting = {i for i in range(self.context.count) if i != self.index}
        for index in list(waiting):
            if self._write(self.context.socket_path(index), self._header("Q")):
                waiting.discard(index)  # not there (restarting): nothing to wait for
        if not waiting:
            return
        done = asyncio.Event()
        gather = (waiting, done)
        self._gathers.append(gather)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await done.wait()
        finally:
            self._gathers.remove(gather)

    def _figures_part(self, sender: int, fields: list[str], payload: bytes) -> None:
        figures = self.figures
        if figures is None:
            return
        seq, number, count = int(fields[2]), int(fields[3]), int(fields[4])
        if not 0 <= number < count <= MAX_SNAPSHOT_PARTS:
            return
        pending = self._parts.get(sender)
        if pending is None or pending[0] != seq:
            pending = self._parts[sender] = (seq, count, {})
        pending[2][number] = decode_snapshot(payload)
        if len(pending[2]) < count:
            return
        del self._parts[sender]
        families = [family for i in range(count) for family in pending[2][i]]
        figures.update(sender, families, asyncio.get_running_loop().time())
        for waiting, done in self._gathers:
            waiting.discard(sender)
            if not waiting:
                done.set()

    def _forget_figures(self, sender: int) -> None:
        if self.figures is not None:
            self._parts.pop(sender, None)
            self.figures.retire(sender)

    def tell_supervisor(self, text: str) -> None:
        self._write(self.context.supervisor_path, f"{self.index} {text}".encode())

    # -- sending -----------------------------------------------------------------------------

    def _header(self, kind: str, *fields: str) -> bytes:
        return " ".join((str(self.index), kind, *fields)).encode("ascii") + b"\n"

    def _write(self, path: str, data: bytes) -> int:
        """Write a datagram to ``path``: 0, or the errno of the failure."""
        sock = self._socket
        if sock is None:
            return errno.EBADF
        try:
            sock.sendto(data, path)
        except OSError as exc:
            # a worker restarting has no socket for a moment (ENOENT,
            # ECONNREFUSED); a full queue (EAGAIN) is a lost message, as a
            # datagram lost on the network would be
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN,
                                 errno.EWOULDBLOCK, errno.ENOBUFS):
                log.warning("worker %d: cannot write to %s: %s", self.index, path, exc)
            self.lost += 1
            return exc.errno or errno.EIO
        return 0

    def _broadcast(self, data: bytes) -> None:
        for path in self._peers:
            self._write(path, data)

    def _connection_changed(self, connection: Connection, up: bool) -> None:
        key = (connection.transport, connection.remote)
        if up:
            self._held[key] = connection
            self._broadcast(self._announcement(connection))
        elif self._held.get(key) is connection:
            del self._held[key]
            self._broadcast(self._header("C", connection.transport.value,
                                         _address_text(connection.remote)))

    def _announcement(self, connection: Connection) -> bytes:
        return self._header("O", connection.transport.value, _address_text(connection.remote),
                            _address_text(connection.local))

    def forward(self, connection: RemoteConnection, data: bytes) -> None:
        """Have the worker holding ``connection`` send ``data`` on it."""
        self.forwarded += 1
        header = self._header("S", connection.transport.value,
                              _address_text(connection.remote))
        failed = self._write(self.context.socket_path(connection.worker), header + data)
        if failed in (errno.ENOENT, errno.ECONNREFUSED):
            # that worker is gone (killed, restarting): so are its connections
            self._drop(connection.worker)

    def _drop(self, worker: int) -> None:
        """Forget the connections of ``worker``."""
        for key, conn in list(self._remote.items()):
            if conn.worker == worker:
                del self._remote[key]
                conn.close()

    def _relay_response(self, response: Response, flow: Flow) -> None:
        self.responses_relayed += 1
        log.debug("relaying %d %s call_id=%s from %s to the other workers", response.status,
                  response.cseq.method, response.call_id, flow)
        header = self._header("R", flow.transport.value, _address_text(flow.remote),
                              _address_text(flow.local))
        self._broadcast(header + kept_bytes(response))  # as received: no serializing

    # -- receiving ---------------------------------------------------------------------------

    def _readable(self) -> None:
        sock = self._socket
        for _ in range(64):  # then let the loop run other callbacks
            if sock is None:
                return
            try:
                data = sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                return
            try:
                self._received(data)
            except Exception:
                log.exception("worker %d: bad datagram from another worker", self.index)

    def _received(self, data: bytes) -> None:
        head, _, payload = data.partition(b"\n")
        fields = head.decode("ascii").split()
        sender, kind = int(fields[0]), fields[1]
        if kind == "S":
            key = (Transport(fields[2]), Address(fields[3], int(fields[4])))
            conn = self._held.get(key)
            if conn is None or not conn.is_open:
                self._write(self.context.socket_path(sender),
                            self._header("C", fields[2], fields[3], fields[4]))
                return
            task = asyncio.get_running_loop().create_task(conn.send(payload))
            task.add_done_callback(_retrieve)
        elif kind == "R":
            self._response(fields, payload)
        elif kind == "O":
            transport = Transport(fields[2])
            remote = Address(fields[3], int(fields[4]))
            key = (transport, remote)
            old = self._remote.pop(key, None)
            if old is not None:
                old.close()
            conn = RemoteConnection(self, sender, transport, remote,
                                    Address(fields[5], int(fields[6])))
            self._remote[key] = conn
            self.transport.adopt(conn)
        elif kind == "C":
            key = (Transport(fields[2]), Address(fields[3], int(fields[4])))
            stale = self._remote.get(key)
            if stale is not None and stale.worker == sender:
                del self._remote[key]
                stale.close()
        elif kind == "M":
            self._figures_part(sender, fields, payload)
        elif kind == "Q":
            self.send_figures()
        elif kind == "G":
            self._drop(sender)
            self._forget_figures(sender)
        elif kind == "H":
            self._drop(sender)
            self._forget_figures(sender)
            path = self.context.socket_path(sender)
            for held in list(self._held.values()):
                self._write(path, self._announcement(held))
            if sender == 0:  # worker 0 restarted: it has no figures of ours
                self.send_figures()

    def _response(self, fields: list[str], payload: bytes) -> None:
        handler = self._handler
        if handler is None:
            return
        response = parse(payload)
        if type(response) is not Response or self.transactions.find_client(response) is None:
            return  # another worker's, or a stray response (§17.1.3): dropped
        flow = Flow(Transport(fields[2]), Address(fields[3], int(fields[4])),
                    Address(fields[5], int(fields[6])))
        handler(response, flow)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("a message for another worker's connection was not sent: %s",
                 task.exception())


# -- the supervisor --------------------------------------------------------------------------


def _bind_probe(spec: str) -> tuple[str, socket.socket | None]:
    """``spec`` with a port chosen for port 0, and the socket holding it
    (SO_REUSEPORT, not listening) until the workers have bound it too."""
    point = ListeningPoint.parse(spec)
    if point.port != 0:
        return spec, None
    family = socket.AF_INET6 if ":" in point.host else socket.AF_INET
    kind = socket.SOCK_DGRAM if point.transport is Transport.UDP else socket.SOCK_STREAM
    probe = socket.socket(family, kind)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((point.host.strip("[]"), 0))
    except OSError:
        probe.close()
        raise
    port = probe.getsockname()[1]
    return f"{spec.rpartition(':')[0]}:{port}", probe


class _Supervisor:
    def __init__(self, config: ServerConfig, count: int, command: list[str],
                 directory: Path, listen: tuple[str, ...]) -> None:
        self.config = config
        self.count = count
        self.command = command
        self.directory = directory
        self.listen = listen
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.ready: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(count)}
        self.stopping = False
        self.environment = dict(os.environ)
        if not config.secret and not self.environment.get("SIPWIRE_SECRET"):
            # nonces and Record-Route tokens must verify in every worker
            self.environment["SIPWIRE_SECRET"] = secrets.token_hex(32)

    def context(self, index: int) -> WorkerContext:
        return WorkerContext(index, self.count, os.getpid(), self.directory, self.listen)

    async def spawn(self, index: int) -> asyncio.subprocess.Process:
        self.ready[index].clear()
        env = self.environment | self.context(index).environment()
        process = await asyncio.create_subprocess_exec(
            *self.command, env=env, stdin=asyncio.subprocess.DEVNULL)
        self.processes[index] = process
        return process

    def readable(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            fields = data.decode("ascii", "replace").split()
            if len(fields) < 2 or not fields[0].isdigit():
                continue
            sender = int(fields[0])
            if fields[1] == "ready":
                event = self.ready.get(sender)
                if event is not None:
                    event.set()
            elif fields[1] == "reload":  # `sipwire reload` reached worker 0: the rest too
                for index, process in self.processes.items():
                    if index != sender and process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGHUP)

    async def keep(self, index: int, process: asyncio.subprocess.Process) -> None:
        """Restart worker ``index`` whenever it dies, until stopping."""
        delay = RESTART_DELAY
        while True:
            status = await process.wait()
            if self.stopping:
                return
            log.warning("worker %d (pid %d) exited with status %d: restarting",
                        index, process.pid, status)
            await asyncio.sleep(delay)
            if self.stopping:
                return
            process = await self.spawn(index)
            try:
                await asyncio.wait_for(self.ready[index].wait(), START_TIMEOUT)
            except TimeoutError:
                delay = min(delay * 2, MAX_RESTART_DELAY)
                continue
            delay = RESTART_DELAY
            log.info("worker=%d pid=%d restarted", index, process.pid)

    def signal_all(self, signum: int) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    async def stop(self) -> None:
        self.stopping = True
        self.signal_all(signal.SIGTERM)
        deadline = self.config.drain_timeout + STOP_MARGIN
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), deadline)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()


def _worker_command() -> list[str]:
    """This command again (``sipwire serve ...``), for a worker."""
    return [sys.executable, "-m", "sipwire.cli.main", *sys.argv[1:]]


def supervise(config: ServerConfig, count: int,
              command: Callable[[], list[str]] = _worker_command) -> int:
    """Run ``count`` workers of ``config`` until SIGINT or SIGTERM (module docs):
    0 after a clean stop, 1 when a worker cannot start."""
    return asyncio.run(_supervise(config, count, command()))


async def _supervise(config: ServerConfig, count: int, command: list[str]) -> int:
    directory = Path(tempfile.mkdtemp(prefix="sipwire-workers-"))
    probes: list[socket.socket] = []
    try:
        listen: list[str] = []
        for spec in config.listen:
            try:
                resolved, probe = _bind_probe(spec)
            except (OSError, ValueError) as exc:
                print(f"sipwire serve: cannot start: cannot listen on {spec}: {exc}",
                      file=sys.stderr)
                return 1
            listen.append(resolved)
            if probe is not None:
                probes.append(probe)
        return await _run_workers(config, count, command, directory, tuple(listen), probes)
    finally:
        for probe in probes:
            probe.close()
        shutil.rmtree(directory, ignore_errors=True)


async def _run_workers(config: ServerConfig, count: int, command: list[str], directory: Path,
                       listen: tuple[str, ...], probes: list[socket.socket]) -> int:
    loop = asyncio.get_running_loop()
    supervisor = _Supervisor(config, count, command, directory, listen)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(directory / "supervisor"))
    sock.setblocking(False)
    loop.add_reader(sock.fileno(), supervisor.readable, sock)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, supervisor.signal_all, signal.SIGHUP)
    keepers: list[asyncio.Task[None]] = []
    try:
        # worker 0 first: it creates the store (an SQLite file switching to WAL
        # takes a lock that a second process opening it at the same moment
        # would fail on); then the others, together
        first = [await supervisor.spawn(0)]
        if await _all_ready(supervisor, first):
            first += [await supervisor.spawn(i) for i in range(1, count)]
        if len(first) < count or not await _all_ready(supervisor, first):
            await supervisor.stop()
            # a worker that could not start said why in its one line, and ended
            # with status 1: say nothing more then (one failure, one line)
            if not any(process.returncode == 1 for process in first):
                print(f"sipwire serve: cannot start: a worker did not start within "
                      f"{START_TIMEOUT:g} s", file=sys.stderr)
            return 1
        for probe in probes:  # a probe socket would take a share of the datagrams
            probe.close()
        keepers = [loop.create_task(supervisor.keep(i, p)) for i, p in enumerate(first)]
        users = "-" if config.auth == "off" else str(users_location(config.users).path)
        log.info("serving domains=%s store=%s auth=%s users=%s realm=%s record_route=%s "
                 "relay=%s forking=%s nat=%s workers=%d pids=%s listen=%s",
                 ",".join(config.domains), _safe(config.store),
                 "off" if config.auth == "off" else "on", users, config.auth_realm,
                 config.record_route, config.relay, config.forking, config.nat, count,
                 ",".join(str(p.pid) for p in first), ",".join(listen))
        await stop.wait()
        log.info("signal received: stopping %d workers", count)
        await supervisor.stop()
        log.info("stopped")
        return 0
    finally:
        for keeper in keepers:
            keeper.cancel()
        loop.remove_reader(sock.fileno())
        sock.close()


async def _all_ready(supervisor: _Supervisor, first: list[asyncio.subprocess.Process]) -> bool:
    """Whether every worker said it serves before any died or START_TIMEOUT."""
    loop = asyncio.get_running_loop()
    for index, process in enumerate(first):
        ready = loop.create_task(supervisor.ready[index].wait())
        died = loop.create_task(process.wait())
        done, _ = await asyncio.wait({ready, died}, timeout=START_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        died.cancel()
        if ready not in done:
            return False
    return True


def _safe(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url

