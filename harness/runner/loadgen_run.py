"""The server and offline scenarios in the worker, under MLPerf LoadGen, after parity and the timed loop.

    server   capacity search (harness.runner.capacity_search) over LoadGen server runs at the p99 target
             (settings.sla_ms), or one run at settings.target_qps; the system under test merges up to
             settings.max_batch queued queries into one engine call, waiting at most settings.max_wait_ms
    offline  one LoadGen offline run; calls of the configuration's batch size (the last one padded)

Samples and items: a server query is one sample, one input of the configuration's batch size (items per
query; 1 at the default batch size). A merged call runs k queries as one input of k times that many rows,
which engines with dynamic shapes accept; an engine with static shapes (DeepSparse) is refused max_batch > 1.
An offline sample is one item (one row); calls take the batch size's rows.

Durations come from a preset (settings.loadgen), each value replaceable by hand:

    preset  min duration  min queries (server / offline)  search tolerance  search budget
    quick   2 s           500 / 512                       10 %              120 s
    full    600 s         100 / 24576                     5 %               3 h

full is MLPerf's reference (mlperf.conf: 600 s for every scenario; LoadGen's server default of 100
queries, early stopping deciding the rest; the offline count of resnet50 and retinanet). quick is the
shortest run that can still be VALID: a p99 claim needs at least 459 queries (early stopping, none late).

Logs of trial i go to <loadgen_dir>/trial-<i>; the record's log_dir names loadgen_dir relative to the
results root (loadgen/<record id>).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from harness.contracts.worker import CapacitySearch, LoadgenResult, LoadgenTrial

from .capacity_search import best_trial, search_capacity
from .loadgen_sut import BatchingSUT, run_loadgen

LOADGEN_SCENARIOS = ("server", "offline")
OFFLINE_EXPECTED_FACTOR = 1.5  # offline: LoadGen sizes its query for min duration at the expected rate; aim above it


@dataclass(frozen=True)
class Preset:
    min_duration_s: float
    server_min_queries: int
    offline_min_queries: int
    tolerance: float
    budget_s: float


PRESETS = {
    "quick": Preset(min_duration_s=2.0, server_min_queries=500, offline_min_queries=512, tolerance=0.10, budget_s=120.0),
    "full": Preset(min_duration_s=600.0, server_min_queries=100, offline_min_queries=24576, tolerance=0.05,
                   budget_s=3 * 3600.0),
}


class LoadgenRefused(Exception):
    """A configuration LoadGen cannot run as asked (becomes an 'unsupported' record)."""


@dataclass(frozen=True)
class Plan:
    preset: str
    min_duration_s: float
    min_queries: int
    tolerance: float
    budget_s: float


def plan(settings, scenario: str) -> Plan:
    """Durations of each LoadGen run for `scenario`: the preset, with the values set by hand instead."""
    p = PRESETS[settings.loadgen]
    queries = p.server_min_queries if scenario == "server" else p.offline_min_queries
    custom = settings.loadgen_min_duration_s is not None or settings.loadgen_min_queries is not None
    return Plan(
        preset="custom" if custom else settings.loadgen,
        min_duration_s=float(settings.loadgen_min_duration_s or p.min_duration_s),
        min_queries=int(settings.loadgen_min_queries or queries),
        tolerance=float(settings.capacity_tolerance or p.tolerance),
        budget_s=float(settings.capacity_budget_s or p.budget_s),
    )


def results_relative(loadgen_dir: str) -> str:
    """loadgen/<record id>: the log directory as the record names it (relative to the results root)."""
    return "/".join(Path(loadgen_dir).parts[-2:])


def merged_calls(np, backend, inputs: dict, prepared, max_batch: int, sync):
    """run_batch(k) for the server: one engine call on k queries' inputs, stacked along the batch axis.
    Every merged input is prepared here, outside the runs, from leading slices (views) of the largest one."""
    ready = {1: prepared}
    largest = {name: np.ascontiguousarray(np.concatenate([x] * max_batch, axis=0)) for name, x in inputs.items()}
    for k in range(2, max_batch + 1):
        ready[k] = backend.prepare({name: largest[name][: k * len(x)] for name, x in inputs.items()})

    def run_batch(k: int) -> None:
        sync(backend.infer(ready[k]))

    return run_batch


def service_rate_qps(run_batch, service_ms: float, max_batch: int, calls: int = 5) -> float:
    """Queries per second the engine serves flat out: max_batch over the median time of a full merged call
    (measured here), or 1 over the timed loop's median at max_batch 1."""
    rate = 1000.0 / service_ms
    if max_batch > 1:
        run_batch(max_batch)  # warm the merged shape
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            run_batch(max_batch)
            times.append(time.perf_counter() - t0)
        rate = max(rate, max_batch / statistics.median(times))
    return rate


def _trial(fields: dict, log_name: str, target_qps: float | None) -> LoadgenTrial:
    fields = {k: v for k, v in fields.items() if k != "loadgen_version"}
    if fields.get("scenario") != "server":
        fields.pop("target_latency_ms", None)
    return LoadgenTrial(**(fields | {"log_dir": log_name, "target_qps": target_qps}))


def run_server(job, backend, np, inputs: dict, prepared, service_ms: float) -> LoadgenResult:
    """The server scenario: a capacity search, or one run at settings.target_qps."""
    config, settings = job.config, job.config.settings
    p = plan(settings, "server")
    if settings.sla_ms is None:
        raise LoadgenRefused("the server scenario needs settings.sla_ms (--sla-ms), its p99 latency target")
    if settings.max_batch > 1 and getattr(backend, "static_shapes", False):
        raise LoadgenRefused(f"--max-batch {settings.max_batch}: backend {config.backend!r} compiles static shapes "
                             f"(batch {config.batch_size}); merged batches need an engine with dynamic shapes")
    run_batch = merged_calls(np, backend, inputs, prepared, settings.max_batch, backend.to_numpy)
    root = Path(job.loadgen_dir)
    version = {}
    count = iter(range(1, 10_000))

    def trial(qps: float) -> LoadgenTrial:
        name = f"trial-{next(count):02d}"
        sut = BatchingSUT(run_batch, max_batch=settings.max_batch, max_wait_s=settings.max_wait_ms / 1000.0)
        fields = run_loadgen("server", sut, root / name, min_duration_s=p.min_duration_s, min_queries=p.min_queries,
                             target_qps=qps, target_latency_ms=float(settings.sla_ms))
        version["loadgen"] = fields.get("loadgen_version")
        return _trial(fields, name, qps)

    common = dict(scenario="server", preset=p.preset, min_duration_s=p.min_duration_s, min_query_count=p.min_queries,
                  target_latency_ms=float(settings.sla_ms), target_qps=settings.target_qps,
                  items_per_query=config.batch_size, max_batch=settings.max_batch, max_wait_ms=settings.max_wait_ms,
                  log_dir=results_relative(job.loadgen_dir))
    if settings.target_qps is not None:
        run = trial(float(settings.target_qps))
        return LoadgenResult(**common, run=run, loadgen_version=version.get("loadgen"))
    if service_ms > settings.sla_ms:
        search = CapacitySearch(capacity_qps=0.0, tolerance=p.tolerance, budget_s=p.budget_s, upper_qps=1000.0 / service_ms,
                                stop_reason="service time above target", elapsed_s=0.0)
        return LoadgenResult(**common, search=search, note=f"one query takes {service_ms:.4g} ms (timed-loop median), "
                             f"more than the {settings.sla_ms:g} ms target: no rate can be VALID; nothing was run")
    upper = service_rate_qps(run_batch, service_ms, settings.max_batch)
    search = search_capacity(trial, upper=upper, tolerance=p.tolerance, budget_s=p.budget_s,
                             expected_s=lambda q: max(p.min_duration_s, p.min_queries / q) * 1.2 + 0.5)
    return LoadgenResult(**common, search=search, run=best_trial(search), loadgen_version=version.get("loadgen"))


def run_offline(job, backend, prepared, throughput_per_s: float) -> LoadgenResult:
    """The offline scenario: one LoadGen run, calls of the configuration's batch size."""
    config, settings = job.config, job.config.settings
    p = plan(settings, "offline")

    def run_batch(_k: int) -> None:  # a short last call runs the full batch (padded), as static shapes need
        backend.to_numpy(backend.infer(prepared))

    expected = max(throughput_per_s, 1e-3) * OFFLINE_EXPECTED_FACTOR
    sut = BatchingSUT(run_batch, max_batch=config.batch_size)
    root = Path(job.loadgen_dir)
    fields = run_loadgen("offline", sut, root / "trial-01", min_duration_s=p.min_duration_s, min_queries=p.min_queries,
                         target_qps=expected)
    return LoadgenResult(scenario="offline", preset=p.preset, min_duration_s=p.min_duration_s, min_query_count=p.min_queries,
                         target_qps=expected, items_per_query=1, max_batch=config.batch_size,
                         run=_trial(fields, "trial-01", expected), log_dir=results_relative(job.loadgen_dir),
                         loadgen_version=fields.get("loadgen_version"))


def run_scenario(job, backend, np, inputs: dict, prepared, samples_ms) -> LoadgenResult:
    """The configuration's scenario under LoadGen, given the timed loop's samples (ms per call)."""
    if not job.loadgen_dir:
        raise LoadgenRefused("the parent gave no directory for LoadGen's logs")
    median_ms = statistics.median(samples_ms)
    if job.config.scenario == "server":
        return run_server(job, backend, np, inputs, prepared, median_ms)
    return run_offline(job, backend, prepared, job.config.batch_size * 1000.0 / median_ms)
