"""Statistics against known answers."""

import numpy as np
import pytest

from harness.foundation.stats import percentile_interval, ratio_with_spread, summarize, throughput_per_s


def test_median_interval_of_1_to_100_uses_ranks_40_and_61():
    # the distribution-free 95% interval for the median of n=100 spans order statistics 40..61
    s = summarize(np.arange(1, 101))
    assert s["p50"] == pytest.approx(50.5)
    assert s["ci95"]["p50"] == [40.0, 61.0]
    assert s["n"] == 100
    assert s["mean"] == pytest.approx(50.5)
    assert s["std"] == pytest.approx(29.0114919759)


def test_p99_is_unsupported_with_100_samples_and_supported_with_1000():
    few = summarize(np.arange(1, 101))
    assert few["p99"] is None and "p99" in few["unsupported"] and few["ci95"]["p99"] is None
    many = summarize(np.arange(1, 1001))
    assert many["unsupported"] == []
    assert many["p99"] == pytest.approx(990.01)
    lo, hi = many["ci95"]["p99"]
    assert lo <= many["p99"] <= hi


def test_tiny_samples_support_nothing_but_mean():
    s = summarize([5.0, 7.0])
    assert s["unsupported"] == ["p50", "p90", "p99"]
    assert s["mean"] == 6.0 and s["min"] == 5.0 and s["max"] == 7.0


def test_interval_rejects_empty():
    assert percentile_interval(np.array([]), 0.5) is None
    assert summarize([])["n"] == 0


def test_order_independent():
    rng = np.random.default_rng(0)
    x = rng.exponential(10, 500)
    assert summarize(x) == summarize(np.sort(x)[::-1])


def test_throughput_is_batch_over_mean_latency():
    assert throughput_per_s([10.0, 30.0], batch_size=4) == pytest.approx(200.0)
    assert throughput_per_s([], 1) is None


def test_ratio_with_spread_known_ratio():
    a = np.full(50, 20.0) + np.linspace(0, 1, 50)
    b = np.full(50, 10.0) + np.linspace(0, 0.5, 50)
    r = ratio_with_spread(a, b)
    assert r["ratio"] == pytest.approx(np.median(a) / np.median(b))
    assert r["ci95"][0] <= r["ratio"] <= r["ci95"][1]
