"""Known answer for the capacity search: a system under test of known service time under real LoadGen runs.

The engine sleeps a fixed service time s per query, one query at a time: a single deterministic server fed
by LoadGen's Poisson arrivals (M/D/1). LoadGen's schedule comes from a fixed seed, so every server run at
rate q sees the same exponential draws scaled by 1/q. The theory here takes that schedule (recorded from a
LoadGen run whose system under test answers at once), serves it with a deterministic server of service time
s (Lindley's recursion: each query starts when it arrives or when the previous one ends), and applies
MLPerf's verdict: p99 within the target and early stopping (with t queries over the target, at least
h(t) + t queries, h from the binomial bound at 99% confidence). The highest rate whose verdict is VALID
is the answer the search must find, within its tolerance.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pytest

from harness.contracts import Artifact, BenchConfig, Settings, WorkerJob
from harness.runner.capacity_search import best_trial
from harness.runner.loadgen_sut import import_loadgen, run_loadgen
from tests.helpers.faulty_backends import SleepBackend

SERVICE_MS, TARGET_MS, QUERIES, TOLERANCE = 4.0, 40.0, 500, 0.10  # target = 10 services: p99 set by queueing
# sleep() overshoots by tens of microseconds and the serving thread adds its own; a busy machine stalls a
# query now and then, which can only make a run INVALID sooner: more room below the answer than above
BELOW, ABOVE = 0.10, 0.05


class _Recorder:
    """A system under test that answers every query at once and notes when it arrived."""

    def __init__(self, lg):
        self.lg, self.arrivals, self.error, self.batches = lg, [], None, {}

    def issue(self, samples):
        self.arrivals.append(time.perf_counter())
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    def flush(self):
        pass

    def start(self):
        pass

    def stop(self):
        pass


def loadgen_schedule(tmp_path, rate: float = 500.0, runs: int = 3) -> np.ndarray:
    """LoadGen's server arrival times for QUERIES queries, scaled to rate 1 (in units of the mean gap): the
    median over a few recordings, so a moment the machine stalled LoadGen's issuing thread does not count."""
    lg = import_loadgen()
    recorded = []
    for i in range(runs):
        rec = _Recorder(lg)
        run_loadgen("server", rec, tmp_path / f"schedule-{i}", min_duration_s=0.1, min_queries=QUERIES,
                    target_qps=rate, target_latency_ms=1000.0)
        t = np.asarray(rec.arrivals)
        recorded.append((t - t[0]) * rate)
    return np.median(np.stack(recorded), axis=0)


def min_passing(overlatency: int, p: float = 0.99, confidence: float = 0.99) -> int:
    """LoadGen's early-stopping bound: the fewest h with P(Binomial(h + t, 1 - p) <= t) < 1 - confidence."""
    def odds(h):
        n = h + overlatency
        return sum(math.exp(math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
                            + x * math.log(1 - p) + (n - x) * math.log(p)) for x in range(overlatency + 1))

    lo, hi = 1, 10**6
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if odds(mid) < 1 - confidence else (mid + 1, hi)
    return lo


def md1_valid(schedule: np.ndarray, qps: float, service_ms: float) -> bool:
    """MLPerf's server verdict for a deterministic single server on the schedule at `qps`."""
    free, response = -math.inf, []
    for arrival in schedule * (1000.0 / qps):
        free = max(arrival, free) + service_ms
        response.append(free - arrival)
    response = np.sort(response)
    late = int((response > TARGET_MS).sum())
    return response[int(len(response) * 0.99)] <= TARGET_MS and len(response) >= min_passing(late) + late


def theory_capacity(schedule: np.ndarray, service_ms: float) -> float:
    lo, hi = 0.0, 1000.0 / service_ms  # VALID at 0, never above the service rate
    while hi - lo > 1e-4 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if md1_valid(schedule, mid, service_ms) else (lo, mid)
    return lo


def test_early_stopping_bound_matches_loadgen():
    # LoadGen 6.0.17 asks for 459 queries with none late, 661 with one (its summary's "would need ... more")
    assert (min_passing(0), min_passing(1)) == (459, 661)


def sleep_server(tmp_path, monkeypatch, **settings):
    """(worker job, loaded SleepBackend, one query's inputs) for a server run at TARGET_MS on the fake engine of
    SERVICE_MS per call, with LoadGen logs under tmp_path/loadgen/rid."""
    monkeypatch.setenv("HARNESS_TEST_SERVICE_MS", str(SERVICE_MS))
    config = BenchConfig(model="bert-tiny", backend="sleep", scenario="server", settings=Settings(
        sla_ms=TARGET_MS, loadgen_min_duration_s=0.1, loadgen_min_queries=QUERIES, **settings))
    job = WorkerJob(config=config, artifact=Artifact(dir="", input_names=("x",)), backend_spec="", repo_root="",
                    loadgen_dir=str(tmp_path / "loadgen" / "rid"))
    engine = SleepBackend(config, job.artifact)
    engine.load()
    return job, engine, {"x": np.zeros((1, 4), dtype=np.int64)}


def test_capacity_search_finds_the_md1_answer(tmp_path, monkeypatch):
    job, engine, inputs = sleep_server(tmp_path, monkeypatch, capacity_tolerance=TOLERANCE, capacity_budget_s=60.0)
    calls = []
    for _ in range(100):
        t0 = time.perf_counter()
        engine.infer(inputs)
        calls.append((time.perf_counter() - t0) * 1000.0)
    service_ms = statistics.median(calls)  # the sleep as it really runs (a little over SERVICE_MS)

    from harness.runner.loadgen_run import run_server

    result = run_server(job, engine, np, inputs, inputs, service_ms)
    expected = theory_capacity(loadgen_schedule(tmp_path), service_ms)
    search = result.search
    assert search.stop_reason == "tolerance" and search.tolerance == TOLERANCE
    assert expected * (1 - TOLERANCE - BELOW) <= search.capacity_qps <= expected * (1 + ABOVE), \
        (search.capacity_qps, expected, [(t.target_qps, t.result, t.max_ms) for t in search.trials])
    # the record's run is the VALID one at the answer; its logs are where the record says
    run = result.run
    assert run is best_trial(search) and run.valid and run.target_qps == search.capacity_qps
    assert run.p99_ms <= TARGET_MS and run.query_count == QUERIES and run.overlatency_queries == 0
    assert (tmp_path / "loadgen" / "rid" / run.log_dir / "mlperf_log_summary.txt").exists()
    assert result.log_dir == "loadgen/rid" and result.capacity_qps == search.capacity_qps


@pytest.mark.parametrize("factor", [3.0])
def test_a_target_above_the_service_rate_is_invalid(tmp_path, monkeypatch, factor):
    qps = factor * 1000.0 / SERVICE_MS
    job, engine, inputs = sleep_server(tmp_path, monkeypatch, target_qps=qps)

    from harness.runner.loadgen_run import run_server

    result = run_server(job, engine, np, inputs, inputs, SERVICE_MS)
    assert result.search is None and result.run.target_qps == qps
    assert result.run.result == "INVALID" and result.run.perf_constraints_met is False
    assert result.capacity_qps == 0.0  # an INVALID run gives no capacity
