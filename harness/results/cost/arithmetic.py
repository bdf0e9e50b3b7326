"""Cost arithmetic: pure functions of prices and rates.

  usd_per_million        = usd_per_hour / (capacity_per_s * 3600) * 1e6
  instances_at_target    = ceil(target_qps / capacity_per_s)
  usd_per_month          = instances * usd_per_hour * 730          (730 h: AWS Pricing Calculator convention)
  pareto_front           (cost, quality) points no cheaper-or-equal point beats on quality
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_MONTH = 730.0
MAX_BREAKPOINTS = 2_000_000


def is_positive(v) -> bool:
    """A finite number above zero (bools are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def usd_per_million(usd_per_hour: float, throughput_per_s: float) -> float:
    """Dollars per million items at a sustained throughput. 0.10264 $/h at 10 items/s -> 2.851111."""
    if not throughput_per_s or throughput_per_s <= 0:
        raise ValueError(f"throughput_per_s must be > 0, got {throughput_per_s!r}")
    return usd_per_hour / (throughput_per_s * 3600.0) * 1e6


def fleet_size(target_qps: float, capacity_per_s: float) -> int:
    """Instances needed to serve target_qps: ceil(target / capacity), robust to float noise (1.1/0.1 -> 11)."""
    if capacity_per_s <= 0:
        raise ValueError(f"capacity_per_s must be > 0, got {capacity_per_s!r}")
    if target_qps < 0:
        raise ValueError(f"target_qps must be >= 0, got {target_qps!r}")
    q = target_qps / capacity_per_s
    n = math.ceil(q)
    if n >= 1 and math.isclose(q, n - 1, rel_tol=1e-9, abs_tol=1e-12):
        n -= 1
    return n


def usd_per_month(instances: int, usd_per_hour: float, hours_per_month: float = HOURS_PER_MONTH) -> float:
    return instances * usd_per_hour * hours_per_month


def fleet_usd_per_month(target_qps: float, capacity_per_s: float, usd_per_hour: float) -> float:
    return usd_per_month(fleet_size(target_qps, capacity_per_s), usd_per_hour)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, quality) points not dominated by a cheaper-or-equal point of higher-or-equal quality; by cost."""
    front = []
    best_q = float("-inf")
    for cost, q in sorted(points, key=lambda p: (p[0], -p[1])):
        if q > best_q:
            front.append((cost, q))
            best_q = q
    return front


@dataclass(frozen=True)
class BreakEven:
    """Where a GPU fleet becomes cheaper than a CPU fleet (monthly cost, steps because of ceil)."""

    gpu_cheaper_above_qps: float | None  # GPU is cheaper for rates just above this (None: never within)
    gpu_cheaper_until_qps: float | None  # ... up to and including this rate (end of that first interval)
    stays_cheaper: bool  # GPU is no dearer at every rate above the break-even, up to within_qps
    within_qps: float

    def describe(self) -> str:
        if self.gpu_cheaper_above_qps is None:
            return f"GPU never cheaper within {self.within_qps:,.6g} req/s"
        start = "at any rate" if self.gpu_cheaper_above_qps == 0 else f"above {self.gpu_cheaper_above_qps:,.6g} req/s"
        if self.stays_cheaper:
            return f"GPU cheaper {start} (checked up to {self.within_qps:,.6g} req/s)"
        return (f"GPU first cheaper {start} up to {self.gpu_cheaper_until_qps:,.6g} req/s; "
                f"the two alternate above that (fleet steps), checked up to {self.within_qps:,.6g} req/s")


def break_even_qps(
    cpu_capacity_per_s: float,
    cpu_usd_per_hour: float,
    gpu_capacity_per_s: float,
    gpu_usd_per_hour: float,
    within_qps: float,
) -> BreakEven:
    """Smallest request rate at which the GPU fleet's monthly cost is below the CPU fleet's.

    Fleet costs are step functions: constant on (k*c, (k+1)*c]. Between consecutive breakpoints (multiples
    of either capacity) both are constant, so testing each interval's midpoint is exact. The answer is
    the interval's lower end: the GPU is cheaper for any rate just above it.
    """
    for name, v in (("cpu_capacity_per_s", cpu_capacity_per_s), ("gpu_capacity_per_s", gpu_capacity_per_s),
                    ("within_qps", within_qps)):
        if not v or v <= 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    n_points = within_qps / cpu_capacity_per_s + within_qps / gpu_capacity_per_s
    if n_points > MAX_BREAKPOINTS:  # keep the scan bounded; say so through within_qps
        within_qps = MAX_BREAKPOINTS / (1 / cpu_capacity_per_s + 1 / gpu_capacity_per_s)
    bounds = _breakpoints((cpu_capacity_per_s, gpu_capacity_per_s), within_qps)

    def cheaper(lo: float, hi: float) -> int:  # -1 GPU cheaper, 0 equal, 1 CPU cheaper
        mid = (lo + hi) / 2
        cpu = (math.floor(mid / cpu_capacity_per_s) + 1) * cpu_usd_per_hour
        gpu = (math.floor(mid / gpu_capacity_per_s) + 1) * gpu_usd_per_hour
        if math.isclose(cpu, gpu, rel_tol=1e-9):
            return 0
        return -1 if gpu < cpu else 1

    first = None  # (lower end, upper end) of the first interval where the GPU is cheaper
    for lo, hi in zip(bounds, bounds[1:]):
        if hi - lo <= 1e-12 * max(1.0, hi):
            continue
        c = cheaper(lo, hi)
        if first is None:
            if c < 0:
                first = (lo, hi)
        elif c > 0:
            return BreakEven(first[0], first[1], False, float(within_qps))
        elif first[1] == lo and c < 0:
            first = (first[0], hi)  # extend the first interval while the GPU stays cheaper
    if first is None:
        return BreakEven(None, None, False, float(within_qps))
    return BreakEven(first[0], first[1], True, float(within_qps))


def _breakpoints(capacities: tuple[float, ...], within_qps: float) -> list[float]:
    """0, within_qps and every multiple of each capacity below within_qps, sorted."""
    points = {0.0, float(within_qps)}
    for cap in capacities:
        k = 1
        while k * cap < within_qps:
            points.add(k * cap)
            k += 1
    return sorted(points)
