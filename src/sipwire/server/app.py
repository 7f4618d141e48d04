"""``sipwire serve``: a registrar (RFC 3261 §10) and stateful proxy (§16) in one process.

``run(config)`` is the command: it sets up logging and the event loop (uvloop
when asked for and installed), serves until SIGINT or SIGTERM, stops cleanly
and returns the exit status.  ``Server`` is the same server for code and
tests::

    async with Server(ServerConfig(listen=("udp:127.0.0.1:0",), store="memory:")) as server:
        port = server.listening_points[0].port
        ...
    # or: server = await Server(config).start(); ...; await server.stop()

What it wires together:

- a ``TransportLayer`` listening on every ``config.listen`` (TLS and WSS with
  ``tls_cert``/``tls_key``), limits from ``max_message_size``,
  ``max_connections``, ``max_connections_per_source``, ``idle_timeout``,
  ``message_timeout`` and ``max_requests_per_source``; the TLS and WSS
  connections it opens trust the system's CAs and ``tls_ca``, and verify the
  server unless ``tls_verify = "none"`` (RFC 5922 §7.3);
- a ``TransactionLayer`` with T1, T2, T4 from the configuration, and the
  ``Engine`` that drives it, the registrar and the proxy core (see there);
- the location store ``config.store`` (``open_store``), purged in the
  background;
- a ``Registrar`` for ``config.domains`` (and our own addresses as aliases),
  with the min/max/default expires and the limits per address-of-record
  (``max_contacts``, ``max_contacts_per_register``, ``max_contact_length``);
- digest authentication (``policy``), on unless ``auth = "off"``: the users
  of the user file (``config.users``, else ``$SIPWIRE_USERS``, else
  ``~/.local/share/sipwire/users.db``; ``auth.userfile``), reread when it
  changes and on SIGHUP.  A file that was named must exist; with no user,
  every request that would be challenged is answered 403, as logged at start;
- a ``ProxyCore`` whose addresses are the bound listening points, serving
  ``config.domains``, with ``record_route``, ``relay``, ``forking``,
  ``timer_c`` and ``max_breadth`` (RFC 5393), and ``nat`` (requests for
  contacts behind a NAT go to the source of their REGISTER);
- with ``nat`` and a ``nat_ping_interval``, a ``NatPinger`` sending OPTIONS
  keep-alives to those contacts over UDP and removing the ones that stop
  answering.

Stopping (``stop()``, or SIGTERM for the command): new requests outside a
dialog are answered 503, in-flight transactions get ``grace`` seconds to end,
what is still pending is answered 503 and its branches cancelled, then the
sockets close and the store closes (an SQLite store has committed every
binding: each REGISTER is answered only after its commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from ..auth.store import UserStore
from ..auth.userfile import UserFile, UsersFileError, users_location
from ..location import LocationStore, MemoryStore, StoreError, open_store, purge_periodically
from ..message.parser import DEFAULT_LIMITS, Limits
from ..proxy.config import ProxyAddress, ProxyConfig
from ..proxy.core import ProxyCore
from ..registrar.registrar import Registrar
from ..routing.myself import parse_alias
from ..trace import CaptureHub, open_capture
from ..transaction.config import TimerConfig
from ..transaction.layer import TransactionLayer
from ..transport.base import ListeningPoint, Transport
from ..transport.config import TransportConfig
from ..transport.layer import MessageHandler, TransportLayer
from ..transport.tls import client_context
from .config import ServerConfig
from .engine import Engine
from .logs import Tracer, configure_logging, log
from .metrics import Metrics, TimedStore
from .natping import NatPinger
from .overload import overload_control
from .policy import AuthPolicy, nonce_secret
from .workers import Relay, WorkerContext, supervise, worker_count

if TYPE_CHECKING:
    from ..dns.resolver import DnsResolver

__all__ = ["Server", "run"]

#: SO_RCVBUF asked for UDP sockets (capped by net.core.rmem_max): a burst of
#: datagrams waits there while the single event loop is busy, rather than being
#: dropped and retransmitted 500 ms later (Kamailio probes for its maximum too)
UDP_RECEIVE_BUFFER = 8 * 1024 * 1024


class Server:
    """The registrar and proxy of ``sipwire serve`` on one event loop.

    ``clock`` is the POSIX clock of bindings and nonces (``time.time``; a test
    may drive its own to expire bindings without sleeping).  ``users`` replaces
    the user file ``config.users`` (a ``MemoryUserStore`` in tests).
    ``purge_interval`` is how often expired bindings are purged, ``grace`` how
    long ``stop()`` lets in-flight transactions finish.  ``tracer`` is told of
    every message the engine handles; ``config.trace``, ``pcap`` and ``hep``
    capture their exact bytes at the transport's edge (``sipwire.trace``).
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        clock: Callable[[], float] = time.time,
        users: UserStore | None = None,
        purge_interval: float = 60.0,
        grace: float = 2.0,
        tracer: Tracer | None = None,
        worker: WorkerContext | None = None,
    ) -> None:
        self.config = config.check()
        #: set in a worker process of ``--workers N`` (``server.workers``)
        self.worker = worker
        self.relay: Relay | None = None
        self.clock = clock
        self.purge_interval = purge_interval
        self.grace = grace
        self._users_given = users
        #: the engine's view of messages (given by code); ``config.trace``, ``pcap``
        #: and ``hep`` capture the exact bytes at the transport's edge instead
        self._tracer = tracer
        self._capture: CaptureHub | None = None
        #: the counters of /metrics and ``sipwire stats`` (``server.control``)
        self.metrics = Metrics(self._tracer)
        self._probe: asyncio.Task[None] | None = None
        self._transport: TransportLayer | None = None
        self._store: LocationStore | None = None
        self._users: UserStore | None = None
        self._user_file: UserFile | None = None
        self._engine: Engine | None = None
        self._purge: asyncio.Task[None] | None = None
        self._nat_ping: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self.auth_enabled = False

    # -- what it is ---------------------------------------------------------------------

    @property
    def listening_points(self) -> tuple[ListeningPoint, ...]:
        """Every bound listening point, with the real port when port 0 was asked."""
        return self._transport.listening_points if self._transport is not None else ()

    @property
    def store(self) -> LocationStore:
        """The location store (``config.store``)."""
        if self._store is None:
            raise RuntimeError("the server is not started")
        return self._store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the server is not started")
        return self._engine

    def address(self, transport: str = "udp") -> tuple[str, int]:
        """Host and port of the first listening point of ``transport``."""
        for point in self.listening_points:
            if point.transport.lower() == transport.lower():
                return point.host, point.port
        raise LookupError(f"no {transport} listening point")

    # -- starting -----------------------------------------------------------------------

    async def start(self, *, announce: bool = True) -> Server:
        """Bind every listening point and open the stores.  Raises ``OSError``
        (an address in use), ``StoreError`` or ``ValueError``; nothing is left
        open then.  ``announce`` logs the "serving ..." line that tells the
        server is ready; ``sipwire serve`` logs it itself (``announce()``)
        once its HTTP endpoint and control socket are up too."""
        try:
            await self._start()
        except BaseException:
            await self._close()
            raise
        if announce:
            self.announce()
        return self

    def announce(self) -> None:
        """Log the "serving ..." line: every listener answers from now on."""
        config = self.config
        users_text = "-" if self._user_file is None else str(self._user_file.path)
        log.info("serving domains=%s store=%s auth=%s users=%s realm=%s record_route=%s "
                 "relay=%s forking=%s nat=%s", ",".join(config.domains),
                 _safe_url(config.store), "on" if self.auth_enabled else "off", users_text,
                 config.auth_realm, config.record_route, config.relay, config.forking,
                 config.nat)

    async def _start(self) -> None:
        config = self.config
        # first, so that a missing user file stops the start before any socket
        self._users = self._open_users()
        self.auth_enabled = self._users is not None
        self._capture = open_capture(
            text=sys.stderr.buffer if config.trace else None, pcap=config.pcap or None,
            hep=config.hep or None, hep_id=config.hep_id)
        transport = TransportLayer(self._transport_config())
        self._transport = transport
        for spec in config.listen:
            try:
                point = await transport.listen(spec)
            except OSError as exc:
                reason = exc.strerror or _bind_reason(spec) or str(exc)
                error = OSError(f"cannot listen on {spec}: {reason.lower()}")
                error.errno = exc.errno
                raise error from None
            log.info("listening=%s", point)
        store = open_store(config.store)
        # timed unless it is the memory store, whose operations take no time to speak of
        self._store = store if isinstance(store, MemoryStore) else \
            TimedStore(store, self.metrics.store_latency)
        if config.store_check:
            await self._check_store(self._store)
        proxy_config = self._proxy_config(transport.listening_points)
        policy = AuthPolicy(config, self._users, proxy_config, self.clock)
        aliases = {point.host for point in transport.listening_points} | set(
            proxy_config.hostnames) | {parse_alias(alias)[0] for alias in config.aliases}
        registrar = Registrar(
            self._store, config.domains, aliases=aliases,
            authenticate=policy.authenticate_register if self.auth_enabled else None,
            authorize=policy.authorize_register if self.auth_enabled else None,
            min_expires=config.min_expires, max_expires=config.max_expires,
            default_expires=config.default_expires, max_contacts=config.max_contacts,
            max_contacts_per_register=config.max_contacts_per_register,
            max_contact_length=config.max_contact_length, agent=proxy_config.agent)
        transactions = TransactionLayer(
            TimerConfig(t1=config.t1, t2=config.t2, t4=config.t4, trying_delay=None),
            detect_merged_requests=False)  # §16: merged requests are a UAS matter
        self._engine = Engine(
            transport=transport, transactions=transactions, core=ProxyCore(proxy_config),
            registrar=registrar, store=self._store, policy=policy, clock=self.clock,
            tracer=self.metrics.tap, resolver=_resolver(config),
            overload=overload_control(config.overload_max_lag, config.overload_max_pending,
                                      config.overload_retry_after, config.overload_max_queue,
                                      config.overload_max_refused))
        self._probe = asyncio.get_running_loop().create_task(self.metrics.loop_lag.run())
        handler: MessageHandler = self._engine.on_message
        if self.worker is not None:
            self.relay = Relay(self.worker, transport, transactions)
            handler = self.relay.wrap(handler)
            self.relay.open()
        transport.on_message = handler
        self._purge = asyncio.get_running_loop().create_task(
            purge_periodically(self._store, self.purge_interval, self.clock))
        if config.nat and config.nat_ping_interval > 0:
            pinger = NatPinger(self._store, transport, interval=config.nat_ping_interval,
                               sender=f"sip:nat-ping@{proxy_config.agent}", clock=self.clock)
            transport.on_message = pinger.intercept(handler)
            self._nat_ping = asyncio.get_running_loop().create_task(pinger.run())

    async def _check_store(self, store: LocationStore) -> None:
        """Fail fast on a store that does not answer (``store_check``)."""
        where = _safe_url(self.config.store)
        try:
            await asyncio.wait_for(store.ping(), STORE_CHECK_TIMEOUT)
        except TimeoutError:
            raise StoreError(f"store {where}: no answer within {STORE_CHECK_TIMEOUT:g} s "
                             "(--no-store-check starts anyway)") from None
        except (StoreError, OSError) as exc:
            raise StoreError(f"store {where}: {exc} (--no-store-check starts "
                             "anyway)") from None

    def _transport_config(self) -> TransportConfig:
        config = self.config
        tls = None
        if config.tls_cert and config.tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(config.tls_cert, config.tls_key)
        verify = config.tls_verify != "none"
        if not verify:
            log.warning("tls_verify is none: the TLS and WSS servers this proxy connects to "
                        "are not authenticated (RFC 5922 §7.3)")
        # without either, the layer loads the system store when first needed
        client_tls = client_context(config.tls_ca, verify=verify) \
            if config.tls_ca or not verify else None
        limits = DEFAULT_LIMITS
        if config.max_message_size != limits.max_message_size:
            limits = Limits(max_message_size=config.max_message_size)
        return TransportConfig(limits=limits, max_connections=config.max_connections,
                               max_connections_per_source=config.max_connections_per_source,
                               idle_timeout=config.idle_timeout,
                               message_timeout=config.message_timeout,
                               max_requests_per_source=config.max_requests_per_source,
                               tls_server_context=tls,
                               tls_client_context=client_tls,
                               udp_receive_buffer=UDP_RECEIVE_BUFFER,
                               udp_coalesce_sends=True,
                               reuse_port=self.worker is not None,
                               # a callee's responses come back to the worker
                               # that forwarded the request (server.workers)
                               udp_private_send=self.worker is not None
                               and config.worker_ports,
                               capture=self._capture)

    def _open_users(self) -> UserStore | None:
        """The users to authenticate, or None when authentication is off (only
        ever by ``auth = "off"``).  Raises ``UsersFileError`` for a user file
        that was named but is missing, or is not a user file."""
        mode = self.config.auth
        if mode == "off":
            return None
        if mode == "auto":
            log.warning("auth = auto is deprecated and now means on: users are "
                        "authenticated whether or not any exists; say --auth on")
        users = self._users_given
        where, flag = "the user store", ""
        if users is None:
            location = users_location(self.config.users)
            flag = f" --users {self.config.users}" if self.config.users else ""
            if location.given and not location.path.exists():
                raise UsersFileError(f"no user file {location.path} (named by "
                                     f"{location.origin}); `sipwire user add USER@DOMAIN"
                                     f"{flag}` creates it")
            users = self._user_file = UserFile(location.path, must_exist=location.given)
            where = str(location.path) + ("" if self._user_file.exists else " (no such file)")
        if not users.list():
            log.warning("auth is on but %s has no user: every request that would be "
                        "challenged is answered 403; add one with `sipwire user add "
                        "USER@DOMAIN%s`", where, flag)
        return users

    def reload_users(self) -> str:
        """Reread the user file now (SIGHUP), logging one line; that line."""
        users = self._user_file
        if users is None:
            text = "users not reloaded: " + ("auth is off" if not self.auth_enabled
                                             else "the users were not read from a file")
            log.info("%s", text)
            return text
        # what was held: len() would first reread a file changed meanwhile
        before = users.held
        try:
            count = users.reload()
        except ValueError as exc:
            text = f"users not reloaded: {exc}; keeping the {before} users read before"
            log.warning("%s", text)
            return text
        text = (f"users reloaded from {users.path}: {count} users (were {before})"
                + ("" if users.exists else "; no such file"))
        log.info("%s", text)
        return text

    def _proxy_config(self, points: tuple[ListeningPoint, ...]) -> ProxyConfig:
        config = self.config
        wildcard = [p for p in points if p.wildcard]
        primary = _primary_address(wildcard[0].family) if wildcard else None
        addresses = tuple(ProxyAddress(p.transport.value, primary if p.wildcard and primary
                                       else p.host, p.port) for p in points)
        # Record-Route names the listening address of each interface (RFC 5658);
        # the served domains are our names too (routing.Myself), so a Route to
        # sip:example.com;lr is recognized (§16.4), and so are the aliases.
        hostnames: tuple[str, ...] = ()
        if wildcard:
            hostnames += _local_addresses()
        # the Record-Route token is signed with the configured secret, so that
        # dialogs outlive a restart and span nodes; else a random one
        secret = nonce_secret(config) or os.urandom(32)
        return ProxyConfig(
            addresses=addresses, hostnames=hostnames, domains=frozenset(config.domains),
            aliases=config.aliases, relay=config.relay, record_route=config.record_route,
            forking="sequential" if config.forking == "sequential" else "parallel",
            timer_c=config.timer_c, cancel_grace=64 * config.t1, secret=secret,
            nat=config.nat, max_breadth=config.max_breadth)

    # -- stopping -----------------------------------------------------------------------

    async def stop(self, grace: float | None = None) -> None:
        """Stop cleanly (see the module docs); safe to call again."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(
                self._stop(self.grace if grace is None else grace))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        engine = self._engine
        if engine is not None:
            engine.draining = True
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while engine.busy and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if engine.busy:
                log.warning("stopping with transactions still pending: answering them 503")
                engine.abandon()
                await asyncio.sleep(0)
        await self._close()
        log.info("stopped")

    async def _close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        if self._purge is not None:
            self._purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge
            self._purge = None
        if self._nat_ping is not None:
            self._nat_ping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._nat_ping
            self._nat_ping = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        if self._engine is not None:
            await self._engine.close()
        if self._transport is not None:
            await self._transport.close()
        if self._capture is not None:
            self._capture.close()
            self._capture = None
        if self._store is not None:
            try:
                await self._store.close()
            except Exception:
                log.exception("closing the location store failed")

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


def _resolver(config: ServerConfig) -> DnsResolver:
    """RFC 3263 lookups for the names requests are forwarded to (docs/dns.md):
    through ``dns_server``, else the system's nameservers."""
    from ..dns.args import parse_dns_server
    from ..dns.resolver import DnsResolver

    if config.dns_server:
        return DnsResolver([parse_dns_server(config.dns_server)])
    return DnsResolver()


def _safe_url(url: str) -> str:
    """A store URL without its password (``redis://:secret@host``)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url


def _primary_address(family: socket.AddressFamily) -> str | None:
    """The address the kernel would send from to the outside (no packet is sent):
    what a wildcard listening point is reached at."""
    probe_host = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((probe_host, 9))
            return str(ipaddress.ip_address(probe.getsockname()[0]))
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def _local_addresses() -> tuple[str, ...]:
    """Loopback and the host name's addresses: what else reaches a wildcard bind."""
    found = {"127.0.0.1", "::1"}
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
    return tuple(sorted(found))


# -- the command --------------------------------------------------------------------------


def run(config: ServerConfig,
        reload_config: Callable[[], ServerConfig] | None = None) -> int:
    """``sipwire serve``: serve until SIGINT or SIGTERM; 0 after a clean stop, 1
    when the server cannot start (an address in use, a bad store).  SIGHUP
    and ``sipwire reload`` reload (``server.control``), rereading the
    configuration with ``reload_config``."""
    try:
        configure_logging(config.log_level, format=config.log_format, file=config.log_file)
    except OSError as exc:
        print(f"sipwire serve: cannot start: log {config.log_file}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    worker = WorkerContext.from_environment()
    if worker is None:
        count = worker_count(config)
        if count > 1:
            return supervise(config, count)
    else:
        worker.watch_parent()
        worker.tag_log()
        config = worker.configure(config)
        if reload_config is not None:
            reread = reload_config
            reload_config = lambda: worker.configure(reread())  # noqa: E731
    loop_factory = None
    if config.uvloop:
        try:
            import uvloop
        except ImportError:
            log.debug("uvloop is not installed: using asyncio's event loop")
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            return runner.run(_serve(config, reload_config, worker))
        except KeyboardInterrupt:
            return 130


def _bind_reason(spec: str) -> str | None:
    """Why ``spec`` cannot be bound ("Address already in use"), found by binding
    a plain socket: uvloop's error for a datagram endpoint does not say."""
    try:
        point = ListeningPoint.parse(spec)
        family = socket.AF_INET6 if ":" in point.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if point.transport is Transport.UDP else socket.SOCK_STREAM
        with socket.socket(family, kind) as probe:
            probe.bind((point.host, point.port))
    except OSError as exc:
        return exc.strerror
    except ValueError:
        return None
    return None


#: seconds the store has to answer its first round trip at start
STORE_CHECK_TIMEOUT = 5.0

#: thresholds of the cyclic garbage collector while serving (Python's are 700,
#: 10, 10).  A young collection walks every tracked object made since the last
#: one and still alive, so its pause grows with the first threshold: 50,000 is
#: about 70 ms on a loaded 2-core machine at 1,000 calls/s (BENCHMARKS.md)
GC_THRESHOLDS = (50_000, 50, 100)


def _tune_gc() -> None:
    """Collect less often: a busy server holds every transaction of the last
    64*T1 (Timers J, H, D...) with its messages, hundreds of thousands of
    objects that each collection would walk again (about 40 % of the CPU of a
    REGISTER load with the defaults).  What is loaded at start is frozen out
    of collections altogether."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _serve(config: ServerConfig,
                 reload_config: Callable[[], ServerConfig] | None = None,
                 worker: WorkerContext | None = None) -> int:
    from .control import Operations

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = Server(config, grace=config.drain_timeout, worker=worker)
    operations = Operations(server, reload_config)
    try:
        await server.start(announce=False)
    except (OSError, StoreError, ValueError, ssl.SSLError) as exc:
        print(f"sipwire serve: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        await operations.start()
    except (OSError, ValueError) as exc:
        await server.stop(grace=0)
        print(f"sipwire serve: cannot start: {exc}", file=sys.stderr)
        return 1
    if server.relay is not None:  # the supervisor announces when every worker is up
        log.info("pid=%d ready", os.getpid())  # the line starts with worker=N
        server.relay.tell_supervisor("ready")
    else:
        server.announce()  # after /metrics and the control socket, which tools wait for
    loop.add_signal_handler(signal.SIGHUP, operations.sighup)  # was: the default, exit
    _tune_gc()
    try:
        await stop.wait()
        log.info("signal received: stopping")
    finally:
        await server.stop()  # /health answers 503 "draining" meanwhile
        await operations.close()
    return 0
