"""Micro-benchmarks of the harness's own hot paths (pytest-benchmark; `make bench-harness`).

Not part of the pass/fail suite: these report timings, they do not judge them.
"""

import numpy as np
import pytest

from harness.foundation.stats import summarize
from harness.results.store import append_record
from harness.runner.timing import timed_loop

pytestmark = pytest.mark.bench


def test_timed_loop_overhead_per_call(benchmark):
    """The loop's own cost: 10k calls of a no-op (divide the mean by 10k for per-call overhead)."""
    benchmark(timed_loop, lambda: None, warmup_iters=0, min_iters=10_000, min_duration_s=0.0)


def test_statistics_on_100k_samples(benchmark):
    samples = np.random.default_rng(0).lognormal(3, 0.2, 100_000)
    out = benchmark(summarize, samples)
    assert out["n"] == 100_000


def test_record_append(benchmark, tmp_path):
    """One record of 1,000 raw samples appended: encoding, the lock, the write and the fsync."""
    from tests.helpers.records import record

    one = record("bench", machine_id="bench", samples=np.random.default_rng(0).lognormal(3, 0.2, 1000))
    benchmark(append_record, one, tmp_path)
