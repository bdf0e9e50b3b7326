"""Capacity of one run record under a latency bound (SLA).

  - server scenario: the highest offered rate whose p99 stayed within the SLA (metrics.server);
  - single-stream / offline: throughput_per_s when the call latency p99 (or p90, then p50 when p99 is
    unsupported, saying which) is <= sla_ms, else 0 (SLA not met, excluded from $ columns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..contracts import RunRecord, ServerResult
from .arithmetic import is_positive

LATENCY_FALLBACK = ("p99", "p90", "p50")


@dataclass(frozen=True)
class Capacity:
    capacity_per_s: float | None  # None: cannot tell; 0.0: SLA not met
    sla_met: bool | None
    basis: str  # how it was decided, in words
    latency_ms: float | None = None  # the latency compared with the SLA
    percentile: str | None = None  # "p99" | "p90" | "p50" | "server"


def is_server(record: RunRecord) -> bool:
    return record.config.scenario == "server" or record.metrics.server is not None


def capacity_under_sla(record: RunRecord, sla_ms: float) -> Capacity:
    """Capacity of one record under a latency bound (see the module docstring)."""
    metrics = record.metrics
    if is_server(record):
        return _server_capacity(metrics.server or ServerResult(), sla_ms)
    throughput = metrics.throughput_per_s
    if not is_positive(throughput):
        return Capacity(None, None, "no throughput_per_s in the record")
    lat = record.latency
    for pct in LATENCY_FALLBACK:
        value = lat.percentile(pct)
        if value is None:
            continue
        skipped = LATENCY_FALLBACK[: LATENCY_FALLBACK.index(pct)]
        prefix = f"{'/'.join(skipped)} unsupported (n={lat.n}); used {pct} " if skipped else f"{pct} "
        if value <= sla_ms:
            return Capacity(float(throughput), True, f"{prefix}{value:.4g} ms <= {sla_ms:g} ms", float(value), pct)
        return Capacity(0.0, False, f"{prefix}{value:.4g} ms > {sla_ms:g} ms: SLA not met", float(value), pct)
    return Capacity(None, None, "no latency percentile (p99, p90, p50) in the record")


def _server_capacity(server: ServerResult, sla_ms: float) -> Capacity:
    """The runner bisects the arrival rate keeping a latency quantile (p99; p90 with fewer than 300 requests)
    within its SLA; trials carry that quantile as p99_ms or p90_ms."""
    bound = server.sla_ms
    max_rate = server.max_rate_per_s
    trials = list(server.trials)
    q = server.quantile or 0.99
    pct = f"p{int(round(float(q) * 100))}"
    key = f"{pct}_ms"
    if bound is not None and math.isclose(float(bound), sla_ms) and max_rate is not None:
        met = is_positive(max_rate)
        return Capacity(float(max_rate), met, f"server: max rate {float(max_rate):.4g}/s with {pct} <= {sla_ms:g} ms"
                        + ("" if met else ": SLA not met at any rate"), sla_ms, "server")
    if trials:
        ok = [t for t in trials if t.get(key) is not None and t[key] <= sla_ms and is_positive(t.get("rate_per_s"))]
        if ok:
            best = max(ok, key=lambda t: t["rate_per_s"])
            return Capacity(float(best["rate_per_s"]), True, f"server trials: max rate {best['rate_per_s']:.4g}/s with {pct} "
                            f"{best[key]:.4g} ms <= {sla_ms:g} ms", float(best[key]), "server")
        return Capacity(0.0, False, f"server trials: no rate kept {pct} <= {sla_ms:g} ms: SLA not met", None, "server")
    if bound is not None and float(bound) <= sla_ms and max_rate is not None:
        return Capacity(float(max_rate), is_positive(max_rate), f"server: max rate {float(max_rate):.4g}/s with {pct} under a "
                        f"tighter bound ({float(bound):g} ms <= {sla_ms:g} ms): a lower bound", float(bound), "server")
    return Capacity(None, None, f"server capacity measured under {bound!r} ms, not comparable with {sla_ms:g} ms (no trials)")
