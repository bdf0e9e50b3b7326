"""The worker protocol: the Artifact the export stage prepares, the WorkerJob a worker reads and the
WorkerResult it writes (and their parts, which run records reuse)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, RecordError, _describe, _settle
from .config import BenchConfig
from .engine import EngineDetails, KernelEvidence
from .int8 import Quantization
from .quality import EvalSetMeta, Quality

STATUSES = ("ok", "error", "timeout", "oom", "parity_failed", "unsupported", "skipped")


@dataclass(frozen=True)
class Phases(Contract):
    """Where one configuration's wall time went, in seconds. The parent's part (export stage, the worker's whole
    life) and the worker's own (imports, load, parity, warm-up, timed loop, accuracy pass, LoadGen)."""

    export_s: float | None = None  # the export stage: ONNX export, or the check that finds it cached
    export_cached: bool | None = None
    quantization_s: float | None = None  # int8 model: calibration, SmoothQuant, sensitivity pass (0 when cached)
    eval_set_s: float | None = None  # tokenised evaluation set and the dense model's answers (cached per checkpoint)
    worker_start_s: float | None = None  # process start, interpreter and harness imports, reading the job
    imports_s: float | None = None  # the engine's import
    load_s: float | None = None  # engine load and compile
    compile_cached: bool | None = None  # OpenVINO's CACHE_DIR or ONNX Runtime's optimised model reused
    parity_s: float | None = None
    warmup_s: float | None = None
    timed_s: float | None = None
    accuracy_s: float | None = None
    loadgen_s: float | None = None
    worker_s: float | None = None  # the worker process from spawn to its result, as the parent saw it
    total_s: float | None = None  # prepare + worker + making the record
    cpu_wait_s: float | None = None  # waiting for CPUs another harness run on this machine held (harness.runner.cpus)


@dataclass(frozen=True)
class Artifact(Contract):
    """What the export stage prepared for one configuration; the worker reads only this."""

    dir: str
    input_names: tuple[str, ...]
    io_path: str | None = None  # npz: "input:<name>" arrays and the fp32 "reference" output
    onnx_path: str | None = None
    openvino_ir_path: str | None = None  # an OpenVINO IR (xml; int8 from NNCF) the OpenVINO backend loads instead
    torch_path: str | None = None  # directory a torch-based worker loads its module from
    tree_path: str | None = None  # decision trees: the tree's arrays (npz)
    framework: str = "torch"
    variant_id: str | None = None
    variant_manifest: dict[str, Any] | None = None
    artifact_bytes: int | None = None
    weights_bytes: int | None = None
    params: int | None = None
    nonzero_params: int | None = None
    flops_per_inference: int | None = None
    flops_nonzero_per_inference: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific facts (tree nodes, depth, ...)
    eval_path: str | None = None  # npz: the evaluation set (inputs, labels, the dense fp32 model's top-1)
    eval_meta: EvalSetMeta | None = None  # what the evaluation set is (task, split, examples, data sha256)
    quantization: Quantization | None = None  # how an int8 model was made (method, calibration, fp32 layers, size)
    phases: Phases | None = None  # the export stage's share of the wall time
    schema_version: int = 1


@dataclass(frozen=True)
class WorkerJob(Contract):
    config: BenchConfig
    artifact: Artifact
    backend_spec: str  # "module:Class" of the backend, resolved in the worker
    repo_root: str
    loadgen_dir: str | None = None  # server/offline: where the worker writes LoadGen's logs (the parent chooses)


@dataclass(frozen=True)
class Parity(Contract):
    max_abs_diff: float
    tolerance: float
    rel_diff: float | None = None
    top1_agreement: float | None = None
    ok: bool | None = None


@dataclass(frozen=True)
class KernelInfo(Contract):
    kernel: str = "dense"
    evidence: KernelEvidence | dict[str, Any] = field(default_factory=dict)  # a mapping: a shape not known here

    def __post_init__(self):
        _settle(self, "evidence")


@dataclass(frozen=True)
class EngineReport(Contract):
    """What the engine says it really used, read back after compilation."""

    precision: str | None = None
    threads: int | None = None
    device: str = "cpu"
    backend_version: str | None = None
    engine: EngineDetails | dict[str, Any] = field(default_factory=dict)  # a mapping: an engine not known here

    def __post_init__(self):
        _settle(self, "engine")


@dataclass(frozen=True)
class ServerTrial(Contract):
    """Legacy, read only: one arrival rate of the hand-written server scenario, with the latency quantile it kept
    (p99, or p90 for trials of fewer than 300 requests)."""

    rate_per_s: float
    met: bool | None = None
    n: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class ServerResult(Contract):
    """Legacy, read only: the hand-written Poisson server scenario of harness versions before LoadGen (the
    highest arrival rate whose latency quantile met the SLA). Old records keep it in metrics.server; nothing
    writes it any more (the server scenario is LoadgenResult)."""

    sla_ms: float | None = None
    max_rate_per_s: float | None = None
    quantile: float | None = None
    trials: tuple[ServerTrial, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class LoadgenTrial(Contract):
    """One MLPerf LoadGen run (harness.runner.loadgen_sut), as its logs report it. Latencies in ms, rates per second.

    result is LoadGen's verdict, "VALID" or "INVALID" (mlperf_log_summary.txt, "Result is"). The server rule
    has three parts: the p99 of the run within the target latency (perf_constraints_met), the minimum
    duration and query count, and early stopping (enough queries that, with 99% confidence, at most 1% of
    all queries would miss the target: with no query over the target that takes 459 queries)."""

    scenario: str  # "server" | "offline" | "single-stream"
    result: str | None = None  # "VALID" | "INVALID"
    target_qps: float | None = None  # server: the Poisson arrival rate asked for; offline: the expected rate
    target_latency_ms: float | None = None  # server: the p99 target
    perf_constraints_met: bool | None = None  # server: p99 <= target latency
    min_duration_met: bool | None = None
    min_queries_met: bool | None = None
    early_stopping_met: bool | None = None
    scheduled_samples_per_s: float | None = None  # server
    completed_samples_per_s: float | None = None  # server
    samples_per_s: float | None = None  # offline
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    early_stopping_p99_ms: float | None = None  # single-stream only (the server rule counts queries over the target)
    query_count: int | None = None
    overlatency_queries: int | None = None  # server: queries over the target latency
    duration_s: float | None = None  # wall time of the run
    batches: dict[str, int] = field(default_factory=dict)  # calls of the system under test by batch size
    log_dir: str | None = None  # mlperf_log_summary.txt and mlperf_log_detail.txt of this run
    invalid_reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.result == "VALID"


@dataclass(frozen=True)
class CapacitySearch(Contract):
    """Server: the highest target QPS whose LoadGen run was VALID, by bisection between 0 and the service rate.

    The search stops when the bracket [highest VALID, lowest INVALID (or the service-rate bound)] is within
    `tolerance` of its upper end, when no trial fits in `budget_s` any more, or when no rate down to
    1/1000 of the bound is VALID (capacity_qps 0). Every trial is kept, in the order run."""

    capacity_qps: float | None  # the answer: the highest VALID rate (0.0: none was VALID)
    tolerance: float
    budget_s: float
    upper_qps: float  # the service-rate bound: queries arrive faster than they can be served above it
    lower_qps: float = 0.0  # the bracket at the end: highest VALID ...
    bracket_hi_qps: float | None = None  # ... and lowest INVALID (or upper_qps)
    stop_reason: str = ""  # "tolerance" | "budget" | "no valid rate" | "service time above target" (nothing run)
    elapsed_s: float | None = None
    trials: tuple[LoadgenTrial, ...] = ()


@dataclass(frozen=True)
class LoadgenResult(Contract):
    """metrics.loadgen: the scenario run under MLPerf LoadGen, with the run the record stands for.

    Server: `run` is the VALID run at the capacity (or, with a target QPS, the one run at it); `search` holds
    every trial of the capacity search. A server query is one sample, one input of items_per_query items
    (the configuration's batch size); the system under test merges up to max_batch queued queries into one
    engine call, waiting at most max_wait_ms after the oldest arrived. Offline: `run` is the one offline
    run; a sample is one item and each engine call takes max_batch (the batch size) of them. Logs: <results root>/<log_dir>/<trial log_dir>/mlperf_log_{summary,detail}.txt,
    log_dir being loadgen/<record id>."""

    scenario: str
    preset: str  # "quick" | "full" (or "custom" when durations were set by hand)
    min_duration_s: float
    min_query_count: int
    target_latency_ms: float | None = None
    target_qps: float | None = None  # asked for (server without a search, offline expected rate)
    items_per_query: int = 1
    max_batch: int = 1
    max_wait_ms: float = 0.0
    run: LoadgenTrial | None = None
    search: CapacitySearch | None = None
    log_dir: str | None = None
    loadgen_version: str | None = None
    note: str | None = None

    @property
    def capacity_qps(self) -> float | None:
        """The highest VALID server rate in queries per second (0.0: none), or None when not a server result."""
        if self.scenario != "server":
            return None
        if self.search is not None:
            return self.search.capacity_qps
        return self.run.target_qps if self.run is not None and self.run.valid else 0.0


@dataclass(frozen=True)
class WorkerResult(Contract):
    status: str = "ok"
    reason: str | None = None
    samples_ms: tuple[float, ...] = ()
    warmup_iters: int | None = None
    timed_s: float | None = None
    stop_reason: str | None = None
    load_s: float | None = None
    cpus: tuple[int, ...] = ()
    cpus_observed: tuple[int, ...] = ()
    effective: EngineReport | None = None
    kernel: KernelInfo | None = None
    parity: Parity | None = None
    loadgen: LoadgenResult | None = None
    quality: Quality | None = None
    peak_rss_bytes: int | None = None
    stderr_tail: str | None = None
    traceback_tail: str | None = None
    phases: Phases | None = None
    started_at: float | None = None  # time.time() when the worker began reading its job (the parent derives worker_start_s)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status: unknown value {_describe(self.status)}; valid: {', '.join(STATUSES)}")
