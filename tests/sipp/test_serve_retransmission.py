"""``sipwire serve`` answers a retransmitted request with the same bytes (RFC 3261 §17.2.2),
seen from the real SIPp.

SIPp sends an OPTIONS to the server itself (answered 200 with no auth, §11.2),
waits for the 200, then sends the same bytes again (same branch, Call-ID and
CSeq: tests/sipp/options_twice.xml).  The second copy matches the completed
server transaction (§17.2.3), which the server keeps over UDP as a table entry
of the response's bytes (``TransactionLayer.retire``) until Timer J.  What
arrived at SIPp (its ``-trace_msg`` log) must be two responses with the very
same bytes, and the server must have made one transaction of it: one log
line for it, two OPTIONS received, two 200s sent and one completed
non-INVITE server transaction in ``/metrics``.

UDP only: over TCP (reliable) Timer J is zero (§17.2.2), so the transaction
ends the moment its response is sent and never enters the table; a request
repeated over TCP is a new transaction, and nothing here would be tested.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.server.processes import free_port, sipwire_environment, start_serve

from .conftest import HERE, StartSipp

#: a line before each message of SIPp's -trace_msg log, and the line that
#: says what the message was and its length in bytes
_ENTRY = re.compile(rb"^-{47} \S+ \S+\n(?P<transport>\w+) message "
                    rb"(?:(?P<sent>sent) \((?P<sent_bytes>\d+) bytes\):"
                    rb"|(?P<received>received) \[(?P<received_bytes>\d+)\] bytes :)\n\n",
                    re.MULTILINE)
_TO_TAG = re.compile(rb"^To:[^\r\n]*;tag=([^;\s]+)", re.MULTILINE | re.IGNORECASE)


def sipp_messages(log: Path) -> tuple[list[bytes], list[bytes]]:
    """The messages SIPp sent and received, in order, each exactly as many
    bytes as its entry says (so a changed byte anywhere is a difference)."""
    data = log.read_bytes()
    sent: list[bytes] = []
    received: list[bytes] = []
    for entry in _ENTRY.finditer(data):
        size = int(entry["sent_bytes"] or entry["received_bytes"])
        message = data[entry.end():entry.end() + size]
        assert len(message) == size, f"a truncated entry in {log}"
        (sent if entry["sent"] else received).append(message)
    return sent, received


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as {(sample name, sorted labels): value}."""
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body: bytes = reply.read()
            return body.decode()

    text = await asyncio.to_thread(get)
    return {(sample.name, tuple(sorted(sample.labels.items()))): float(sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_a_retransmitted_options_gets_the_same_bytes(start_sipp: StartSipp,
                                                           tmp_path: Path) -> None:
    port, http = free_port(), free_port()
    env = sipwire_environment(tmp_path)
    env.pop("XDG_RUNTIME_DIR", None)  # the default control socket: ./sipwire-control.sock
    # the default configuration (auth on with no user, sqlite store, a worker
    # per core), on free ports, with /metrics
    serving = await start_serve("--listen", f"udp:127.0.0.1:{port}",
                                "--listen", f"tcp:127.0.0.1:{port}",
                                "--http", f"127.0.0.1:{http}", cwd=tmp_path, env=env)
    try:
        sipp = await start_sipp("-sf", str(HERE / "options_twice.xml"), f"127.0.0.1:{port}",
                                "-nr", "-trace_msg", "-message_file",
                                str(tmp_path / "messages.log"), calls=1)
        assert await sipp.wait() == 0, f"{sipp.report()}\n{serving.log}"

        sent, received = sipp_messages(tmp_path / "messages.log")
        assert len(sent) == 2 and sent[0] == sent[1], sent  # one request, twice
        assert len(received) == 2, received
        first, second = received
        assert first.startswith(b"SIP/2.0 200 "), first
        assert second == first, f"the retransmission got other bytes:\n{first!r}\n{second!r}"
        tags = [_TO_TAG.search(message) for message in received]
        assert tags[0] is not None and tags[1] is not None
        assert tags[0][1] == tags[1][1]

        call_id = re.search(rb"^Call-ID: *(\S+)", sent[0], re.MULTILINE)
        assert call_id is not None
        line = f"method=OPTIONS status=200 call_id={call_id[1].decode()} "
        await serving.wait_for(line)
        counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        received_options = ("sipwire_sip_requests_received_total", (("method", "OPTIONS"),))
        async with asyncio.timeout(5):  # the workers' figures reach worker 0 within 1 s
            while counts.get(received_options) != 2:
                counts = await scrape(http)
                await asyncio.sleep(0.05)
        sent_200 = ("sipwire_sip_responses_sent_total", (("method", "OPTIONS"), ("status", "200")))
        completed = ("sipwire_transactions",
                     (("kind", "non_invite_server"), ("state", "completed")))
        assert counts.get(sent_200) == 2, counts
        # one transaction: still completed (Timer J is 32 s), and logged once
        assert counts.get(completed) == 1, counts
        assert sum(line in logged for logged in serving.lines) == 1, serving.log
    finally:
        await serving.kill()
