"""Capacity search: the highest server rate (queries per second) whose LoadGen run is VALID.

A bounded bisection. The bracket starts at [0, upper], where `upper` is the service-rate bound (above it
queries arrive faster than the engine serves them, so the queue grows without bound and no long run can
be VALID). The first trial runs at `start`; then each trial halves the bracket: a VALID run raises its
lower end, an INVALID one lowers its upper end. It stops when

  - tolerance: the bracket is within `tolerance` of its upper end ((hi - lo) <= tolerance * hi), so the
    answer (lo, a rate that was VALID) is within `tolerance` below the boundary;
  - budget: the next trial's expected duration does not fit in what is left of `budget_s`;
  - no valid rate: nothing was VALID down to upper / 1000 (the answer is 0).

Every trial is kept. Standard library only (it runs in the worker). LoadGen runs with a fixed schedule
seed, so every trial sees the same Poisson arrivals, scaled to its rate: a higher rate only ever brings
arrivals closer together, and the verdict falls as the rate rises, which is what bisection needs.
"""

from __future__ import annotations

import time

from harness.contracts.worker import CapacitySearch, LoadgenTrial

FLOOR_FRACTION = 1e-3  # below upper * this, the search gives up: no rate is VALID


def search_capacity(trial, *, upper: float, tolerance: float, budget_s: float, start: float | None = None,
                    expected_s=None, clock=time.monotonic) -> CapacitySearch:
    """Bisect the target QPS between 0 and `upper` with `trial(qps) -> LoadgenTrial`.

    `expected_s(qps)`, when given, estimates a trial's duration; a trial that would not finish within the
    budget is not started (the first trial always runs). See the module docstring for the stop rules.
    """
    if not upper > 0:
        raise ValueError(f"upper bound must be > 0, got {upper!r}")
    began = clock()
    lo, hi = 0.0, float(upper)
    trials: list[LoadgenTrial] = []
    qps = float(start) if start and 0 < start < upper else upper / 2
    stop = ""
    while True:
        if trials:
            if lo > 0 and hi - lo <= tolerance * hi:
                stop = "tolerance"
                break
            if lo == 0 and hi <= upper * FLOOR_FRACTION:
                stop = "no valid rate"
                break
            elapsed = clock() - began
            if elapsed >= budget_s or (expected_s is not None and elapsed + expected_s(qps) > budget_s):
                stop = "budget"
                break
        result = trial(qps)
        trials.append(result)
        if result.valid:
            lo = max(lo, qps)
        else:
            hi = min(hi, qps)
        qps = (lo + hi) / 2
    return CapacitySearch(capacity_qps=lo, tolerance=float(tolerance), budget_s=float(budget_s), upper_qps=float(upper),
                          lower_qps=lo, bracket_hi_qps=hi, stop_reason=stop, elapsed_s=clock() - began,
                          trials=tuple(trials))


def best_trial(search: CapacitySearch) -> LoadgenTrial | None:
    """The VALID trial at the capacity (the run the record stands for), or None."""
    valid = [t for t in search.trials if t.valid and t.target_qps is not None]
    return max(valid, key=lambda t: t.target_qps, default=None)
