"""Ports for the cells of one run: distinct, free when handed out, and a
wait for a program to listen on one (read from /proc/net, so that probing
takes nothing from the program)."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

from ..processes import free_port

_LOOPBACK = {"127.0.0.1": "0100007F", "::1": "00000000000000000000000001000000"}


def _ephemeral_low() -> int:
    """The first port the kernel hands out as a connection's source port."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class Ports:
    """Free ports, never the same twice in a run; ``pair()`` gives P and P+1
    (baresip listens on P for UDP and TCP, P+1 for TLS).

    They are taken below the kernel's ephemeral range: a port that was free
    when probed could otherwise become the source port of some connection the
    cells open (a phone's TCP client, the server's) before the program that
    is to listen on it binds it."""

    def __init__(self) -> None:
        self._given: set[int] = set()
        high = _ephemeral_low()
        self._range = (max(1024, high - 12000), high - 2)

    def one(self) -> int:
        for _ in range(200):
            port = random.randrange(*self._range)
            if port not in self._given and _free(port):
                self._given.add(port)
                return port
        for _ in range(100):  # a crowded range: any free port will do
            port = free_port()
            if port not in self._given:
                self._given.add(port)
                return port
        raise RuntimeError("no free port")

    def pair(self) -> int:
        for _ in range(100):
            port = self.one()
            if port + 1 not in self._given and _free(port + 1):
                self._given.add(port + 1)
                return port
        raise RuntimeError("no two free ports in a row")


def _free(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            udp.bind(("127.0.0.1", port))
            tcp.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


async def wait_listening(host: str, port: int, transport: str, timeout: float = 5.0) -> bool:
    """True once something listens on ``host``:``port`` (UDP bound, TCP in LISTEN)."""
    family = "6" if ":" in host else ""
    table = Path(f"/proc/net/{'udp' if transport.upper() == 'UDP' else 'tcp'}{family}")
    if not table.exists():
        await asyncio.sleep(0.5)
        return True
    wanted = f"{_LOOPBACK[host]}:{port:04X}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and (transport.upper() == "UDP" or fields[3] == "0A"):
                return True
        await asyncio.sleep(0.02)
    return False
