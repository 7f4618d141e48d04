"""A throwaway redis-server for tests: started on a free port of 127.0.0.1,
with persistence off, stopped by its PID.

Used by the ``redis_url`` session fixture (tests/location/conftest.py and
tests/registrar/conftest.py).  Environment:

``SIPWIRE_TEST_REDIS_URL``
    use this server instead of starting one (tests then use their own key
    prefixes, so a shared server is fine);
``SIPWIRE_REDIS_SERVER``
    the redis-server binary (default: ``redis-server`` on PATH, then
    ``/usr/bin/redis-server``);
``SIPWIRE_REQUIRE_REDIS=1``
    fail instead of skipping the Redis tests when no binary is found (for CI).

Run ``python -m tests.location.redis_server`` to start one by hand; it
prints the URL and runs until interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["RedisProcess", "find_redis_server", "run_redis_server"]


def find_redis_server() -> str | None:
    """The redis-server binary to use, or None when there is none."""
    configured = os.environ.get("SIPWIRE_REDIS_SERVER")
    if configured:
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started, by its PID only."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def run_redis_server(binary: str, attempts: int = 5, timeout: float = 10.0) -> Iterator[str]:
    """Start ``binary`` on a free port of 127.0.0.1; yield ``redis://127.0.0.1:PORT/0``."""
    with tempfile.TemporaryDirectory(prefix="sipwire-redis-") as workdir:
        last_error = ""
        for _ in range(attempts):
            port = _free_port()
            logfile = os.path.join(workdir, f"redis-{port}.log")
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", workdir,
                 "--daemonize", "no", "--loglevel", "warning", "--logfile", logfile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + timeout
                while proc.poll() is None and time.monotonic() < deadline:
                    if _answers_ping(port):
                        break
                    time.sleep(0.02)
                else:
                    # exited (the port was taken meanwhile?) or never answered
                    _stop(proc)
                    with contextlib.suppress(OSError), open(logfile) as log:
                        last_error = log.read()
                    continue
                yield f"redis://127.0.0.1:{port}/0"
                return
            finally:
                _stop(proc)
        raise RuntimeError(f"redis-server did not start: {last_error.strip()}")


class RedisProcess:
    """A redis-server of one test, which it stops and starts again on the same
    port: a location service outage, and its end.  Persistence is off, so what
    it held is gone after a stop (as after a crash without AOF)."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it on ``self.port`` and wait until it answers PING."""
        logfile = os.path.join(self.workdir, f"redis-{self.port}.log")
        proc = self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.workdir,
             "--daemonize", "no", "--loglevel", "warning", "--logfile", logfile],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if _answers_ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        with contextlib.suppress(OSError), open(logfile) as log:
            raise RuntimeError(f"redis-server did not start on {self.port}: {log.read()}")
        raise RuntimeError(f"redis-server did not start on {self.port}")

    def stop(self) -> None:
        """Stop it (by its PID) and wait until the port refuses connections."""
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None


if __name__ == "__main__":
    server = find_redis_server()
    if server is None:
        raise SystemExit("no redis-server found (set SIPWIRE_REDIS_SERVER)")
    with run_redis_server(server) as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
