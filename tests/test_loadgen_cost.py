"""The cost side of LoadGen results, on records built by hand: which capacity a record gives under an SLA,
that INVALID runs are never used, and that the report says how it decided."""

from __future__ import annotations

import pytest

from harness.contracts import RunRecord
from harness.contracts.worker import CapacitySearch, LoadgenResult, LoadgenTrial
from harness.pricing import load_price_book
from harness.results.cost.analysis import analyze
from harness.results.cost.capacity import capacity_under_sla
from harness.results.cost.catalog import load_catalog
from harness.results.cost.query import CostQuery
from tests.helpers.records import record

BUNDLED = load_price_book(snapshot_dir=None)
CATALOG = load_catalog(["bert-base"])


def trial(qps, result, p99=None, **kw):
    return LoadgenTrial(scenario="server", result=result, target_qps=qps, target_latency_ms=100.0, p99_ms=p99, **kw)


def server_record(rid, *, capacity=None, trials=(), target_ms=100.0, batch=1, max_batch=1, max_wait_ms=0.0, run=None,
                  target_qps=None, **kw) -> RunRecord:
    search = None
    if target_qps is None:
        search = CapacitySearch(capacity_qps=capacity, tolerance=0.1, budget_s=120.0, upper_qps=200.0,
                                lower_qps=capacity or 0.0, stop_reason="tolerance", trials=tuple(trials))
        run = run if run is not None else max((t for t in trials if t.valid), key=lambda t: t.target_qps, default=None)
    lg = LoadgenResult(scenario="server", preset="quick", min_duration_s=2.0, min_query_count=500,
                       target_latency_ms=target_ms, target_qps=target_qps, items_per_query=batch, max_batch=max_batch,
                       max_wait_ms=max_wait_ms, run=run, search=search, log_dir=f"loadgen/{rid}")
    rec = record(rid, scenario="server", batch=batch, thr=400.0, p99=3.0, **kw)  # the timed loop's figures
    return rec.replace(metrics=rec.metrics.replace(loadgen=lg))


SEARCH = [trial(100.0, "VALID", 40.0), trial(150.0, "INVALID", 180.0), trial(125.0, "VALID", 90.0),
          trial(137.5, "INVALID", 120.0)]


def test_the_highest_valid_rate_is_the_capacity():
    cap = capacity_under_sla(server_record("s", capacity=125.0, trials=SEARCH), 100.0)
    assert (cap.capacity_per_s, cap.sla_met, cap.percentile, cap.latency_ms) == (125.0, True, "server", 90.0)
    assert cap.throughput_per_s == 125.0  # not the timed loop's 400/s
    assert cap.basis == ("LoadGen server: highest VALID rate 125 queries/s at p99 <= 100 ms (capacity search, "
                         "tolerance 10%, stopped: tolerance; quick runs of 500+ queries; no batching)")


def test_items_per_query_multiply_the_rate():
    cap = capacity_under_sla(server_record("b4", capacity=125.0, trials=SEARCH, batch=4), 100.0)
    assert cap.capacity_per_s == 500.0 and "125 queries/s x 4 items per query" in cap.basis


def test_a_tighter_target_gives_a_lower_bound_and_a_looser_one_is_not_comparable():
    rec = server_record("t", capacity=125.0, trials=SEARCH, target_ms=50.0)
    tighter = capacity_under_sla(rec, 100.0)
    assert tighter.capacity_per_s == 125.0 and tighter.sla_met and tighter.basis.endswith("a lower bound")
    looser = capacity_under_sla(rec, 20.0)
    assert (looser.capacity_per_s, looser.sla_met) == (None, None) and "not comparable" in looser.basis


def test_no_valid_rate_means_the_sla_is_not_met():
    invalid = [trial(100.0, "INVALID", 300.0), trial(50.0, "INVALID", 150.0)]
    rec = server_record("n", capacity=0.0, trials=invalid)
    cap = capacity_under_sla(rec, 100.0)
    assert (cap.capacity_per_s, cap.sla_met, cap.throughput_per_s) == (0.0, False, None)
    assert "INVALID runs are not used" in cap.basis
    # under a looser SLA than the runs targeted, INVALID runs say nothing
    assert capacity_under_sla(rec.replace(metrics=rec.metrics.replace(
        loadgen=rec.metrics.loadgen.replace(target_latency_ms=50.0))), 100.0).sla_met is None


def test_one_run_at_a_target_rate():
    ok = server_record("one", target_qps=80.0, run=trial(80.0, "VALID", 60.0))
    cap = capacity_under_sla(ok, 100.0)
    assert cap.capacity_per_s == 80.0 and "one run at the target rate, not a search: a lower bound" in cap.basis
    bad = server_record("bad", target_qps=300.0, run=trial(300.0, "INVALID", 900.0))
    assert capacity_under_sla(bad, 100.0).sla_met is False


def offline_record(rid, result, samples_per_s, p99=40.0):
    run = LoadgenTrial(scenario="offline", result=result, target_qps=90.0, samples_per_s=samples_per_s,
                       invalid_reason=None if result == "VALID" else "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.")
    lg = LoadgenResult(scenario="offline", preset="quick", min_duration_s=2.0, min_query_count=512, target_qps=90.0,
                       max_batch=8, run=run)
    rec = record(rid, scenario="offline", batch=8, thr=60.0, p99=p99)
    return rec.replace(metrics=rec.metrics.replace(loadgen=lg))


def test_offline_divides_by_loadgen_samples_per_second_when_valid():
    cap = capacity_under_sla(offline_record("o", "VALID", 64.5), 100.0)
    assert (cap.capacity_per_s, cap.sla_met, cap.throughput_per_s) == (64.5, True, 64.5)
    assert cap.basis == "LoadGen offline: VALID, 64.5 samples/s; call latency p99 40 ms <= 100 ms"
    late = capacity_under_sla(offline_record("o2", "VALID", 64.5, p99=130.0), 100.0)
    assert (late.capacity_per_s, late.sla_met) == (0.0, False)
    invalid = capacity_under_sla(offline_record("o3", "INVALID", 80.0), 100.0)
    assert (invalid.capacity_per_s, invalid.sla_met) == (None, None)
    assert invalid.basis.startswith("LoadGen offline run not VALID (Increase expected QPS")


def test_report_divides_by_the_loadgen_capacity_and_picks_the_cheaper_batching_setting():
    alone = server_record("alone", capacity=125.0, trials=SEARCH)
    batched = server_record("batched", capacity=180.0, max_batch=8, max_wait_ms=5.0,
                            trials=[trial(100.0, "VALID", 50.0), trial(180.0, "VALID", 95.0), trial(190.0, "INVALID", 130.0)])
    batched = batched.replace(config=batched.config.replace(settings=batched.config.settings.replace(max_batch=8, max_wait_ms=5.0)),
                              config_hash="batched")
    single = record("ss", thr=400.0, p99=3.0)  # the same configuration's single-stream record: superseded
    a = analyze([alone, batched, single], CostQuery(sla_ms=100, qps=50, gpu_reference=False), BUNDLED, CATALOG)
    [row] = a.rows
    assert row.record_id == "batched" and row.throughput_per_s == 180.0 and row.sla_met
    assert row.usd_per_million == pytest.approx(0.10264 / (180.0 * 3600) * 1e6)
    assert row.capacity_basis.startswith("LoadGen server: highest VALID rate 180 queries/s at p99 <= 100 ms")
    assert "batching up to 8 queries within 5 ms" in row.capacity_basis
    assert {c.record_id for c in a.candidates} == {"alone", "batched"}
