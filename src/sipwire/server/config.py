"""Configuration of ``sipwire serve``: defaults, a TOML file, and flags.

Every setting has a default, may be set in the TOML file given with
``--config``, and may be overridden by a flag; flags win over the file.  The
TOML layout (all keys optional)::

    listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    domains = ["example.com"]
    aliases = ["sip.example.com", "192.0.2.1:5080"]  # names that reach this server
    store = "sqlite:///sipwire.db"      # memory:, sqlite:///PATH, redis://HOST:PORT/DB
    store_check = true                  # no start when the store does not answer
    users = "/var/lib/sipwire/users.db" # SQLite file of digest users (HA1 only); default
                                        # $SIPWIRE_USERS, else $XDG_DATA_HOME/sipwire/users.db
                                        # (~/.local/share/sipwire/users.db); must exist
    log_level = "info"
    log_format = "text"                 # or "json": one object per line
    log_file = ""                       # default standard error; a path, or "syslog:"
                                        # (/dev/log) or "syslog:/path/of/socket"
    trace = false                       # every message's bytes to standard error
    pcap = ""                           # a pcap file of every message (docs/traces.md)
    hep = ""                            # HOST:PORT of a HEPv3 collector (Homer)
    hep_id = 0                          # the capture agent id sent in HEP
    http = ""                           # "127.0.0.1:9090": GET /metrics and /health
    control = "/run/sipwire/control.sock"  # control socket of `sipwire registrations|stats|
                                        # reload` (default $XDG_RUNTIME_DIR/sipwire/
                                        # control.sock, else ./sipwire-control.sock; "": none)
    dns_server = ""                     # "127.0.0.1:53": the nameserver of the RFC 3263
                                        # NAPTR/SRV/A lookups of names (default: the
                                        # system's, /etc/resolv.conf; docs/dns.md)
    drain_timeout = 2                   # on SIGTERM: seconds in-flight transactions get
    workers = 0                         # processes sharing the ports (docs/workers.md); 0:
                                        # $SIPWIRE_WORKERS, else one per core (1 for memory:)
    worker_ports = true                 # with workers: each forwards UDP requests from a
                                        # port of its own (false: all from the shared port)
    nat = false                         # UAs behind NAT: requests for a contact that is not
                                        # where its REGISTER came from go to that source
    nat_ping_interval = 30              # with nat: OPTIONS to those contacts every 30 s; one
                                        # leaving 3 unanswered is removed (0: no pings)

    [auth]
    mode = "on"                         # or "off"; "auto" is a deprecated "on"
    realm = ""                          # default: the user's own domain (To/From host)
    nonce_lifetime = 300
    max_failures = 10                   # wrong answers of one user from one address
    failure_window = 60                 # ... within 60 s lock that user out from that
    lockout = 300                       # address for 300 s, doubled for each repeated
    max_lockout = 3600                  # lockout up to 3600 s (RFC 7616 §5.7)
    ban_users = 5                       # an address failing as 5 different users
    ban_window = 600                    # within 600 s is banned (its requests dropped)
    ban_time = 3600                     # for 3600 s; ban_users = 0: no bans
    secret = ""                         # signs nonces; nodes sharing a store share it
    algorithms = ["MD5"]                # one challenge each, preferred first (RFC 8760);
                                        # ["SHA-256", "MD5"] for clients that take both

    [registrar]
    min_expires = 60
    max_expires = 3600
    default_expires = 3600
    max_contacts = 10                   # bindings per address-of-record; a REGISTER adding
                                        # more is 403 Too Many Registered Contacts (0: any)
    max_contacts_per_register = 10      # Contacts in one REGISTER, counted before parsing
                                        # them; more is 403 too (0: any)
    max_contact_length = 1024           # characters of one Contact value; longer is 400

    [proxy]
    record_route = true
    relay = false                       # forward requests for domains not served
    forking = "parallel"                # or "sequential" (by q value)
    timer_c = 185                       # over 3 minutes (RFC 3261 §16.6 step 11)
    max_breadth = 60                    # Max-Breadth added, and the most accepted: at most
                                        # that many parallel branches, else 440 (RFC 5393)

    [timers]
    t1 = 0.5
    t2 = 4.0
    t4 = 5.0

    [limits]
    max_message_size = 65535
    max_connections = 1024
    max_connections_per_source = 64     # from one IPv4 address or IPv6 /64 (0: no cap)
    idle_timeout = 120
    message_timeout = 10                # seconds to receive one whole message on a
                                        # connection, from its first byte (0: no limit)
    max_requests_per_source = 200       # UDP requests per second from one source;
                                        # the rest are dropped unread (0: no limit)
    overload_max_lag = 0.5              # seconds of event-loop lag past which new
                                        # requests get 503 + Retry-After (0: not watched)
    overload_max_queue = 0              # how full a UDP receive queue may be (0-1) before
                                        # new requests get 503 + Retry-After (0: not watched)
    overload_max_pending = 1000         # requests waiting for the store at which new
                                        # ones get 503 + Retry-After (0: not watched)
    overload_max_refused = 0.2          # the largest share of new requests refused on
                                        # lag or a full queue (0-1)
    overload_retry_after = 2            # the Retry-After of those 503s, seconds

    [tls]
    cert = "server.pem"                 # certificate chain of tls: and wss: listening points
    key = "server.key"
    ca = ["ca.pem"]                     # CAs trusted for connections we open, besides the
                                        # system store (a directory: its *.pem and *.crt)
    verify = "peer"                     # or "none": no verification (RFC 5922 §7.3 skipped)
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..routing.myself import parse_alias

__all__ = ["ConfigError", "ServerConfig", "add_arguments", "load_config", "toml_key"]

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
TLS_VERIFY = ("peer", "none")
_DIGEST_ALGORITHMS = ("MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS", "SHA-512-256",
                      "SHA-512-256-SESS")


class ConfigError(ValueError):
    """A configuration file or flag that cannot be used."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every setting of ``sipwire serve``, with the defaults of a bare start."""

    listen: tuple[str, ...] = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
    domains: tuple[str, ...] = ("localhost", "127.0.0.1")
    #: further names (``host``, any of our ports) or ``host:port`` that reach this
    #: server: a Route or Request-URI naming one is "me" (routing.Myself)
    aliases: tuple[str, ...] = ()
    store: str = "sqlite:///sipwire.db"
    #: ask the store for a round trip at start and refuse to start when it
    #: does not answer; False starts anyway (``/health`` then says 503)
    store_check: bool = True
    #: the SQLite file of digest users; empty: ``$SIPWIRE_USERS``, else
    #: ``$XDG_DATA_HOME/sipwire/users.db`` (``auth.userfile.users_location``)
    users: str = ""
    log_level: str = "info"
    #: "text" (key=value lines) or "json" (one object per line)
    log_format: str = "text"
    #: where log lines go: "" standard error, a file path, "syslog:" (/dev/log)
    #: or "syslog:PATH" (that Unix datagram socket)
    log_file: str = ""
    trace: bool = False
    #: a pcap file written with every message sent and received ("": none)
    pcap: str = ""
    #: ``HOST:PORT`` of a HEPv3 collector sent every message ("": none)
    hep: str = ""
    hep_id: int = 0
    #: HOST:PORT of the HTTP endpoint (/metrics, /health); "" none
    http: str = ""
    #: the control socket; None: ``control.default_control_path()``; "": none
    control: str | None = None
    #: the nameserver ("IP:PORT") of RFC 3263 lookups; "": the system's
    dns_server: str = ""
    #: seconds in-flight transactions get to end after SIGTERM
    drain_timeout: float = 2.0
    #: worker processes sharing the listening ports (``server.workers``); 0:
    #: ``$SIPWIRE_WORKERS``, else one per core, and 1 for the memory store
    workers: int = 0
    #: with ``workers``: each worker forwards UDP requests from a port of its
    #: own, named in the Via, so the responses come back to it
    #: (``TransportConfig.udp_private_send``); False sends every request from
    #: the shared listening port, for a network that lets only that port in
    worker_ports: bool = True
    uvloop: bool = True
    #: route requests for a binding whose contact is not the source of its
    #: REGISTER (a UA behind a NAT) to that source (``proxy.targets.behind_nat``)
    nat: bool = False
    #: with ``nat``: seconds between the OPTIONS sent to each UDP binding behind a
    #: NAT, which keep its mapping open; 3 unanswered remove it (0: none sent)
    nat_ping_interval: float = 30.0
    # [auth]
    #: "on" (digest authentication, RFC 3261 §22) unless "off" is asked for;
    #: "auto" is accepted as a deprecated spelling of "on"
    auth: str = "on"
    realm: str = ""
    nonce_lifetime: float = 300.0
    #: wrong digest answers of one user from one address within failure_window
    #: that lock that user out from that address (auth.FailureThrottle)
    max_failures: int = 10
    failure_window: float = 60.0
    #: the first lockout; each repeated one of the same user and address doubles,
    #: up to max_lockout
    lockout: float = 300.0
    max_lockout: float = 3600.0
    #: an address failing as ban_users different users within ban_window is
    #: banned for ban_time: its requests are dropped unanswered (0: no bans)
    ban_users: int = 5
    ban_window: float = 600.0
    ban_time: float = 3600.0
    #: signs digest nonces (RFC 7616 §3.3); empty: $SIPWIRE_SECRET, else random per
    #: process.  Nodes sharing a Redis store must share it to accept each other's nonces.
    secret: str = field(default="", repr=False)
    #: digest algorithms offered, one challenge each, the preferred first (RFC 8760
    #: §2.3).  MD5 alone by default, as most servers offer: clients still common
    #: give up on a SHA-256 challenge (baresip 1.0 even when MD5 is offered too;
    #: SIPp 3.6 answers the first challenge only, and only MD5).
    algorithms: tuple[str, ...] = ("MD5",)
    # [registrar]
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    #: bindings one address-of-record may hold: a REGISTER that would add more
    #: is refused 403 and stores nothing (0: no limit)
    max_contacts: int = 10
    #: Contacts one REGISTER may carry, counted before any is parsed (0: no limit)
    max_contacts_per_register: int = 10
    #: characters of one Contact value; a longer one is 400 (0: no limit)
    max_contact_length: int = 1024
    # [proxy]
    record_route: bool = True
    relay: bool = False
    forking: str = "parallel"
    timer_c: float = 185.0
    #: RFC 5393 §5.3.3: the Max-Breadth a request gets when it has none, and the
    #: most it may have; a parallel fork wider than a request's is answered 440
    max_breadth: int = 60
    # [timers]
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    # [limits]
    max_message_size: int = 65535
    max_connections: int = 1024
    #: connections one source (IPv4 address, IPv6 /64) may open; when all
    #: ``max_connections`` are taken, a source holding fewer makes room
    max_connections_per_source: int = 64
    idle_timeout: float = 120.0
    #: seconds from the first byte of a message on a connection to its last (slowloris)
    message_timeout: float = 10.0
    #: UDP requests per second from one source before the rest are dropped unread
    #: (Kamailio's pike); 200 is far above what phones send, 0 turns it off
    max_requests_per_source: int = 200
    #: overload control (``server.overload``): past this event-loop lag (seconds)
    #: or receive-queue fill (share), a growing share of new out-of-dialog
    #: requests, and with this many requests waiting for the store or a
    #: connection every new one, is answered 503 with ``overload_retry_after``
    #: (RFC 3261 §21.5.4); 0 turns a sign off, all 0 turns shedding off
    overload_max_lag: float = 0.5
    overload_max_queue: float = 0.0
    overload_max_pending: int = 1000
    overload_max_refused: float = 0.2
    overload_retry_after: int = 2
    # [tls]
    tls_cert: str | None = None
    tls_key: str | None = None
    #: PEM bundles (or directories of them) of CAs trusted for the TLS and WSS
    #: connections we open, in addition to the system's store
    tls_ca: tuple[str, ...] = ()
    #: "peer": verify the certificate chain and name of the servers we connect
    #: to (RFC 5922 §7.3); "none": accept any (logged as a warning at start)
    tls_verify: str = "peer"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def auth_realm(self) -> str:
        return self.realm or (self.domains[0] if self.domains else "sipwire")

    def check(self) -> ServerConfig:
        """Raise ``ConfigError`` for settings that cannot work together."""
        if not self.listen:
            raise ConfigError("at least one --listen is needed")
        for spec in self.listen:
            transport, _, rest = spec.partition(":")
            if transport.lower() not in ("udp", "tcp", "tls", "ws", "wss") or ":" not in rest:
                raise ConfigError(f"--listen {spec!r}: expected TRANSPORT:HOST:PORT "
                                  "with TRANSPORT one of udp, tcp, tls, ws, wss")
            if transport.lower() in ("tls", "wss") and not (self.tls_cert and self.tls_key):
                raise ConfigError(f"--listen {spec!r} needs --tls-cert and --tls-key")
        if self.auth not in ("on", "off", "auto"):
            raise ConfigError(f"auth must be on or off, not {self.auth!r}")
        if self.forking not in ("parallel", "sequential"):
            raise ConfigError(f"forking must be parallel or sequential, not {self.forking!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.http:
            from .http import parse_http_address

            try:
                parse_http_address(self.http)
            except ValueError as exc:
                raise ConfigError(f"--http: {exc}") from None
        if self.drain_timeout < 0:
            raise ConfigError("drain_timeout must be 0 or more")
        if self.workers < 0:
            raise ConfigError("workers must be 0 (one per core) or more")
        if self.workers > 1 and self.store.startswith("memory:"):
            raise ConfigError(f"--workers {self.workers} needs a shared store (sqlite:, "
                              "redis:): the memory store is one process's")
        if self.dns_server:
            from ..dns.args import parse_dns_server

            try:
                parse_dns_server(self.dns_server)
            except ValueError as exc:
                raise ConfigError(f"--dns-server: {exc}") from None
        if not 0 < self.min_expires <= self.max_expires:
            raise ConfigError("need 0 < min_expires <= max_expires")
        if not 0 < self.t1 <= self.t2:
            raise ConfigError("need 0 < t1 <= t2")
        if not self.algorithms or any(a.upper() not in _DIGEST_ALGORITHMS
                                      for a in self.algorithms):
            raise ConfigError(f"algorithms must be among {', '.join(_DIGEST_ALGORITHMS)}")
        if self.timer_c <= 180:
            raise ConfigError("timer_c must be larger than 3 minutes (RFC 3261 §16.6 step 11)")
        if self.max_failures < 1 or self.ban_users < 0:
            raise ConfigError("max_failures must be at least 1 and ban_users 0 (no bans) or more")
        if not 0 <= self.lockout <= self.max_lockout:
            raise ConfigError("need 0 <= lockout <= max_lockout")
        if self.nat_ping_interval < 0:
            raise ConfigError("nat_ping_interval must be 0 (no pings) or more")
        hep_host, _, hep_port = self.hep.rpartition(":")
        if self.hep and not (hep_host and hep_port.isdigit() and 0 < int(hep_port) < 65536):
            raise ConfigError(f"--hep {self.hep!r}: expected HOST:PORT, a port 1-65535")
        if not 0 <= self.hep_id < 2**32:
            raise ConfigError(f"--hep-id {self.hep_id}: must be 0-4294967295 (32 bits)")
        for name in ("max_contacts", "max_contacts_per_register", "max_contact_length"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (no limit) or more")
        if self.max_breadth < 1:
            raise ConfigError("max_breadth must be 1 or more (RFC 5393 §5.3.3)")
        for name in ("max_connections_per_source", "message_timeout",
                     "max_requests_per_source", "overload_max_lag", "overload_max_pending",
                     "overload_max_queue"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (no limit) or more")
        for alias in self.aliases:
            try:
                parse_alias(alias)
            except ValueError as exc:
                raise ConfigError(f"--alias {alias!r}: {exc}") from None
        if self.overload_max_queue > 1:
            raise ConfigError("overload_max_queue is a share of the queue, 0 to 1")
        if not 0 < self.overload_max_refused <= 1:
            raise ConfigError("overload_max_refused is a share of new requests, more than 0 "
                              "and at most 1")
        if self.overload_retry_after < 1:
            raise ConfigError("overload_retry_after must be 1 second or more (§20.33)")
        if self.tls_verify not in TLS_VERIFY:
            raise ConfigError(f"--tls-verify must be {' or '.join(TLS_VERIFY)}, "
                              f"not {self.tls_verify!r}")
        for ca in self.tls_ca:
            if not Path(ca).exists():
                raise ConfigError(f"--tls-ca {ca!r}: no such file or directory")
        self._check_values()
        return self

    def _check_values(self) -> None:
        """Values no server can work with: each named with its flag."""
        for spec in self.listen:
            host, _, port = spec.partition(":")[2].rpartition(":")
            if not port.isdigit() or int(port) > 65535:
                raise ConfigError(f"--listen {spec!r}: port must be 0-65535")
            if not _valid_host(host.strip("[]") if host.startswith("[") else host):
                raise ConfigError(f"--listen {spec!r}: {host!r} is not a host name or "
                                  "IP address (RFC 3261 §25.1 host)")
        for domain in self.domains:
            if not _valid_host(domain):
                raise ConfigError(f"--domain {domain!r}: not a host name or IP address "
                                  "(RFC 3261 §25.1 host)")
        if not MIN_MESSAGE_SIZE <= self.max_message_size <= MAX_MESSAGE_SIZE:
            raise ConfigError(
                f"--max-message-size {self.max_message_size}: must be {MIN_MESSAGE_SIZE}-"
                f"{MAX_MESSAGE_SIZE} bytes (RFC 3261 §18.1.1: a UDP message may take "
                "1300 bytes; smaller refuses ordinary requests)")
        if self.default_expires <= 0:  # then cut to max_expires like any request's
            raise ConfigError(f"--default-expires {self.default_expires}: must be more than 0")
        for name in ("max_connections", "idle_timeout", "t4", "nonce_lifetime",
                     "failure_window", "ban_window", "ban_time"):
            if getattr(self, name) <= 0:
                flag = name.replace("_", "-")
                raise ConfigError(f"--{flag} {getattr(self, name)}: must be more than 0")


#: bounds of ``max_message_size``: one full UDP datagram at most 64 KiB is the
#: default; the floor is RFC 3261 §18.1.1's 1300 bytes, rounded up
MIN_MESSAGE_SIZE = 1500
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?")


def _valid_host(host: str) -> bool:
    """``host`` of RFC 3261 §25.1: a hostname, an IPv4 address or an IPv6
    address (brackets optional here)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOSTNAME_RE.fullmatch(host) is not None
    return True


# TOML table -> the settings it holds
_TABLES = {
    "auth": {"mode": "auth", "realm": "realm", "nonce_lifetime": "nonce_lifetime",
             "max_failures": "max_failures", "failure_window": "failure_window",
             "lockout": "lockout", "max_lockout": "max_lockout", "ban_users": "ban_users",
             "ban_window": "ban_window", "ban_time": "ban_time", "secret": "secret",
             "algorithms": "algorithms"},
    "registrar": {"min_expires": "min_expires", "max_expires": "max_expires",
                  "default_expires": "default_expires", "max_contacts": "max_contacts",
                  "max_contacts_per_register": "max_contacts_per_register",
                  "max_contact_length": "max_contact_length"},
    "proxy": {"record_route": "record_route", "relay": "relay", "forking": "forking",
              "timer_c": "timer_c", "max_breadth": "max_breadth"},
    "timers": {"t1": "t1", "t2": "t2", "t4": "t4"},
    "limits": {"max_message_size": "max_message_size", "max_connections": "max_connections",
               "max_connections_per_source": "max_connections_per_source",
               "idle_timeout": "idle_timeout", "message_timeout": "message_timeout",
               "max_requests_per_source": "max_requests_per_source",
               "overload_max_lag": "overload_max_lag",
               "overload_max_queue": "overload_max_queue",
               "overload_max_pending": "overload_max_pending",
               "overload_max_refused": "overload_max_refused",
               "overload_retry_after": "overload_retry_after"},
    "tls": {"cert": "tls_cert", "key": "tls_key", "ca": "tls_ca", "verify": "tls_verify"},
}
_TOP = {"listen", "domains", "aliases", "store", "store_check", "users", "log_level", "trace",
        "uvloop",
        "pcap", "hep", "hep_id",
        "nat", "nat_ping_interval", "log_format", "log_file", "http", "control",
        "drain_timeout", "dns_server", "workers", "worker_ports"}


def toml_key(name: str) -> str | None:
    """The TOML key of the setting ``name`` (``"auth.max_failures"``,
    ``"listen"``), or None for one that only a flag sets (``config``)."""
    if name in _TOP:
        return name
    for table, keys in _TABLES.items():
        for key, setting in keys.items():
            if setting == name:
                return f"{table}.{key}"
    return None


def _from_toml(data: dict[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a table")
            for sub, sub_value in value.items():
                name = _TABLES[key].get(sub)
                if name is None:
                    raise ConfigError(f"{source}: unknown setting {key}.{sub}")
                values[name] = sub_value
        elif key in _TOP:
            values[key] = value
        else:
            raise ConfigError(f"{source}: unknown setting {key!r}")
    return values


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(ServerConfig)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = str(types[name])
        try:
            if kind.startswith("tuple"):
                if isinstance(value, str):
                    value = [value]
                out[name] = tuple(str(v) for v in value)
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise TypeError
                out[name] = value
            elif kind == "int":
                out[name] = int(value)
            elif kind == "float":
                out[name] = float(value)
            else:
                out[name] = None if value is None else str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name!r}: bad value {value!r}") from None
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``sipwire serve``; each defaults to None (= file or default)."""
    a = parser.add_argument
    a("--config", metavar="FILE", help="TOML configuration file")
    a("--listen", action="append", metavar="TRANSPORT:HOST:PORT",
      help="listen here (repeatable; default udp and tcp on 127.0.0.1:5060)")
    a("--domain", dest="domains", action="append", metavar="DOMAIN",
      help="a domain served by the registrar (repeatable; default localhost, 127.0.0.1)")
    a("--alias", dest="aliases", action="append", metavar="HOST[:PORT]",
      help="another name or address that reaches this server, e.g. its public name "
           "(repeatable): a Route or Request-URI naming it is this server")
    a("--store", metavar="URL", help="location store: memory:, sqlite:///PATH (default "
                                     "sqlite:///sipwire.db), redis://HOST:PORT/DB")
    a("--store-check", action=argparse.BooleanOptionalAction, default=None,
      help="ask the store for a round trip at start, and do not start when it does not "
           "answer (default on); --no-store-check starts anyway, and /health answers 503 "
           "until the store does")
    a("--users", metavar="FILE",
      help="SQLite file of digest users, as written by `sipwire user add`; it must exist "
           "(default $SIPWIRE_USERS, else $XDG_DATA_HOME/sipwire/users.db, i.e. "
           "~/.local/share/sipwire/users.db)")
    a("--log-level", choices=LOG_LEVELS, help="log level (default info)")
    a("--log-format", choices=LOG_FORMATS,
      help="text: key=value lines (default); json: one JSON object per line")
    a("--log-file", metavar="PATH",
      help="write the log to PATH (appended; reopened on SIGHUP) instead of standard "
           "error; syslog: sends it to the local syslog (/dev/log), syslog:SOCKET to "
           "that Unix socket")
    a("--http", metavar="HOST:PORT",
      help="serve GET /metrics (Prometheus text format) and GET /health here "
           "(default: none)")
    a("--control", metavar="PATH",
      help="the control socket of `sipwire registrations|stats|reload` (default "
           "$XDG_RUNTIME_DIR/sipwire/control.sock, else ./sipwire-control.sock; "
           "\"\": none)")
    a("--dns-server", metavar="HOST:PORT",
      help="nameserver of the RFC 3263 NAPTR/SRV/A/AAAA lookups of the names requests are "
           "forwarded to, an IP address and port (default: the system's, /etc/resolv.conf)")
    a("--drain-timeout", type=float, metavar="S",
      help="on SIGTERM, seconds in-flight transactions get to end while new ones are "
           "answered 503 (default 2)")
    a("--trace", action=argparse.BooleanOptionalAction, default=None,
      help="print every SIP message sent and received to standard error, its bytes "
           "exactly as on the wire")
    a("--pcap", metavar="FILE", help="write every SIP message sent and received to a pcap "
                                     "file (tshark, Wireshark, sngrep, `sipwire ladder`)")
    a("--hep", metavar="HOST:PORT", help="send every SIP message to a HEPv3 collector "
                                         "(Homer) over UDP")
    a("--hep-id", dest="hep_id", type=int, metavar="N",
      help="the capture agent id sent with --hep (default 0)")
    a("--workers", type=int, metavar="N",
      help="serve with N worker processes sharing the listening ports (SO_REUSEPORT) "
           "and the store, restarted when they die (default $SIPWIRE_WORKERS, else one "
           "per core; 1 with --store memory:, which cannot be shared; docs/workers.md)")
    a("--worker-ports", dest="worker_ports", action=argparse.BooleanOptionalAction,
      default=None,
      help="with --workers: each worker forwards UDP requests from a port of its own, "
           "named in the Via, so that their responses come back to it (default on); "
           "--no-worker-ports sends every request from the shared listening port, and "
           "responses that reach another worker are passed on to the right one")
    a("--uvloop", action=argparse.BooleanOptionalAction, default=None,
      help="use uvloop when installed (default on)")
    a("--nat", action=argparse.BooleanOptionalAction, default=None,
      help="for UAs behind NAT: a request for a registered contact that is not where "
           "its REGISTER came from (another address, or over UDP another port) goes to "
           "that source address and port instead (default off)")
    a("--nat-ping-interval", type=float, metavar="S",
      help="with --nat: send an OPTIONS every S seconds to each UDP contact behind a NAT, "
           "keeping its NAT mapping open; one that leaves 3 unanswered is removed "
           "(default 30; 0 sends none)")
    a("--auth", choices=("on", "off", "auto"),
      help="digest authentication (default on: with no user, every request that would be "
           "challenged is refused 403; off: nobody is authenticated; auto: deprecated, "
           "the same as on)")
    a("--realm", help="one digest realm for every user (default: the domain of the user "
                      "challenged, the To host of a REGISTER and the From host of a call)")
    a("--digest-algorithm", dest="algorithms", action="append", metavar="NAME",
      help="digest algorithm to offer, preferred first (repeatable; default MD5 only; "
           "e.g. SHA-256 then MD5, RFC 8760)")
    a("--nonce-lifetime", type=float, metavar="S",
      help="seconds a digest nonce is accepted; an older one is answered with a new "
           "challenge marked stale=true (default 300, RFC 7616 §3.3)")
    a("--max-failures", type=int, metavar="N",
      help="failed authentications of one user from one address within --failure-window "
           "that lock that user out from that address (default 10)")
    a("--failure-window", type=float, metavar="S",
      help="the window of --max-failures (default 60)")
    a("--lockout", type=float, metavar="S",
      help="the first lockout; each repeated one doubles, up to --max-lockout (default 300)")
    a("--max-lockout", type=float, metavar="S",
      help="the longest lockout that doubling --lockout reaches (default 3600)")
    a("--ban-users", type=int, metavar="N",
      help="ban an address that fails to authenticate as N different users within "
           "--ban-window: its requests are dropped for --ban-time (default 5; 0: no bans)")
    a("--ban-window", type=float, metavar="S",
      help="the window of --ban-users (default 600)")
    a("--ban-time", type=float, metavar="S",
      help="seconds a banned address stays banned (default 3600)")
    a("--min-expires", type=int, metavar="S",
      help="the shortest registration accepted; a shorter one is answered 423 Interval "
           "Too Brief with Min-Expires (default 60, RFC 3261 §10.3 step 7)")
    a("--max-expires", type=int, metavar="S",
      help="the longest registration granted; a longer one is cut to it (default 3600)")
    a("--default-expires", type=int, metavar="S",
      help="the registration granted to a Contact without expires, in a REGISTER "
           "without Expires (default 3600)")
    a("--max-contacts", type=int, metavar="N",
      help="bindings one address-of-record may hold; a REGISTER that would add more is "
           "answered 403 Too Many Registered Contacts and stores nothing (default 10; "
           "0: no limit)")
    a("--max-contacts-per-register", type=int, metavar="N",
      help="Contacts one REGISTER may carry, counted before any is parsed; more is "
           "answered 403 (default 10; 0: no limit)")
    a("--max-contact-length", type=int, metavar="CHARS",
      help="characters of one Contact value; a longer one is answered 400 "
           "(default 1024; 0: no limit)")
    a("--record-route", action=argparse.BooleanOptionalAction, default=None,
      help="add Record-Route (default on)")
    a("--relay", action=argparse.BooleanOptionalAction, default=None,
      help="forward anyone's requests for domains not served (default off: only an "
           "authenticated user of ours may; others get 403)")
    a("--forking", choices=("parallel", "sequential"),
      help="a request for an AOR with several bindings goes to all at once, or to one "
           "after another by q value (default parallel, RFC 3261 §16.6)")
    a("--timer-c", type=float, metavar="S",
      help="seconds a forwarded INVITE may stay unanswered by a final response before "
           "it is cancelled; over 180 (default 185, RFC 3261 §16.6 step 11)")
    a("--max-breadth", type=int, metavar="N",
      help="the Max-Breadth added to requests without one and the most accepted: a "
           "request is forked to at most N targets at once, else answered 440 "
           "(default 60, RFC 5393)")
    a("--t1", type=float, metavar="S",
      help="the round-trip estimate T1 that retransmissions start from (default 0.5, "
           "RFC 3261 §17.1.1.1)")
    a("--t2", type=float, metavar="S",
      help="the longest retransmission interval T2 of non-INVITE requests and INVITE "
           "responses (default 4)")
    a("--t4", type=float, metavar="S",
      help="T4, how long a message may stay in the network (default 5)")
    a("--max-message-size", type=int, metavar="BYTES",
      help="the largest message accepted; a larger one is answered 513 or dropped "
           "(default 65535, at least 1500)")
    a("--max-connections", type=int, metavar="N",
      help="TCP, TLS and WebSocket connections open at once (default 1024)")
    a("--max-connections-per-source", type=int, metavar="N",
      help="connections one IPv4 address or IPv6 /64 may open (default 64; 0: no cap); "
           "when --max-connections are open, a source holding fewer closes the least "
           "recently active connection of the one holding the most")
    a("--idle-timeout", type=float, metavar="S",
      help="seconds a connection may carry nothing before it is closed (default 120)")
    a("--message-timeout", type=float, metavar="S",
      help="seconds to receive a whole message on a connection once its first byte came; "
           "past it the connection is closed (default 10; 0: no limit)")
    a("--max-requests-per-source", type=int, metavar="N",
      help="UDP requests per second one source may send; the rest of the second's are "
           "dropped unread, as Kamailio's pike does (default 200; 0: no limit)")
    a("--overload-max-lag", type=float, metavar="S",
      help="overload control: while the event loop runs this many seconds late, a growing "
           "share of new requests outside a dialog is answered 503 with "
           "Retry-After before any work; "
           "retransmissions, ACK, CANCEL and in-dialog requests still pass (default 0.5; "
           "0: lag not watched)")
    a("--overload-max-queue", type=float, metavar="SHARE",
      help="overload control: while a UDP socket's receive queue (datagrams the kernel "
           "holds unread) is fuller than this share (0-1), a growing share of new requests "
           "outside a dialog is answered 503 with Retry-After (default 0: not watched, since "
           "the kernel drops what overflows for free, and a 503 costs CPU; 0.5 answers some)")
    a("--overload-max-pending", type=int, metavar="N",
      help="overload control: with N requests waiting for the location store or a "
           "connection, new requests outside a dialog are answered 503 with Retry-After "
           "(default 1000; 0: not watched)")
    a("--overload-max-refused", type=float, metavar="SHARE",
      help="overload control: the largest share (0-1) of new requests refused while the "
           "loop lags or a receive queue is full (default 0.2)")
    a("--overload-retry-after", type=int, metavar="S",
      help="the Retry-After, in seconds, of the 503 sent while overloaded (default 2)")
    a("--tls-cert", metavar="PEM", help="certificate chain of tls: and wss: listening points")
    a("--tls-key", metavar="PEM", help="private key of --tls-cert")
    a("--tls-ca", action="append", metavar="PEM",
      help="CA certificates (a PEM bundle, or a directory of .pem/.crt files) trusted for "
           "the TLS and WSS connections the proxy opens, besides the system store "
           "(repeatable)")
    a("--tls-verify", choices=TLS_VERIFY,
      help="peer (default): verify the certificate chain and the name of the servers "
           "connected to (RFC 5922 §7.3); a branch that fails counts as a 503 whose "
           "Warning says why; none: no verification at all (a warning is logged at start)")


def load_config(args: argparse.Namespace | None = None, path: str | None = None) -> ServerConfig:
    """Defaults, then the TOML file, then the flags that were given."""
    values: dict[str, Any] = {}
    path = path or (getattr(args, "config", None) if args is not None else None)
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a TOML file (not UTF-8 text at byte "
                              f"{exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        values.update(_from_toml(data, path))
    if args is not None:
        for f in fields(ServerConfig):
            flag = getattr(args, f.name, None)
            if flag is not None:
                values[f.name] = flag
    return replace(ServerConfig(), **_coerce(values)).check()
