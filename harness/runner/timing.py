"""The timed loop. Standard library only (it runs in every worker interpreter). The server and offline
scenarios run under MLPerf LoadGen after it (harness.runner.loadgen_run)."""

from __future__ import annotations

import time


def timed_loop(call, *, warmup_iters: int = 5, warmup_s: float = 0.0, min_iters: int = 30,
               min_duration_s: float = 5.0, max_iters: int = 100_000, max_duration_s: float = 120.0,
               clock=time.perf_counter, measure=None) -> dict:
    """Warm up, then time `call()` until both min_iters and min_duration_s are reached.

    `measure`, when given, runs one call and returns its duration in ms by the engine's own clock
    (CUDA events for GPU work); the loop still uses `clock` for its duration bounds.

    Warm-up runs at least `warmup_iters` calls and at least `warmup_s` seconds. Timing stops early
    at max_iters or max_duration_s (the record says which bound ended it). Every sample is kept.
    """
    start = clock()
    done = 0
    while done < warmup_iters or clock() - start < warmup_s:
        call()
        done += 1
    samples_ms = []
    t_begin = clock()
    stop_reason = "min_iters_and_duration"
    while True:
        t0 = clock()
        if measure is None:
            call()
            t1 = clock()
            samples_ms.append((t1 - t0) * 1000.0)
        else:
            samples_ms.append(float(measure()))
            t1 = clock()
        elapsed = t1 - t_begin
        if len(samples_ms) >= min_iters and elapsed >= min_duration_s:
            break
        if len(samples_ms) >= max_iters:
            stop_reason = "max_iters"
            break
        if elapsed >= max_duration_s:
            stop_reason = "max_duration_s"
            break
    return {"samples_ms": samples_ms, "warmup_iters": done, "timed_s": clock() - t_begin, "stop_reason": stop_reason}

