"""Statistics derived from raw latency samples.

Percentiles use the distribution-free order-statistic interval: for the q-quantile of n samples, the
ranks l and u are chosen from the Binomial(n, q) distribution so that P(x_(l) <= Q_q <= x_(u)) >= 95%.
When the sample count is too small for such ranks to exist inside 1..n, the percentile is reported as
unsupported rather than as a number (p99 needs roughly 300+ samples).
"""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}


def percentile_interval(sorted_samples: np.ndarray, q: float, confidence: float = 0.95):
    """(estimate, (low, high)) for the q-quantile, or None when n cannot support it."""
    from scipy.stats import binom

    n = len(sorted_samples)
    if n == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    # 1-based ranks: P(B < l) <= alpha and P(B >= u) <= alpha with B ~ Binomial(n, q)
    lo_rank = int(binom.ppf(alpha, n, q))  # x_(lo_rank) is a lower bound when lo_rank >= 1
    hi_rank = int(binom.ppf(1.0 - alpha, n, q)) + 1
    if lo_rank < 1 or hi_rank > n:
        return None
    estimate = float(np.quantile(sorted_samples, q, method="linear"))
    return estimate, (float(sorted_samples[lo_rank - 1]), float(sorted_samples[hi_rank - 1]))


def summarize(samples_ms, confidence: float = 0.95) -> dict:
    """p50/p90/p99 with intervals, mean, std, min, max and n, from raw samples in milliseconds."""
    arr = np.sort(np.asarray(samples_ms, dtype=np.float64))
    n = int(arr.size)
    out: dict = {"n": n, "ci95": {}, "unsupported": []}
    for name, q in PERCENTILES.items():
        result = percentile_interval(arr, q, confidence) if n else None
        if result is None:
            out[name] = None
            out["ci95"][name] = None
            out["unsupported"].append(name)
        else:
            out[name] = result[0]
            out["ci95"][name] = list(result[1])
    out["mean"] = float(arr.mean()) if n else None
    out["std"] = float(arr.std(ddof=1)) if n > 1 else None
    out["min"] = float(arr[0]) if n else None
    out["max"] = float(arr[-1]) if n else None
    return out


def ratio_with_spread(a_ms, b_ms, n_boot: int = 2000, seed: int = 0) -> dict:
    """Median(a)/median(b) with a bootstrap 95% interval (scipy.stats.bootstrap, percentile method, the two
    samples resampled independently): how to state "x times faster" honestly."""
    from scipy.stats import bootstrap

    a = np.asarray(a_ms, dtype=np.float64)
    b = np.asarray(b_ms, dtype=np.float64)
    ratio = float(np.median(a) / np.median(b))
    if a.size < 2 or b.size < 2 or np.ptp(a) == 0 and np.ptp(b) == 0:  # nothing to resample: no spread
        return {"ratio": ratio, "ci95": [ratio, ratio]}
    res = bootstrap((a, b), lambda x, y, axis=-1: np.median(x, axis=axis) / np.median(y, axis=axis),
                    n_resamples=n_boot, method="percentile", vectorized=True, paired=False,
                    rng=np.random.default_rng(seed))
    return {"ratio": ratio, "ci95": [float(res.confidence_interval.low), float(res.confidence_interval.high)]}


def throughput_per_s(samples_ms, batch_size: int) -> float | None:
    """Items per second from per-call latencies: batch / mean latency."""
    if not len(samples_ms):
        return None
    mean_ms = float(np.mean(samples_ms))
    return batch_size * 1000.0 / mean_ms if mean_ms > 0 else None


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value (nonparametric: no normality assumed)."""
    from scipy.stats import mannwhitneyu

    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """The Wilson score 95% interval of a proportion (successes of n); None when n is 0.

    Pure Python: the worker computes it under any interpreter. For 90 of 100: (0.8256, 0.9448).
    """
    if n <= 0:
        return None
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
