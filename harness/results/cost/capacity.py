"""Capacity of one run record under a latency bound (SLA), and the throughput the $ figures divide by.

  - server scenario under MLPerf LoadGen (metrics.loadgen): the highest target QPS whose run was VALID at
    the p99 target, times the items of one query, when the record's target is the SLA (or tighter: then a
    lower bound). INVALID runs are never used: a record with no VALID rate has capacity 0 (SLA not met).
  - legacy server records (metrics.server, the Poisson loop before LoadGen): the highest offered rate whose
    latency quantile stayed within the SLA, as those records state it;
  - single-stream / offline: throughput when the call latency p99 (or p90, then p50 when p99 is unsupported,
    saying which) is <= sla_ms, else 0 (SLA not met, excluded from $ columns). An offline record with a
    LoadGen run divides by LoadGen's samples per second when that run was VALID; an INVALID one gives no
    capacity at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.contracts import RunRecord, ServerResult

from .arithmetic import is_positive

LATENCY_FALLBACK = ("p99", "p90", "p50")


@dataclass(frozen=True)
class Capacity:
    capacity_per_s: float | None  # None: cannot tell; 0.0: SLA not met
    sla_met: bool | None
    basis: str  # how it was decided, in words (the cost report's "how" column)
    latency_ms: float | None = None  # the latency compared with the SLA
    percentile: str | None = None  # "p99" | "p90" | "p50" | "server"
    throughput_per_s: float | None = None  # what the $ figures divide by (server: the capacity)


def is_server(record: RunRecord) -> bool:
    loadgen = record.metrics.loadgen
    return (record.config.scenario == "server" or record.metrics.server is not None
            or (loadgen is not None and loadgen.scenario == "server"))


def capacity_under_sla(record: RunRecord, sla_ms: float) -> Capacity:
    """Capacity of one record under a latency bound (see the module docstring)."""
    metrics = record.metrics
    loadgen = metrics.loadgen
    if loadgen is not None and loadgen.scenario == "server":
        return loadgen_server_capacity(loadgen, sla_ms)
    if is_server(record):
        return _server_capacity(metrics.server or ServerResult(), sla_ms)
    throughput = metrics.throughput_per_s
    prefix = ""
    if loadgen is not None and loadgen.scenario == "offline":
        run = loadgen.run
        if run is None or not run.valid or not is_positive(run.samples_per_s):
            why = (run.invalid_reason or "INVALID") if run is not None else "no run"
            return Capacity(None, None, f"LoadGen offline run not VALID ({why}): not used")
        throughput = float(run.samples_per_s)
        prefix = f"LoadGen offline: VALID, {throughput:.4g} samples/s; call latency "
    if not is_positive(throughput):
        return Capacity(None, None, "no throughput_per_s in the record")
    cap = _call_latency_capacity(record, float(throughput), sla_ms)
    return cap if not prefix else Capacity(cap.capacity_per_s, cap.sla_met, prefix + cap.basis, cap.latency_ms,
                                           cap.percentile, cap.throughput_per_s)


def _call_latency_capacity(record: RunRecord, throughput: float, sla_ms: float) -> Capacity:
    lat = record.latency
    for pct in LATENCY_FALLBACK:
        value = lat.percentile(pct)
        if value is None:
            continue
        skipped = LATENCY_FALLBACK[: LATENCY_FALLBACK.index(pct)]
        prefix = f"{'/'.join(skipped)} unsupported (n={lat.n}); used {pct} " if skipped else f"{pct} "
        if value <= sla_ms:
            return Capacity(throughput, True, f"{prefix}{value:.4g} ms <= {sla_ms:g} ms", float(value), pct, throughput)
        return Capacity(0.0, False, f"{prefix}{value:.4g} ms > {sla_ms:g} ms: SLA not met", float(value), pct, throughput)
    return Capacity(None, None, "no latency percentile (p99, p90, p50) in the record")


def batching_words(loadgen) -> str:
    """Which batching setting a LoadGen server result ran (the cost report shows which one won)."""
    if loadgen.max_batch <= 1:
        return "no batching"
    return f"batching up to {loadgen.max_batch} queries within {loadgen.max_wait_ms:g} ms"


def loadgen_server_capacity(loadgen, sla_ms: float) -> Capacity:
    """The highest VALID LoadGen server rate at the p99 target, in items per second."""
    target = loadgen.target_latency_ms
    qps = loadgen.capacity_qps
    items = max(1, int(loadgen.items_per_query))
    how = (f"capacity search, tolerance {loadgen.search.tolerance:.0%}, stopped: {loadgen.search.stop_reason}"
           if loadgen.search is not None else "one run at the target rate, not a search: a lower bound")
    context = f"{how}; {loadgen.preset} runs of {loadgen.min_query_count}+ queries; {batching_words(loadgen)}"
    if target is None or qps is None:
        return Capacity(None, None, "LoadGen server result without a target latency or a rate")
    tighter = target < sla_ms and not math.isclose(target, sla_ms)
    if not tighter and not math.isclose(target, sla_ms):
        return Capacity(None, None, f"LoadGen server runs targeted p99 <= {target:g} ms, looser than {sla_ms:g} ms: "
                        "not comparable")
    p99 = loadgen.run.p99_ms if loadgen.run is not None else None
    if is_positive(qps):
        rate = float(qps) * items
        per_item = f" x {items} items per query" if items > 1 else ""
        lower = f"; measured at a tighter target ({target:g} ms): a lower bound" if tighter else ""
        return Capacity(rate, True, f"LoadGen server: highest VALID rate {float(qps):.4g} queries/s{per_item} at p99 <= "
                        f"{target:g} ms ({context}){lower}", p99, "server", rate)
    if tighter:
        return Capacity(None, None, f"LoadGen server: no VALID rate at p99 <= {target:g} ms, tighter than {sla_ms:g} ms: "
                        "cannot tell")
    why = loadgen.note or f"{context}; INVALID runs are not used"
    return Capacity(0.0, False, f"LoadGen server: no VALID rate at p99 <= {target:g} ms ({why}): SLA not met", p99,
                    "server", None)


def _server_capacity(server: ServerResult, sla_ms: float) -> Capacity:
    """Legacy records: the runner bisected the arrival rate keeping a latency quantile (p99; p90 with fewer
    than 300 requests) within its SLA; trials carry that quantile as p99_ms or p90_ms."""
    bound = server.sla_ms
    max_rate = server.max_rate_per_s
    trials = list(server.trials)
    q = server.quantile or 0.99
    pct = f"p{int(round(float(q) * 100))}"
    key = f"{pct}_ms"
    if bound is not None and math.isclose(float(bound), sla_ms) and max_rate is not None:
        met = is_positive(max_rate)
        return Capacity(float(max_rate), met, f"server: max rate {float(max_rate):.4g}/s with {pct} <= {sla_ms:g} ms"
                        + ("" if met else ": SLA not met at any rate"), sla_ms, "server", float(max_rate))
    if trials:
        ok = [t for t in trials if getattr(t, key, None) is not None and getattr(t, key) <= sla_ms
              and is_positive(t.rate_per_s)]
        if ok:
            best = max(ok, key=lambda t: t.rate_per_s)
            rate, kept = float(best.rate_per_s), float(getattr(best, key))
            return Capacity(rate, True, f"server trials: max rate {rate:.4g}/s with {pct} {kept:.4g} ms <= {sla_ms:g} ms",
                            kept, "server", rate)
        return Capacity(0.0, False, f"server trials: no rate kept {pct} <= {sla_ms:g} ms: SLA not met", None, "server",
                        0.0)
    if bound is not None and float(bound) <= sla_ms and max_rate is not None:
        return Capacity(float(max_rate), is_positive(max_rate), f"server: max rate {float(max_rate):.4g}/s with {pct} under a "
                        f"tighter bound ({float(bound):g} ms <= {sla_ms:g} ms): a lower bound", float(bound), "server",
                        float(max_rate))
    return Capacity(None, None, f"server capacity measured under {bound!r} ms, not comparable with {sla_ms:g} ms (no trials)")
