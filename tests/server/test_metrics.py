"""server/metrics.py: counting on the way, the exposition text as Prometheus
parses it, a driven loop-lag probe and store timings."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipwire import Request
from sipwire.location import Binding, MemoryStore, SQLiteStore
from sipwire.server.metrics import (
    Histogram,
    LoopLagProbe,
    Metrics,
    MetricsTap,
    Sample,
    TimedStore,
    as_dict,
    render,
)
from sipwire.transaction.table import State


def _request(method: str = "INVITE") -> Request:
    return Request.build(method, "sip:bob@example.com", from_="<sip:alice@example.com>",
                         call_id="metrics-1@test", cseq=1, transport="UDP",
                         sent_by=("127.0.0.1", 5070))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_histogram_counts_into_cumulative_buckets() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [(0.1, 2), (1.0, 3), (math.inf, 4)]
    assert histogram.count == 4
    assert histogram.sum == pytest.approx(3.65)


def test_the_tap_counts_requests_and_responses_by_method_and_status() -> None:
    tap = MetricsTap()
    invite = _request()
    flow: Any = None
    tap.received(invite, flow)
    tap.received(invite, flow)
    tap.sent(invite.reply(180), flow)
    tap.sent(invite.reply(200), flow)
    tap.received(invite.reply(200), flow)
    tap.sent(_request("REGISTER"), flow)
    assert tap.requests_received == {"INVITE": 2}
    assert tap.requests_sent == {"REGISTER": 1}
    assert tap.responses_sent == {("INVITE", 180): 1, ("INVITE", 200): 1}
    assert tap.responses_received == {("INVITE", 200): 1}


def test_the_tap_counts_a_response_resent_from_its_bytes() -> None:
    # a retired transaction's final response goes out as the bytes it kept
    tap = MetricsTap()
    flow: Any = None
    tap.sent(bytes(_request("REGISTER").reply(200)), flow)
    tap.sent(bytes(_request("REGISTER").reply(200)), flow)
    tap.sent(bytes(_request("OPTIONS").reply(404)), flow)
    tap.sent(b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n", flow)  # a request: not here
    assert tap.responses_sent == {("REGISTER", 200): 2, ("OPTIONS", 404): 1}


def test_retired_transactions_count_as_completed_non_invite_servers() -> None:
    families = Metrics().collect(
        transactions=[_tx("NonInviteServerTransaction", State.COMPLETED)], connections=[],
        bindings=None, bans=0, auth_failures=0, retransmissions=0, store_up=None,
        draining=False, retired=4)
    samples = {(f.name, labels): value for f in families for _, labels, value in f.samples}
    assert samples[("transactions", (("kind", "non_invite_server"),
                                     ("state", "completed")))] == 5.0


def test_invented_methods_share_one_label() -> None:
    tap = MetricsTap()
    flow: Any = None
    for method in ("FOO", "BAR", "BAZ"):
        tap.received(_request(method), flow)
    assert tap.requests_received == {"other": 3}


def test_the_tap_passes_messages_on_to_a_tracer() -> None:
    seen: list[str] = []

    class Recorder(MetricsTap):
        def received(self, message: Any, flow: Any) -> None:
            seen.append(f"recv {message.method}")

        def sent(self, message: Any, flow: Any) -> None:
            seen.append("sent")

    tap = MetricsTap(Recorder())
    flow: Any = None
    tap.received(_request("OPTIONS"), flow)
    tap.sent(_request("OPTIONS").reply(200), flow)
    assert seen == ["recv OPTIONS", "sent"]


def _tx(name: str, state: State) -> Any:
    """A transaction as collect() sees it: its class name and its state."""
    return type(name, (), {"state": state})()


class _Connection:
    def __init__(self, transport: str) -> None:
        self.transport = type("T", (), {"value": transport})()


def test_render_is_the_text_format_prometheus_parses() -> None:
    metrics = Metrics()
    flow: Any = None
    invite = _request()
    metrics.tap.received(invite, flow)
    metrics.tap.sent(invite.reply(100), flow)
    metrics.tap.sent(invite.reply(486), flow)
    metrics.store_latency["lookup"] = Histogram((0.01, 0.1))
    metrics.store_latency["lookup"].observe(0.005)
    metrics.store_latency["lookup"].observe(0.05)
    families = metrics.collect(
        transactions=[_tx("InviteServerTransaction", State.PROCEEDING),
                      _tx("InviteServerTransaction", State.PROCEEDING),
                      _tx("NonInviteClientTransaction", State.TRYING)],
        connections=[_Connection("TCP"), _Connection("TLS"), _Connection("TCP")],
        bindings=7, bans=2, auth_failures=5, retransmissions=3, store_up=True,
        draining=False)
    samples = _samples(render(families))
    assert samples[("sipwire_sip_requests_received_total", (("method", "INVITE"),))] == 1
    assert samples[("sipwire_sip_responses_sent_total",
                    (("method", "INVITE"), ("status", "486")))] == 1
    assert samples[("sipwire_transactions",
                    (("kind", "invite_server"), ("state", "proceeding")))] == 2
    assert samples[("sipwire_transactions",
                    (("kind", "non_invite_client"), ("state", "trying")))] == 1
    assert samples[("sipwire_connections_open", (("transport", "tcp"),))] == 2
    assert samples[("sipwire_connections_open", (("transport", "tls"),))] == 1
    assert samples[("sipwire_connections_open", (("transport", "wss"),))] == 0
    assert samples[("sipwire_bindings", ())] == 7
    assert samples[("sipwire_bans", ())] == 2
    assert samples[("sipwire_auth_failures_total", ())] == 5
    assert samples[("sipwire_sip_retransmissions_total", ())] == 3
    assert samples[("sipwire_store_latency_seconds_bucket",
                    (("le", "0.01"), ("operation", "lookup")))] == 1
    assert samples[("sipwire_store_latency_seconds_bucket",
                    (("le", "+Inf"), ("operation", "lookup")))] == 2
    assert samples[("sipwire_store_latency_seconds_count", (("operation", "lookup"),))] == 2
    assert samples[("sipwire_draining", ())] == 0


def test_a_store_that_did_not_answer_has_no_bindings_figure() -> None:
    families = Metrics().collect(transactions=[], connections=[], bindings=None, bans=0,
                                 auth_failures=0, retransmissions=0, store_up=False,
                                 draining=True)
    samples = _samples(render(families))
    assert ("sipwire_bindings", ()) not in samples
    assert samples[("sipwire_store_up", ())] == 0
    assert samples[("sipwire_draining", ())] == 1


def test_label_values_and_help_are_escaped() -> None:
    family = Sample("odd", "gauge", 'help with \\ and\nnewline',
                    (("", (("name", 'a"b\\c\nd'),), 1.0),))
    text = render([family])
    parsed = list(text_string_to_metric_families(text))
    assert parsed[0].samples[0].labels == {"name": 'a"b\\c\nd'}
    assert parsed[0].documentation == "help with \\ and\nnewline"


def test_as_dict_keeps_labels_for_stats() -> None:
    out = as_dict([Sample("x", "counter", "h", (("_total", (("method", "INVITE"),), 2.0),)),
                   Sample("y", "gauge", "h", (("", (), 3.0),))])
    assert out == {"sipwire_x_total": [{"method": "INVITE", "value": 2.0}], "sipwire_y": 3.0}


async def test_the_loop_lag_probe_measures_how_late_it_woke() -> None:
    now = [100.0]
    late = iter([0.0, 0.3, 2.0])

    async def sleep(seconds: float) -> None:
        now[0] += seconds + next(late)

    probe = LoopLagProbe(1.0, clock=lambda: now[0], sleep=sleep)
    await probe.run(rounds=3)
    assert probe.last == pytest.approx(2.0)
    assert probe.histogram.count == 3
    assert probe.histogram.sum == pytest.approx(2.3)
    assert dict(probe.histogram.cumulative())[0.5] == 2


async def test_the_timed_store_times_each_operation_and_passes_it_on() -> None:
    ticks = iter([1.0, 1.25, 2.0, 2.5])
    inner = MemoryStore()
    store = TimedStore(inner, clock=lambda: next(ticks))
    binding = Binding(aor="sip:a@example.com", contact="sip:a@127.0.0.1:5070",
                      contact_value="<sip:a@127.0.0.1:5070>", expires_at=200.0)
    await store.put(binding, 100.0)
    assert [b.contact for b in await store.lookup("sip:a@example.com", 100.0)] == \
        ["sip:a@127.0.0.1:5070"]
    assert store.latency["update"].sum == pytest.approx(0.25)
    assert store.latency["lookup"].sum == pytest.approx(0.5)
    assert await inner.count(100.0) == 1


async def test_the_sqlite_store_and_the_relay_have_their_counters(tmp_path: Any) -> None:
    def collect(store: Any, relayed: int | None = None) -> dict[Any, float]:
        return _samples(render(Metrics().collect(
            transactions=[], connections=[], bindings=None, bans=0, auth_failures=0,
            retransmissions=0, store_up=True, draining=False, store=store,
            responses_relayed=relayed)))

    sqlite = SQLiteStore(tmp_path / "loc.db")
    try:
        binding = Binding(aor="sip:a@example.com", contact="sip:a@127.0.0.1:5070",
                          contact_value="<sip:a@127.0.0.1:5070>", expires_at=200.0)
        await sqlite.put(binding, 100.0)
        await sqlite.lookup("sip:a@example.com", 100.0)
        samples = collect(TimedStore(sqlite), 3)  # as `sipwire serve` wraps it
        assert samples[("sipwire_store_commits_total", ())] == 1
        assert samples[("sipwire_store_batches_total", ())] == 2
        assert samples[("sipwire_store_lock_waits_total", ())] == 0
        assert samples[("sipwire_worker_responses_relayed_total", ())] == 3
    finally:
        await sqlite.close()
    plain = collect(MemoryStore())
    assert not [name for name, _ in plain if name.startswith(("sipwire_store_commits",
                                                              "sipwire_worker_"))]
