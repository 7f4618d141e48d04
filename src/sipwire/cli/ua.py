"""``sipwire call`` and ``sipwire answer``: real calls from the command line.

``call`` places a call (RFC 3261 §13: INVITE with an SDP offer, 3xx
followed, digest challenges answered), keeps it ``--duration`` seconds and
hangs up (BYE, §15).  ``answer`` registers if asked (§10), rings and answers
each incoming call with an SDP answer (RFC 3264), keeps it until the BYE (or
hangs up after ``--hangup-after``), and exits after ``--count`` calls.  There
is no media engine: the SDP names ports nothing listens on.

Results go to standard output; a ladder of the messages (seconds since the
start, → sent or ← received, peer, first line) and errors to standard error.
Exit status 0 when every call was answered and ended cleanly, 1 otherwise
(with one line such as ``sipwire: call failed: 486 Busy Here``), 2 for usage
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..message.uri import URI
from .transport import USAGE, UsageError, _on_interrupt, _run, _sip_uri
from .ua_tools import Ladder, _credentials, _local_host, _next_hop, _password

if TYPE_CHECKING:  # the user agent loads only when a command runs
    from ..auth.client import DigestClient
    from ..transport.base import Flow
    from ..ua.agent import UserAgent
    from ..ua.call import Call

__all__ = ["ArrowLadder", "add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "call", help="place a call, keep it a while, hang up",
        description="Call TARGET (INVITE with an SDP offer, RFC 3261 §13, RFC 3264), keep "
                    "the call --duration seconds, then hang up (BYE). Exit status 0 when "
                    "the call was answered and ended cleanly; otherwise 1, with the final "
                    "status on one line (sipwire: call failed: 486 Busy Here); 2 for usage "
                    "errors.")
    p.add_argument("target", metavar="TARGET", help="whom to call, e.g. sip:bob@example.com")
    _common_options(p)
    p.add_argument("--from", dest="from_", metavar="URI",
                   help="our URI (default sip:USER@HOST of TARGET with --user, else "
                        "sip:sipwire@<our address>)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S",
                   help="seconds to keep the call before hanging up (default 0)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for the answer before cancelling (default 60)")
    p.set_defaults(func=run_call)

    p = sub.add_parser(
        "answer", help="answer incoming calls",
        description="Register --register AOR if asked (RFC 3261 §10), then ring and answer "
                    "each incoming call with an SDP answer (RFC 3264) and keep it until the "
                    "caller's BYE, or hang up after --hangup-after seconds. Exit after --count "
                    "calls (else on SIGINT/SIGTERM, unregistering). Exit status 0 when every "
                    "call was answered and ended cleanly, 1 otherwise, 2 for usage errors.")
    p.add_argument("--register", metavar="AOR",
                   help="address-of-record to register, e.g. sip:bob@example.com")
    _common_options(p)
    p.add_argument("--count", type=int, metavar="N", help="exit after N calls")
    p.add_argument("--hangup-after", type=float, metavar="S",
                   help="hang up each call after S seconds (default: wait for the BYE)")
    p.set_defaults(func=run_answer)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proxy", metavar="URI",
                   help="outbound proxy every request goes through (a Route)")
    p.add_argument("--user", metavar="NAME", help="user name for digest authentication")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the digest password from standard input")
    p.add_argument("--listen", metavar="SPEC",
                   help="our listening point, e.g. udp:127.0.0.1:5062 (default: UDP on the "
                        "address that reaches the proxy or target, any port)")
    from ..dns.args import add_dns_argument

    add_dns_argument(p)


class ArrowLadder(Ladder):
    """The message ladder with arrows: → sent, ← received."""

    def received(self, flow: Flow, data: bytes) -> None:
        self._line("←", flow, data)

    def sent(self, flow: Flow, data: bytes) -> None:
        self._line("→", flow, data)


def _agent(listen: str, *, aor: URI | None, proxy: URI | None,
           credentials: DigestClient | None, args: argparse.Namespace) -> UserAgent:
    from ..dns.args import resolver_from_args
    from ..transport.config import TransportConfig
    from ..ua import EndpointConfig, UserAgent, UserAgentConfig

    transport = replace(TransportConfig(), capture=ArrowLadder())
    config = UserAgentConfig(endpoint=EndpointConfig(transport=transport,
                                                     supported=("replaces",)))
    agent = UserAgent([listen], aor=aor, proxy=proxy, credentials=credentials, config=config)
    agent.endpoint.resolver = resolver_from_args(args)  # RFC 3263 for names (--dns-server)
    return agent


def _default_listen(toward: URI) -> str:
    host = _local_host(_next_hop(toward, None, None))
    return f"udp:[{host}]:0" if ":" in host else f"udp:{host}:0"


def _describe_media(call: Call) -> str:
    media = call.media
    if media is None or not media.streams:
        return "media=none"
    stream = media.streams[0]
    codec = stream.codec
    name = f"{codec.name}/{codec.rate}" if codec is not None else "none"
    return (f"media={stream.media} codec={name} local={stream.local_address}:"
            f"{stream.local_port} remote={stream.remote_address}:{stream.remote_port} "
            f"direction={stream.direction.value}")


# -- call -----------------------------------------------------------------------------------


def run_call(args: argparse.Namespace) -> int:
    try:
        if args.duration < 0 or args.timeout <= 0:
            raise UsageError("--duration must be >= 0 and --timeout > 0")
        target = _sip_uri(args.target, "TARGET")
        proxy = _sip_uri(args.proxy, "--proxy") if args.proxy else None
        listen = args.listen or _default_listen(proxy if proxy is not None else target)
        if args.from_:
            from_ = _sip_uri(args.from_, "--from")
        elif args.user:
            from_ = URI(target.scheme, args.user, target.host, target.port)
        else:
            host = listen.split(":", 1)[1].rsplit(":", 1)[0]
            from_ = URI("sip", "sipwire", host)
        credentials = _credentials(args.user or from_.user, _password(args))
    except UsageError as exc:
        print(f"sipwire call: {exc}", file=sys.stderr)
        return USAGE
    return _run(_call(args, target, proxy, from_, listen, credentials))


async def _call(args: argparse.Namespace, target: URI, proxy: URI | None, from_: URI,
                listen: str, credentials: DigestClient | None) -> int:
    from ..transport.base import TransportError
    from ..ua.call import CallFailed

    stop = _on_interrupt()
    loop = asyncio.get_running_loop()
    try:
        async with _agent(listen, aor=from_, proxy=proxy, credentials=credentials,
                          args=args) as ua:
            placing = asyncio.ensure_future(ua.call(target, timeout=args.timeout))
            interrupted = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({placing, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                interrupted.cancel()
            if not placing.done():
                placing.cancel()  # Ctrl-C while it rings: CANCEL (§9.1)
                with contextlib.suppress(asyncio.CancelledError, CallFailed):
                    await placing
                print("sipwire: call failed: interrupted, cancelled", file=sys.stderr)
                return 1
            try:
                call = placing.result()
            except CallFailed as exc:
                print(f"sipwire: call failed: {exc.status} {exc.reason}", file=sys.stderr)
                return 1
            except TimeoutError:
                print(f"sipwire: call failed: no answer in {args.timeout:g} s, cancelled",
                      file=sys.stderr)
                return 1
            answered = loop.time()
            print(f"answered {call.remote_uri} call-id={call.call_id} "
                  f"{_describe_media(call)}", flush=True)
            await _hold_call(call, args.duration, stop)
            status = await _hang_up(call)
            ended = await call.ended
            print(f"ended by {ended.by} ({ended.reason}) after "
                  f"{loop.time() - answered:.1f} s", flush=True)
            return status
    except (OSError, TransportError, ValueError) as exc:
        print(f"sipwire call: {exc}", file=sys.stderr)
        return 1


async def _hold_call(call: Call, seconds: float | None, stop: asyncio.Event) -> None:
    """Wait until the call ends, ``seconds`` pass (None: no limit) or ``stop``."""
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(asyncio.shield(call.ended)),
                                        asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _hang_up(call: Call) -> int:
    """BYE unless the other side ended the call; 0 when it ended cleanly."""
    if call.ended.done():
        ended = call.ended.result()
        if ended.reason != "bye":
            print(f"sipwire: call ended: {ended.reason}", file=sys.stderr)
            return 1
        return 0
    response = await call.hangup()
    if response is not None and response.status >= 300:
        print(f"sipwire: hangup failed: {response.status} {response.reason}",
              file=sys.stderr)
        return 1
    return 0


# -- answer ---------------------------------------------------------------------------------


def run_answer(args: argparse.Namespace) -> int:
    try:
        if args.count is not None and args.count < 1:
            raise UsageError("--count must be at least 1")
        if args.hangup_after is not None and args.hangup_after < 0:
            raise UsageError("--hangup-after must be >= 0")
        aor = _sip_uri(args.register, "--register") if args.register else None
        if aor is not None and not aor.user:
            raise UsageError(f"--register: {args.register!r} has no user part")
        proxy = _sip_uri(args.proxy, "--proxy") if args.proxy else None
        toward = proxy if proxy is not None else aor
        if args.listen:
            listen = args.listen
        elif toward is not None:
            listen = _default_listen(URI(toward.scheme, None, toward.host, toward.port,
                                         dict(toward.params)))
        else:
            listen = "udp:127.0.0.1:0"
        user = args.user or (aor.user if aor is not None else None)
        credentials = _credentials(user, _password(args))
    except UsageError as exc:
        print(f"sipwire answer: {exc}", file=sys.stderr)
        return USAGE
    return _run(_answer(args, aor, proxy, listen, credentials))


async def _answer(args: argparse.Namespace, aor: URI | None, proxy: URI | None, listen: str,
                  credentials: DigestClient | None) -> int:
    from ..transport.base import TransportError
    from ..ua.registration import Registered, RegistrationError

    stop = _on_interrupt()
    try:
        async with _agent(listen, aor=aor, proxy=proxy, credentials=credentials,
                          args=args) as ua:
            for point in ua.endpoint.listening_points:
                print(f"listening on {point}", flush=True)
            if aor is not None:
                try:
                    registration = await ua.register(aor)
                except RegistrationError as exc:
                    print(f"sipwire answer: registration failed: {exc}", file=sys.stderr)
                    return 1
                granted = [e.expires for e in registration.events
                           if isinstance(e, Registered)]
                print(f"registered {aor} expires={granted[-1] if granted else '?'}",
                      flush=True)
            return await _take_calls(ua, args, stop)
    except (OSError, TransportError, ValueError) as exc:
        print(f"sipwire answer: {exc}", file=sys.stderr)
        return 1


async def _take_calls(ua: UserAgent, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Answer calls until ``--count`` of them ended, or ``stop``."""
    count: int | None = args.count
    taken = ended = failures = 0
    all_done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def take(call: Call) -> None:
        nonlocal ended, failures
        try:
            if not await _take_call(call, args.hangup_after, stop):
                failures += 1
        finally:
            ended += 1
            if count is not None and ended >= count:
                all_done.set()

    async def accept() -> None:
        nonlocal taken
        async for call in ua.incoming():
            if count is not None and taken >= count:
                await call.reject(486)  # we are done: busy
                continue
            taken += 1
            task = asyncio.ensure_future(take(call))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    accepting = asyncio.ensure_future(accept())
    waits = [asyncio.ensure_future(all_done.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
    if tasks:  # interrupted: the calls still up are hung up
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"{ended} calls ended, {failures} failed", flush=True)
    return 0 if failures == 0 and (count is None or ended >= count) else 1


async def _take_call(call: Call, hangup_after: float | None, stop: asyncio.Event) -> bool:
    """Ring, answer, keep until the BYE (or ``hangup_after``); True when clean."""
    from ..transport.base import TransportError
    from ..ua.call import CallError, CallFailed

    print(f"incoming {call.remote_uri} call-id={call.call_id}", flush=True)
    try:
        await call.ringing()
        await call.answer()
    except (CallError, CallFailed, TransportError) as exc:
        outcome = call.ended.result().reason if call.ended.done() else str(exc)
        print(f"sipwire: call {call.call_id} not answered: {outcome}", file=sys.stderr)
        return False
    print(f"answered {call.remote_uri} call-id={call.call_id} {_describe_media(call)}",
          flush=True)
    try:
        await _hold_call(call, hangup_after, stop)
        status = await _hang_up(call)
    except asyncio.CancelledError:
        if not call.ended.done():
            await asyncio.shield(call.hangup())
        raise
    ended = call.ended.result()
    print(f"ended call-id={call.call_id} by {ended.by} ({ended.reason})", flush=True)
    return status == 0
