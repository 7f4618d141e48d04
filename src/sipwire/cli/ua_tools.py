"""``sipwire register``, ``sipwire message`` and ``sipwire subscribe``: a user agent's chores.

``register`` binds a contact of ours to an address-of-record (RFC 3261 §10.2)
and prints what the registrar granted; with ``--keep`` it stays registered,
refreshing, until SIGINT or SIGTERM, then unregisters.  ``message`` sends
one instant message (RFC 3428).  ``subscribe`` subscribes to an event
package (RFC 6665) and prints each NOTIFY.  Digest challenges are answered
with ``--user`` and the password read from standard input
(``--password-stdin``).  Results go to standard output; a short ladder of
the messages (time, direction, peer, first line) to standard error.  Exit
status 0 on success, 1 with one line naming the failure, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from typing import TYPE_CHECKING, Any

from ..message.uri import URI
from .transport import (
    TRANSPORTS,
    USAGE,
    UsageError,
    _client_transport_config,
    _on_interrupt,
    _run,
    _sip_uri,
)

if TYPE_CHECKING:  # the endpoint loads only when a command runs
    from ..auth.client import DigestClient
    from ..transport.base import Flow, Target
    from ..ua.endpoint import Endpoint
    from ..ua.registration import RegistrationEvent

__all__ = ["Ladder", "add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "register", help="register an address-of-record with its registrar",
        description="Send REGISTER (RFC 3261 §10.2) binding a contact of this host to AOR "
                    "and print the contacts and expiry the registrar granted. With --keep, "
                    "stay registered (refreshing before expiry) until SIGINT or SIGTERM, "
                    "then unregister. Exit status 0 when registered, 1 (with one line "
                    "naming the status) otherwise, 2 for usage errors.")
    p.add_argument("aor", metavar="AOR", help="address-of-record, e.g. sip:alice@example.com")
    _account_options(p)
    p.add_argument("--expires", type=int, default=3600, metavar="S",
                   help="registration interval to ask for (default 3600)")
    p.add_argument("--keep", action="store_true",
                   help="stay registered until interrupted, then unregister")
    p.add_argument("--outbound", action="store_true",
                   help="register with RFC 5626 outbound (+sip.instance, reg-id) and keep "
                        "the flow alive (CRLF pings, STUN on UDP)")
    p.set_defaults(func=run_register)

    p = sub.add_parser(
        "message", help="send an instant message (MESSAGE)",
        description="Send TEXT to TARGET in a MESSAGE request (RFC 3428) and print the final "
                    "response. Exit status 0 for a 2xx (200: delivered, 202: accepted for "
                    "delivery), 1 otherwise, 2 for usage errors.")
    p.add_argument("target", metavar="TARGET", help="recipient, e.g. sip:bob@example.com")
    p.add_argument("text", metavar="TEXT", help="the message")
    _account_options(p)
    p.add_argument("--from", dest="from_", metavar="URI",
                   help="From URI (default sip:USER@HOST of TARGET, USER from --user)")
    p.add_argument("--content-type", default="text/plain;charset=UTF-8",
                   help="body type (default text/plain;charset=UTF-8)")
    p.set_defaults(func=run_message)

    p = sub.add_parser(
        "subscribe", help="subscribe to an event package and print each NOTIFY",
        description="Send SUBSCRIBE (RFC 6665) for --event to TARGET and print each NOTIFY's "
                    "Subscription-State and body, until the subscription is terminated, "
                    "--count NOTIFYs have arrived, or SIGINT (which unsubscribes). Exit "
                    "status 0 when the subscription was accepted, 1 otherwise, 2 for usage "
                    "errors.")
    p.add_argument("target", metavar="TARGET", help="resource, e.g. sip:alice@example.com")
    p.add_argument("--event", required=True, metavar="NAME",
                   help="event package, e.g. message-summary, presence")
    _account_options(p)
    p.add_argument("--from", dest="from_", metavar="URI",
                   help="From URI (default sip:USER@HOST of TARGET)")
    p.add_argument("--expires", type=int, default=600, metavar="S",
                   help="subscription duration to ask for (default 600)")
    p.add_argument("--count", type=int, metavar="N", help="end after N NOTIFYs")
    p.add_argument("--accept", action="append", metavar="TYPE",
                   help="a body type to accept (repeatable; default: the package's)")
    p.set_defaults(func=run_subscribe)


def _account_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proxy", metavar="URI",
                   help="outbound proxy: where requests go, in a Route (default: the "
                        "target's host)")
    p.add_argument("--user", metavar="NAME",
                   help="user name for digest authentication (default: the AOR's user)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the digest password from standard input")
    p.add_argument("-t", "--transport", choices=TRANSPORTS,
                   help="transport (default: from the URI, else udp)")
    p.add_argument("-k", "--insecure", action="store_true",
                   help="do not verify TLS certificates")
    p.add_argument("--timeout", type=float, default=40.0,
                   help="seconds to wait for an answer (default 40)")
    from ..dns.args import add_dns_argument

    add_dns_argument(p)


# -- the ladder ---------------------------------------------------------------------------------


class Ladder:
    """A transport capture printing one line per SIP message on standard error:
    seconds since the start, direction, peer, first line.  Keep-alives (CRLF,
    STUN) are left out."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start: float | None = None

    def received(self, flow: Flow, data: bytes) -> None:
        self._line("<-", flow, data)

    def sent(self, flow: Flow, data: bytes) -> None:
        self._line("->", flow, data)

    def _line(self, arrow: str, flow: Flow, data: bytes) -> None:
        if not data or data[0] < 0x20 or data.startswith(b"\r\n"):
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.start is None:
            self.start = now
        first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        peer = f"{flow.transport.lower()}:{flow.remote}"
        print(f"{now - self.start:8.3f} {arrow} {peer} {first}", file=self.stream, flush=True)


# -- shared -------------------------------------------------------------------------------------


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: no password on standard input")
    return password


def _credentials(user: str | None, password: str | None) -> DigestClient | None:
    if password is None:
        return None
    if not user:
        raise UsageError("--password-stdin needs a user name: --user NAME")
    from ..auth.client import DigestClient

    return DigestClient(user, password)


def _next_hop(uri: URI, proxy: URI | None, transport: str | None) -> Target:
    from ..transport.base import Target, Transport
    from ..ua.target import uri_target

    try:
        target = uri_target(proxy if proxy is not None else uri)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if transport is not None:
        target = Target(Transport.parse(transport), target.host, target.port)
    return target


def _local_host(target: Target) -> str:
    """The address this host sends to ``target`` from (a connected UDP socket
    sends nothing; it asks the routing table), for our Contact and Via."""
    family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(target.host, target.port or 5060, family,
                                   socket.SOCK_DGRAM)
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(infos[0][4])
            host: str = probe.getsockname()[0]
            return host
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"


async def _endpoint(args: argparse.Namespace, target: Target) -> Endpoint:
    """An endpoint listening on UDP, and on the target's transport when it is
    TCP, on the address that reaches ``target``, with the ladder."""
    from dataclasses import replace

    from ..dns.args import resolver_from_args
    from ..transport.base import Transport
    from ..ua import Endpoint, EndpointConfig

    host = _local_host(target)
    bracketed = f"[{host}]" if ":" in host else host
    points = [f"udp:{bracketed}:0"]
    if target.transport is Transport.TCP:
        points.append(f"tcp:{bracketed}:0")
    transport = replace(_client_transport_config(args.insecure), capture=Ladder())
    ep = Endpoint(points, config=EndpointConfig(transport=transport),
                  resolver=resolver_from_args(args))
    try:
        await ep.start()
    except BaseException:
        await ep.close()
        raise
    return ep


def _contact(ep: Endpoint, target: Target, user: str | None) -> URI:
    """Our Contact: a listening point of the target's transport, else (TLS,
    WebSocket) our address with the transport named: the registrar reaches
    us over the connection we opened."""
    try:
        return ep.contact(target.transport, user=user)
    except ValueError:
        point = ep.listening_points[0]
        scheme = "sips" if target.transport.secure else "sip"
        return URI(scheme, user, point.address.uri_host, None,
                   {"transport": target.transport.value.lower()})


# -- register -----------------------------------------------------------------------------------


def run_register(args: argparse.Namespace) -> int:
    try:
        if args.expires < 1:
            raise UsageError("--expires must be at least 1 (use --keep to unregister on exit)")
        aor = _sip_uri(args.aor, "AOR")
        if not aor.user:
            raise UsageError(f"AOR: {args.aor!r} has no user part")
        proxy = _sip_uri(args.proxy, "--proxy") if args.proxy else None
        target = _next_hop(URI(aor.scheme, None, aor.host, aor.port, dict(aor.params)),
                           proxy, args.transport)
        credentials = _credentials(args.user or aor.user, _password(args))
    except UsageError as exc:
        print(f"sipwire register: {exc}", file=sys.stderr)
        return USAGE
    return _run(_register(args, aor, proxy, target, credentials))


async def _register(args: argparse.Namespace, aor: URI, proxy: URI | None, target: Target,
                    credentials: DigestClient | None) -> int:
    from ..transport.base import TransportError
    from ..ua.registration import (
        Outbound,
        Registered,
        Registration,
        RegistrationFailed,
        RegistrationPolicy,
        Unregistered,
    )

    stop = _on_interrupt()

    def report(event: RegistrationEvent) -> None:
        if isinstance(event, Registered) and started:
            print(f"refreshed {aor} expires={event.expires}", flush=True)
        elif isinstance(event, RegistrationFailed) and started:
            retry = "" if event.retry_at is None else ", retrying"
            print(f"sipwire register: {event}{retry}", file=sys.stderr, flush=True)

    started = False
    try:
        ep = await _endpoint(args, target)
    except OSError as exc:
        print(f"sipwire register: {exc}", file=sys.stderr)
        return 1
    try:
        registration = Registration(
            ep, aor, proxy=proxy, transport=target.transport,
            contact=_contact(ep, target, aor.user),
            policy=RegistrationPolicy(expires=args.expires),
            outbound=Outbound.new() if args.outbound else None,
            credentials=credentials, on_event=report)
        try:
            first = await asyncio.wait_for(registration.start(), args.timeout)
        except TimeoutError:
            print(f"sipwire register: no answer in {args.timeout:g} s", file=sys.stderr)
            return 1
        if not isinstance(first, Registered):
            print(f"sipwire register: {first}", file=sys.stderr)
            return 1
        started = True
        print(f"registered {aor} expires={first.expires}", flush=True)
        for contact in first.contacts:
            print(f"contact {contact}", flush=True)
        if not args.keep:
            return 0
        await stop.wait()
        response = await asyncio.wait_for(registration.close(), args.timeout)
        last = registration.events[-1] if registration.events else None
        if response is None or not isinstance(last, Unregistered) or response.status >= 300:
            what = "no registration left" if response is None else \
                f"{response.status} {response.reason}"
            print(f"sipwire register: unregistering: {what}", file=sys.stderr)
            return 1
        print(f"unregistered {aor}", flush=True)
        return 0
    except (TransportError, TimeoutError) as exc:
        print(f"sipwire register: {exc or 'no answer'}", file=sys.stderr)
        return 1
    finally:
        await ep.close()


# -- message ------------------------------------------------------------------------------------


def _from_uri(args: argparse.Namespace, target: URI, user: str | None) -> URI:
    if args.from_:
        return _sip_uri(args.from_, "--from")
    return URI(target.scheme, user or "sipwire", target.host)


def _request_parties(args: argparse.Namespace) -> tuple[
        URI, URI | None, Target, URI, DigestClient | None]:
    """TARGET, --proxy, the next hop, --from and the credentials of a request
    out of a dialog (message, subscribe); ``UsageError`` names a bad flag."""
    uri = _sip_uri(args.target, "TARGET")
    proxy = _sip_uri(args.proxy, "--proxy") if args.proxy else None
    target = _next_hop(uri, proxy, args.transport)
    from_ = _from_uri(args, uri, args.user)
    return uri, proxy, target, from_, _credentials(args.user or from_.user, _password(args))


def run_message(args: argparse.Namespace) -> int:
    try:
        uri, proxy, target, from_, credentials = _request_parties(args)
    except UsageError as exc:
        print(f"sipwire message: {exc}", file=sys.stderr)
        return USAGE
    return _run(_message(args, uri, proxy, target, from_, credentials))


async def _message(args: argparse.Namespace, uri: URI, proxy: URI | None, target: Target,
                   from_: URI, credentials: DigestClient | None) -> int:
    from ..transport.base import TransportError
    from ..ua.messaging import MessageSender

    try:
        ep = await _endpoint(args, target)
    except OSError as exc:
        print(f"sipwire message: {exc}", file=sys.stderr)
        return 1
    try:
        sender = MessageSender(ep, from_, proxy=proxy, credentials=credentials)
        try:
            response = await asyncio.wait_for(
                sender.send(uri, args.text, content_type=args.content_type), args.timeout)
        except ValueError as exc:
            print(f"sipwire message: {exc}", file=sys.stderr)
            return USAGE
        line = f"{response.status} {response.reason}"
        if 200 <= response.status < 300:
            print(line, flush=True)
            return 0
        print(f"sipwire message: {line}", file=sys.stderr)
        return 1
    except (TransportError, TimeoutError) as exc:
        print(f"sipwire message: {exc or 'no answer'}", file=sys.stderr)
        return 1
    finally:
        await ep.close()


# -- subscribe ----------------------------------------------------------------------------------


def run_subscribe(args: argparse.Namespace) -> int:
    try:
        if args.expires < 0:
            raise UsageError("--expires must be >= 0")
        if args.count is not None and args.count < 1:
            raise UsageError("--count must be at least 1")
        uri, proxy, target, from_, credentials = _request_parties(args)
    except UsageError as exc:
        print(f"sipwire subscribe: {exc}", file=sys.stderr)
        return USAGE
    return _run(_subscribe(args, uri, proxy, target, from_, credentials))


async def _subscribe(args: argparse.Namespace, uri: URI, proxy: URI | None, target: Target,
                     from_: URI, credentials: DigestClient | None) -> int:
    from ..transport.base import TransportError
    from ..ua.subscriber import Notification, SubscriptionError, subscribe

    stop = _on_interrupt()
    try:
        ep = await _endpoint(args, target)
    except OSError as exc:
        print(f"sipwire subscribe: {exc}", file=sys.stderr)
        return 1
    try:
        try:
            subscription = await asyncio.wait_for(subscribe(
                ep, uri, args.event, from_=from_, contact=_contact(ep, target, from_.user),
                proxy=proxy, expires=args.expires, accept=args.accept,
                credentials=credentials), args.timeout)
        except SubscriptionError as exc:
            print(f"sipwire subscribe: {exc}", file=sys.stderr)
            return 1
        print(f"subscribed {uri} event={args.event} expires={subscription.expires}",
              flush=True)
        seen = 0

        def show(notify: Notification) -> None:
            print(f"NOTIFY {seen} Subscription-State: {notify.state_text}", flush=True)
            body = notify.body.decode("utf-8", "replace")
            if body:
                print(body.rstrip("\r\n"), flush=True)

        stopped = asyncio.ensure_future(stop.wait())
        try:
            async for notify in _until(subscription.notifications(), stopped):
                seen += 1
                show(notify)
                if args.count is not None and seen >= args.count:
                    break
        finally:
            stopped.cancel()
        if not subscription.terminated:
            with contextlib.suppress(TransportError, TimeoutError):
                await asyncio.wait_for(subscription.unsubscribe(), args.timeout)
            for notify in subscription.received[seen:]:  # the final NOTIFY
                seen += 1
                show(notify)
        print(f"terminated {subscription.reason or ''}".rstrip(), flush=True)
        return 0
    except (TransportError, TimeoutError) as exc:
        print(f"sipwire subscribe: {exc or 'no answer'}", file=sys.stderr)
        return 1
    finally:
        await ep.close()


async def _until(items: Any, stopped: asyncio.Future[Any]) -> Any:
    """The items of an async iterator until ``stopped`` completes."""
    iterator = items.__aiter__()
    while True:
        step = asyncio.ensure_future(iterator.__anext__())
        done, _ = await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if step not in done:
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
            return
        try:
            yield step.result()
        except StopAsyncIteration:
            return
