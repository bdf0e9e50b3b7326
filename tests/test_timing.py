"""The timed loop with a fake clock: deterministic known answers."""

from harness.runner.timing import timed_loop


class FakeClock:
    def __init__(self, step):
        self.t = 0.0
        self.step = step

    def __call__(self):
        return self.t

    def advance(self):
        self.t += self.step


def test_loop_runs_until_both_min_iters_and_min_duration():
    clock = FakeClock(1 / 64)  # each call takes 15.625 ms (exact in binary floating point)
    out = timed_loop(clock.advance, warmup_iters=3, min_iters=5, min_duration_s=0.125, clock=clock)
    assert out["warmup_iters"] == 3
    assert len(out["samples_ms"]) == 8  # 0.125 s / 15.625 ms, more than min_iters
    assert all(s == 15.625 for s in out["samples_ms"])
    assert out["stop_reason"] == "min_iters_and_duration"


def test_min_iters_dominates_when_calls_are_slow():
    clock = FakeClock(1.0)
    out = timed_loop(clock.advance, warmup_iters=0, min_iters=7, min_duration_s=0.5, clock=clock)
    assert len(out["samples_ms"]) == 7


def test_max_iters_and_max_duration_bound_the_loop():
    clock = FakeClock(0.001)
    out = timed_loop(clock.advance, warmup_iters=0, min_iters=10, min_duration_s=100, max_iters=50, clock=clock)
    assert len(out["samples_ms"]) == 50 and out["stop_reason"] == "max_iters"
    clock = FakeClock(1.0)
    out = timed_loop(clock.advance, warmup_iters=0, min_iters=1000, min_duration_s=1, max_duration_s=5, clock=clock)
    assert out["stop_reason"] == "max_duration_s" and len(out["samples_ms"]) == 5


def test_warmup_honours_seconds_as_well_as_calls():
    clock = FakeClock(0.125)
    out = timed_loop(clock.advance, warmup_iters=1, warmup_s=1.0, min_iters=1, min_duration_s=0, clock=clock)
    assert out["warmup_iters"] == 8


def test_engine_clock_replaces_host_clock_for_samples():
    clock = FakeClock(0.001)
    out = timed_loop(clock.advance, warmup_iters=0, min_iters=4, min_duration_s=0, clock=clock,
                     measure=lambda: (clock.advance(), 2.5)[1])
    assert out["samples_ms"] == [2.5, 2.5, 2.5, 2.5]
