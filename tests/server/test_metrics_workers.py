"""The figures of several workers: snapshots encoded in bounded parts, and
worker 0's sums (``WorkerFigures``), counters never going down when a
worker is replaced."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from sipwire.server.metrics import (
    KNOWN_METHODS,
    SNAPSHOT_PART,
    Histogram,
    Metrics,
    Sample,
    WorkerFigures,
    decode_snapshot,
    encode_snapshot,
    render,
)


def _families(received: dict[str, int], *, transactions: int = 0, lag: float = 0.0,
              started: float = 100.0, latency: tuple[float, ...] = ()) -> list[Sample]:
    metrics = Metrics()
    metrics.started = started
    metrics.tap.requests_received.update(received)
    metrics.loop_lag.last = lag
    for value in latency:
        metrics.store_latency.setdefault("update", Histogram()).observe(value)

    class _State:
        name = "TRYING"

    class NonInviteServerTransaction:
        state = _State()

    return metrics.collect(transactions=[NonInviteServerTransaction()] * transactions,
                           connections=[], bindings=7, bans=0, auth_failures=1,
                           retransmissions=2, store_up=True, draining=False)


def _values(families: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(render(families)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


def test_a_snapshot_round_trips_in_parts_that_fit_a_datagram() -> None:
    metrics = Metrics()
    # the largest label set a peer can make: every method by many statuses
    for method in (*KNOWN_METHODS, "other"):
        for code in range(100, 700):
            metrics.tap.responses_sent[(method, code)] = code
    families = metrics.collect(transactions=[], connections=[], bindings=None, bans=0,
                               auth_failures=0, retransmissions=0, store_up=None,
                               draining=False)
    parts = encode_snapshot(families)
    assert len(parts) > 1
    assert all(len(part) <= SNAPSHOT_PART for part in parts)
    decoded = [family for part in parts for family in decode_snapshot(part)]
    # a family split across parts sums back whole
    through_parts, whole = WorkerFigures(), WorkerFigures()
    through_parts.update(1, decoded, 0.0)
    whole.update(1, families, 0.0)
    own = _families({})
    assert _values(through_parts.merge(own)) == _values(whole.merge(own))
    sent = [s for f in decoded if f.name == "sip_responses_sent" for s in f.samples]
    assert len(sent) == 15 * 600
    assert ("_total", (("method", "REGISTER"), ("status", "200")), 200.0) in sent


def test_decode_refuses_what_is_not_a_snapshot() -> None:
    bad = json.dumps([["x", "summary", []]]).encode()
    try:
        decode_snapshot(bad)
    except ValueError as exc:
        assert "summary" in str(exc)
    else:
        raise AssertionError("decoded")


def test_counters_and_histograms_are_summed_gauges_by_their_rule() -> None:
    figures = WorkerFigures()
    own = _families({"REGISTER": 3}, transactions=1, lag=0.01, started=200.0,
                    latency=(0.0001,))
    other = _families({"REGISTER": 4, "INVITE": 1}, transactions=2, lag=0.5, started=150.0,
                      latency=(0.3, 0.0001))
    figures.update(1, [f for part in encode_snapshot(other) for f in decode_snapshot(part)],
                   0.0)
    values = _values(figures.merge(own))
    assert values[("sipwire_sip_requests_received_total", (("method", "REGISTER"),))] == 7
    assert values[("sipwire_sip_requests_received_total", (("method", "INVITE"),))] == 1
    assert values[("sipwire_auth_failures_total", ())] == 2
    assert values[("sipwire_sip_retransmissions_total", ())] == 4
    assert values[("sipwire_transactions", (("kind", "non_invite_server"),
                                            ("state", "trying")))] == 3
    assert values[("sipwire_store_latency_seconds_count", (("operation", "update"),))] == 3
    assert values[("sipwire_store_latency_seconds_bucket",
                   (("le", "0.0005"), ("operation", "update")))] == 2
    # the shared store's figures are worker 0's, not summed
    assert values[("sipwire_bindings", ())] == 7
    assert values[("sipwire_store_up", ())] == 1
    assert values[("sipwire_start_time_seconds", ())] == 150
    assert values[("sipwire_event_loop_lag_last_seconds", ())] == 0.5
    assert values[("sipwire_workers_reporting", ())] == 2


def test_a_replaced_worker_keeps_its_counts_and_loses_its_gauges() -> None:
    figures = WorkerFigures()
    own = _families({"REGISTER": 1})
    figures.update(1, _families({"REGISTER": 5}, transactions=4), 0.0)
    figures.retire(1)  # the worker restarted (hello) or stopped (gone)
    values = _values(figures.merge(own))
    assert values[("sipwire_sip_requests_received_total", (("method", "REGISTER"),))] == 6
    assert ("sipwire_transactions", (("kind", "non_invite_server"),
                                     ("state", "trying"))) not in values
    assert values[("sipwire_workers_reporting", ())] == 1
    # the new process counts from 0 again: its counts add to the kept ones
    figures.update(1, _families({"REGISTER": 2}, transactions=1), 1.0)
    values = _values(figures.merge(own))
    assert values[("sipwire_sip_requests_received_total", (("method", "REGISTER"),))] == 8
    assert values[("sipwire_transactions", (("kind", "non_invite_server"),
                                            ("state", "trying")))] == 1
    figures.retire(5)  # a worker never heard of: nothing changes
    assert _values(figures.merge(own)) == values
