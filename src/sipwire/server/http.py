"""``serve --http HOST:PORT``: ``GET /metrics`` and ``GET /health`` over HTTP/1.1.

Served by asyncio's own server, one request per connection (``Connection:
close``), for a Prometheus scraper and a load balancer's health check; no
web framework, since two fixed paths need none.  What a request may cost is
bounded: its head must arrive within ``timeout`` seconds and fit in
``MAX_HEAD`` bytes (else 408 or 431), and only ``GET`` and ``HEAD`` are
answered (405 otherwise, RFC 9110 §15.5.6).  What all requests together may
cost is bounded too: past ``max_connections`` open at once, a new connection
is answered 503 with ``Retry-After`` (RFC 9110 §15.6.4, §10.2.3) after at
most 0.2 s of reading its request, so that whoever opens connections and
sends nothing holds at most that many handlers for ``timeout`` seconds.

``/metrics``: the text exposition format (``text/plain; version=0.0.4``),
from ``metrics()``.  ``/health``: 200 ``ok`` while ``health()`` returns None,
else 503 with the reason it returned (the listeners are gone, the location
store does not answer its ping, the server is draining).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["MAX_CONNECTIONS", "MAX_HEAD", "HttpServer", "close_server", "parse_http_address"]

log = logging.getLogger("sipwire.server")

#: bytes of a request line and headers accepted
MAX_HEAD = 8192
#: connections served at once; more are answered 503 at once
MAX_CONNECTIONS = 32

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}

#: seconds a connection over the limit is read for before its 503
_BUSY_READ = 0.2
#: sent with the 503 of a connection over the limit (RFC 9110 §10.2.3)
_RETRY_AFTER = "Retry-After: 1\r\n"

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_http_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); ``ValueError`` otherwise."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, not {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class HttpServer:
    """The HTTP endpoint.  ``metrics()`` gives the exposition text;
    ``health()`` None when healthy, else why not."""

    def __init__(self, host: str, port: int, *, metrics: Callable[[], Awaitable[str]],
                 health: Callable[[], Awaitable[str | None]], timeout: float = 5.0,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.timeout = timeout
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when 0 was asked)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not started")
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def start(self) -> HttpServer:
        """Bind; ``OSError`` when the address cannot be."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  limit=MAX_HEAD)
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        await close_server(self._server, self._handlers)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        busy = len(self._handlers) >= self.max_connections
        if task is not None:
            self._handlers.add(task)
        try:
            if busy:
                # the request is taken in (briefly), so that closing does not
                # reset the connection before the client reads the 503
                with contextlib.suppress(OSError, TimeoutError, asyncio.LimitOverrunError,
                                         asyncio.IncompleteReadError):
                    async with asyncio.timeout(_BUSY_READ):
                        await reader.readuntil(b"\r\n\r\n")
                status, content_type, body, head_only = (
                    503, "text/plain; charset=utf-8", "too many connections\n", False)
            else:
                status, content_type, body, head_only = await self._answer(reader)
            reason = _REASONS.get(status, "")
            payload = body.encode("utf-8")
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\n"
                f"{_RETRY_AFTER if busy else ''}"
                f"Connection: close\r\n\r\n".encode("ascii")
                + (b"" if head_only else payload))
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await writer.drain()
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str, str, bool]:
        text = "text/plain; charset=utf-8"
        try:
            async with asyncio.timeout(self.timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return 408, text, "request head not received in time\n", False
        except asyncio.LimitOverrunError:
            return 431, text, "request head too large\n", False
        except asyncio.IncompleteReadError:
            return 400, text, "incomplete request\n", False
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, text, "bad request line\n", False
        method, target, _ = parts
        head_only = method == "HEAD"
        if method not in ("GET", "HEAD"):
            return 405, text, "only GET and HEAD\n", False
        path = target.split("?", 1)[0]
        try:
            if path == "/metrics":
                return 200, METRICS_TYPE, await self.metrics(), head_only
            if path == "/health":
                problem = await self.health()
                if problem is None:
                    return 200, text, "ok\n", head_only
                return 503, text, problem + "\n", head_only
        except Exception as exc:
            log.exception("HTTP %s failed", path)
            return 500, text, f"{type(exc).__name__}: {exc}\n", head_only
        return 404, text, "not found: try /metrics or /health\n", head_only


async def close_server(server: asyncio.Server, handlers: set[asyncio.Task[None]]) -> None:
    """Stop accepting, cancel the connections' handlers and wait for them: how
    the HTTP endpoint and the control socket both close."""
    server.close()
    for task in list(handlers):
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    with contextlib.suppress(Exception):
        await server.wait_closed()
