"""The worker protocol: the Artifact the export stage prepares, the WorkerJob a worker reads and the
WorkerResult it writes (and their parts, which run records reuse)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, RecordError, _describe
from .config import BenchConfig

STATUSES = ("ok", "error", "timeout", "oom", "parity_failed", "unsupported", "skipped")


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
    eval_meta: dict[str, Any] | None = None  # what the evaluation set is (task, split, examples, data sha256)
    quantization: dict[str, Any] | None = None  # how an int8 model was made (method, calibration, fp32 layers, size)
    schema_version: int = 1


@dataclass(frozen=True)
class WorkerJob(Contract):
    config: BenchConfig
    artifact: Artifact
    backend_spec: str  # "module:Class" of the backend, resolved in the worker
    repo_root: str


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
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineReport(Contract):
    """What the engine says it really used, read back after compilation."""

    precision: str | None = None
    threads: int | None = None
    device: str = "cpu"
    backend_version: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerResult(Contract):
    """Server scenario: the highest Poisson arrival rate whose latency quantile met the SLA."""

    sla_ms: float | None = None
    max_rate_per_s: float | None = None
    quantile: float | None = None
    trials: tuple[dict[str, Any], ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Quality(Contract):
    """Task quality of one model: accuracy against labels, or agreement with the dense fp32 model."""

    accuracy: float | None = None
    top1_agreement: float | None = None
    kl_dense_pruned: float | None = None
    task: str | None = None
    split: str | None = None
    examples: int | None = None
    accuracy_ci95: tuple[float, ...] | None = None  # Wilson score interval
    agreement_ci95: tuple[float, ...] | None = None
    data_sha256: str | None = None
    source: str | None = None  # "engine" (measured where timed), "manifest", "teacher"
    eval_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


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
    server: ServerResult | None = None
    quality: Quality | None = None
    peak_rss_bytes: int | None = None
    stderr_tail: str | None = None
    traceback_tail: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status: unknown value {_describe(self.status)}; valid: {', '.join(STATUSES)}")
