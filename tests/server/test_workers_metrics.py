"""``sipwire serve --workers 2``: worker 0's ``/metrics`` and ``sipwire stats``
count the requests of every worker, and a restarted worker's counts are kept."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .phone import Phone, status
from .processes import Serving, free_port, sipwire_command, sipwire_environment, start_serve

pytestmark = pytest.mark.asyncio

_RECEIVED = re.compile(r"worker=(\d+) received REGISTER call_id=(\S+)")
#: REGISTERs sent before a worker is killed, and after it is replaced
FIRST, SECOND = 40, 10


def _registers_in(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "sipwire_sip_requests_received_total"
                    and sample.labels == {"method": "REGISTER"}):
                return float(sample.value)
    return None


async def _scrape(port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert reply.status == 200
            body: bytes = reply.read()
            return body.decode()

    return await asyncio.to_thread(get)


async def _until_counted(port: int, expected: int) -> str:
    """The /metrics text once it counts ``expected`` REGISTERs (at most 10 s)."""
    text = ""
    try:
        async with asyncio.timeout(10):
            while _registers_in(text := await _scrape(port)) != expected:
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"REGISTERs counted: {_registers_in(text)}, not {expected}") from None
    return text


async def _register_from_new_sockets(port: int, count: int, prefix: str) -> list[str]:
    """``count`` REGISTERs, each from a socket of its own (its own source
    port, so the kernel spreads them over the workers); their Call-IDs."""
    call_ids = []
    for n in range(count):
        phone = await Phone.open(f"{prefix}{n}", ("127.0.0.1", port))
        try:
            request = phone.register()
            assert status(await phone.request(request)) == 200
            call_ids.append(request.call_id)
        finally:
            phone.close()
    return call_ids


async def _workers_that_received(serving: Serving, call_ids: list[str]) -> set[int]:
    """The workers that logged receiving these REGISTERs, once every one is
    in the log (read from the pipe as it comes, at most 5 s)."""
    wanted = set(call_ids)
    async with asyncio.timeout(5):
        while True:
            found = {match.group(2): int(match.group(1)) for line in serving.lines
                     if (match := _RECEIVED.search(line)) and match.group(2) in wanted}
            if len(found) == len(wanted):
                return set(found.values())
            await asyncio.sleep(0.02)


async def _stats(tmp_path: Path) -> dict[str, object]:
    code, out, err = await sipwire_command(
        "stats", "--control", str(tmp_path / "control.sock"), "--json",
        env=sipwire_environment(tmp_path))
    assert code == 0, err
    stats: dict[str, object] = json.loads(out)
    return stats


def _registers_of(stats: dict[str, object]) -> float:
    rows = stats["sipwire_sip_requests_received_total"]
    assert isinstance(rows, list)
    return sum(float(row["value"]) for row in rows if row["method"] == "REGISTER")


async def test_metrics_and_stats_count_every_worker(tmp_path: Path) -> None:
    port, http = free_port(), free_port()
    serving = await start_serve(
        "--workers", "2", "--store", f"sqlite:///{tmp_path / 'loc.db'}", "--auth", "off",
        "--listen", f"udp:127.0.0.1:{port}", "--http", f"127.0.0.1:{http}",
        "--domain", "example.com", "--control", str(tmp_path / "control.sock"),
        "--log-level", "debug", cwd=tmp_path)
    try:
        call_ids = await _register_from_new_sockets(port, FIRST, "user")
        # both workers had some (Linux hashes UDP sources over SO_REUSEPORT sockets)
        assert await _workers_that_received(serving, call_ids) == {0, 1}
        text = await _until_counted(http, FIRST)
        assert "sipwire_workers_reporting 2" in text.splitlines()
        # the shared SQLite store's writes, summed over the workers: every
        # REGISTER committed, in at most as many transactions
        figures = {s.name: s.value for f in text_string_to_metric_families(text)
                   for s in f.samples}
        assert 1 <= figures["sipwire_store_commits_total"] <= FIRST
        assert figures["sipwire_store_batches_total"] >= figures["sipwire_store_commits_total"]
        assert figures["sipwire_store_lock_waits_total"] >= 0
        assert figures["sipwire_worker_responses_relayed_total"] == 0  # no client transactions
        assert _registers_of(await _stats(tmp_path)) == FIRST
        # every response the workers sent is counted once too
        assert any(line.startswith('sipwire_sip_responses_sent_total{method="REGISTER",'
                                   'status="200"} ') and line.endswith(f" {FIRST}")
                   for line in text.splitlines()), text
        # worker 1 killed and replaced: what it counted is kept (counters never go down)
        line = next(line for line in serving.lines if "serving domains=" in line)
        pids = re.search(r"pids=(\d+),(\d+)", line)
        assert pids is not None, line
        os.kill(int(pids.group(2)), signal.SIGKILL)
        await serving.wait_for(" restarted")
        more = await _register_from_new_sockets(port, SECOND, "again")
        assert await _workers_that_received(serving, more)
        await _until_counted(http, FIRST + SECOND)
        assert _registers_of(await _stats(tmp_path)) == FIRST + SECOND
    finally:
        await serving.terminate()
        await serving.kill()
