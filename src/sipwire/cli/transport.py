"""``sipwire options``, ``sipwire send`` and ``sipwire listen``: SIP on the wire.

``options`` probes a SIP element with OPTIONS (RFC 3261 §11) the way ping
probes a host: one line per response with its round-trip time, a summary at
the end (also on Ctrl-C), exit status 0 only when every probe got a 2xx.
``send`` sends a message file in a client transaction (§17.1) and prints
what comes back.  ``listen`` answers OPTIONS and prints every request it
receives.  Results go to standard output, errors to standard error; status 2
is a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..message.errors import ParseError
from ..message.message import Request, Response, new_branch, new_call_id, new_tag
from ..message.parser import parse
from ..message.uri import URI
from .inspect import describe
from .source import read_message

if TYPE_CHECKING:  # the endpoint (and websockets) load only for these commands
    from ..dns.resolver import DnsResolver
    from ..transport.base import Flow, Target
    from ..transport.config import TransportConfig
    from ..ua.config import EndpointConfig
    from ..ua.endpoint import Endpoint
    from ..ua.server import ServerTransactionHandle

__all__ = ["add_parsers"]

TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
USAGE = 2


class UsageError(Exception):
    """A bad argument: reported on standard error, exit status 2."""


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "options", help="probe a SIP element with OPTIONS, like ping",
        description="Send OPTIONS requests (RFC 3261 §11) and print each response's status, "
                    "reason and round-trip time, then a summary (also on Ctrl-C). Exit "
                    "status 0 only if every probe got a 2xx response, 1 otherwise, 2 for "
                    "usage errors.")
    p.add_argument("uri", help="Request-URI, e.g. sip:user@host:5060")
    _transport_options(p)
    p.add_argument("-c", "--count", type=int, default=1, help="probes to send (default 1)")
    p.add_argument("-i", "--interval", type=float, default=1.0,
                   help="seconds between probes (default 1)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for each final response (default 5)")
    p.add_argument("--from", dest="from_", default="sip:sipwire@localhost", metavar="URI",
                   help="From URI (default sip:sipwire@localhost)")
    p.set_defaults(func=run_options)

    p = sub.add_parser(
        "send", help="send a SIP request from a file and print the responses",
        description="Send the request in FILE (- for standard input; LF line endings are "
                    "converted) in a client transaction and print every response. The "
                    "top Via gets our address, and the request a new branch, From tag and "
                    "Call-ID unless --keep-ids (the same file sent again would otherwise be "
                    "a merged request, 482). A 2xx to an INVITE is acknowledged. Exit "
                    "status 0 for a 2xx final response.")
    p.add_argument("file", help="message file, or - for standard input")
    p.add_argument("--to", metavar="URI",
                   help="where to send it (default: its top Route, else its Request-URI)")
    _transport_options(p)
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the final response (default: Timer B/F, 32 s)")
    p.add_argument("--json", action="store_true", help="print the responses as JSON")
    p.add_argument("--keep-ids", action="store_true",
                   help="keep the file's Via branch, From tag and Call-ID")
    p.set_defaults(func=run_send)

    p = sub.add_parser(
        "listen", help="answer OPTIONS and print every request received",
        description="Listen on the given points (udp:127.0.0.1:5060, tcp:[::1]:0 ...), "
                    "answer OPTIONS 200 (RFC 3261 §11.2) and other requests 405/501 (or "
                    "--status), and print one line per request received.")
    p.add_argument("points", nargs="+", metavar="POINT", help="transport:address:port")
    p.add_argument("--status", type=int, help="answer requests other than OPTIONS, ACK "
                                              "and CANCEL with this status")
    p.add_argument("--count", type=int, help="exit after this many requests")
    p.add_argument("--raw", action="store_true",
                   help="print every message received and sent, its bytes exactly as on "
                        "the wire, after a line with the time, direction and addresses")
    p.add_argument("--pcap", metavar="FILE",
                   help="write every message received and sent to a pcap file")
    p.add_argument("--json", action="store_true", help="print each request as a JSON line")
    p.add_argument("--cert", help="certificate chain (PEM) for tls: and wss: points")
    p.add_argument("--key", help="private key (PEM) of --cert")
    p.set_defaults(func=run_listen)


def _transport_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--transport", choices=TRANSPORTS,
                   help="transport (default: from the URI, else udp)")
    p.add_argument("-k", "--insecure", action="store_true",
                   help="do not verify TLS certificates")
    from ..dns.args import add_dns_argument

    add_dns_argument(p)


# -- options ----------------------------------------------------------------------------------


@dataclass
class ProbeStats:
    """What ``options`` counts: probes answered, and round-trip times (seconds)."""

    sent: int = 0
    ok: int = 0
    rtts: list[float] = field(default_factory=list)

    def summary(self, uri: str) -> Iterator[str]:
        failed = self.sent - self.ok
        loss = 100.0 * failed / self.sent if self.sent else 0.0
        yield f"--- {uri} options statistics ---"
        line = (f"{self.sent} probes sent, {self.ok} answered 2xx, {failed} failed "
                f"({loss:.0f}% failed)")
        if self.rtts:
            ms = [t * 1000 for t in self.rtts]
            mean = sum(ms) / len(ms)
            dev = math.sqrt(sum((t - mean) ** 2 for t in ms) / len(ms))
            line += (f", rtt min/avg/max/mdev = {min(ms):.3f}/{mean:.3f}/{max(ms):.3f}/"
                     f"{dev:.3f} ms")
        yield line

    @property
    def exit_status(self) -> int:
        return 0 if self.sent > 0 and self.ok == self.sent else 1


def run_options(args: argparse.Namespace) -> int:
    try:
        if args.count < 1:
            raise UsageError("--count must be at least 1")
        if args.interval < 0 or args.timeout <= 0:
            raise UsageError("--interval must be >= 0 and --timeout > 0")
        uri = _sip_uri(args.uri)
        target = _target(uri, args.transport)
        from_ = _sip_uri(args.from_, "--from")
        hop, resolver = _dns(args, uri, target)
    except UsageError as exc:
        print(f"sipwire options: {exc}", file=sys.stderr)
        return USAGE
    return _run(_options(args, uri, from_, target, hop, resolver))


async def _options(args: argparse.Namespace, uri: URI, from_: URI, target: Target,
                   hop: Target | URI, resolver: DnsResolver | None) -> int:
    from ..ua import Endpoint, EndpointConfig

    stats = ProbeStats()
    stop = _on_interrupt()
    config = EndpointConfig(transport=_client_transport_config(args.insecure))
    label = str(uri)
    try:
        async with Endpoint(_client_points(target, resolver), config=config,
                            resolver=resolver) as ep:
            print(f"OPTIONS {uri} via {target if resolver is None else resolver}",
                  flush=True)
            for seq in range(1, args.count + 1):
                if seq > 1 and await _stopped(stop, args.interval):
                    break
                # each probe is a request of its own, outside any dialog: a new
                # Call-ID (§8.1.1.4) and From tag (§8.1.1.3) each time
                request = Request.build(
                    "OPTIONS", uri.copy(), from_=from_.copy(), call_id=new_call_id(),
                    cseq=1, transport=target.transport.value,
                    headers=[("Accept", "application/sdp"),
                             ("User-Agent", f"sipwire/{__version__}")])
                line = await _probe(ep, request, hop, seq, args.timeout, stop, stats)
                if line is None:
                    break  # interrupted: this probe does not count
                print(line, flush=True)
    except OSError as exc:
        print(f"sipwire options: {exc}", file=sys.stderr)
        return 1
    for line in stats.summary(label):
        print(line)
    return stats.exit_status


async def _probe(ep: Endpoint, request: Request, target: Target | URI, seq: int,
                 timeout: float, stop: asyncio.Event, stats: ProbeStats) -> str | None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    handle = ep.send(request, target)
    final = asyncio.ensure_future(handle.final())
    interrupted = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({final, interrupted}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupted.cancel()
    if final not in done:
        final.cancel()
        if interrupted in done:
            return None
        stats.sent += 1
        return f"seq={seq}: timeout, no final response in {timeout:g} s"
    stats.sent += 1
    response = final.result()
    rtt = loop.time() - started
    if 200 <= response.status < 300:
        stats.ok += 1
        stats.rtts.append(rtt)
    if handle.synthetic:  # §8.1.3.1: made here, nothing came back
        why = "no response (Timer F)" if response.status == 408 else "transport error"
        return f"{response.status} {response.reason} ({why}) to {target}: seq={seq}"
    return (f"{response.status} {response.reason} from {_peer(handle.flow, target)}: "
            f"seq={seq} time={rtt * 1000:.3f} ms")


def _peer(flow: Flow | None, target: Target | URI) -> str:
    if flow is None:
        return str(target)
    return f"{flow.transport.lower()}:{flow.remote}"


# -- send ---------------------------------------------------------------------------------------


def run_send(args: argparse.Namespace) -> int:
    try:
        data = read_message(args.file)
        try:
            message = parse(data)
        except ParseError as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        if not isinstance(message, Request):
            raise UsageError(f"{args.file}: a response cannot be sent on its own; "
                             "send a request")
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError("--timeout must be > 0")
        if not args.keep_ids:
            _renew_ids(message)
        from ..transport.base import Target, Transport
        from ..ua.target import request_target

        if args.to is not None:
            target = _target(_sip_uri(args.to, "--to"), args.transport)
        else:
            try:
                target = request_target(message)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if args.transport:
                target = Target(Transport.parse(args.transport), target.host, target.port)
        routes = message.route
        next_uri = _sip_uri(args.to, "--to") if args.to is not None else \
            routes[0].uri if routes else message.uri
        hop, resolver = _dns(args, next_uri, target)
    except UsageError as exc:
        print(f"sipwire send: {exc}", file=sys.stderr)
        return USAGE
    return _run(_send(args, message, target, hop, resolver))


async def _send(args: argparse.Namespace, request: Request, target: Target,
                hop: Target | URI, resolver: DnsResolver | None) -> int:
    from ..transport.base import TransportError
    from ..ua import Endpoint, EndpointConfig

    config = EndpointConfig(transport=_client_transport_config(args.insecure))
    responses: list[Response] = []
    status = 1
    try:
        async with Endpoint(_client_points(target, resolver), config=config,
                            resolver=resolver) as ep:
            if request.method == "ACK":
                await ep.send_direct(request, hop)
                print(f"ACK sent to {hop}", file=sys.stderr)
                return 0
            handle = ep.send(request, hop)
            try:
                async with asyncio.timeout(args.timeout):
                    async for response in handle:
                        responses.append(response)
                        if not args.json:
                            _print_raw(response)
            except TimeoutError:
                print(f"sipwire send: no final response in {args.timeout:g} s",
                      file=sys.stderr)
            final = handle.final_response
            if final is not None:
                status = 0 if 200 <= final.status < 300 else 1
                if request.method == "INVITE" and 200 <= final.status < 300:
                    await ep.ack(handle.request, final)
                    print("sipwire send: 2xx acknowledged (RFC 3261 §13.2.2.4)",
                          file=sys.stderr)
    except (OSError, TransportError) as exc:
        print(f"sipwire send: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([describe(r) for r in responses], indent=2, ensure_ascii=False))
    return status


def _renew_ids(request: Request) -> None:
    """A new branch (§8.1.1.7), From tag (§8.1.1.3) and Call-ID (§8.1.1.4): otherwise
    the same request again is a retransmission (§17.2.3) or a merged request (§8.2.2.2)."""
    request.top_via.branch = new_branch()
    sender = request.from_
    sender.tag = new_tag()
    request.headers.set("From", str(sender))
    request.headers.set("Call-ID", new_call_id())


def _print_raw(response: Response) -> None:
    sys.stdout.write(bytes(response).decode("utf-8", "replace").replace("\r\n", "\n"))
    sys.stdout.write("\n" if response.body else "")
    sys.stdout.flush()


# -- listen ---------------------------------------------------------------------------------------


def run_listen(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print("sipwire listen: --count must be at least 1", file=sys.stderr)
        return USAGE
    if args.status is not None and not 200 <= args.status <= 699:
        print("sipwire listen: --status must be a final status, 200-699", file=sys.stderr)
        return USAGE
    from ..trace import open_capture
    from ..transport.config import TransportConfig
    from ..ua import EndpointConfig

    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as exc:
            print(f"sipwire listen: {exc}", file=sys.stderr)
            return 1
    try:
        capture = open_capture(text=sys.stdout.buffer if args.raw and not args.json else None,
                               pcap=args.pcap)
    except OSError as exc:
        print(f"sipwire listen: {exc}", file=sys.stderr)
        return 1
    transport = TransportConfig(tls_server_context=context, capture=capture)
    try:
        return _run(_listen(args, EndpointConfig(transport=transport)))
    finally:
        if capture is not None:
            capture.close()


async def _listen(args: argparse.Namespace, config: EndpointConfig) -> int:
    from ..ua import Endpoint

    stop = _on_interrupt()
    received = 0
    ep = Endpoint(config=config)

    def show(message: Request | Response, flow: Flow) -> bool:
        nonlocal received
        if not isinstance(message, Request):
            return True
        received += 1
        if args.json:
            info = {"transport": str(flow.transport), "source": str(flow.remote),
                    **describe(message)}
            print(json.dumps(info, ensure_ascii=False), flush=True)
        elif args.raw:
            pass  # the capture prints every message, as it crossed the wire
        else:
            print(f"{flow.transport.lower()} {flow.remote} {message.method} {message.uri} "
                  f"cseq={message.cseq} call-id={message.call_id}", flush=True)
        if args.count is not None and received >= args.count:
            asyncio.get_running_loop().call_soon(stop.set)
        return True

    ep.receive_filter = show
    if args.status is not None:
        status = args.status

        async def answer(request: Request, tx: ServerTransactionHandle) -> Response:
            if request.method == "OPTIONS":
                return ep.options_response(tx)
            return tx.reply(status)

        ep.on_request(answer)
    try:
        async with ep:
            for spec in args.points:
                point = await ep.listen(spec)
                print(f"listening on {point}", flush=True)
            await stop.wait()
            await asyncio.sleep(0.05)  # let the last answer leave
    except (OSError, ValueError) as exc:
        print(f"sipwire listen: {exc}", file=sys.stderr)
        return 1
    return 0


# -- shared ---------------------------------------------------------------------------------------


def _run(coro: Any) -> int:
    try:
        result: int = asyncio.run(coro)
    except KeyboardInterrupt:
        return 130
    return result


def _on_interrupt() -> asyncio.Event:
    """An event set by Ctrl-C (and SIGTERM), so the command can end cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds; True if interrupted meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True


def _sip_uri(text: str, what: str = "URI") -> URI:
    try:
        uri = URI.parse(text)
    except ParseError as exc:
        raise UsageError(f"{what}: {exc}") from None
    if not uri.is_sip:
        raise UsageError(f"{what}: {text!r} is not a sip: or sips: URI")
    return uri


def _target(uri: URI, transport: str | None) -> Target:
    from ..transport.base import Target, Transport
    from ..ua.target import uri_target

    try:
        target = uri_target(uri)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if transport is not None:
        target = Target(Transport.parse(transport), target.host, target.port)
    return target


def _dns(args: argparse.Namespace, uri: URI, target: Target
         ) -> tuple[Target | URI, DnsResolver | None]:
    """Where to send: ``target`` for an IP address; for a name, the URI to
    resolve by RFC 3263 (with ``--transport`` as its transport parameter)
    and the resolver of ``--dns-server``."""
    from ..dns.args import parse_dns_server, resolver_from_args
    from ..dns.procedure import needs_dns

    if args.dns_server:
        try:
            parse_dns_server(args.dns_server)
        except ValueError as exc:
            raise UsageError(f"--dns-server: {exc}") from None
    if not uri.is_sip or not needs_dns(uri):
        return target, None
    if args.transport:
        uri = uri.copy(params={**uri.params, "transport": args.transport})
    return uri, resolver_from_args(args)


def _client_points(target: Target, resolver: DnsResolver | None = None) -> list[str]:
    """UDP needs a socket to send from and to hear answers on; connections do
    not.  RFC 3263 may choose UDP for a name: a socket, in case."""
    if resolver is not None:
        return ["udp:0.0.0.0:0"]
    if target.transport.reliable:
        return []
    return ["udp:[::]:0" if ":" in target.host else "udp:0.0.0.0:0"]


def _client_transport_config(insecure: bool) -> TransportConfig:
    from ..transport.config import TransportConfig

    if not insecure:
        return TransportConfig()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return TransportConfig(tls_client_context=context)
