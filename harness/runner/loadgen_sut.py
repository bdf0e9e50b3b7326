"""The system under test that MLPerf LoadGen drives, and one LoadGen run.

One class serves every scenario: LoadGen hands queries to `issue` (on its own thread); one serving thread
takes them in arrival order and runs one engine call at a time on up to `max_batch` of them, waiting at
most `max_wait_s` after the oldest one arrived for others to join (dynamic batching). Server: a query is
one sample, the engine call merges the inputs of the queries it serves. Offline: LoadGen issues every
sample at once and the calls take `max_batch` (the configuration's batch size) samples each.
Single-stream: LoadGen issues one query after the previous one completed, so each call serves one.

Every sample of LoadGen's query sample library stands for the same prepared input: a benchmark's inputs
share one shape, and an engine's time does not depend on their values.

Standard library at import time (the DeepSparse worker runs this under another interpreter); the
`mlperf_loadgen` module is imported when a run starts, because it is an optional dependency.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

from .loadgen_log import LoadgenLogError, read_logs

PERFORMANCE_SAMPLES = 1024  # the query sample library's size (all entries are the one prepared input)
LOADGEN_PIN = "mlcommons-loadgen==6.0.17"
SCENARIO_NAMES = {"server": "Server", "offline": "Offline", "single-stream": "SingleStream"}


class LoadgenUnavailable(Exception):
    """mlperf_loadgen cannot be imported in this interpreter."""


class LoadgenRunError(Exception):
    """A LoadGen run that did not finish with a verdict: the engine failed during it, or no log came out."""


def import_loadgen():
    try:
        import mlperf_loadgen
    except ImportError as exc:
        raise LoadgenUnavailable(f"MLPerf LoadGen is not installed in this worker's interpreter ({exc}); "
                                 f"pip install {LOADGEN_PIN}") from None
    return mlperf_loadgen


class BatchingSUT:
    """Serves LoadGen's queries one engine call at a time, merging up to `max_batch` queued ones.

    run_batch(k) runs one engine call for k queries. A failing call is remembered (the first error is kept)
    and its queries are completed anyway, so LoadGen finishes and the run can be reported as failed.
    """

    def __init__(self, run_batch, *, max_batch: int = 1, max_wait_s: float = 0.0, clock=time.monotonic,
                 complete=None):
        self.run_batch = run_batch
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.clock = clock
        self.complete = complete  # ids -> None; default: mlperf_loadgen.QuerySamplesComplete
        self.queue: collections.deque = collections.deque()  # (arrival time, sample id)
        self.cond = threading.Condition()
        self.stopping = False
        self.error: BaseException | None = None
        self.batches: collections.Counter = collections.Counter()
        self.thread: threading.Thread | None = None

    # LoadGen's callbacks
    def issue(self, samples) -> None:
        now = self.clock()
        with self.cond:
            self.queue.extend((now, s.id) for s in samples)
            self.cond.notify()

    def flush(self) -> None:
        pass

    # the serving thread
    def start(self) -> None:
        self.thread = threading.Thread(target=self._serve, name="harness-sut", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        if self.thread is not None:
            self.thread.join()

    def next_batch(self) -> list | None:
        """The ids of the next call's queries (blocking), or None once stopped with nothing queued."""
        with self.cond:
            while not self.queue and not self.stopping:
                self.cond.wait()
            if not self.queue:
                return None
            deadline = self.queue[0][0] + self.max_wait_s
            while len(self.queue) < self.max_batch and not self.stopping:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            return [self.queue.popleft()[1] for _ in range(min(self.max_batch, len(self.queue)))]

    def _serve(self) -> None:
        while True:
            ids = self.next_batch()
            if ids is None:
                return
            if self.error is None:
                try:
                    self.run_batch(len(ids))
                except BaseException as exc:  # noqa: BLE001 - reported after the run; LoadGen must still finish
                    self.error = exc
            self.batches[len(ids)] += 1
            self._complete(ids)

    def _complete(self, ids) -> None:
        if self.complete is not None:
            self.complete(ids)
            return
        import mlperf_loadgen as lg

        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])


def performance_settings(lg, scenario: str, *, min_duration_s: float, min_queries: int, target_qps: float | None,
                         target_latency_ms: float | None, expected_latency_ms: float | None):
    """LoadGen's TestSettings for one performance run."""
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, SCENARIO_NAMES[scenario])
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = max(1, int(round(min_duration_s * 1000)))
    settings.min_query_count = int(min_queries)
    settings.performance_sample_count_override = PERFORMANCE_SAMPLES
    if scenario == "server":
        settings.server_target_qps = float(target_qps)
        settings.server_target_latency_ns = int(round(target_latency_ms * 1e6))
        settings.server_target_latency_percentile = 0.99
    elif scenario == "offline":
        settings.offline_expected_qps = float(target_qps)
    elif expected_latency_ms:
        settings.single_stream_expected_latency_ns = max(1, int(round(expected_latency_ms * 1e6)))
    return settings


def run_loadgen(scenario: str, sut: BatchingSUT, log_dir: str | Path, *, min_duration_s: float, min_queries: int,
                target_qps: float | None = None, target_latency_ms: float | None = None,
                expected_latency_ms: float | None = None) -> dict:
    """One LoadGen performance run against `sut`; the LoadgenTrial fields its logs report (plus
    loadgen_version). Raises LoadgenRunError when the engine failed during the run or no verdict came out."""
    lg = import_loadgen()
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    settings = performance_settings(lg, scenario, min_duration_s=min_duration_s, min_queries=min_queries,
                                    target_qps=target_qps, target_latency_ms=target_latency_ms,
                                    expected_latency_ms=expected_latency_ms)
    log = lg.LogSettings()
    log.log_output.outdir = str(log_dir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    handle = lg.ConstructSUT(sut.issue, sut.flush)
    qsl = lg.ConstructQSL(PERFORMANCE_SAMPLES, PERFORMANCE_SAMPLES, _no_op, _no_op)
    sut.start()
    t0 = time.monotonic()
    try:
        lg.StartTestWithLogSettings(handle, qsl, settings, log)
    finally:
        sut.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    duration_s = time.monotonic() - t0
    (log_dir / "mlperf_log_accuracy.json").unlink(missing_ok=True)  # empty in performance mode
    (log_dir / "mlperf_log_trace.json").unlink(missing_ok=True)  # tracing is off: an empty file
    if sut.error is not None:
        line = f"{type(sut.error).__name__}: {sut.error}".strip().splitlines()[0][:300]
        raise LoadgenRunError(f"the engine failed during the LoadGen {scenario} run: {line}")
    try:
        fields = read_logs(log_dir)
    except LoadgenLogError as exc:
        raise LoadgenRunError(str(exc)) from None
    return fields | {"scenario": scenario, "duration_s": duration_s,
                     "batches": {str(k): v for k, v in sorted(sut.batches.items())}}


def _no_op(_samples) -> None:
    pass
